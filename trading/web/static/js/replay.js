// The replay bar (issue 17): practise on history. Pick a start (date and time, your local
// time) and a speed, Start: a session of the chart's symbol is created paused at that instant
// (POST /replay, replay.md), and the page trades it until End — the chart shows the session's
// bars, the ticket and blotter its own paper book (account.js `setBook`: the session id is the
// book's account id), the clock shows replay-now. Play / Pause, Step (to the start of the next
// bar of the chart's resolution, then paused), Jump forward and the speed are PATCHes of the
// session; Report opens the session's report, End shows it and then ends the session (DELETE)
// and everything is live again. Sessions outlive the page (they are the server's): opening
// the bar lists the account's sessions still on, and Resume takes one up where its clock is.
//
// This module owns the bar's controls and the session's REST control; main.js owns what the
// page shows in replay (chart source, feed, quotes) through `onEnter`, `onLeave` and
// `onClockChanged`. The session as last read is `session` (the REST session shape).

import { account } from "./account.js";
import { api } from "./api.js";
import { h } from "./format.js";
import { toast } from "./toast.js";

/** The session speeds (trading/market/replay.py SPEEDS): replay seconds per wall second. */
export const SPEEDS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const DEFAULT_SPEED = 60;
const INTRADAY = new Set(["1", "5", "15", "30", "60"]);
const JUMPS = [
  { ms: 15 * 60_000, label: "15 min" },
  { ms: 3_600_000, label: "1 hour" },
  { ms: 86_400_000, label: "1 day" },
];
// the elements kept out of use while the page trades a session's book: a symbol the session
// does not serve, or an account that does not own the session, would break it
const LOCKED_IN_REPLAY = ["symbol-input", "account-select", "account-new", "account-reset"];

const pad = (value) => String(value).padStart(2, "0");

