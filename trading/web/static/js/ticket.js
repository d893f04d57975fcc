// The order ticket: side, type, quantity, the prices the type needs, optional take profit and
// stop loss, and the duration (time in force: the menu GET /broker/config lists, with a
// date-time for a duration that has a date picker, GTD). The preview (POST /broker/orders/preview) follows the form as it is edited.
//
// Problems are shown next to the fields they name: a 422 of the preview or of placement, and
// the preview's rule texts that start with a field's name ("qty must be a multiple of 1").
// A placement's field errors stay until that field is edited (a preview answering later does
// not wipe them). Submit is disabled while the preview of the values as they are reports a
// problem, while an order is being sent, and while offline. The quantity is checked as it is
// typed against the symbol's instrument info (GET /broker/instruments/{symbol}): a quantity
// the broker would refuse is marked at the field and not sent.
//
// Every placement carries an Idempotency-Key (broker.md §15): a fresh one per submission, the
// same one when the same order is sent again after an answer that did not settle it (no answer
// at all, 5xx, 429), so a retry after a dropped connection cannot place a second order. Nothing
// is asked of the broker (preview, instrument info) while no account is ready (keys mode,
// logged out); a change of account previews again.

import { account } from "./account.js";
import { api, ApiError, newIdempotencyKey } from "./api.js";
import { numberOrNull, setFieldError, splitFieldErrors } from "./dialog.js";
import {
  formatPrice, formatQty, h, ORDER_TYPE, priceDecimals, priceStep, roundToStep, SIDE, TYPE_SHORT,
} from "./format.js";
import { toast } from "./toast.js";
import { OFFLINE_REASON, writes } from "./writes.js";

const PRICE_FIELDS = ["limitPrice", "stopPrice", "takeProfit", "stopLoss"];
// "duration.datetime" is the 422 location and the rule text's first word of a bad GTD time
const FIELDS = ["qty", ...PRICE_FIELDS, "duration.datetime"];
const DEFAULT_DURATION = { value: "gtc", name: "GTC", default: true };
const NEEDS_LIMIT = new Set([ORDER_TYPE.LIMIT, ORDER_TYPE.STOP_LIMIT]);
const NEEDS_STOP = new Set([ORDER_TYPE.STOP, ORDER_TYPE.STOP_LIMIT]);
const PREVIEW_DELAY_MS = 250;
const PREVIEW_PROBLEM = "The preview reports a problem: fix it to place the order.";

/** The field a preview rule text is about: the server's rule messages start with its name. */
function fieldOfText(text) {
  const first = /^([A-Za-z]+(?:\.[A-Za-z]+)?)\b/.exec(text)?.[1];
  return FIELDS.includes(first) ? first : null;
}

export class OrderTicket {
  #root;
  #form;
  #preview;
  #general;
  #submit;
  #hint;
  #info = null;
  #placementErrors = new Map(); // field → messages of the last placement's 422
  #previewErrors = new Map(); // field → messages of the latest preview
  #instrument = null; // InstrumentInfo of the ticket's symbol (quantity rules)
  #previewProblem = false; // the preview of the values as they are now reports a problem
  #placing = false;
  #seen = ""; // the form's values at the last edit handled
  #lastPrice = () => null;
  #previewTimer = null;
  #previewRequest = 0;
  #durations = [DEFAULT_DURATION]; // OrderDurationMetaInfo of GET /broker/config
  #attempt = null; // { body, key }: the Idempotency-Key of a placement not settled yet

