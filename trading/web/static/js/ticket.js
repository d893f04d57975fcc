// The order ticket: side, type, quantity, the prices the type needs, optional take profit and
// stop loss. The preview (POST /broker/orders/preview) follows the form as it is edited; a 422
// from preview or placement is shown next to the fields it names.

import { api } from "./api.js";
import { numberOrNull, setFieldError, splitFieldErrors } from "./dialog.js";
import {
  formatPrice, formatQty, h, ORDER_TYPE, priceDecimals, priceStep, roundToStep, SIDE, TYPE_SHORT,
} from "./format.js";
import { toast } from "./toast.js";

const FIELDS = ["qty", "limitPrice", "stopPrice", "takeProfit", "stopLoss"];
const NEEDS_LIMIT = new Set([ORDER_TYPE.LIMIT, ORDER_TYPE.STOP_LIMIT]);
const NEEDS_STOP = new Set([ORDER_TYPE.STOP, ORDER_TYPE.STOP_LIMIT]);
const PREVIEW_DELAY_MS = 250;

export class OrderTicket {
  #root;
  #form;
  #preview;
  #general;
  #submit;
  #info = null;
  #lastPrice = () => null;
  #previewTimer = null;
  #previewRequest = 0;

  /** `lastPrice()` gives the chart symbol's last price (to prefill limit and stop prices). */
  constructor(root, { lastPrice }) {
    this.#root = root;
    this.#form = root.querySelector("#ticket-form");
    this.#preview = root.querySelector("#preview");
    this.#general = root.querySelector("#ticket-error");
    this.#submit = root.querySelector("#ticket-submit");
    this.#lastPrice = lastPrice;
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#place();
    });
    this.#form.addEventListener("input", (event) => this.#edited(event.target));
    this.#form.addEventListener("change", (event) => this.#edited(event.target));
    this.#syncType();
  }

  /** The ticket trades the chart's symbol. */
  setSymbol(info) {
    const changed = this.#info?.name !== info.name;
    this.#info = info;
    const step = priceStep(info);
    for (const name of FIELDS.slice(1)) this.#form.elements[name].step = String(step);
    this.#root.querySelector("[data-ticket-symbol]").textContent = info.name;
    if (changed) {
      for (const name of FIELDS.slice(1)) this.#form.elements[name].value = "";
      this.#syncType();
    }
    this.#updateSubmitLabel();
    this.#schedulePreview();
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
    return order;
  }

  #edited(target) {
    if (target.name === "type") this.#syncType();
    if (target.name === "side") this.#form.dataset.side = target.value === "1" ? "buy" : "sell";
    if (FIELDS.includes(target.name)) setFieldError(this.#form, target.name, null);
    this.#general.hidden = true;
    this.#updateSubmitLabel();
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
      if (!needed) setFieldError(this.#form, name, null);
    }
  }

  #updateSubmitLabel() {
    const { side, type, qty } = this.#values();
    const verb = side === SIDE.BUY ? "Buy" : "Sell";
    const amount = qty !== null && Number.isFinite(qty) ? ` ${formatQty(qty)}` : "";
    this.#submit.textContent = `${verb}${amount} ${this.#info?.name ?? ""} ${TYPE_SHORT[type]}`;
    this.#submit.className = `btn btn-block ${side === SIDE.BUY ? "btn-buy" : "btn-sell"}`;
  }

  #schedulePreview() {
    clearTimeout(this.#previewTimer);
    this.#previewTimer = setTimeout(() => this.#refreshPreview(), PREVIEW_DELAY_MS);
  }

  async #refreshPreview() {
    if (!this.#info) return;
    const request = ++this.#previewRequest;
    this.#preview.setAttribute("aria-busy", "true");
    try {
      const result = await api.previewOrder(this.#preOrder());
      if (request !== this.#previewRequest) return;
      this.#showFieldErrors(null);
      this.#renderPreview(result);
    } catch (error) {
      if (request !== this.#previewRequest) return;
      this.#renderPreview(null);
      this.#showFieldErrors(error, { quiet: true });
    } finally {
      if (request === this.#previewRequest) this.#preview.removeAttribute("aria-busy");
    }
  }

  #renderPreview(result) {
    if (!result) {
      this.#preview.replaceChildren(
        h("p", { class: "preview-empty" }, "Fix the highlighted fields to see a preview."),
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

  #showFieldErrors(error, { quiet = false } = {}) {
    for (const name of FIELDS) setFieldError(this.#form, name, null);
    if (!error) return;
    const { byField, general } = splitFieldErrors(error, FIELDS);
    for (const [name, messages] of byField) setFieldError(this.#form, name, messages);
    if (general.length && !quiet) {
      this.#general.textContent = general.join("; ");
      this.#general.hidden = false;
    }
  }

  async #place() {
    if (!this.#info) return;
    this.#general.hidden = true;
    this.#submit.disabled = true;
    const order = this.#preOrder();
    try {
      const { orderId } = await api.placeOrder(order);
      this.#showFieldErrors(null);
      const price = order.limitPrice ?? order.stopPrice;
      const at = price ? ` @ ${formatPrice(price, priceDecimals(this.#info))}` : "";
      toast(`${orderId}: ${order.side === SIDE.BUY ? "Buy" : "Sell"} ${formatQty(order.qty)} ${order.symbol} ${TYPE_SHORT[order.type]}${at} placed`, "success");
      this.#schedulePreview();
    } catch (error) {
      this.#showFieldErrors(error);
      this.#form.querySelector("[aria-invalid=true]")?.focus();
    } finally {
      this.#submit.disabled = false;
    }
  }
}