/** `date` as a datetime-local value (local time, minutes). */
export function localInputValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
    + `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

const clockFormat = new Intl.DateTimeFormat("en-GB", {
  weekday: "short", day: "2-digit", month: "short", year: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});

export class ReplayBar {
  session = null; // the REST session shape, as last read, while one is on
  #els;
  #symbol;
  #resolution;
  #onEnter;
  #onLeave;
  #onEnding;
  #onClockChanged;
  #onReport;
  #busy = false;

  /**
   * `root`: the document; `symbol()`, `resolution()`: the chart's; `onEnter(session)`,
   * `onLeave()`: the page switches to the session and back; `onEnding()`: the session is
   * about to be deleted (stop reading it; resolves when nothing is in flight);
   * `onClockChanged(session)`: the clock was moved here (look at the market now);
   * `onReport(session, { ended })`: show the report (resolves once read, or throws).
   */
  constructor(root, { symbol, resolution, onEnter, onLeave, onEnding, onClockChanged, onReport }) {
    const $ = (id) => root.getElementById(id);
    this.#els = {
      toggle: $("replay-toggle"),
      bar: $("replay-bar"),
      form: $("replay-form"),
      start: $("replay-start"),
      speed: $("replay-speed"),
      begin: $("replay-begin"),
      controls: $("replay-controls"),
      clock: $("replay-clock"),
      state: $("replay-state"),
      play: $("replay-play"),
      step: $("replay-step"),
      jump: $("replay-jump"),
      jumpGo: $("replay-jump-go"),
      report: $("replay-report"),
      end: $("replay-end"),
      error: $("replay-error"),
      resume: $("replay-resume"),
      sessions: $("replay-sessions"),
      resumeGo: $("replay-resume-go"),
    };
    this.#symbol = symbol;
    this.#resolution = resolution;
    this.#onEnter = onEnter;
    this.#onLeave = onLeave;
    this.#onEnding = onEnding;
    this.#onClockChanged = onClockChanged;
    this.#onReport = onReport;

    const els = this.#els;
    els.speed.replaceChildren(
      ...SPEEDS.map((speed) =>
        h("option", { value: speed, selected: speed === DEFAULT_SPEED }, `${speed}×`),
      ),
    );
    els.jump.replaceChildren(...JUMPS.map(({ ms, label }) => h("option", { value: ms }, label)));
    els.start.value = localInputValue(new Date(Date.now() - 86_400_000));
    els.start.max = localInputValue(new Date());
    els.toggle.addEventListener("click", () => this.#toggle());
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#start();
    });
    els.speed.addEventListener("change", () => {
      if (this.session) this.#change({ action: "speed", speed: Number(els.speed.value) });
    });
    els.play.addEventListener("click", () =>
      this.#change({ action: this.session?.state === "running" ? "pause" : "resume" }),
    );
    els.step.addEventListener("click", () =>
      this.#change({ action: "step", resolution: this.#resolution() }),
    );
    els.jumpGo.addEventListener("click", () =>
      this.#change({ action: "jump", ms: Number(els.jump.value) }),
    );
    els.resumeGo.addEventListener("click", () => this.#resume());
    els.report.addEventListener("click", () => this.#report());
    els.end.addEventListener("click", () => this.#end());
    // logged out (keys mode): the page leaves the session, which stays on to be resumed
    account.onChange(({ ready }) => {
      if (this.session && !ready) this.#leave();
    });
    this.#render();
  }

  get active() {
    return this.session !== null;
  }

  /** The session as the feed read it (its clock moves while it runs). */
  showState(session) {
    if (!this.session || session.id !== this.session.id) return;
    // replay-now never moves back: an older time is a state read before the latest change
    if (session.time < this.session.time) return;
    this.session = session;
    this.#render();
  }

  /** The session is no more (ended elsewhere, or the server forgot it): live again. */
  lost(message) {
    if (!this.session) return;
    toast(`Replay ended: ${message}`, "error");
    this.#leave();
    this.#listSessions();
  }

  /** The chart's resolution changed: Step follows it. */
  resolutionChanged() {
    this.#render();
  }

  #toggle() {
    if (this.session) return; // End leaves a session; the bar stays while one is on
    const open = this.#els.bar.hidden;
    this.#els.bar.hidden = !open;
    this.#els.toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      this.#els.start.focus();
      this.#listSessions();
    }
  }

  /** The account's sessions still on, for Resume (none: the control stays hidden). */
  async #listSessions() {
    let sessions = [];
    try {
      sessions = await api.replays();
    } catch (error) {
      console.warn("Replay sessions unavailable:", error.message);
    }
    if (this.session) return;
    const els = this.#els;
    els.sessions.replaceChildren(
      ...sessions.map((session) =>
        h(
          "option",
          { value: session.id },
          `${session.symbols.join(", ")} · ${clockFormat.format(new Date(session.time))}`,
        ),
      ),
    );
    els.resume.hidden = sessions.length === 0;
  }

  async #resume() {
    const id = this.#els.sessions.value;
    if (!id || this.#busy || this.session) return;
    this.#busy = true;
    this.#render();
    try {
      await this.#enter(await api.replay(id));
    } catch (error) {
      this.#showError(error.message);
      if (error.status === 404) this.#listSessions();
    } finally {
      this.#busy = false;
      this.#render();
    }
    if (this.session) this.#els.play.focus();
  }

  /** Trade `session`: its book, its market. */
  async #enter(session) {
    this.#showError(null);
    this.session = session;
    this.#lock(true);
    account.setBook(session.id);
    this.#render();
    await this.#onEnter(session);
  }

  #showError(message) {
    this.#els.error.textContent = message ?? "";
    this.#els.error.hidden = !message;
  }

  async #start() {
    if (this.#busy || this.session) return;
    const symbol = this.#symbol();
    const startTime = new Date(this.#els.start.value).getTime();
    if (!symbol) return;
    if (!Number.isFinite(startTime)) {
      this.#showError("Pick the date and time the replay starts at.");
      this.#els.start.setAttribute("aria-invalid", "true");
      this.#els.start.focus();
      return;
    }
    this.#els.start.removeAttribute("aria-invalid");
    this.#showError(null);
    this.#busy = true;
    this.#render();
    try {
      const session = await api.startReplay({
        startTime, speed: Number(this.#els.speed.value), symbols: [symbol], paused: true,
      });
      await this.#enter(session);
    } catch (error) {
      this.#showError(error.message);
      if (error.status === 422) this.#els.start.setAttribute("aria-invalid", "true");
    } finally {
      this.#busy = false;
      this.#render();
    }
    if (this.session) this.#els.play.focus();
  }

  async #change(change) {
    const session = this.session;
    if (!session || this.#busy) return;
    this.#busy = true;
    this.#render();
    try {
      this.session = await api.changeReplay(session.id, change);
      this.#showError(null);
      this.#onClockChanged(this.session);
    } catch (error) {
      if (error.status === 404) this.lost(error.message);
      else this.#showError(error.message);
    } finally {
      this.#busy = false;
      this.#render();
    }
  }

  async #report() {
    if (!this.session) return;
    try {
      await this.#onReport(this.session, { ended: false });
    } catch (error) {
      toast(`Report: ${error.message}`, "error");
    }
  }

  /** End: the report first (the session's book goes with the session), then DELETE. */
  async #end() {
    const session = this.session;
    if (!session || this.#busy) return;
    this.#busy = true;
    this.#render();
    try {
      await this.#onReport(session, { ended: true });
    } catch (error) {
      toast(`No report for this session: ${error.message}`, "error");
    }
    // the page is live again before the session goes: nothing of its book is asked after
    await this.#onEnding();
    this.#busy = false;
    this.#leave();
    try {
      await api.endReplay(session.id);
    } catch (error) {
      if (error.status !== 404) toast(`Could not end the replay: ${error.message}`, "error");
    }
    this.#listSessions();
  }

  #leave() {
    this.session = null;
    account.setBook(null);
    this.#lock(false);
    this.#render();
    this.#onLeave();
    this.#els.begin.focus();
  }

  #lock(on) {
    for (const id of LOCKED_IN_REPLAY) {
      const element = document.getElementById(id);
      if (!element) continue;
      element.disabled = on;
      if (on) element.title = "Not while a replay runs: end it first";
      else element.removeAttribute("title");
    }
    document.body.dataset.replay = on ? "on" : "off";
  }

  #render() {
    const els = this.#els;
    const session = this.session;
    const on = session !== null;
    for (const element of els.bar.querySelectorAll("[data-replay-idle]")) element.hidden = on;
    els.controls.hidden = !on;
    els.toggle.dataset.active = String(on);
    els.toggle.querySelector("[data-replay-on]").hidden = !on;
    // pressed (and coloured) while a session is on: the market shown is as of the replay time
    els.toggle.title = on
      ? "A replay is on: the market as of the replay time. End it to go back to live"
      : "Bar replay: practise on history";
    els.begin.disabled = this.#busy;
    els.resumeGo.disabled = this.#busy;
    if (!on) {
      els.clock.textContent = "—";
      delete els.clock.dataset.time;
      return;
    }
    const running = session.state === "running";
    els.clock.textContent = clockFormat.format(new Date(session.time));
    els.clock.dataset.time = String(session.time);
    els.clock.dateTime = session.iso;
    els.state.textContent = running ? "Playing" : "Paused";
    els.state.dataset.state = session.state;
    els.play.textContent = running ? "Pause" : "Play";
    els.play.setAttribute("aria-pressed", String(running));
    if (String(session.speed) !== els.speed.value) els.speed.value = String(session.speed);
    const intraday = INTRADAY.has(this.#resolution());
    for (const button of [els.play, els.step, els.jumpGo, els.end]) button.disabled = this.#busy;
    els.step.disabled = this.#busy || !intraday;
    els.step.title = intraday
      ? "Forward to the start of the next bar, then paused"
      : "Step works at an intraday resolution (1m to 1h)";
  }
}
