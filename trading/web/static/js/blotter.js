// The blotter: account line, positions, working orders and executions, live from BrokerState,
// with the actions a desk needs (cancel, modify, close, partial close, edit brackets).
//
// Rows are keyed and updated in place (positions re-render every second with the P&L), so a
// focused button keeps its focus while the numbers move.

import { api } from "./api.js";
import { numberOrNull, openFormDialog } from "./dialog.js";
import {
  DASH, formatMoney, formatPrice, formatQty, formatSignedMoney, formatTimestamp, h,
  ORDER_TYPE, priceDecimals, SIDE_LABEL, trendOf, TYPE_LABEL,
} from "./format.js";
import { knownSymbolInfo, symbolInfo } from "./symbols.js";
import { toast } from "./toast.js";
import { OFFLINE_REASON, writes } from "./writes.js";

/** Price decimals of any symbol; loads its SymbolInfo on first sight and re-renders. */
function decimalsOf(symbol, rerender) {
  const info = knownSymbolInfo(symbol);
  if (info) return priceDecimals(info);
  symbolInfo(symbol).then(rerender, () => {});
  return 2;
}

/** The time in force of an order: GTC when it has none, GTD with its instant. */
function durationText(order) {
  const duration = order.duration;
  if (!duration) return "GTC";
  const kind = duration.type.toUpperCase();
  return duration.type === "gtd" ? `${kind} ${formatTimestamp(duration.datetime)}` : kind;
}

class KeyedTable {
  #body;
  #columns;
  #actions;
  #empty;
  #rows = new Map();

  constructor(table, { columns, actions, empty }) {
    this.#columns = columns;
    this.#actions = actions;
    this.#empty = empty;
    const headRow = h(
      "tr",
      {},
      columns.map((column) =>
        h("th", { scope: "col", class: column.numeric ? "num" : "" }, column.label),
      ),
      actions ? h("th", { scope: "col", class: "actions" }, h("span", { class: "sr-only" }, "Actions")) : null,
    );
    this.#body = h("tbody");
    table.replaceChildren(h("thead", {}, headRow), this.#body);
  }

  /** `items`: [key, item] pairs in display order. */
  render(items) {
    const keys = new Set(items.map(([key]) => key));
    for (const [key, row] of this.#rows) {
      if (!keys.has(key)) {
        row.remove();
        this.#rows.delete(key);
      }
    }
    this.#body.querySelector("tr.empty")?.remove();
    let previous = null;
    for (const [key, item] of items) {
      let row = this.#rows.get(key);
      if (!row) {
        row = this.#createRow(key, item);
        this.#rows.set(key, row);
      }
      row.item = item;
      this.#columns.forEach((column, index) => {
        const cell = row.cells[index];
        const text = column.value(item);
        if (cell.textContent !== text) cell.textContent = text;
        const trend = column.trend ? column.trend(item) : "";
        const className = [column.numeric ? "num" : "", trend].filter(Boolean).join(" ");
        if (cell.className !== className) cell.className = className;
      });
      const expected = previous ? previous.nextSibling : this.#body.firstChild;
      if (expected !== row) this.#body.insertBefore(row, expected);
      previous = row;
    }
    if (!items.length) {
      const span = this.#columns.length + (this.#actions ? 1 : 0);
      this.#body.append(h("tr", { class: "empty" }, h("td", { colspan: span }, this.#empty)));
    }
  }

  #createRow(key, item) {
    const row = h("tr", { dataset: { key } });
    row.item = item;
    for (const column of this.#columns) {
      // the label is shown inside the cell where rows are laid out as cards (phone width)
      row.append(h("td", { class: column.numeric ? "num" : "", dataset: { label: column.label } }));
    }
    if (this.#actions) {
      row.append(h("td", { class: "actions" }, this.#actions(() => row.item, item)));
    }
    return row;
  }
}

export class Blotter {
  #broker;
  #dialog;
  #positions;
  #orders;
  #executions;
  #tabs;
  #account;
  #queued = false;
  #writeButtons = new Set();

