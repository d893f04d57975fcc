// The paper account as the page sees it, kept live over the WebSocket:
// working orders (and the inactive brackets of resting ones), open positions, executions, equity, broker connection and the quotes
// needed to value positions. Listeners are told after every change.
//
// The account is chosen with `setAccount(accountId)` (the WebSocket's `accountId`): the old
// account's broker topics are unsubscribed and everything it showed is dropped at once, then
// the new account's topics are subscribed (their snapshots refill orders, positions, equity,
// P&L, margin and the broker status) and its executions read again. `setAccount(null)`: no
// account (logged out), nothing subscribed.

import { api } from "./api.js";
import { ORDER_STATUS, ORDER_TYPE, PARENT_TYPE } from "./format.js";

const MAX_EXECUTIONS = 500;

const executionKey = (e) => `${e.symbol}|${e.time}|${e.side}|${e.qty}|${e.price}`;

export class BrokerState {
  orders = new Map(); // id → PlacedOrder, WORKING, and INACTIVE brackets of resting orders
  positions = new Map(); // symbol → Position, open only
  executions = []; // newest first
  equity = null; // EquityData
  connection = null; // BrokerConnectionStatus
  quotes = new Map(); // symbol → QuoteValues
  pl = new Map(); // position id → unrealized P&L (the `pl` route)
  margin = null; // MarginData (the `margin` route)

  #socket;
  #accountId = null;
  #accountSubscriptions = [];
  #generation = 0; // counts account changes: an answer about an earlier account is dropped
  #listeners = new Set();
  #messageListeners = new Set();
  #quoteSubscription = null;
  #chartSymbol = null;
  #symbols = []; // the catalogue, for the executions history
  #executionsLoading = false;
  #bufferedExecutions = [];
  #notifyQueued = false;
  #replayQuotes = false;

  constructor(socket) {
    this.#socket = socket;
  }

  /** `listener(order)` for an order that ended with a `message` (expired, IOC/FOK, rejected). */
  onOrderMessage(listener) {
    this.#messageListeners.add(listener);
  }

  onChange(listener) {
    this.#listeners.add(listener);
  }

