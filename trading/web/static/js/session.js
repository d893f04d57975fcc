// Who is trading (issue 14): the login form, the user's bar (name, account switcher, "New
// account", "Reset account", "Log out") and what each of them does.
//
// `load()` is the page's first request, GET /auth/me:
// - 404 (a server older than authentication) or {"auth": "off"}: off mode. Nothing of this
//   module shows, nothing more is asked, and the page is what it always was.
// - 401: keys mode, nobody logged in: the login form. The API key typed there is sent once, in
//   the body of POST /auth/login, which answers with an HttpOnly session cookie the page never
//   sees; the field is emptied as soon as that succeeds, and the key is never stored (no
//   localStorage or sessionStorage, never in a URL). No broker request is made until then.
// - {"auth": "keys", "user": {...}, "accounts": [...]}: logged in; the first account is traded.
//
// The account traded is account.js's. `connect()` (given to the constructor) renews the
// WebSocket after a login or a logout, before any broker topic of the new state is subscribed,
// so that its upgrade carries the new credentials. A session that ends under the page — a broker
// request answering 401, or the socket closed 1008 and GET /auth/me then answering 401 (1008
// also means "slow consumer") — sends it back to the login form.

import { account } from "./account.js";
import { api } from "./api.js";
import { openFormDialog } from "./dialog.js";
import { h } from "./format.js";
import { toast } from "./toast.js";

export const AUTH_MODE = Object.freeze({ OFF: "off", KEYS: "keys" });

const ENDED =
  "Your session has ended (it expired, or its key was revoked). Log in again to trade.";

/** An account as the switcher names it: its name, and its id when the name is not it. */
export function accountLabel(meta) {
  return !meta.name || meta.name === meta.id ? meta.id : `${meta.name} (${meta.id})`;
}

export class Session {
  mode = null; // AUTH_MODE, once load() has answered
  user = null; // { id, name } while logged in
  accounts = []; // AccountMetainfo[] of the user

  #els;
  #dialog;
  #connect;
  #afterLogin;
  #listeners = new Set();
  #ending = false;

