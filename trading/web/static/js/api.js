// REST client for the public contract (/api/v1, rest.md). Every call resolves with the JSON
// body of a 2xx or throws an ApiError carrying the status and the `detail` of the error body.
//
// Keys mode (issue 14): every broker request names the page's account in `X-Account-Id`
// (account.js; none in off mode), credentials travel in the HttpOnly session cookie the
// browser sends by itself (the page never sees it), and a 401 of a broker request (session
// expired, key revoked) is told to the `onUnauthorized` listeners: the page goes back to its
// login form. Writes keep `Content-Type: application/json` (the server's CSRF rule).
//
// Replay (issue 17): while a session's book is traded, the broker requests name the session
// (account.id is the book's); the replay routes themselves act on the user's own account
// (account.baseId), which owns the sessions.

import { account } from "./account.js";

/** Base of the API, relative to the page (/app/ → /api/v1/), so a path prefix keeps working. */
export const API_BASE = new URL("../api/v1/", document.baseURI);

export class ApiError extends Error {
  constructor(status, detail) {
    super(ApiError.describe(status, detail));
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }

  static describe(status, detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((item) => item.msg).join("; ");
    return `HTTP ${status}`;
  }

  /**
   * For a 422: the messages by field, keyed by the `loc` path after its first element
   * ("body", "query" or "path") joined with dots ("qty", "brackets.takeProfit", "amount").
   */
  get fieldErrors() {
    const errors = new Map();
    if (this.status !== 422 || !Array.isArray(this.detail)) return errors;
    for (const item of this.detail) {
      const loc = Array.isArray(item.loc) ? item.loc.slice(1) : [];
      const key = loc.filter((part) => typeof part === "string").join(".");
      const messages = errors.get(key) ?? [];
      messages.push(item.msg);
      errors.set(key, messages);
    }
    return errors;
  }
}

const unauthorizedListeners = new Set();

/** `listener(error)` when a broker request answers 401; returns the function that stops it. */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** A fresh Idempotency-Key (a UUID v4); crypto.randomUUID needs a secure context (https or
 * loopback), so a page served over plain http on a LAN address builds one itself. */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function request(method, path, { query, body, headers } = {}) {
  const url = new URL(path, API_BASE);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== null && value !== undefined) url.searchParams.set(name, String(value));
  }
  const init = { method, headers: { Accept: "application/json", ...headers } };
  const broker = path.startsWith("broker/");
  const replay = path.startsWith("replay");
  if (broker && account.id !== null) init.headers["X-Account-Id"] = account.id;
  if (replay && account.baseId !== null) init.headers["X-Account-Id"] = account.baseId;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError(response.status, `Unreadable response (HTTP ${response.status})`);
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data?.detail ?? response.statusText);
    if (response.status === 401 && (broker || replay)) {
      for (const listener of unauthorizedListeners) listener(error);
    }
    throw error;
  }
  return data;
}

const segment = (value) => encodeURIComponent(value);

export const api = {
  // who is trading (issue 14): `me` is the page's first request, 404 on a server without it
  me: () => request("GET", "auth/me"),
  login: (key) => request("POST", "auth/login", { body: { key } }),
  logout: () => request("POST", "auth/logout", { body: {} }),
  // datafeed
  config: () => request("GET", "datafeed/config"),
  search: (userInput, maxResults = 20) =>
    request("GET", "datafeed/search", { query: { user_input: userInput, max_results: maxResults } }),
  resolve: (symbol) => request("GET", `datafeed/resolve/${segment(symbol)}`),
  bars: ({ symbol, resolution, fromTime = 0, toTime, countBack }) =>
    request("GET", "datafeed/bars", {
      query: {
        symbol, resolution, from_time: fromTime, to_time: toTime, count_back: countBack,
      },
    }),
  // broker
  brokerConfig: () => request("GET", "broker/config"),
  previewOrder: (preOrder) => request("POST", "broker/orders/preview", { body: preOrder }),
  placeOrder: (preOrder, { idempotencyKey } = {}) =>
    request("POST", "broker/orders", {
      body: preOrder,
      headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
    }),
  modifyOrder: (orderId, preOrder) =>
    request("PUT", `broker/orders/${segment(orderId)}`, { body: preOrder }),
  cancelOrder: (orderId) => request("DELETE", `broker/orders/${segment(orderId)}`),
  orders: () => request("GET", "broker/orders"),
  ordersHistory: ({ limit, cursor = null }) =>
    request("GET", "broker/orders/history", { query: { limit, cursor } }),
  positions: () => request("GET", "broker/positions"),
  executions: (symbol) => request("GET", `broker/executions/${segment(symbol)}`),
  equity: () => request("GET", "broker/equity"),
  closePosition: (positionId, amount = null) =>
    request("DELETE", `broker/positions/${segment(positionId)}`, { query: { amount } }),
  editBrackets: (positionId, brackets) =>
    request("PUT", `broker/positions/${segment(positionId)}/brackets`, { body: { brackets } }),
  leverageInfo: ({ symbol, orderType, side }) =>
    request("GET", "broker/leverage/info", { query: { symbol, orderType, side } }),
  previewLeverage: (params) => request("POST", "broker/leverage/preview", { body: params }),
  setLeverage: (params) => request("PUT", "broker/leverage/set", { body: params }),
  // desk operations (rest.md §13)
  instrument: (symbol) => request("GET", `broker/instruments/${segment(symbol)}`),
  margin: () => request("GET", "broker/margin"),
  reversePosition: (positionId) =>
    request("POST", `broker/positions/${segment(positionId)}/reverse`, { body: {} }),
  cancelOrders: ({ symbol = null, side = null } = {}) =>
    request("DELETE", "broker/orders", { query: { symbol, side } }),
  flatten: () => request("DELETE", "broker/positions"),
  // bar replay (replay.md): sessions of the account, and a session's market at replay-now
  startReplay: ({ startTime, speed, symbols, paused }) =>
    request("POST", "replay", { body: { startTime, speed, symbols, paused } }),
  replays: () => request("GET", "replay"),
  replay: (id) => request("GET", `replay/${segment(id)}`),
  changeReplay: (id, change) => request("PATCH", `replay/${segment(id)}`, { body: change }),
  endReplay: (id) => request("DELETE", `replay/${segment(id)}`),
  replayReport: (id) => request("GET", `replay/${segment(id)}/report`),
  replayBars: (id, { symbol, resolution, fromTime = 0, toTime, countBack }) =>
    request("GET", `replay/${segment(id)}/datafeed/bars`, {
      query: {
        symbol, resolution, from_time: fromTime, to_time: toTime, count_back: countBack,
      },
    }),
  // accounts (keys mode; off mode serves one account and answers 403 to opening another)
  openAccount: (params = {}) => request("POST", "broker/accounts", { body: params }),
  resetAccount: (accountId) =>
    request("POST", `broker/accounts/${segment(accountId)}/reset`, { body: {} }),
};
