// Number, time and enum formatting shared by the page. Prices use the symbol's precision
// (SymbolInfo.pricescale), money two decimals, quantities as few decimals as they need.

export const SIDE = Object.freeze({ BUY: 1, SELL: -1 });
export const ORDER_TYPE = Object.freeze({ LIMIT: 1, MARKET: 2, STOP: 3, STOP_LIMIT: 4 });
export const ORDER_STATUS = Object.freeze({
  CANCELED: 1, FILLED: 2, INACTIVE: 3, PLACING: 4, REJECTED: 5, WORKING: 6,
});
// what a bracket order protects (TradingView ParentType; Trade = 3 is not used here)
export const PARENT_TYPE = Object.freeze({ ORDER: 1, POSITION: 2 });

export const SIDE_LABEL = { 1: "Buy", "-1": "Sell" };
export const TYPE_LABEL = { 1: "Limit", 2: "Market", 3: "Stop", 4: "Stop limit" };
export const TYPE_SHORT = { 1: "LMT", 2: "MKT", 3: "STP", 4: "STP LMT" };
export const STATUS_LABEL = {
  1: "Canceled", 2: "Filled", 3: "Inactive", 4: "Placing", 5: "Rejected", 6: "Working",
};

export const DASH = "—";

const numberFormats = new Map();

function numberFormat(minDigits, maxDigits, signed = false) {
  const key = `${minDigits}/${maxDigits}/${signed}`;
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat("en-US", {
      minimumFractionDigits: minDigits,
      maximumFractionDigits: maxDigits,
      signDisplay: signed ? "exceptZero" : "auto",
    });
    numberFormats.set(key, format);
  }
  return format;
}

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

/** Decimals of a price from SymbolInfo (pricescale 100 → 2). */
export function priceDecimals(info) {
  if (!info || !info.pricescale) return 2;
  return Math.max(0, Math.round(Math.log10(info.pricescale)));
}

/** The minimum price step of a symbol (minmov / pricescale). */
export function priceStep(info) {
  if (!info || !info.pricescale) return 0.01;
  return (info.minmov || 1) / info.pricescale;
}

export function formatPrice(value, decimals = 2) {
  return isNumber(value) ? numberFormat(decimals, decimals).format(value) : DASH;
}

export function formatSignedPrice(value, decimals = 2) {
  return isNumber(value) ? numberFormat(decimals, decimals, true).format(value) : DASH;
}

export function formatMoney(value) {
  return isNumber(value) ? numberFormat(2, 2).format(value) : DASH;
}

export function formatSignedMoney(value) {
  return isNumber(value) ? numberFormat(2, 2, true).format(value) : DASH;
}

export function formatPercent(value) {
  return isNumber(value) ? `${numberFormat(2, 2, true).format(value)}%` : DASH;
}

export function formatQty(value) {
  return isNumber(value) ? numberFormat(0, 8).format(value) : DASH;
}

export function formatVolume(value) {
  if (!isNumber(value)) return DASH;
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${numberFormat(2, 2).format(value / 1e9)}B`;
  if (abs >= 1e6) return `${numberFormat(2, 2).format(value / 1e6)}M`;
  if (abs >= 1e4) return `${numberFormat(1, 1).format(value / 1e3)}K`;
  return numberFormat(0, 0).format(value);
}

/** A price rounded to the symbol's step, as the number the input fields should show. */
export function roundToStep(value, step) {
  if (!isNumber(value)) return value;
  const decimals = Math.max(0, Math.round(-Math.log10(step)));
  return Number((Math.round(value / step) * step).toFixed(decimals));
}

/** "up", "down" or "" for colouring a signed value. */
export function trendOf(value) {
  if (!isNumber(value) || value === 0) return "";
  return value > 0 ? "up" : "down";
}

const timeFormat = new Intl.DateTimeFormat("en-GB", {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});
const dateFormat = new Intl.DateTimeFormat("en-CA", {
  year: "numeric", month: "2-digit", day: "2-digit",
});

/** Epoch milliseconds as local "YYYY-MM-DD HH:MM:SS". */
export function formatTimestamp(ms) {
  if (!isNumber(ms)) return DASH;
  const date = new Date(ms);
  return `${dateFormat.format(date)} ${timeFormat.format(date)}`;
}

/** Create an element with attributes and children in one call. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}
