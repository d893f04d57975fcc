// Wires the page together: symbol + resolution (kept in the URL hash), chart, quote strip,
// ticket, blotter and the WebSocket connection badge.
//
// The first request is GET /auth/me (session.js). Off mode (404 or {"auth": "off"}): the page is
// what it was before issue 14. Keys mode: the login form until someone logs in (the chart still
// works when the market is public), then the account switcher; every change of account goes
// through account.js, which the broker state, ticket, leverage and history follow.
//
// Bar replay (issue 17, replay.js): while a session is on, the chart reads the session's
// datafeed and follows its feed (replayfeed.js) instead of the live `bars` topic, the quotes are
// the session's at replay-now, and the broker state, ticket, leverage and history act on the
// session's book (account.setBook); End brings every one of them back to the live account.
//
// `window.__app` exposes a small read-only snapshot of the page state for tests and debugging.

import { account } from "./account.js";
import { api, API_BASE, onUnauthorized } from "./api.js";
import { BrokerState } from "./broker.js";
import { Blotter } from "./blotter.js";
import { OrdersHistory } from "./history.js";
import { PriceChart, RESOLUTION_LABEL } from "./chart.js";
import { ReplayBar } from "./replay.js";
import { createReplayFeed } from "./replayfeed.js";
import { ReportView } from "./report.js";
import {
  formatPercent, formatPrice, formatSignedPrice, formatVolume, h, ORDER_TYPE, priceDecimals,
  SIDE_LABEL, TYPE_SHORT, formatQty, trendOf,
} from "./format.js";
import { SOCKET_STATE, TradingSocket } from "./socket.js";
import { SymbolSearch, symbolInfo } from "./symbols.js";
import { OrderTicket } from "./ticket.js";
import { initToasts, toast } from "./toast.js";
import { LeverageControl } from "./leverage.js";
import { AUTH_MODE, Session } from "./session.js";
import { writes } from "./writes.js";

// off mode: the server maps every WebSocket accountId to its one account; the page's own label
const OFF_MODE_ACCOUNT_ID = "ACCOUNT-web";
const DEFAULT_SYMBOL = "AAPL";
const DEFAULT_RESOLUTION = "1";

const $ = (selector) => document.querySelector(selector);

const socketUrl = new URL("ws", API_BASE);
socketUrl.protocol = socketUrl.protocol === "https:" ? "wss:" : "ws:";
const socket = new TradingSocket(socketUrl.href);
const broker = new BrokerState(socket);
const session = new Session(document, $("#dialog"), {
  connect: () => socket.restart(),
  afterLogin: () => $("#ticket-form input[name=side]:checked").focus(),
});

const view = {
  info: null, // SymbolInfo of the chart symbol
  resolution: DEFAULT_RESOLUTION,
  resolutions: [],
  barsSubscription: null,
  started: false, // the market part started (config, catalogue, socket, chart)
  marketLocked: false, // keys mode with a private market: waiting for a login to start
  brokerConfigLoaded: false,
  replayFeed: null, // the replay session's feed while one is on (replayfeed.js)
};
let replay = null; // the replay bar (below, once the panels it reaches exist)

const chart = new PriceChart($("#chart"), $("#chart-legend"), $("#chart-status"), {
  onChange: () => publishState(),
});

function publishState() {
  const chartState = chart.state;
  window.__app = Object.freeze({
    ...chartState,
    connection: socket.state,
    brokerConnected: broker.connection?.status === 1,
    orders: [...broker.orders.keys()],
    positions: [...broker.positions.keys()],
    executions: broker.executions.length,
    equity: broker.equity,
    pl: Object.fromEntries(broker.pl),
    margin: broker.margin,
    quote: view.info ? broker.quotes.get(view.info.name) ?? null : null,
    auth: session.mode,
    user: session.user?.name ?? null,
    accountId: broker.accountId,
    replay: replay?.session
      ? (({ id, state, speed, time, symbols }) => ({ id, state, speed, time, symbols }))(replay.session)
      : null,
  });
}

// --- URL hash: #symbol=AAPL&resolution=5 ------------------------------------------------

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  return {
    symbol: params.get("symbol") || DEFAULT_SYMBOL,
    resolution: params.get("resolution") || DEFAULT_RESOLUTION,
  };
}

function writeHash() {
  const params = new URLSearchParams({ symbol: view.info.name, resolution: view.resolution });
  history.replaceState(null, "", `#${params}`);
}

