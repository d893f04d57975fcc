// The leverage of the ticket's symbol (GET /broker/leverage/info), and changing it: the value
// typed is previewed (POST /broker/leverage/preview: margin requirement, warnings, errors) and
// set with the Set button (PUT /broker/leverage/set). Problems show at the field: the preview's
// errors, a 422 of either route, or the 400 a refused change answers (e.g. the open positions
// would need more margin than the equity).
//
// Leverage is per account: a change of account reads it again; with no account ready (keys
// mode, logged out) nothing is asked.

import { account } from "./account.js";
import { api, ApiError } from "./api.js";
import { numberOrNull, setFieldError, splitFieldErrors } from "./dialog.js";
import { h } from "./format.js";
import { toast } from "./toast.js";
import { OFFLINE_REASON, writes } from "./writes.js";

const PREVIEW_DELAY_MS = 250;

const formatLeverage = (value) => `${Number(value).toLocaleString("en-US")}×`;

export class LeverageControl {
  #form;
  #input;
  #submit;
  #current;
  #notes;
  #context;
  #onChanged;
  #symbol = null;
  #value = null; // the symbol's leverage as the server has it
  #problem = false; // the preview of the typed value reports a problem
  #unanswered = false; // the last preview got no answer (offline): ask again once back
  #busy = false;
  #timer = null;
  #request = 0;
  #load = 0; // counts leverage-info reads: an answer for an earlier symbol or account is dropped

  /** `context()` gives `{ orderType, side }` (the routes ask for them); `onChanged()` after a set. */
  constructor(form, { context, onChanged }) {
    this.#form = form;
    this.#input = form.querySelector("#leverage-input");
    this.#submit = form.querySelector("#leverage-submit");
    this.#current = form.querySelector("#leverage-current");
    this.#notes = form.querySelector("#leverage-notes");
    this.#context = context;
    this.#onChanged = onChanged;
    this.#input.addEventListener("input", () => {
      this.#problem = false;
      setFieldError(this.#form, "leverage", null);
      this.#update();
      this.#schedulePreview();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#set();
    });
    writes.onChange(() => {
      this.#update();
      // a preview that got no answer said nothing about the value: ask again (only then: a
      // reconnect is no reason to send a request)
      if (writes.allowed && this.#unanswered && this.#typed() !== null) this.#schedulePreview();
    });
    account.onChange(() => {
      const symbol = this.#symbol;
      this.#symbol = null;
      if (symbol) this.setSymbol(symbol);
    });
    this.#update();
  }

  async setSymbol(symbol) {
    if (symbol === this.#symbol) return;
    this.#symbol = symbol;
    this.#value = null;
    clearTimeout(this.#timer); // a preview still due was of the previous symbol or account
    this.#request += 1;
    this.#form.querySelector("[data-leverage-symbol]").textContent = symbol;
    this.#notes.replaceChildren();
    setFieldError(this.#form, "leverage", null);
    this.#update();
    const load = ++this.#load;
    if (!account.ready) {
      this.#input.value = "";
      return;
    }
    try {
      const info = await api.leverageInfo({ symbol, ...this.#context() });
      if (load !== this.#load) return; // another symbol or account since
      Object.assign(this.#input, { min: info.min, max: info.max, step: info.step });
      this.#value = info.leverage;
      this.#input.value = String(info.leverage);
    } catch (error) {
      if (load === this.#load) setFieldError(this.#form, "leverage", [error.message]);
    }
    this.#update();
  }

  #typed() {
    return numberOrNull(this.#input.value);
  }

  #params(leverage) {
    return { symbol: this.#symbol, ...this.#context(), leverage };
  }

  /** Set is enabled online, for a new value the preview has no problem with. */
  #update() {
    this.#current.textContent = this.#value === null ? "—" : formatLeverage(this.#value);
    const typed = this.#typed();
    const unchanged = typed === null || typed === this.#value;
    this.#submit.disabled = this.#busy || !writes.allowed || this.#problem || unchanged;
    this.#submit.title = !writes.allowed ? OFFLINE_REASON : "";
  }

  #schedulePreview() {
    clearTimeout(this.#timer);
    this.#request += 1;
    this.#timer = setTimeout(() => this.#preview(), PREVIEW_DELAY_MS);
  }

  async #preview() {
    const leverage = this.#typed();
    const request = ++this.#request;
    if (leverage === null || !this.#symbol || !account.ready) {
      this.#notes.replaceChildren();
      return;
    }
    this.#unanswered = false;
    let errors = [];
    let notes = [];
    try {
      const result = await api.previewLeverage(this.#params(leverage));
      if (request !== this.#request) return;
      errors = result.errors ?? [];
      notes = [
        ...(result.infos ?? []).map((text) => h("li", { class: "info" }, text)),
        ...(result.warnings ?? []).map((text) => h("li", { class: "warning" }, text)),
      ];
    } catch (error) {
      if (request !== this.#request) return;
      this.#unanswered = !(error instanceof ApiError) || error.status >= 500;
      errors = this.#messages(error);
    }
    this.#problem = errors.length > 0;
    setFieldError(this.#form, "leverage", errors);
    this.#notes.replaceChildren(...(errors.length ? [] : notes));
    this.#update();
  }

  async #set() {
    const leverage = this.#typed();
    if (this.#submit.disabled || leverage === null) return;
    const symbol = this.#symbol;
    // the set answers for this value from here on: a preview still due or in flight would
    // clear the set's refusal at the field when its answer came later
    clearTimeout(this.#timer);
    this.#request += 1;
    this.#busy = true;
    this.#update();
    try {
      const result = await api.setLeverage(this.#params(leverage));
      if (symbol === this.#symbol) this.#value = result.leverage;
      this.#notes.replaceChildren();
      toast(`${symbol} leverage set to ${formatLeverage(result.leverage)}`, "success");
      this.#onChanged();
    } catch (error) {
      setFieldError(this.#form, "leverage", this.#messages(error));
      this.#input.focus();
    } finally {
      this.#busy = false;
      this.#update();
    }
  }

  /** Every message of an error, for the one field: a 422's items or the 400's detail. */
  #messages(error) {
    const { byField, general } = splitFieldErrors(error, ["leverage"]);
    return [...(byField.get("leverage") ?? []), ...general];
  }
}