  /**
   * `root`: the document (the elements are found by id); `dialog`: the page's <dialog>;
   * `connect()`: renew the WebSocket; `afterLogin()`: where focus goes once logged in.
   */
  constructor(root, dialog, { connect, afterLogin }) {
    const $ = (id) => root.getElementById(id);
    this.#els = {
      login: $("login"),
      form: $("login-form"),
      key: $("login-key"),
      submit: $("login-submit"),
      error: $("login-error"),
      note: $("login-note"),
      bar: $("session"),
      user: $("session-user"),
      select: $("account-select"),
      create: $("account-new"),
      reset: $("account-reset"),
      logout: $("logout"),
    };
    this.#dialog = dialog;
    this.#connect = connect;
    this.#afterLogin = afterLogin;
  }

  /** `listener(session)` after every login, logout and change of account list. */
  onChange(listener) {
    this.#listeners.add(listener);
  }

  /** GET /auth/me, once, at start; sets the mode and, in keys mode, shows the form or the bar. */
  async load() {
    let me;
    try {
      me = await api.me();
    } catch (error) {
      if (error.status === 404) me = { auth: AUTH_MODE.OFF }; // no such route: an older server
      else if (error.status === 401) me = { auth: AUTH_MODE.KEYS, user: null, accounts: [] };
      else throw error;
    }
    if (me.auth !== AUTH_MODE.KEYS) {
      this.mode = AUTH_MODE.OFF;
      account.set({ id: null, ready: true });
      this.#notify();
      return;
    }
    this.mode = AUTH_MODE.KEYS;
    this.#wire();
    if (me.user) this.#signedIn(me);
    else this.#signedOut("");
  }

  /** A broker request answered 401: the session ended under the page. */
  async ended() {
    if (!this.user || this.#ending) return;
    this.#ending = true;
    try {
      // the cookie is HttpOnly: only the server can expire it, so the socket's next upgrade
      // does not offer it again (best effort: the session is gone already)
      await api.logout();
    } catch {
      // nothing to do: the form is shown either way
    } finally {
      this.#ending = false;
    }
    if (this.user) this.#signedOut(ENDED);
  }

  /** The socket was closed 1008: revoked key or slow consumer? GET /auth/me tells. */
  async verify() {
    if (!this.user) return;
    try {
      await api.me();
    } catch (error) {
      if (error.status === 401) this.ended();
    }
  }

  /** Trade another of the user's accounts. */
  select(accountId) {
    if (!this.accounts.some((meta) => meta.id === accountId)) return;
    account.set({ id: accountId, ready: true });
    this.#renderAccounts();
    this.#notify();
  }

  #wire() {
    const els = this.#els;
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#login();
    });
    els.key.addEventListener("input", () => this.#showError(""));
    els.select.addEventListener("change", () => this.select(els.select.value));
    els.create.addEventListener("click", () => this.#openAccount());
    els.reset.addEventListener("click", () => this.#resetAccount());
    els.logout.addEventListener("click", () => this.#logout());
  }

  #signedIn(me) {
    this.user = me.user;
    this.accounts = me.accounts ?? [];
    this.#connect(); // before the account's topics: the upgrade must carry the new cookie
    const first = this.accounts[0]?.id ?? null;
    account.set({ id: first, ready: first !== null });
    this.#render("");
  }

  #signedOut(note) {
    this.user = null;
    this.accounts = [];
    account.set({ id: null, ready: false }); // unsubscribes while the old connection is up
    this.#connect();
    this.#render(note);
  }

  #render(note) {
    const els = this.#els;
    const signedIn = this.user !== null;
    document.body.dataset.session = signedIn ? "user" : "login";
    els.login.hidden = signedIn;
    els.bar.hidden = !signedIn;
    els.note.textContent = note;
    els.note.hidden = !note;
    if (signedIn) {
      els.user.textContent = this.user.name;
      this.#renderAccounts();
    } else {
      els.select.replaceChildren();
    }
    this.#notify();
  }

  #renderAccounts() {
    const els = this.#els;
    els.select.replaceChildren(
      ...this.accounts.map((meta) => h("option", { value: meta.id }, accountLabel(meta))),
    );
    els.select.value = account.id ?? "";
    els.select.disabled = this.accounts.length === 0;
    els.reset.disabled = account.id === null;
  }

  #showError(text) {
    this.#els.error.textContent = text;
    this.#els.error.hidden = !text;
    if (text) this.#els.key.setAttribute("aria-invalid", "true");
    else this.#els.key.removeAttribute("aria-invalid");
  }

  async #login() {
    const els = this.#els;
    if (els.submit.disabled) return;
    const key = els.key.value.trim();
    if (!key) {
      this.#showError("Enter your API key.");
      els.key.focus();
      return;
    }
    this.#showError("");
    els.submit.disabled = true;
    try {
      const me = await api.login(key);
      els.key.value = ""; // no secret left in the page
      if (me?.auth !== AUTH_MODE.KEYS || !me.user) throw new Error("The server did not log in");
      this.#signedIn(me);
      this.#afterLogin();
    } catch (error) {
      this.#showError(error.message); // a 401's detail: "Invalid credentials"
      els.key.focus();
      els.key.select();
    } finally {
      els.submit.disabled = false;
    }
  }

  async #logout() {
    const button = this.#els.logout;
    button.disabled = true;
    try {
      await api.logout();
    } catch (error) {
      // 401: the session had ended already; anything else: still logged in
      if (error.status !== 401) {
        toast(`Log out: ${error.message}`, "error");
        return;
      }
    } finally {
      button.disabled = false;
    }
    this.#signedOut("You are logged out.");
    this.#els.key.focus();
  }

  #openAccount() {
    openFormDialog(this.#dialog, {
      title: "New account",
      description: "A new paper account with the initial balance. The desk switches to it.",
      fields: [{ name: "name", label: "Name (optional)", type: "text", placeholder: "e.g. Swing" }],
      submitLabel: "Open account",
      onSubmit: async (values) => {
        const name = values.name.trim();
        const meta = await api.openAccount(name ? { name } : {});
        this.accounts = [...this.accounts, meta];
        this.select(meta.id);
        toast(`Opened ${accountLabel(meta)}`, "success");
      },
    });
  }

  #resetAccount() {
    const meta = this.accounts.find((item) => item.id === account.id);
    if (!meta) return;
    openFormDialog(this.#dialog, {
      title: `Reset ${accountLabel(meta)}?`,
      description:
        "Its orders, positions and executions are deleted and its balance goes back to the " +
        "initial balance. This cannot be undone.",
      fields: [],
      submitLabel: "Reset account",
      onSubmit: async () => {
        await api.resetAccount(meta.id);
        if (account.id === meta.id) account.reload(); // every panel reads it again
        toast(`${accountLabel(meta)} reset`, "success");
      },
    });
  }

  #notify() {
    for (const listener of this.#listeners) listener(this);
  }
}