// --- chart symbol and resolution -------------------------------------------------------

async function showChart(symbol, resolution) {
  const session = replay.session;
  if (session && !session.symbols.includes(symbol.toUpperCase())) {
    toast(`The replay serves ${session.symbols.join(", ")} only: end it to chart ${symbol}`, "error");
    if (view.info) writeHash();
    return;
  }
  let info;
  try {
    info = await symbolInfo(symbol);
  } catch (error) {
    toast(error.status === 404 ? `Unknown symbol: ${symbol}` : error.message, "error");
    search.value = view.info?.name ?? "";
    return;
  }
  if (!info.supported_resolutions.includes(resolution)) resolution = DEFAULT_RESOLUTION;
  view.info = info;
  view.resolution = resolution;
  writeHash();
  search.value = info.name;
  document.title = `${info.name} · Trading desk`;
  renderResolutions();
  replay.resolutionChanged();
  ticket.setSymbol(info);
  leverage.setSymbol(info.name);
  broker.setChartSymbol(info.name);
  renderQuote();
  renderPriceLines();

  view.barsSubscription?.unsubscribe();
  view.barsSubscription = null;
  view.replayFeed?.stop();
  view.replayFeed = null;
  if (session) {
    // the session's bars as of replay-now, then its feed from the last one drawn
    chart.setSource((params) => api.replayBars(session.id, params));
    try {
      await chart.load(info, resolution);
    } catch (error) {
      toast(`Bars: ${error.message}`, "error");
    }
    if (replay.session?.id === session.id && view.info === info && view.resolution === resolution) {
      startReplayFeed(session);
    }
    renderPriceLines();
    return;
  }
  chart.setSource(null);
  // live bars first (buffered by the chart while history loads), then the history
  view.barsSubscription = socket.subscribe(
    "bars",
    { symbol: info.name, resolution },
    {
      onUpdate: (bar) => chart.update(bar),
      onError: (message) => toast(`Live bars: ${message}`, "error"),
    },
  );
  try {
    await chart.load(info, resolution);
  } catch (error) {
    toast(`Bars: ${error.message}`, "error");
  }
  renderPriceLines();
}

/** Follow the replay session: its clock, the chart's bars and the quote at replay-now. */
function startReplayFeed(session) {
  view.replayFeed?.stop();
  view.replayFeed = createReplayFeed(
    session.id,
    {
      symbol: view.info.name,
      resolution: view.resolution,
    },
    {
      onState: (state) => {
        replay.showState(state);
        publishState();
      },
      onBar: (bar) => chart.update(bar),
      onQuote: (quote) => broker.putQuote(quote),
      onReload: () => showChart(view.info.name, view.resolution),
      onGone: (error) => replay.lost(error.message),
      onError: (error) => console.warn("Replay feed:", error.message),
    },
    socket,
  );
  view.replayFeed.start();
}

function renderResolutions() {
  const group = $("#resolutions");
  const buttons = view.resolutions.map((resolution) => {
    const pressed = resolution === view.resolution;
    return h(
      "button",
      {
        type: "button",
        class: "seg",
        "aria-pressed": String(pressed),
        "data-resolution": resolution,
        title: `Resolution ${resolution}`,
        onclick: () => {
          if (resolution !== view.resolution) showChart(view.info.name, resolution);
        },
      },
      RESOLUTION_LABEL[resolution] ?? resolution,
    );
  });
  const focused = document.activeElement?.dataset?.resolution;
  group.replaceChildren(...buttons);
  if (focused) group.querySelector(`[data-resolution="${focused}"]`)?.focus();
}

// --- quote strip ------------------------------------------------------------------------

function renderQuote() {
  const info = view.info;
  if (!info) return;
  const quote = broker.quotes.get(info.name);
  const decimals = priceDecimals(info);
  const set = (id, text, trend = null) => {
    const element = $(`#${id}`);
    if (element.textContent !== text) element.textContent = text;
    if (trend !== null) element.dataset.trend = trend;
  };
  set("q-symbol", info.name);
  set("q-desc", `${info.description} · ${info.exchange}`);
  set("q-last", formatPrice(quote?.lp, decimals), trendOf(quote?.ch));
  set("q-change", formatSignedPrice(quote?.ch, decimals), trendOf(quote?.ch));
  set("q-change-pct", formatPercent(quote?.chp), trendOf(quote?.ch));
  set("q-bid", formatPrice(quote?.bid, decimals));
  set("q-ask", formatPrice(quote?.ask, decimals));
  set("q-spread", formatPrice(quote?.spread, decimals));
  set("q-open", formatPrice(quote?.open_price, decimals));
  set("q-high", formatPrice(quote?.high_price, decimals));
  set("q-low", formatPrice(quote?.low_price, decimals));
  set("q-volume", formatVolume(quote?.volume));
}