  /** `lastPrice()` gives the chart symbol's last price (to prefill limit and stop prices). */
  constructor(root, { lastPrice }) {
    this.#root = root;
    this.#form = root.querySelector("#ticket-form");
    this.#preview = root.querySelector("#preview");
    this.#general = root.querySelector("#ticket-error");
    this.#submit = root.querySelector("#ticket-submit");
    this.#hint = root.querySelector("#ticket-hint");
    this.#lastPrice = lastPrice;
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#place();
    });
    this.#form.addEventListener("input", (event) => this.#edited(event.target));
    this.#form.addEventListener("change", (event) => this.#edited(event.target));
    writes.onChange(() => this.#updateSubmitState());
    account.onChange(({ ready }) => this.#accountChanged(ready));
    this.#syncType();
    this.#updateSubmitState();
  }

  #accountChanged(ready) {
    this.#attempt = null; // keys are per account
    if (!ready) {
      clearTimeout(this.#previewTimer);
      this.#previewRequest += 1;
      this.#preview.replaceChildren();
      return;
    }
    if (this.#info && !this.#instrument) this.#loadInstrument(this.#info.name);
    this.#schedulePreview(0);
  }

  /** The order type and side as they are set (the leverage routes ask for them). */
  get context() {
    const { type, side } = this.#values();
    return { orderType: type, side };
  }

  /** Preview again now (the leverage changed the margin). */
  refreshPreview() {
    this.#schedulePreview(0);
  }

  /** The ticket trades the chart's symbol. */
  setSymbol(info) {
    const changed = this.#info?.name !== info.name;
    this.#info = info;
    const step = priceStep(info);
    for (const name of PRICE_FIELDS) this.#form.elements[name].step = String(step);
    this.#root.querySelector("[data-ticket-symbol]").textContent = info.name;
    if (changed) {
      for (const name of PRICE_FIELDS) this.#form.elements[name].value = "";
      this.#placementErrors.clear();
      this.#previewErrors.clear();
      this.#renderFieldErrors();
      this.#syncType();
    }
    this.#seen = JSON.stringify(this.#values());
    this.#updateSubmitLabel();
    this.#schedulePreview();
    if (changed) this.#loadInstrument(info.name);
  }

  /** The quantity rules the broker enforces (rest.md §13), checked as the user types. */
  async #loadInstrument(symbol) {
    this.#instrument = null;
    if (!account.ready) return; // loaded once an account is
    try {
      const instrument = await api.instrument(symbol);
      if (this.#info?.name !== symbol) return;
      this.#instrument = instrument;
      const { min, max, step } = instrument.qty;
      const input = this.#form.elements.qty;
      Object.assign(input, { min: String(min), max: String(max), step: String(step) });
      const hint = this.#root.querySelector("#order-qty-hint");
      hint.textContent = `${formatQty(min)} to ${formatQty(max)}, in steps of ${formatQty(step)}`;
      hint.hidden = false;
      this.#renderFieldErrors();
      this.#updateSubmitState();
    } catch (error) {
      console.warn(`Could not load the instrument info of ${symbol}:`, error.message);
    }
  }

  /** What the instrument info says about the quantity as typed, or null. */
  #qtyProblem() {
    const qty = this.#values().qty;
    if (!this.#instrument || qty === null || !Number.isFinite(qty)) return null;
    const { min, max, step } = this.#instrument.qty;
    if (qty < min) return `Quantity must be at least ${formatQty(min)}`;
    if (qty > max) return `Quantity must not exceed ${formatQty(max)}`;
    const steps = qty / step;
    if (Math.abs(steps - Math.round(steps)) > 1e-9) return `Quantity must be a multiple of ${formatQty(step)}`;
    return null;
  }

  /** The duration menu (TradingView OrderDurationMetaInfo[]): the default one selected. */
  setDurations(durations) {
    if (!durations?.length) return;
    this.#durations = durations;
    const select = this.#form.elements.duration;
    select.replaceChildren(
      ...durations.map((d) => h("option", { value: d.value, selected: d.default ? "" : null }, d.name)),
    );
    this.#syncDuration();
    this.#seen = JSON.stringify(this.#values());
  }

  #duration() {
    const value = this.#form.elements.duration.value;
    return this.#durations.find((d) => d.value === value) ?? DEFAULT_DURATION;
  }

  /** Offer only the durations the order type takes; show the date-time of a GTD. */
  #syncDuration() {
    const type = Number(this.#form.elements.type.value);
    for (const option of this.#form.elements.duration.options) {
      const meta = this.#durations.find((d) => d.value === option.value);
      option.disabled = Boolean(meta?.supportedOrderTypes && !meta.supportedOrderTypes.includes(type));
    }
    const picker = Boolean(this.#duration().hasDatePicker);
    const field = this.#form.querySelector('[data-field="duration.datetime"]');
    const input = this.#form.elements["duration.datetime"];
    field.hidden = !picker;
    input.disabled = !picker;
    if (picker && input.value === "") input.value = localInputValue(Date.now() + 3_600_000);
    if (!picker) {
      this.#placementErrors.delete("duration.datetime");
      this.#previewErrors.delete("duration.datetime");
      setFieldError(this.#form, "duration.datetime", null);
    }
  }

  #values() {
    const elements = this.#form.elements;
    return {
      side: Number(elements.side.value),
      type: Number(elements.type.value),
      qty: numberOrNull(elements.qty.value),
      limitPrice: numberOrNull(elements.limitPrice.value),
      stopPrice: numberOrNull(elements.stopPrice.value),
      takeProfit: numberOrNull(elements.takeProfit.value),
      stopLoss: numberOrNull(elements.stopLoss.value),
      duration: elements.duration.value,
      datetime: elements["duration.datetime"].value,
    };
  }

  /** The PreOrder body: prices the type does not use are left out. */
  #preOrder() {
    const values = this.#values();
    const order = {
      symbol: this.#info?.name ?? "",
      type: values.type,
      side: values.side,
      qty: values.qty,
    };
    if (NEEDS_LIMIT.has(values.type)) order.limitPrice = values.limitPrice;
    if (NEEDS_STOP.has(values.type)) order.stopPrice = values.stopPrice;
    if (values.takeProfit !== null) order.takeProfit = values.takeProfit;
    if (values.stopLoss !== null) order.stopLoss = values.stopLoss;
    // the default duration is left out: such an order is the reference's, byte for byte
    const duration = this.#duration();
    if (!duration.default) {
      order.duration = { type: duration.value };
      if (duration.hasDatePicker) {
        const ms = values.datetime ? new Date(values.datetime).getTime() : NaN;
        if (Number.isFinite(ms)) order.duration.datetime = ms; // else the server says it is required
      }
    }
    return order;
  }

  #edited(target) {
    // `change` also fires when a field loses focus after an `input` already seen: no edit then
    // (it must not wipe a placement's errors or re-enable a submit the preview disabled)
    const seen = JSON.stringify(this.#values());
    if (seen === this.#seen) return;
    this.#seen = seen;
    if (target.name === "type") this.#syncType();
    if (target.name === "type" || target.name === "duration") this.#syncDuration();
    if (target.name === "side") this.#form.dataset.side = target.value === "1" ? "buy" : "sell";
    if (FIELDS.includes(target.name)) {
      this.#placementErrors.delete(target.name);
      this.#previewErrors.delete(target.name);
      this.#renderFieldErrors();
    }
    this.#general.hidden = true;
    // what the preview said was about the values before this edit; placement still checks
    this.#previewProblem = false;
    this.#seen = JSON.stringify(this.#values()); // after #syncType's prefill
    this.#updateSubmitLabel();
    this.#updateSubmitState();
    this.#schedulePreview();
  }

  /** Show the price fields the type needs; prefill them with the last price when empty. */
  #syncType() {
    const type = Number(this.#form.elements.type.value);
    const last = this.#lastPrice();
    for (const [name, needed] of [
      ["limitPrice", NEEDS_LIMIT.has(type)],
      ["stopPrice", NEEDS_STOP.has(type)],
    ]) {
      const field = this.#form.querySelector(`[data-field=${name}]`);
      field.hidden = !needed;
      const input = this.#form.elements[name];
      input.disabled = !needed;
      if (needed && input.value === "" && last !== null) {
        input.value = String(roundToStep(last, priceStep(this.#info)));
      }
      if (!needed) {
        this.#placementErrors.delete(name);
        this.#previewErrors.delete(name);
        setFieldError(this.#form, name, null);
      }
    }
  }

  #updateSubmitLabel() {
    const { side, type, qty } = this.#values();
    const verb = side === SIDE.BUY ? "Buy" : "Sell";
    const amount = qty !== null && Number.isFinite(qty) ? ` ${formatQty(qty)}` : "";
    this.#submit.textContent = `${verb}${amount} ${this.#info?.name ?? ""} ${TYPE_SHORT[type]}`;
    this.#submit.className = `btn btn-block ${side === SIDE.BUY ? "btn-buy" : "btn-sell"}`;
  }

  /** Submit is enabled only online, with no problem in the current preview, not mid-send. */
  #updateSubmitState() {
    const reason = !writes.allowed ? OFFLINE_REASON : this.#previewProblem ? PREVIEW_PROBLEM : "";
    this.#submit.disabled = this.#placing || reason !== "";
    this.#hint.textContent = reason;
    this.#hint.hidden = reason === "";
  }

  #schedulePreview(delay = PREVIEW_DELAY_MS) {
    clearTimeout(this.#previewTimer);
    this.#previewRequest += 1; // an answer still on its way is about older values
    this.#previewTimer = setTimeout(() => this.#refreshPreview(), delay);
  }

  async #refreshPreview() {
    if (!this.#info || !account.ready) return;
    const request = ++this.#previewRequest;
    this.#preview.setAttribute("aria-busy", "true");
    try {
      const result = await api.previewOrder(this.#preOrder());
      if (request !== this.#previewRequest) return;
      this.#previewErrors = new Map();
      for (const text of result.errors ?? []) {
        const name = fieldOfText(text);
        if (name) this.#previewErrors.set(name, [...(this.#previewErrors.get(name) ?? []), text]);
      }
      this.#previewProblem = (result.errors ?? []).length > 0;
      this.#renderPreview(result);
    } catch (error) {
      if (request !== this.#previewRequest) return;
      const { byField, general } = splitFieldErrors(error, FIELDS);
      this.#previewErrors = byField;
      // a 422 is a problem of the values; a failed request (server away) says nothing of them
      this.#previewProblem = error.status === 422;
      this.#renderPreview(null, error.status === 422 ? general : [error.message]);
    } finally {
      if (request === this.#previewRequest) this.#preview.removeAttribute("aria-busy");
    }
    this.#renderFieldErrors();
    this.#updateSubmitState();
  }

  #renderPreview(result, problems = []) {
    if (!result) {
      this.#preview.replaceChildren(
        h("p", { class: "preview-empty" }, problems.length
          ? `No preview: ${problems.join("; ")}`
          : "Fix the highlighted fields to see a preview."),
      );
      return;
    }
    const blocks = result.sections.map((section) =>
      h(
        "section",
        { class: "preview-section" },
        section.header ? h("h3", {}, section.header) : null,
        h(
          "dl",
          {},
          section.rows.map((row) =>
            h("div", { class: "preview-row" }, h("dt", {}, row.title), h("dd", { class: "num" }, row.value)),
          ),
        ),
      ),
    );
    const notes = [
      ...(result.warnings ?? []).map((text) => h("li", { class: "warning" }, text)),
      ...(result.errors ?? []).map((text) => h("li", { class: "error" }, text)),
    ];
    this.#preview.replaceChildren(...blocks, notes.length ? h("ul", { class: "preview-notes" }, notes) : "");
  }

  /** Each field shows its placement errors, else what the latest preview said about it. */
  #renderFieldErrors() {
    const qtyProblem = this.#qtyProblem();
    for (const name of FIELDS) {
      const local = name === "qty" && qtyProblem ? [qtyProblem] : null;
      const messages =
        this.#placementErrors.get(name) ?? this.#previewErrors.get(name) ?? local;
      setFieldError(this.#form, name, messages ? [...new Set(messages)] : null);
    }
  }

  async #place() {
    // implicit submission (Enter in a field) does not check the button's state
    if (!this.#info || this.#placing || this.#submit.disabled) return;
    if (this.#qtyProblem()) {
      // the instrument info says the broker would refuse it: nothing is sent
      this.#renderFieldErrors();
      this.#form.elements.qty.focus();
      return;
    }
    this.#general.hidden = true;
    this.#placing = true;
    this.#updateSubmitState();
    const order = this.#preOrder();
    const body = JSON.stringify(order);
    if (this.#attempt?.body !== body) this.#attempt = { body, key: newIdempotencyKey() };
    const attempt = this.#attempt;
    try {
      const { orderId } = await api.placeOrder(order, { idempotencyKey: attempt.key });
      if (this.#attempt === attempt) this.#attempt = null;
      this.#placementErrors.clear();
      this.#renderFieldErrors();
      const price = order.limitPrice ?? order.stopPrice;
      const at = price ? ` @ ${formatPrice(price, priceDecimals(this.#info))}` : "";
      toast(`${orderId}: ${order.side === SIDE.BUY ? "Buy" : "Sell"} ${formatQty(order.qty)} ${order.symbol} ${TYPE_SHORT[order.type]}${at} placed`, "success");
      this.#schedulePreview();
    } catch (error) {
      // a refusal settles the attempt (nothing is stored under its key); no answer does not
      if (this.#attempt === attempt && !unsettled(error)) this.#attempt = null;
      const { byField, general } = splitFieldErrors(error, FIELDS);
      this.#placementErrors = byField;
      this.#renderFieldErrors();
      if (general.length) {
        this.#general.textContent = general.join("; ");
        this.#general.hidden = false;
      }
      this.#form.querySelector("[aria-invalid=true]")?.focus();
    } finally {
      this.#placing = false;
      this.#updateSubmitState();
    }
  }
}

/** Whether a failed placement may still have placed the order (or may succeed if sent again
 * as it was): no HTTP answer at all, a server error, a rate limit. */
function unsettled(error) {
  if (!(error instanceof ApiError)) return true;
  return error.status >= 500 || error.status === 429 || error.status === 408;
}

/** A `datetime-local` value (the browser's local time, to the second) of an epoch-ms instant. */
function localInputValue(ms) {
  const local = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}
