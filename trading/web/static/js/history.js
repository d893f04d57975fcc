// The orders-history tab: final orders (filled, canceled, rejected), most recently finished
// first, read from GET /broker/orders/history (broker.md §16). The first page loads when the
// tab is shown (and on "Refresh"); "Load more" follows the page's nextCursor, so the rows
// already shown never move while orders keep finishing. A change of account empties the tab (and
// reads the new account's first page if the tab is shown); nothing is read with no account.

import { account } from "./account.js";
import { api } from "./api.js";
import { DASH, formatPrice, formatQty, formatTimestamp, h, SIDE_LABEL, STATUS_LABEL, TYPE_LABEL } from "./format.js";
import { toast } from "./toast.js";

const PAGE = 50; // orders per page (a panel's data-page-size overrides it: the page tests)

export class OrdersHistory {
  #panel;
  #body;
  #more;
  #cursor = null;
  #loading = false;
  #generation = 0; // counts account changes: a page of an earlier account is dropped
  count = 0;

  constructor(panel) {
    this.#panel = panel;
    const columns = ["Order", "Symbol", "Side", "Type", "Qty", "Filled", "Avg price", "Status", "Finished"];
    const numeric = new Set(["Qty", "Filled", "Avg price"]);
    this.#body = h("tbody");
    panel.querySelector("#history-table").replaceChildren(
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: numeric.has(c) ? "num" : "" }, c)))),
      this.#body,
    );
    this.#more = panel.querySelector("#history-more");
    this.#more.addEventListener("click", () => this.#load(false));
    panel.querySelector("#history-refresh").addEventListener("click", () => this.#load(true));
    // shown by the blotter's tabs (the hidden attribute): load the newest page then
    new MutationObserver(() => {
      if (!panel.hidden) this.#load(true);
    }).observe(panel, { attributes: true, attributeFilter: ["hidden"] });
    account.onChange(() => this.#accountChanged());
    this.#renderEmpty();
  }

  #accountChanged() {
    this.#generation += 1;
    this.#loading = false;
    this.#cursor = null;
    this.#body.replaceChildren();
    this.count = 0;
    this.#renderEmpty();
    this.#more.hidden = true;
    delete this.#panel.dataset.loaded;
    if (!this.#panel.hidden) this.#load(true);
  }

  async #load(first) {
    if (!account.ready || this.#loading || (!first && !this.#cursor)) return;
    const generation = this.#generation;
    this.#loading = true;
    this.#more.disabled = true;
    try {
      const page = await api.ordersHistory({ limit: Number(this.#panel.dataset.pageSize) || PAGE, cursor: first ? null : this.#cursor });
      if (generation !== this.#generation) return;
      if (first) {
        this.#body.replaceChildren();
        this.count = 0;
      }
      for (const order of page.orders) this.#body.append(this.#row(order));
      this.count += page.orders.length;
      this.#cursor = page.nextCursor;
      this.#renderEmpty();
    } catch (error) {
      if (generation === this.#generation) toast(`Orders history: ${error.message}`, "error");
    } finally {
      if (generation === this.#generation) this.#finish();
    }
  }

  #finish() {
    this.#loading = false;
    this.#more.disabled = !this.#cursor;
    this.#more.hidden = !this.#cursor;
    this.#panel.dataset.loaded = "true";
  }

  #row(o) {
    const cell = (label, text, numeric = false) =>
      h("td", { class: numeric ? "num" : "", dataset: { label } }, text);
    return h(
      "tr",
      { dataset: { key: o.id } },
      cell("Order", o.id),
      cell("Symbol", o.symbol),
      cell("Side", SIDE_LABEL[o.side]),
      cell("Type", TYPE_LABEL[o.type]),
      cell("Qty", formatQty(o.qty), true),
      cell("Filled", formatQty(o.filledQty ?? 0), true),
      cell("Avg price", o.avgPrice === null || o.avgPrice === undefined ? DASH : formatPrice(o.avgPrice), true),
      cell("Status", STATUS_LABEL[o.status]),
      cell("Finished", formatTimestamp(o.updateTime)),
    );
  }

  #renderEmpty() {
    this.#body.querySelector("tr.empty")?.remove();
    if (!this.#body.children.length) {
      this.#body.append(h("tr", { class: "empty" }, h("td", { colspan: 9 }, "No finished orders")));
    }
  }
}