// --- price lines: working orders, their brackets, the position ---------------------------

let lastLinesKey = "";

function renderPriceLines() {
  const info = view.info;
  if (!info) return;
  const decimals = priceDecimals(info);
  const lines = [];
  for (const order of broker.orders.values()) {
    if (order.symbol !== info.name) continue;
    // an inactive bracket is drawn by its resting order (its takeProfit / stopLoss lines)
    if (broker.parentOrder(order)) continue;
    const role = broker.bracketRole(order);
    const qty = formatQty(order.qty);
    if (role === "TP") {
      lines.push({ price: order.limitPrice, title: `TP ${qty}`, kind: "takeProfit" });
      continue;
    }
    if (role === "SL") {
      lines.push({ price: order.stopPrice, title: `SL ${qty}`, kind: "stopLoss" });
      continue;
    }
    const kind = order.side === 1 ? "buy" : "sell";
    const label = `${SIDE_LABEL[order.side].toUpperCase()} ${TYPE_SHORT[order.type]} ${qty}`;
    if (order.type === ORDER_TYPE.LIMIT || order.type === ORDER_TYPE.STOP_LIMIT) {
      lines.push({ price: order.limitPrice, title: label, kind });
    }
    if (order.type === ORDER_TYPE.STOP || order.type === ORDER_TYPE.STOP_LIMIT) {
      const title = order.type === ORDER_TYPE.STOP ? label : `${label} stop`;
      lines.push({ price: order.stopPrice, title, kind });
    }
    if (order.takeProfit !== null) {
      lines.push({ price: order.takeProfit, title: `TP ${order.id}`, kind: "takeProfit" });
    }
    if (order.stopLoss !== null) {
      lines.push({ price: order.stopLoss, title: `SL ${order.id}`, kind: "stopLoss" });
    }
  }
  const position = broker.positions.get(info.name);
  if (position) {
    const sign = position.side === 1 ? "+" : "−";
    lines.push({
      price: position.avgPrice,
      title: `POS ${sign}${formatQty(position.qty)} @ ${formatPrice(position.avgPrice, decimals)}`,
      kind: "position",
    });
  }
  const valid = lines.filter((line) => typeof line.price === "number");
  const key = JSON.stringify(valid);
  if (key === lastLinesKey) return;
  lastLinesKey = key;
  chart.setPriceLines(valid);
}

// --- connection badge ---------------------------------------------------------------------

let countdownTimer = null;

function renderConnection() {
  const badge = $("#connection");
  const label = badge.querySelector(".label");
  clearInterval(countdownTimer);
  badge.dataset.state = socket.state;
  writes.set(socket.state === SOCKET_STATE.CONNECTED);
  document.body.dataset.connection = socket.state; // stale numbers are dimmed while offline
  const update = () => {
    if (socket.state === SOCKET_STATE.CONNECTED) {
      label.textContent = "Live";
      badge.title = "Connected to the live feed";
      badge.disabled = true;
    } else if (socket.state === SOCKET_STATE.CONNECTING) {
      label.textContent = "Connecting…";
      badge.disabled = true;
    } else if (socket.retryAt) {
      const seconds = Math.max(0, Math.ceil((socket.retryAt - Date.now()) / 1000));
      label.textContent = `Offline · retry in ${seconds}s`;
      badge.title = "Connection lost. Click to retry now.";
      badge.disabled = false;
    } else {
      label.textContent = "Reconnecting…";
      badge.disabled = true;
    }
  };
  update();
  if (socket.state === SOCKET_STATE.RECONNECTING && socket.retryAt) {
    countdownTimer = setInterval(update, 250);
  }
  publishState();
}

// --- start ----------------------------------------------------------------------------------

