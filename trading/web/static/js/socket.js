// WebSocket client for /api/v1/ws (websocket.md): one socket, many topics.
//
// - A subscription is named by its topic, computed exactly as the server does (§4): defaults
//   filled in, null fields removed, keys sorted, compact JSON, "<route>:" prefix. Replies and
//   updates are routed by `type` + `payload.topic`, never by arrival order.
// - The `ok` reply precedes the snapshot (atomic subscribe, §5), so `onSubscribed` is the place
//   to clear what a snapshot replaces (working orders, open positions).
// - On a dropped socket: reconnect with exponential backoff (0.5 s doubling to 10 s, jittered)
//   and subscribe again to every topic; the snapshots bring the page up to date.
// - An application ping every 15 s; a socket silent for 35 s is treated as dead (half-open).
// - Keys mode (issue 14): the credentials of a connection are the session cookie sent with its
//   upgrade, so logging in or out `restart()`s the socket at once (a new upgrade, every topic
//   subscribed again); `onClose` tells the close code (1008: the server ended the connection,
//   e.g. because its key was revoked).

const ROUTE_DEFAULTS = {
  bars: { resolution: "1" },
  quotes: { symbols: [], fast_symbols: [] },
};

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const PING_EVERY_MS = 15_000;
const SILENCE_LIMIT_MS = 35_000;

/** The request as sent: route defaults filled in, null and undefined fields removed. */
export function normalizeRequest(route, request) {
  const full = { ...(ROUTE_DEFAULTS[route] ?? {}), ...request };
  return Object.fromEntries(
    Object.entries(full).filter(([, value]) => value !== null && value !== undefined),
  );
}

