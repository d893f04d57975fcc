// The price chart: candlesticks + volume (lightweight-charts), history from REST, the forming
// bar from `bars.update`, older history loaded while the user scrolls back, price lines for
// working orders, brackets and the open position.
//
// Where the bars come from is `setSource(fetchBars)` (default: the live datafeed, api.bars):
// a replay session's datafeed serves the same shape as of its replay-now (issue 17), and its
// later bars arrive through `update` as the live ones do.

import {
  CandlestickSeries,
  createChart,
  CrosshairMode,
  HistogramSeries,
  LineStyle,
} from "../vendor/lightweight-charts/5.2.1/lightweight-charts.standalone.production.mjs";
import { api } from "./api.js";
import {
  formatPercent, formatPrice, formatSignedPrice, formatVolume, h, priceDecimals, priceStep,
} from "./format.js";

export const COLORS = {
  up: "#22ab94",
  down: "#f23645",
  upVolume: "rgba(34, 171, 148, 0.35)",
  downVolume: "rgba(242, 54, 69, 0.35)",
  buy: "#2f7cf6",
  sell: "#f0883e",
  takeProfit: "#22ab94",
  stopLoss: "#f23645",
  position: "#b2b5be",
  text: "#b2b5be",
  grid: "rgba(42, 46, 57, 0.6)",
  border: "#2a2e39",
  background: "#131722",
};

const INITIAL_BARS = 400;
const PAGE_BARS = 400;
const LOAD_OLDER_WHEN_LEFT_OF = 30; // logical index: this close to the first bar, load more
const GAP_FILL_LIMIT = 5000; // beyond this many missed bars, reload instead of merging
const FUTURE_MS = 40 * 86_400_000; // to_time a month past now: clock skew never hides a bar

const INTRADAY = new Set(["1", "5", "15", "30", "60"]);
export const RESOLUTION_LABEL = {
  1: "1m", 5: "5m", 15: "15m", 30: "30m", 60: "1h", "1D": "D", "1W": "W", "1M": "M",
};

const toChartBar = (bar) => ({
  time: bar.time / 1000,
  open: bar.open,
  high: bar.high,
  low: bar.low,
  close: bar.close,
  volume: bar.volume ?? 0,
});

const volumeOf = (bar) => ({
  time: bar.time,
  value: bar.volume,
  color: bar.close >= bar.open ? COLORS.upVolume : COLORS.downVolume,
});

function dateFormatter(options, utc) {
  return new Intl.DateTimeFormat("en-US", {
    hourCycle: "h23", ...options, timeZone: utc ? "UTC" : undefined,
  });
}

export class PriceChart {
  #chart;
  #candles;
  #volume;
  #legend;
  #status;
  #info = null;
  #symbol = null;
  #resolution = null;
  #bars = [];
  #generation = 0;
  #loading = false; // initial history in flight: live bars wait in #pending
  #pending = [];
  #loadingOlder = false;
  #noMoreHistory = false;
  #priceLines = [];
  #priceLineSpecs = [];
  #hoverBar = null;
  #onChange;
  #fetchBars = api.bars;

