// The market of a replay session as it moves (issue 17): the session's state (its clock), the
// bars of the chart's symbol and resolution completed since the last look plus the forming
// one, and the quote at replay-now. Everything comes from the session's routes, which answer as
// of replay-now, so nothing later than the session's clock can reach the page.
//
// The transport is chosen in one place, `createReplayFeed` (REPLAY_STREAM):
// - polled: the REST routes every POLL_MS (GET /replay/{id}, its datafeed/bars from the last
//   bar drawn, its datafeed/quotes);
// - streamed: the WebSocket route `replay` (subscribe {replayId, resolution}; each push
//   `ReplayUpdate` {session, resolution, ended, symbols: [{symbol, bars, truncated, forming,
//   quote}]}: the state, the bars completed since the previous push, the forming bar, the quote).
// Both feed the same handlers. A server without the `replay` route answers its subscription
// with an `error` frame (unknown type), so the stream is chosen by this flag, not by trying.
// On a reconnect the stream's snapshot brings the state, forming bar and quote, and the
// chart's gap fill (main.js) reads the bars completed meanwhile from the session's datafeed.

import { api } from "./api.js";

export const POLL_MS = 1000;
// bars newer than the last one drawn come as `onBar` updates; a longer run (a long jump at a
// small resolution) reloads the chart instead, as after a long disconnection
export const RELOAD_LIMIT = 2000;
const FUTURE_MS = 40 * 86_400_000; // to_time far ahead: the session caps it at replay-now
/** Follow a session over the WebSocket route `replay` (replay.md §6) rather than by polling:
 * pushed at once after each change, one socket for everything. The polled feed stays for a
 * server older than the route (set this false there). */
export const REPLAY_STREAM = true;

/**
 * `sessionId`; `symbol`, `resolution` of the chart; `since()`: the time (ms) of the last bar
 * drawn, or null. Handlers: `onState(session)`, `onBar(bar)`, `onQuote(quoteData)`,
 * `onReload()` (too many bars at once: load the chart again), `onGone(error)` (the session is
 * no more: 404), `onError(error)`.
 */
export function createReplayFeed(sessionId, options, handlers, socket) {
  if (REPLAY_STREAM) return new StreamedReplayFeed(sessionId, options, handlers, socket);
  return new PolledReplayFeed(sessionId, options, handlers);
}

/** The `replay` WebSocket route: pushed at the server's pace, and again after a reconnect
 * (its snapshot: the state, the forming bar and the quote; the chart's gap fill reads the
 * bars missed meanwhile). */
class StreamedReplayFeed {
  #id;
  #symbol;
  #resolution;
  #handlers;
  #socket;
  #subscription = null;

  constructor(sessionId, { symbol, resolution }, handlers, socket) {
    this.#id = sessionId;
    this.#symbol = symbol;
    this.#resolution = resolution;
    this.#handlers = handlers;
    this.#socket = socket;
  }

  start() {
    this.#subscription = this.#socket.subscribe(
      "replay",
      { replayId: this.#id, resolution: this.#resolution },
      {
        onUpdate: (update) => this.#onUpdate(update),
        onError: (message) => this.#handlers.onError(new Error(message)),
      },
    );
  }

  stop() {
    this.#subscription?.unsubscribe();
    this.#subscription = null;
    return Promise.resolve();
  }

  /** The server pushes every change of the clock itself. */
  refresh() {}

  #onUpdate(update) {
    if (!this.#subscription) return;
    if (update.ended) {
      this.stop();
      this.#handlers.onGone(new Error("the session was ended"));
      return;
    }
    const mine = update.symbols.find((item) => item.symbol === this.#symbol);
    if (mine) {
      if (mine.truncated) this.#handlers.onReload();
      else for (const bar of mine.bars) this.#handlers.onBar(bar);
      if (mine.forming) this.#handlers.onBar(mine.forming);
      this.#handlers.onQuote(mine.quote);
    }
    this.#handlers.onState(update.session);
  }
}

class PolledReplayFeed {
  #id;
  #symbol;
  #resolution;
  #since;
  #handlers;
  #timer = null;
  #polling = null; // the poll in flight
  #again = false; // a refresh asked for while a poll was in flight
  #epoch = 0; // bumped by each refresh: a poll begun before it may read the state before the
  // change that asked for it, and the page must not show the session going back
  #stopped = false;

  constructor(sessionId, { symbol, resolution, since }, handlers) {
    this.#id = sessionId;
    this.#symbol = symbol;
    this.#resolution = resolution;
    this.#since = since;
    this.#handlers = handlers;
  }

  start() {
    this.refresh();
  }

  /** Stop; resolves once a poll in flight is over (before the session is deleted: a request
   * still on its way would find it gone). */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    return this.#polling ?? Promise.resolve();
  }

  /** Look now (after a change of the clock: step, jump, resume), not at the next tick. */
  refresh() {
    if (this.#stopped) return;
    this.#epoch += 1;
    if (this.#polling) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#polling = this.#poll().finally(() => {
      this.#polling = null;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        this.refresh();
      } else {
        this.#timer = setTimeout(() => this.refresh(), POLL_MS);
      }
    });
  }

  async #poll() {
    const id = this.#id;
    const epoch = this.#epoch;
    try {
      // bars first, the state after: the clock shown is never behind the last bar drawn
      const since = this.#since();
      const [bars, quotes] = await Promise.all([
        api.replayBars(id, {
          symbol: this.#symbol,
          resolution: this.#resolution,
          fromTime: since ?? 0,
          toTime: Date.now() + FUTURE_MS,
          countBack: since === null ? 1 : undefined,
        }),
        api.replayQuotes(id, [this.#symbol]),
      ]);
      if (this.#stopped) return;
      const session = await api.replay(id);
      if (this.#stopped) return;
      if (bars.bars.length >= RELOAD_LIMIT) this.#handlers.onReload();
      else for (const bar of bars.bars) this.#handlers.onBar(bar);
      for (const quote of quotes) this.#handlers.onQuote(quote);
      // bars and quotes of an older replay-now are still true (the chart keeps the newest);
      // the state is dropped, the next poll reads it again
      if (epoch === this.#epoch) this.#handlers.onState(session);
    } catch (error) {
      if (this.#stopped) return;
      if (error.status === 404) {
        this.stop();
        this.#handlers.onGone(error);
      } else {
        this.#handlers.onError(error);
      }
    }
  }
}
