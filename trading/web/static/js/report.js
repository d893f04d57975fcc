// The report of a replay session (issue 17, GET /replay/{id}/report): its P&L, win rate,
// drawdown and trades, and the equity curve drawn with the vendored lightweight-charts, in a
// modal <dialog> of its own (focus trap, Escape and the Close button close it).
//
// The report's shape: {id, from, to, initialBalance, balance, equity, realizedPL, unrealizedPL,
// commissions, trades: [Execution…], closingTrades, wins, losses, winRate|null, maxDrawdown,
// maxDrawdownPct, equityCurve: [{time, equity}]}, times in epoch ms (replay time); winRate
// (wins / closingTrades, null without a closing trade) and maxDrawdownPct (the fall as a
// share of its peak) are fractions 0..1, shown as percents.

import {
  AreaSeries,
  createChart,
} from "../vendor/lightweight-charts/5.2.1/lightweight-charts.standalone.production.mjs";
import { api } from "./api.js";
import { COLORS } from "./chart.js";
import { formatPrice, formatQty, formatSignedPrice, h, SIDE_LABEL } from "./format.js";

const MONEY = 2;
const MAX_TRADE_ROWS = 200;

const timeFormat = new Intl.DateTimeFormat("en-GB", {
  day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hourCycle: "h23",
});
const formatTime = (ms) => (typeof ms === "number" ? timeFormat.format(new Date(ms)) : "—");
/** A fraction 0..1 as a percent ("12.50%"), or the dash. */
const asPercent = (fraction) =>
  typeof fraction === "number" ? `${formatPrice(fraction * 100, 2)}%` : formatPrice(null);
const trend = (value) => (value > 0 ? "up" : value < 0 ? "down" : "");

/** The curve as the chart takes it: seconds, ascending, one point per second (the last). */
export function curvePoints(equityCurve) {
  const bySecond = new Map();
  for (const point of equityCurve ?? []) {
    if (typeof point.time !== "number" || typeof point.equity !== "number") continue;
    bySecond.set(Math.floor(point.time / 1000), point.equity);
  }
  return [...bySecond.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([time, value]) => ({ time, value }));
}

export class ReportView {
  #dialog;
  #chart = null;

  constructor(dialog) {
    this.#dialog = dialog;
    dialog.addEventListener("close", () => this.#dispose());
  }

  /** Read the session's report and show it; throws (nothing shown) if it cannot be read. */
  async open(session, { ended = false } = {}) {
    const report = await api.replayReport(session.id);
    this.#dispose();
    this.#render(report, session, ended);
    if (!this.#dialog.open) this.#dialog.showModal();
    this.#drawCurve(report);
    return report;
  }

  #render(report, session, ended) {
    const close = h("button", { type: "button", class: "btn btn-primary", "data-close": "" }, "Close");
    close.addEventListener("click", () => this.#dialog.close());
    const stat = (name, label, text, trendOf = null) =>
      h(
        "div",
        {},
        h("dt", {}, label),
        h("dd", { class: "num", "data-report": name, "data-trend": trendOf }, text),
      );
    const symbols = session.symbols?.join(", ") ?? "";
    this.#dialog.replaceChildren(
      h(
        "div",
        { class: "report" },
        h("h2", { id: "report-title" }, ended ? "Replay ended · report" : "Replay report"),
        h(
          "p",
          { class: "dialog-description" },
          `${symbols} · ${formatTime(report.from)} → ${formatTime(report.to)} (replay time)`,
        ),
        h(
          "dl",
          { class: "report-stats" },
          stat("initialBalance", "Initial balance", formatPrice(report.initialBalance, MONEY)),
          stat("balance", "Balance", formatPrice(report.balance, MONEY)),
          stat("equity", "Equity", formatPrice(report.equity, MONEY)),
          stat("realizedPL", "Realized P&L", formatSignedPrice(report.realizedPL, MONEY),
            trend(report.realizedPL)),
          stat("unrealizedPL", "Unrealized P&L", formatSignedPrice(report.unrealizedPL, MONEY),
            trend(report.unrealizedPL)),
          stat("commissions", "Commissions", formatPrice(report.commissions, MONEY)),
          stat("winRate", "Win rate", asPercent(report.winRate)),
          stat("wins", "Wins / losses", `${report.wins ?? 0} / ${report.losses ?? 0}`),
          stat("maxDrawdown", "Max drawdown",
            `${formatPrice(report.maxDrawdown, MONEY)} (${asPercent(report.maxDrawdownPct)})`),
        ),
        h("h3", { class: "subtitle" }, "Equity"),
        h("div", { class: "report-curve", id: "report-curve", role: "img",
          "aria-label": `Equity curve, ${report.equityCurve?.length ?? 0} points` }),
        h("h3", { class: "subtitle" }, `Trades (${report.trades?.length ?? 0})`),
        this.#tradesTable(report.trades ?? []),
        h("div", { class: "dialog-actions" }, close),
      ),
    );
    this.#dialog.setAttribute("aria-labelledby", "report-title");
  }

  #tradesTable(trades) {
    const rows = trades.slice(0, MAX_TRADE_ROWS).map((trade) =>
      h(
        "tr",
        {},
        h("td", {}, formatTime(trade.time)),
        h("td", {}, trade.symbol),
        h("td", { class: trade.side === 1 ? "buy" : "sell" }, SIDE_LABEL[trade.side] ?? ""),
        h("td", { class: "num" }, formatQty(trade.qty)),
        h("td", { class: "num" }, formatPrice(trade.price, MONEY)),
      ),
    );
    if (!rows.length) {
      rows.push(h("tr", { class: "empty" }, h("td", { colspan: 5 }, "No trades in this session")));
    }
    return h(
      "div",
      { class: "report-trades table-wrap" },
      h(
        "table",
        { class: "grid", id: "report-trades" },
        h("thead", {}, h("tr", {}, ...["Time", "Symbol", "Side", "Qty", "Price"].map((name) =>
          h("th", { scope: "col", class: name === "Qty" || name === "Price" ? "num" : "" }, name)))),
        h("tbody", {}, rows),
      ),
    );
  }

  #drawCurve(report) {
    const container = this.#dialog.querySelector("#report-curve");
    const chart = createChart(container, {
      autoSize: true,
      layout: {
        background: { color: COLORS.background },
        textColor: COLORS.text,
        fontSize: 11,
        attributionLogo: true, // licence: link to TradingView (vendor/…/NOTICE)
      },
      grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
      rightPriceScale: { borderColor: COLORS.border },
      timeScale: { borderColor: COLORS.border, timeVisible: true, secondsVisible: false },
      handleScroll: false,
      handleScale: false,
    });
    const series = chart.addSeries(AreaSeries, {
      lineColor: COLORS.buy,
      topColor: "rgba(47, 124, 246, 0.35)",
      bottomColor: "rgba(47, 124, 246, 0.02)",
      lineWidth: 2,
      priceFormat: { type: "price", precision: MONEY, minMove: 0.01 },
    });
    series.setData(curvePoints(report.equityCurve));
    chart.timeScale().fitContent();
    this.#chart = chart;
  }

  #dispose() {
    this.#chart?.remove();
    this.#chart = null;
  }
}
