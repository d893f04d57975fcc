// The market of a replay session as it moves (issue 17): the session's state (its clock), the
// bars of the chart's symbol and resolution completed since the previous push plus the forming
// one, and the quote at replay-now, all over the WebSocket route `replay` (replay.md §6):
// subscribe {replayId, resolution}; each push `ReplayUpdate` {session, resolution, ended,
// symbols: [{symbol, bars, truncated, forming, quote}]}. The server answers as of replay-now,
// so nothing later than the session's clock can reach the page, and pushes at once after each
// change of the clock. On a reconnect the stream's snapshot brings the state, forming bar and
// quote, and the chart's gap fill (main.js) reads the bars completed meanwhile from the
// session's datafeed. (The page and the route ship together: there is no polled fallback.)

/**
 * `sessionId`; `symbol`, `resolution` of the chart; `socket` (socket.js). Handlers:
 * `onState(session)`, `onBar(bar)`, `onQuote(quoteData)`, `onReload()` (too many bars at once:
 * load the chart again), `onGone(error)` (the session was ended), `onError(error)`.
 */
export function createReplayFeed(sessionId, options, handlers, socket) {
  return new ReplayFeed(sessionId, options, handlers, socket);
}

class ReplayFeed {
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