initToasts($("#toasts"), $("#ticket"));
const search = new SymbolSearch($("#symbol-input"), $("#symbol-list"), {
  onSelect: (symbol) => showChart(symbol, view.resolution),
});
const ticket = new OrderTicket($("#ticket"), {
  lastPrice: () => (view.info ? broker.quotes.get(view.info.name)?.lp ?? chart.state.lastBar?.close ?? null : null),
});
const leverage = new LeverageControl($("#leverage-form"), {
  context: () => ticket.context,
  onChanged: () => ticket.refreshPreview(),
});
new Blotter($("#blotter"), broker, $("#dialog"));
const report = new ReportView($("#report"));
replay = new ReplayBar(document, {
  symbol: () => view.info?.name ?? null,
  resolution: () => view.resolution,
  onEnter: async (session) => {
    broker.useReplayQuotes(true);
    publishState();
    // a resumed session may be of another symbol than the chart's
    const symbol = session.symbols.includes(view.info.name) ? view.info.name : session.symbols[0];
    await showChart(symbol, view.resolution);
  },
  onLeave: () => {
    view.replayFeed?.stop();
    view.replayFeed = null;
    broker.useReplayQuotes(false);
    publishState();
    showChart(view.info.name, view.resolution);
  },
  onEnding: async () => {
    const feed = view.replayFeed;
    view.replayFeed = null;
    await feed?.stop();
  },
  onClockChanged: () => publishState(), // the feed's stream pushes the change itself
  onReport: (session, options) => report.open(session, options),
});
new OrdersHistory($("#panel-history"));

$("#connection").addEventListener("click", () => socket.reconnectNow());
// the skip link moves focus to the ticket without replacing the #symbol=… hash (logged out:
// to the login form, which stands where the ticket does)
$(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  if (document.body.dataset.session === "login") $("#login-key").focus();
  else $("#ticket-form input[name=side]:checked").focus();
});
socket.onStateChange(() => renderConnection());
socket.onOpen((isReconnect, restarted) => {
  if (isReconnect) {
    if (!restarted) toast("Reconnected", "success"); // not after a login or logout
    chart.fillGap().catch((error) => console.warn("Gap fill failed:", error.message));
  }
});
// keys mode: a revoked key's socket is closed 1008; a broker request answering 401 means the
// session is over
socket.onClose((code) => {
  if (code === 1008) session.verify();
});
onUnauthorized(() => session.ended());
session.onChange(() => publishState());
account.onChange(({ id, ready }) => {
  broker.setAccount(ready ? id ?? OFF_MODE_ACCOUNT_ID : null);
  if (!ready) return;
  if (view.started) loadBrokerConfig();
  if (view.marketLocked) {
    view.marketLocked = false;
    $("#chart-status").hidden = true;
    startMarket().catch(startFailed);
  }
});
broker.onChange(() => {
  renderQuote();
  renderPriceLines();
  publishState();
});
window.addEventListener("hashchange", () => {
  if (!new URLSearchParams(location.hash.slice(1)).has("symbol")) return;
  const wanted = readHash();
  if (wanted.symbol !== view.info?.name || wanted.resolution !== view.resolution) {
    showChart(wanted.symbol, wanted.resolution);
  }
});

/** The duration menu, once an account may be asked (a broker route: keys mode needs a login);
 * the ticket keeps GTC alone if the broker's config cannot be read. */
function loadBrokerConfig() {
  if (view.brokerConfigLoaded || !account.ready) return;
  view.brokerConfigLoaded = true;
  api.brokerConfig()
    .then((broker) => ticket.setDurations(broker.durations))
    .catch((error) => {
      view.brokerConfigLoaded = false;
      console.warn("Broker config unavailable:", error.message);
    });
}

async function startMarket() {
  const [config, catalogue] = await Promise.all([api.config(), api.search("", 100)]);
  view.resolutions = config.supported_resolutions;
  view.started = true;
  loadBrokerConfig();
  broker.start(catalogue.map((item) => item.symbol));
  socket.start();
  const wanted = readHash();
  await showChart(wanted.symbol, wanted.resolution);
}

async function start() {
  renderConnection();
  await session.load(); // sets the account (off mode: the server's one) before anything asks
  try {
    await startMarket();
  } catch (error) {
    // keys mode with TRADING_AUTH_MARKET=private: the market needs a login too
    if (error.status !== 401 || session.mode !== AUTH_MODE.KEYS || session.user) throw error;
    view.marketLocked = true;
    $("#chart-status").hidden = false;
    $("#chart-status").textContent = "Log in to see the market.";
  }
}

function startFailed(error) {
  $("#chart-status").hidden = false;
  $("#chart-status").textContent = `Could not start: ${error.message}. Reload the page to retry.`;
  console.error(error);
}

start().catch(startFailed);