/** The server's topic string for a subscription (websocket.md §4). */
export function topicOf(route, request) {
  const entries = Object.entries(normalizeRequest(route, request));
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${route}:${JSON.stringify(Object.fromEntries(entries))}`;
}

export const SOCKET_STATE = Object.freeze({
  CONNECTING: "connecting",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
});

export class TradingSocket {
  #url;
  #ws = null;
  #subscriptions = new Map(); // topic → { route, request, handlers: Set, confirmed }
  #stateListeners = new Set();
  #openListeners = new Set();
  #closeListeners = new Set();
  #started = false;
  #restarted = false;
  #state = SOCKET_STATE.CONNECTING;
  #attempt = 0;
  #retryAt = null;
  #retryTimer = null;
  #pingTimer = null;
  #lastMessageAt = 0;
  #connectedOnce = false;
  #pingSeq = 0;

  constructor(url) {
    this.#url = url;
  }

  get state() {
    return this.#state;
  }

  /** When the next attempt starts (epoch ms), while waiting to reconnect. */
  get retryAt() {
    return this.#retryAt;
  }

  get attempt() {
    return this.#attempt;
  }

  /** `listener(state, socket)` on every state change. */
  onStateChange(listener) {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /**
   * `listener(isReconnect, restarted)` each time the socket opens (subscriptions are being
   * renewed); `restarted`: the page asked for the new connection (`restart()`), none was lost.
   */
  onOpen(listener) {
    this.#openListeners.add(listener);
    return () => this.#openListeners.delete(listener);
  }

  /** `listener(code)` when the server (or the network) closed the socket. */
  onClose(listener) {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  start() {
    this.#started = true;
    window.addEventListener("online", () => this.reconnectNow());
    this.#connect();
  }

  /**
   * Close the connection and open a new one now (after a login or a logout: the upgrade must
   * carry the new credentials). Before `start()` nothing happens: start connects.
   */
  restart() {
    if (!this.#started) return;
    clearTimeout(this.#retryTimer);
    const ws = this.#ws;
    if (ws) {
      this.#ws = null;
      clearInterval(this.#pingTimer);
      ws.close(1000);
    }
    for (const subscription of this.#subscriptions.values()) subscription.confirmed = false;
    this.#restarted = true;
    this.#connect();
  }

  /** Skip the backoff wait (a click on the connection badge, the browser coming online). */
  reconnectNow() {
    if (this.#ws) return;
    clearTimeout(this.#retryTimer);
    this.#connect();
  }

  /**
   * Subscribe to a route. `handlers`: `onUpdate(payload)`, `onSubscribed()`, `onError(message)`.
   * Returns `{ topic, unsubscribe() }`.
   */
  subscribe(route, request, handlers) {
    const payload = normalizeRequest(route, request);
    const topic = topicOf(route, payload);
    let subscription = this.#subscriptions.get(topic);
    if (!subscription) {
      subscription = { route, request: payload, handlers: new Set(), confirmed: false };
      this.#subscriptions.set(topic, subscription);
      subscription.handlers.add(handlers);
      this.#sendSubscribe(subscription);
    } else {
      subscription.handlers.add(handlers);
      // A second listener needs the snapshot too: subscribing again re-sends it (§5).
      this.#sendSubscribe(subscription);
    }
    return {
      topic,
      unsubscribe: () => this.#release(topic, handlers),
    };
  }

  #release(topic, handlers) {
    const subscription = this.#subscriptions.get(topic);
    if (!subscription || !subscription.handlers.delete(handlers)) return;
    if (subscription.handlers.size > 0) return;
    this.#subscriptions.delete(topic);
    this.#send({ type: `${subscription.route}.unsubscribe`, payload: subscription.request });
  }

  #sendSubscribe(subscription) {
    subscription.confirmed = false;
    this.#send({ type: `${subscription.route}.subscribe`, payload: subscription.request });
  }

  #send(message) {
    if (this.#ws?.readyState !== WebSocket.OPEN) return false; // sent again on (re)open
    this.#ws.send(JSON.stringify(message));
    return true;
  }

  #setState(state) {
    this.#state = state;
    for (const listener of this.#stateListeners) listener(state, this);
  }

  #connect() {
    this.#retryAt = null;
    this.#setState(this.#connectedOnce ? SOCKET_STATE.RECONNECTING : SOCKET_STATE.CONNECTING);
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    ws.addEventListener("open", () => {
      if (this.#ws !== ws) return;
      const isReconnect = this.#connectedOnce;
      this.#connectedOnce = true;
      this.#attempt = 0;
      this.#lastMessageAt = Date.now();
      this.#startPing(ws);
      this.#setState(SOCKET_STATE.CONNECTED);
      const restarted = this.#restarted;
      this.#restarted = false;
      for (const subscription of this.#subscriptions.values()) this.#sendSubscribe(subscription);
      for (const listener of this.#openListeners) listener(isReconnect, restarted);
    });
    ws.addEventListener("message", (event) => {
      if (this.#ws !== ws) return;
      this.#lastMessageAt = Date.now();
      this.#dispatch(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (this.#ws !== ws) return;
      this.#dropped();
      for (const listener of this.#closeListeners) listener(event.code);
    });
  }

  #dropped() {
    this.#ws = null;
    this.#restarted = false; // the next open is a reconnection
    clearInterval(this.#pingTimer);
    for (const subscription of this.#subscriptions.values()) subscription.confirmed = false;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.#attempt);
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    this.#attempt += 1;
    this.#retryAt = Date.now() + delay;
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
    this.#setState(SOCKET_STATE.RECONNECTING);
  }

  #startPing(ws) {
    clearInterval(this.#pingTimer);
    this.#pingTimer = setInterval(() => {
      if (Date.now() - this.#lastMessageAt > SILENCE_LIMIT_MS) {
        // Half-open socket: give up on it now instead of waiting for the browser to notice.
        this.#ws = null;
        ws.close();
        this.#dropped();
        return;
      }
      this.#pingSeq += 1;
      this.#send({ type: "ping", payload: this.#pingSeq });
    }, PING_EVERY_MS);
  }

  #dispatch(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      console.error("WebSocket: unreadable frame", text);
      return;
    }
    const { type, payload } = message;
    if (typeof type !== "string") return;
    if (type.endsWith(".update")) {
      const subscription = this.#subscriptions.get(payload?.topic);
      if (!subscription) return; // an update racing our unsubscribe
      for (const handlers of subscription.handlers) handlers.onUpdate?.(payload.payload);
      return;
    }
    if (type.endsWith(".subscribe.response") && !type.endsWith(".unsubscribe.response")) {
      this.#onSubscribeResponse(type.slice(0, -".subscribe.response".length), payload);
      return;
    }
    if (type.endsWith(".unsubscribe.response") || type === "pong") return;
    if (type === "error") console.error("WebSocket error from server:", payload);
  }

  #onSubscribeResponse(route, reply) {
    const subscription = this.#subscriptions.get(reply?.topic);
    if (!subscription || subscription.route !== route) {
      // topic "" (invalid payload) cannot be attributed: a bug in this page.
      if (reply?.status !== "ok") console.error(`WebSocket: ${route}.subscribe refused`, reply);
      return;
    }
    if (reply.status === "ok") {
      subscription.confirmed = true;
      for (const handlers of subscription.handlers) handlers.onSubscribed?.();
    } else {
      for (const handlers of subscription.handlers) handlers.onError?.(reply.message);
    }
  }
}