  constructor(container, legend, status, { onChange } = {}) {
    this.#legend = legend;
    this.#status = status;
    this.#onChange = onChange ?? (() => {});
    this.#chart = createChart(container, {
      autoSize: true,
      layout: {
        background: { color: COLORS.background },
        textColor: COLORS.text,
        fontFamily: getComputedStyle(document.body).fontFamily,
        fontSize: 11,
        attributionLogo: true, // licence: link to TradingView (vendor/…/NOTICE)
      },
      grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
      crosshair: { mode: CrosshairMode.Normal },
      rightPriceScale: { borderColor: COLORS.border },
      timeScale: { borderColor: COLORS.border, rightOffset: 6, barSpacing: 7 },
    });
    this.#candles = this.#chart.addSeries(CandlestickSeries, {
      upColor: COLORS.up,
      downColor: COLORS.down,
      borderUpColor: COLORS.up,
      borderDownColor: COLORS.down,
      wickUpColor: COLORS.up,
      wickDownColor: COLORS.down,
    });
    this.#candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.24 } });
    this.#volume = this.#chart.addSeries(HistogramSeries, {
      priceScaleId: "volume",
      priceFormat: { type: "volume" },
      lastValueVisible: false,
      priceLineVisible: false,
    });
    this.#volume.priceScale().applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    this.#chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
      if (range && range.from < LOAD_OLDER_WHEN_LEFT_OF) this.#loadOlder();
    });
    this.#chart.subscribeCrosshairMove((param) => {
      const bar = param.seriesData?.get(this.#candles);
      this.#hoverBar = bar ? { ...bar, volume: param.seriesData.get(this.#volume)?.value } : null;
      this.#renderLegend();
    });
  }

  /** Small state for the page (and its tests). */
  get state() {
    const last = this.#bars.at(-1) ?? null;
    return {
      symbol: this.#symbol,
      resolution: this.#resolution,
      barCount: this.#bars.length,
      firstBarTime: this.#bars.length ? this.#bars[0].time * 1000 : null,
      lastBar: last ? { ...last, time: last.time * 1000 } : null,
      loading: this.#loading,
      noMoreHistory: this.#noMoreHistory,
      priceLines: this.#priceLineSpecs,
    };
  }

  /** Read bars with `fetchBars(params)` (api.bars' parameters and answer); null: the live
   * datafeed. Takes effect at the next `load`. */
  setSource(fetchBars) {
    this.#fetchBars = fetchBars ?? api.bars;
  }

  get decimals() {
    return priceDecimals(this.#info);
  }

  /** Show a symbol at a resolution: clears the chart and loads the most recent bars. */
  async load(info, resolution) {
    const generation = ++this.#generation;
    this.#info = info;
    this.#symbol = info.name;
    this.#resolution = resolution;
    this.#bars = [];
    this.#pending = [];
    this.#loading = true;
    this.#loadingOlder = false;
    this.#noMoreHistory = false;
    this.#hoverBar = null;
    this.#candles.setData([]);
    this.#volume.setData([]);
    const intraday = INTRADAY.has(resolution);
    this.#candles.applyOptions({
      priceFormat: { type: "price", precision: priceDecimals(info), minMove: priceStep(info) },
    });
    this.#chart.applyOptions({
      localization: { timeFormatter: this.#crosshairTimeFormatter(intraday) },
      timeScale: {
        timeVisible: intraday,
        secondsVisible: false,
        tickMarkFormatter: this.#tickFormatter(intraday),
      },
    });
    this.#setStatus("Loading…");
    this.#renderLegend();
    this.#onChange();
    try {
      const result = await this.#fetchBars({
        symbol: info.name, resolution, toTime: Date.now() + FUTURE_MS, countBack: INITIAL_BARS,
      });
      if (generation !== this.#generation) return;
      this.#bars = result.bars.map(toChartBar);
      this.#noMoreHistory = result.no_data || result.bars.length < INITIAL_BARS;
      this.#setData();
      this.#chart.timeScale().scrollToRealTime();
      this.#setStatus(this.#bars.length ? null : "No data");
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#setStatus(`Could not load bars: ${error.message}`);
      throw error;
    } finally {
      if (generation === this.#generation) {
        this.#loading = false;
        const pending = this.#pending;
        this.#pending = [];
        for (const bar of pending) this.update(bar);
        this.#onChange();
      }
    }
  }

  /**
   * After a reconnect: fetch what was missed since the last bar drawn and splice it in (the
   * snapshot only carries the forming bar, which may already have been appended past the gap).
   * A long outage reloads instead.
   */
  async fillGap() {
    const last = this.#bars.at(-1);
    if (!last || this.#loading) return;
    const generation = this.#generation;
    const result = await this.#fetchBars({
      symbol: this.#symbol,
      resolution: this.#resolution,
      fromTime: last.time * 1000,
      toTime: Date.now() + FUTURE_MS,
    });
    if (generation !== this.#generation || this.#loading) return;
    if (result.bars.length >= GAP_FILL_LIMIT) {
      await this.load(this.#info, this.#resolution);
      return;
    }
    const fresh = result.bars.map(toChartBar);
    if (!fresh.length) return;
    const first = fresh[0].time;
    const end = fresh.at(-1).time;
    this.#bars = [
      ...this.#bars.filter((bar) => bar.time < first),
      ...fresh,
      ...this.#bars.filter((bar) => bar.time > end), // live bars newer than the response
    ];
    this.#setData();
    this.#onChange();
  }

  /** A `bars.update` payload for the shown symbol and resolution. */
  update(wireBar) {
    if (this.#loading) {
      this.#pending.push(wireBar);
      return;
    }
    const bar = toChartBar(wireBar);
    const last = this.#bars.at(-1);
    if (last && bar.time < last.time) return; // older than what is drawn: nothing to do
    const appended = !last || bar.time > last.time;
    if (appended) this.#bars.push(bar);
    else this.#bars[this.#bars.length - 1] = bar;
    this.#candles.update({ ...bar }); // the library annotates the objects it is given
    this.#volume.update(volumeOf(bar));
    if (appended && this.#bars.length === 1) this.#setStatus(null);
    this.#renderLegend();
    this.#onChange();
  }

  /**
   * Replace the price lines. `lines`: `{ price, title, kind }` with kind one of buy, sell,
   * takeProfit, stopLoss, position.
   */
  setPriceLines(lines) {
    for (const line of this.#priceLines) this.#candles.removePriceLine(line);
    this.#priceLineSpecs = lines.map(({ price, title, kind }) => ({ price, title, kind }));
    this.#priceLines = lines.map(({ price, title, kind }) =>
      this.#candles.createPriceLine({
        price,
        title,
        color: COLORS[kind] ?? COLORS.text,
        lineWidth: 1,
        lineStyle: kind === "position" ? LineStyle.Solid : LineStyle.Dashed,
        axisLabelVisible: true,
      }),
    );
    this.#onChange();
  }

  #setData() {
    this.#candles.setData(this.#bars.map((bar) => ({ ...bar })));
    this.#volume.setData(this.#bars.map(volumeOf));
    this.#renderLegend();
  }

  async #loadOlder() {
    if (this.#loading || this.#loadingOlder || this.#noMoreHistory || !this.#bars.length) return;
    this.#loadingOlder = true;
    const generation = this.#generation;
    try {
      const result = await this.#fetchBars({
        symbol: this.#symbol,
        resolution: this.#resolution,
        toTime: this.#bars[0].time * 1000,
        countBack: PAGE_BARS,
      });
      if (generation !== this.#generation) return;
      if (result.no_data || result.bars.length === 0) {
        this.#noMoreHistory = true;
      } else {
        const older = result.bars.map(toChartBar).filter((bar) => bar.time < this.#bars[0].time);
        this.#bars = older.concat(this.#bars);
        if (result.bars.length < PAGE_BARS) this.#noMoreHistory = true;
        this.#setData();
      }
      this.#onChange();
    } catch (error) {
      console.warn("Could not load older bars:", error.message);
    } finally {
      if (generation === this.#generation) this.#loadingOlder = false;
    }
  }

  #renderLegend() {
    const decimals = this.decimals;
    const bar = this.#hoverBar ?? this.#bars.at(-1);
    const title = h(
      "span",
      { class: "legend-title" },
      this.#symbol ?? "",
      " · ",
      RESOLUTION_LABEL[this.#resolution] ?? this.#resolution ?? "",
      this.#info ? ` · ${this.#info.exchange}` : "",
    );
    if (!bar) {
      this.#legend.replaceChildren(title);
      return;
    }
    const change = bar.close - bar.open;
    const trend = change > 0 ? "up" : change < 0 ? "down" : "";
    const item = (label, value, extra = "") =>
      h("span", { class: `legend-item ${extra}` }, h("span", { class: "legend-label" }, label), value);
    this.#legend.replaceChildren(
      title,
      h(
        "span",
        { class: `legend-values ${trend}` },
        item("O", formatPrice(bar.open, decimals), "legend-ohl"),
        item("H", formatPrice(bar.high, decimals), "legend-ohl"),
        item("L", formatPrice(bar.low, decimals), "legend-ohl"),
        item("C", formatPrice(bar.close, decimals)),
        h(
          "span",
          { class: "legend-item" },
          `${formatSignedPrice(change, decimals)} (${formatPercent((change / bar.open) * 100)})`,
        ),
        item("Vol", formatVolume(bar.volume), "legend-ohl"),
      ),
    );
  }

  #setStatus(text) {
    this.#status.hidden = !text;
    this.#status.textContent = text ?? "";
  }

  #crosshairTimeFormatter(intraday) {
    const format = intraday
      ? dateFormatter({ weekday: "short", day: "2-digit", month: "short",
        hour: "2-digit", minute: "2-digit" }, false)
      : dateFormatter({ weekday: "short", day: "2-digit", month: "short", year: "numeric" }, true);
    return (time) => format.format(new Date(time * 1000));
  }

  #tickFormatter(intraday) {
    const year = dateFormatter({ year: "numeric" }, !intraday);
    const month = dateFormatter({ month: "short" }, !intraday);
    const day = dateFormatter({ day: "numeric" }, !intraday);
    const time = dateFormatter({ hour: "2-digit", minute: "2-digit" }, false);
    // TickMarkType: 0 year, 1 month, 2 day of month, 3 time, 4 time with seconds
    return (timestamp, type) => {
      const date = new Date(timestamp * 1000);
      switch (type) {
        case 0: return year.format(date);
        case 1: return month.format(date);
        case 2: return day.format(date);
        default: return time.format(date);
      }
    };
  }
}