  /** `symbols` is the catalogue (executions history); the account comes with setAccount. */
  start(symbols) {
    this.#symbols = symbols;
    this.#socket.onOpen(() => this.#loadExecutions());
    this.#socket.onStateChange((state) => {
      if (state !== "connected" && this.connection) {
        this.connection = { ...this.connection, status: 3, message: "Connection lost" };
        this.#notify();
      }
    });
  }

  get accountId() {
    return this.#accountId;
  }

  /**
   * Trade `accountId` (null: none). Also with the current id: everything is read again (the
   * account was reset).
   */
  setAccount(accountId) {
    for (const subscription of this.#accountSubscriptions) subscription.unsubscribe();
    this.#accountSubscriptions = [];
    this.#generation += 1;
    this.#accountId = accountId;
    this.orders.clear();
    this.positions.clear();
    this.pl.clear();
    this.executions = [];
    this.equity = null;
    this.margin = null;
    this.connection = null;
    this.#executionsLoading = false;
    this.#bufferedExecutions = [];
    // the symbols of the old account's orders and positions need no quotes any more
    if (this.#quoteSubscription) this.#updateQuoteSubscription();
    this.#notify();
    if (accountId === null) return;
    this.#subscribeAccount(accountId);
    // on a socket still to open, #loadExecutions runs when it opens
    if (this.#socket.state === "connected") this.#loadExecutions();
  }

  /** Subscribe to every broker route of the account. */
  #subscribeAccount(accountId) {
    const account = { accountId };
    const subscribe = (route, handlers) =>
      this.#accountSubscriptions.push(this.#socket.subscribe(route, account, handlers));
    subscribe("orders", {
      onSubscribed: () => this.#reset(this.orders),
      onUpdate: (order) => this.#onOrder(order),
    });
    subscribe("positions", {
      onSubscribed: () => this.#reset(this.positions),
      onUpdate: (position) => this.#onPosition(position),
    });
    subscribe("executions", {
      onUpdate: (execution) => this.#onExecution(execution),
    });
    subscribe("equity", {
      onUpdate: (equity) => {
        this.equity = equity;
        this.#notify();
      },
    });
    subscribe("pl", {
      onSubscribed: () => this.#reset(this.pl),
      onUpdate: ({ id, pl }) => {
        this.pl.set(id, pl);
        this.#notify();
      },
    });
    subscribe("margin", {
      onUpdate: (margin) => {
        this.margin = margin;
        this.#notify();
      },
    });
    subscribe("broker-connection", {
      onUpdate: (status) => {
        this.connection = status;
        this.#notify();
      },
    });
  }

  /** Quotes from a replay session (`putQuote`) instead of the live topic, or live again. */
  useReplayQuotes(on) {
    if (on === this.#replayQuotes) return;
    this.#replayQuotes = on;
    this.quotes.clear();
    this.#notify();
  }

  /** A quote (`QuoteData`: {s, n, v}) of the replay session at its replay-now. */
  putQuote(quote) {
    if (!this.#replayQuotes || quote.s !== "ok") return;
    this.quotes.set(quote.n, quote.v);
    this.#notify();
  }

  /** The chart's symbol is quoted too (quote strip). */
  setChartSymbol(symbol) {
    this.#chartSymbol = symbol;
    this.#updateQuoteSubscription();
  }

  /** Unrealized P&L of a position: the broker's own (`pl` route), else at the last quote,
   * else null. */
  unrealized(position) {
    const booked = this.pl.get(position.id);
    if (booked !== undefined) return booked;
    const quote = this.quotes.get(position.symbol);
    if (!quote) return null;
    const signedQty = position.qty * position.side;
    return Math.round((quote.lp - position.avgPrice) * signedQty * 100) / 100;
  }

  /**
   * The working bracket orders of a position: the orders that name it as their parent
   * (parentType 2, parentId = the position id, broker.md §14); a LIMIT is the take profit,
   * a STOP the stop loss.
   */
  bracketsOf(position) {
    const result = { takeProfit: null, stopLoss: null };
    for (const order of this.orders.values()) {
      if (order.parentType !== PARENT_TYPE.POSITION || order.parentId !== position.id) continue;
      if (order.status !== ORDER_STATUS.WORKING) continue;
      if (order.type === ORDER_TYPE.LIMIT && !result.takeProfit) result.takeProfit = order;
      if (order.type === ORDER_TYPE.STOP && !result.stopLoss) result.stopLoss = order;
    }
    return result;
  }

  /** "TP" / "SL" for a bracket order (one that names a parent), else "". */
  bracketRole(order) {
    if (order.parentType === undefined || order.parentType === null) return "";
    return order.type === ORDER_TYPE.LIMIT ? "TP" : "SL";
  }

  /** The resting order an INACTIVE bracket waits for, or null. */
  parentOrder(order) {
    if (order.parentType !== PARENT_TYPE.ORDER) return null;
    return this.orders.get(order.parentId) ?? null;
  }

  #reset(map) {
    map.clear(); // the snapshot that follows the `ok` reply refills it
    this.#notify();
  }

  #onOrder(order) {
    const live = order.status === ORDER_STATUS.WORKING || order.status === ORDER_STATUS.INACTIVE;
    if (live) this.orders.set(order.id, order);
    else this.orders.delete(order.id);
    if (order.message && order.status !== ORDER_STATUS.WORKING) {
      for (const listener of this.#messageListeners) listener(order);
    }
    this.#updateQuoteSubscription();
    this.#notify();
  }

  #onPosition(position) {
    if (position.qty > 0) this.positions.set(position.symbol, position);
    else this.positions.delete(position.symbol);
    // a new average price (a fill) makes the last pushed P&L stale until the next push
    this.pl.delete(position.id);
    this.#updateQuoteSubscription();
    this.#notify();
  }

  #onExecution(execution) {
    if (this.#executionsLoading) this.#bufferedExecutions.push(execution);
    else this.#addExecutions([execution]);
    this.#notify();
  }

  #addExecutions(items) {
    this.executions = items.concat(this.executions);
    this.executions.sort((a, b) => b.time - a.time);
    this.executions.length = Math.min(this.executions.length, MAX_EXECUTIONS);
  }

  /**
   * Executions are events, not replayed on subscribe: after each (re)connect read the history
   * (one request per symbol, there is no "all symbols" route), then add the live ones that
   * arrived meanwhile and are not in it.
   */
  async #loadExecutions() {
    if (this.#accountId === null) return;
    const generation = this.#generation;
    this.#executionsLoading = true;
    this.#bufferedExecutions = [];
    let history = null;
    try {
      const lists = await Promise.all(this.#symbols.map((symbol) => api.executions(symbol)));
      history = lists.flat();
    } catch (error) {
      if (generation === this.#generation) console.warn("Could not load executions:", error.message);
    }
    if (generation !== this.#generation) return; // another account's: setAccount started over
    if (history === null) {
      this.#addExecutions(this.#bufferedExecutions);
    } else {
      const seen = new Map();
      for (const execution of history) {
        const key = executionKey(execution);
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      const fresh = this.#bufferedExecutions.filter((execution) => {
        const key = executionKey(execution);
        const count = seen.get(key) ?? 0;
        if (count > 0) {
          seen.set(key, count - 1);
          return false;
        }
        return true;
      });
      this.executions = [];
      this.#addExecutions(history.concat(fresh));
    }
    this.#executionsLoading = false;
    this.#bufferedExecutions = [];
    this.#notify();
  }

  /** One `quotes` topic, all fast: the chart symbol plus every symbol with orders/positions. */
  #updateQuoteSubscription() {
    const symbols = new Set();
    if (this.#chartSymbol) symbols.add(this.#chartSymbol);
    for (const symbol of this.positions.keys()) symbols.add(symbol);
    for (const order of this.orders.values()) symbols.add(order.symbol);
    const wanted = [...symbols].sort();
    const previous = this.#quoteSubscription;
    const request = { symbols: [], fast_symbols: wanted };
    if (previous && previous.key === wanted.join(",")) return;
    // subscribe to the new set first, then drop the old one: no gap in the quote strip
    const subscription = this.#socket.subscribe("quotes", request, {
      onUpdate: (quote) => {
        if (this.#replayQuotes) return;
        if (quote.s === "ok") this.quotes.set(quote.n, quote.v);
        this.#notify();
      },
    });
    this.#quoteSubscription = { ...subscription, key: wanted.join(",") };
    previous?.unsubscribe();
  }

  /** Coalesce notifications: a fill pushes several frames in one burst. */
  #notify() {
    if (this.#notifyQueued) return;
    this.#notifyQueued = true;
    queueMicrotask(() => {
      this.#notifyQueued = false;
      for (const listener of this.#listeners) listener(this);
    });
  }
}