  constructor(root, broker, dialog) {
    this.#broker = broker;
    this.#dialog = dialog;
    this.#account = root.querySelector("#account");
    this.#tabs = [...root.querySelectorAll("[role=tab]")];
    this.#setupTabs();
    const rerender = () => this.render();
    const price = (field) => (item) =>
      item[field] === null || item[field] === undefined
        ? DASH
        : formatPrice(item[field], decimalsOf(item.symbol, rerender));
    const side = (item) => SIDE_LABEL[item.side];
    const sideTrend = (item) => (item.side === 1 ? "buy" : "sell");

    this.#positions = new KeyedTable(root.querySelector("#positions-table"), {
      empty: "No open positions",
      columns: [
        { label: "Symbol", value: (p) => p.symbol },
        { label: "Side", value: side, trend: sideTrend },
        { label: "Qty", numeric: true, value: (p) => formatQty(p.qty) },
        { label: "Avg price", numeric: true, value: price("avgPrice") },
        {
          label: "Last",
          numeric: true,
          value: (p) => formatPrice(broker.quotes.get(p.symbol)?.lp, decimalsOf(p.symbol, rerender)),
        },
        {
          label: "Unrealized P&L",
          numeric: true,
          value: (p) => formatSignedMoney(broker.unrealized(p)),
          trend: (p) => trendOf(broker.unrealized(p)),
        },
        {
          label: "Take profit",
          numeric: true,
          value: (p) => {
            const order = broker.bracketsOf(p).takeProfit;
            return order ? formatPrice(order.limitPrice, decimalsOf(p.symbol, rerender)) : DASH;
          },
        },
        {
          label: "Stop loss",
          numeric: true,
          value: (p) => {
            const order = broker.bracketsOf(p).stopLoss;
            return order ? formatPrice(order.stopPrice, decimalsOf(p.symbol, rerender)) : DASH;
          },
        },
      ],
      actions: (current) => [
        this.#button("Close", () => `Close position ${current().symbol}`, () => this.#close(current())),
        this.#button("Reverse", () => `Reverse position ${current().symbol}`, () => this.#reverse(current())),
        this.#button("Partial…", () => `Partially close ${current().symbol}`, () => this.#partialClose(current())),
        this.#button("Brackets…", () => `Edit brackets of ${current().symbol}`, () => this.#editBrackets(current())),
      ],
    });

    this.#orders = new KeyedTable(root.querySelector("#orders-table"), {
      empty: "No working orders",
      columns: [
        { label: "Order", value: (o) => o.id },
        { label: "Symbol", value: (o) => o.symbol },
        { label: "Side", value: side, trend: sideTrend },
        {
          label: "Type",
          value: (o) => {
            const role = broker.bracketRole(o);
            const parent = broker.parentOrder(o);
            if (parent) return `${TYPE_LABEL[o.type]} (${role} of ${parent.id}, inactive)`;
            return role ? `${TYPE_LABEL[o.type]} (${role})` : TYPE_LABEL[o.type];
          },
        },
        { label: "Qty", numeric: true, value: (o) => formatQty(o.qty) },
        { label: "Limit", numeric: true, value: price("limitPrice") },
        { label: "Stop", numeric: true, value: price("stopPrice") },
        { label: "TP", numeric: true, value: price("takeProfit") },
        { label: "SL", numeric: true, value: price("stopLoss") },
        {
          label: "Last",
          numeric: true,
          value: (o) => formatPrice(broker.quotes.get(o.symbol)?.lp, decimalsOf(o.symbol, rerender)),
        },
        { label: "Updated", value: (o) => formatTimestamp(o.updateTime) },
        { label: "TIF", value: durationText },
      ],
      actions: (current) => [
        this.#button("Modify…", () => `Modify ${current().id}`, () => this.#modify(current())),
        this.#button("Cancel", () => `Cancel ${current().id}`, () => this.#cancel(current()), "danger"),
      ],
    });

    this.#executions = new KeyedTable(root.querySelector("#executions-table"), {
      empty: "No executions yet",
      columns: [
        { label: "Time", value: (e) => formatTimestamp(e.time) },
        { label: "Symbol", value: (e) => e.symbol },
        { label: "Side", value: side, trend: sideTrend },
        { label: "Qty", numeric: true, value: (e) => formatQty(e.qty) },
        { label: "Price", numeric: true, value: price("price") },
        { label: "Value", numeric: true, value: (e) => formatMoney(e.qty * e.price) },
      ],
    });

    this.#deskButton(root.querySelector("#cancel-all"), () => this.#cancelAll());
    this.#deskButton(root.querySelector("#flatten"), () => this.#flatten());

    broker.onChange(() => this.#schedule());
    // an order that left the blotter for a reason the user did not ask for says why
    broker.onOrderMessage((order) =>
      toast(`${order.id}: ${order.message.text}`, order.message.type === "error" ? "error" : "info"),
    );
    writes.onChange(() => this.#syncWriteButtons());
    this.render();
  }

  #schedule() {
    if (this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => {
      this.#queued = false;
      this.render();
    });
  }

  render() {
    const broker = this.#broker;
    this.#positions.render([...broker.positions.values()].map((p) => [p.symbol, p]));
    this.#orders.render([...broker.orders.values()].map((o) => [o.id, o]));
    const counts = new Map();
    this.#executions.render(
      broker.executions.map((e) => {
        const base = `${e.time}-${e.symbol}-${e.side}-${e.qty}-${e.price}`;
        const n = (counts.get(base) ?? 0) + 1;
        counts.set(base, n);
        return [`${base}-${n}`, e];
      }),
    );
    this.#setCount("positions", broker.positions.size);
    this.#setCount("orders", broker.orders.size);
    this.#setCount("executions", broker.executions.length);
    this.#renderAccount();
  }

  #renderAccount() {
    const equity = this.#broker.equity;
    const set = (name, value, signed = false) => {
      const cell = this.#account.querySelector(`[data-account=${name}]`);
      cell.textContent = signed ? formatSignedMoney(value) : formatMoney(value);
      cell.className = `num ${signed ? trendOf(value) : ""}`.trim();
    };
    set("balance", equity?.balance);
    set("equity", equity?.equity);
    set("unrealizedPL", equity?.unrealizedPL, true);
    set("realizedPL", equity?.realizedPL, true);
    const margin = this.#broker.margin;
    set("marginUsed", margin?.marginUsed);
    set("marginAvailable", margin?.marginAvailable);
    set("buyingPower", margin?.buyingPower);
    const status = this.#broker.connection;
    const badge = document.getElementById("broker-state");
    const connected = status?.status === 1;
    badge.textContent = status ? (connected ? "Broker online" : "Broker offline") : "Broker…";
    badge.title = status?.message ?? "Waiting for the broker status";
    badge.dataset.state = status ? (connected ? "connected" : "disconnected") : "unknown";
  }

  #setCount(name, count) {
    const badge = document.querySelector(`[data-count=${name}]`);
    if (badge && badge.textContent !== String(count)) badge.textContent = String(count);
  }

  #setupTabs() {
    const select = (tab, focus = false) => {
      for (const other of this.#tabs) {
        const selected = other === tab;
        other.setAttribute("aria-selected", String(selected));
        other.tabIndex = selected ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
      }
      if (focus) tab.focus();
    };
    this.#tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => select(tab));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (event.key === "Home") select(this.#tabs[0], true);
        else if (event.key === "End") select(this.#tabs.at(-1), true);
        else if (step) select(this.#tabs[(index + step + this.#tabs.length) % this.#tabs.length], true);
        else return;
        event.preventDefault();
      });
    });
  }

  /** Every action sends a write: disabled while offline (see writes.js), and while it runs. */
  #button(label, describe, action, kind = "") {
    const button = h("button", { type: "button", class: `btn btn-small ${kind}`.trim() }, label);
    button.addEventListener("focus", () => button.setAttribute("aria-label", describe()));
    button.addEventListener("mouseenter", () => {
      button.setAttribute("title", writes.allowed ? describe() : OFFLINE_REASON);
    });
    button.setAttribute("aria-label", describe());
    button.disabled = !writes.allowed;
    this.#writeButtons.add(button);
    button.addEventListener("click", async () => {
      button.dataset.busy = "true";
      button.disabled = true;
      try {
        await action();
      } finally {
        delete button.dataset.busy;
        button.disabled = !writes.allowed;
      }
    });
    return button;
  }

  /** A static desk button (cancel all, flatten): a write like the row buttons. */
  #deskButton(button, action) {
    button.disabled = !writes.allowed;
    this.#writeButtons.add(button);
    button.addEventListener("click", async () => {
      button.dataset.busy = "true";
      button.disabled = true;
      try {
        await action();
      } finally {
        delete button.dataset.busy;
        button.disabled = !writes.allowed;
      }
    });
  }

  async #reverse(position) {
    try {
      const { orderId } = await api.reversePosition(position.id);
      toast(`Reversed ${position.id} (${orderId})`, "success");
    } catch (error) {
      toast(`Reverse ${position.id}: ${error.message}`, "error");
    }
  }

  async #cancelAll() {
    try {
      const { canceled } = await api.cancelOrders();
      toast(canceled.length ? `Canceled ${canceled.join(", ")}` : "No working orders", "success");
    } catch (error) {
      toast(`Cancel all: ${error.message}`, "error");
    }
  }

  async #flatten() {
    try {
      const { closed } = await api.flatten();
      toast(closed.length ? `Closed ${closed.join(", ")}` : "No open positions", "success");
    } catch (error) {
      toast(`Flatten: ${error.message}`, "error");
    }
  }

  #syncWriteButtons() {
    for (const button of this.#writeButtons) {
      if (!button.isConnected) this.#writeButtons.delete(button);
      else if (!button.dataset.busy) button.disabled = !writes.allowed;
    }
  }

  async #cancel(order) {
    try {
      await api.cancelOrder(order.id);
      toast(`Canceled ${order.id}`, "success");
    } catch (error) {
      toast(`Cancel ${order.id}: ${error.message}`, "error");
    }
  }

  async #close(position) {
    try {
      const result = await api.closePosition(position.id);
      toast(result.message, "success");
    } catch (error) {
      toast(`Close ${position.id}: ${error.message}`, "error");
    }
  }

  #modify(order) {
    // an inactive bracket is part of its resting order: that order's brackets are edited
    const parent = this.#broker.parentOrder(order);
    if (parent) {
      this.#modify(parent);
      return;
    }
    const decimals = decimalsOf(order.symbol, () => {});
    const step = 10 ** -decimals;
    const role = this.#broker.bracketRole(order);
    const isChild = role !== "";
    // a bracket order's quantity is the position's (the server refuses another one)
    const fields = isChild ? [] : [{ name: "qty", label: "Quantity", value: order.qty, step: 1 }];
    if (order.type === ORDER_TYPE.LIMIT || order.type === ORDER_TYPE.STOP_LIMIT) {
      fields.push({ name: "limitPrice", label: "Limit price", value: order.limitPrice, step });
    }
    if (order.type === ORDER_TYPE.STOP || order.type === ORDER_TYPE.STOP_LIMIT) {
      fields.push({ name: "stopPrice", label: "Stop price", value: order.stopPrice, step });
    }
    if (!isChild) {
      fields.push(
        { name: "takeProfit", label: "Take profit", value: order.takeProfit, step, placeholder: "none" },
        { name: "stopLoss", label: "Stop loss", value: order.stopLoss, step, placeholder: "none" },
      );
    }
    openFormDialog(this.#dialog, {
      title: `Modify ${order.id}`,
      description: `${SIDE_LABEL[order.side]} ${TYPE_LABEL[order.type]} ${order.symbol}` +
        (isChild ? ` — the position's ${role === "TP" ? "take profit" : "stop loss"}` : ""),
      fields,
      submitLabel: "Modify order",
      onSubmit: async (values) => {
        const preOrder = {
          symbol: order.symbol,
          type: order.type,
          side: order.side,
          qty: "qty" in values ? numberOrNull(values.qty) : order.qty,
          limitPrice: "limitPrice" in values ? numberOrNull(values.limitPrice) : order.limitPrice,
          stopPrice: "stopPrice" in values ? numberOrNull(values.stopPrice) : order.stopPrice,
          takeProfit: "takeProfit" in values ? numberOrNull(values.takeProfit) : order.takeProfit,
          stopLoss: "stopLoss" in values ? numberOrNull(values.stopLoss) : order.stopLoss,
          guaranteedStop: order.guaranteedStop,
          trailingStopPips: order.trailingStopPips,
          stopType: order.stopType,
        };
        await api.modifyOrder(order.id, preOrder);
        toast(`Modified ${order.id}`, "success");
      },
    });
  }

  #partialClose(position) {
    openFormDialog(this.#dialog, {
      title: `Partially close ${position.symbol}`,
      description: `${SIDE_LABEL[position.side]} ${formatQty(position.qty)} @ ${formatPrice(position.avgPrice, decimalsOf(position.symbol, () => {}))}`,
      fields: [{
        name: "amount",
        label: "Quantity to close",
        value: Math.max(1, Math.floor(position.qty / 2)),
        step: 1,
        hint: `Up to ${formatQty(position.qty)}; a market order on the other side.`,
      }],
      submitLabel: "Close quantity",
      onSubmit: async (values) => {
        const amount = numberOrNull(values.amount);
        const result = await api.closePosition(position.id, amount ?? "");
        toast(result.message, "success");
      },
    });
  }

  #editBrackets(position) {
    const decimals = decimalsOf(position.symbol, () => {});
    const step = 10 ** -decimals;
    const current = this.#broker.bracketsOf(position);
    openFormDialog(this.#dialog, {
      title: `Brackets of ${position.symbol}`,
      description: `${SIDE_LABEL[position.side]} ${formatQty(position.qty)} @ ${formatPrice(position.avgPrice, decimals)}. Empty removes a level.`,
      fields: [
        { name: "takeProfit", label: "Take profit", value: current.takeProfit?.limitPrice, step, placeholder: "none" },
        { name: "stopLoss", label: "Stop loss", value: current.stopLoss?.stopPrice, step, placeholder: "none" },
      ],
      submitLabel: "Save brackets",
      onSubmit: async (values) => {
        const result = await api.editBrackets(position.id, {
          takeProfit: numberOrNull(values.takeProfit),
          stopLoss: numberOrNull(values.stopLoss),
        });
        toast(result.message, "success");
      },
    });
  }
}
