// SymbolInfo cache (GET /datafeed/resolve) and the symbol search box (GET /datafeed/search):
// a small ARIA combobox, keyboard first (arrows, Enter, Escape).

import { api } from "./api.js";
import { h } from "./format.js";

const infos = new Map(); // canonical or typed name → Promise<SymbolInfo>
const resolved = new Map(); // canonical name → SymbolInfo

/** SymbolInfo of a symbol (any accepted spelling); rejects with ApiError 404 when unknown. */
export function symbolInfo(symbol) {
  const key = symbol.toUpperCase();
  let promise = infos.get(key);
  if (!promise) {
    promise = api.resolve(symbol).then((info) => {
      resolved.set(info.name, info);
      return info;
    });
    promise.catch(() => infos.delete(key));
    infos.set(key, promise);
  }
  return promise;
}

/** The SymbolInfo already loaded for a canonical name, or undefined (then ask symbolInfo()). */
export function knownSymbolInfo(name) {
  return resolved.get(name);
}

export class SymbolSearch {
  #input;
  #list;
  #onSelect;
  #results = [];
  #resultsFor = null; // the text #results answer (upper case), null when none
  #active = -1;
  #timer = null;
  #query = 0;
  #current = "";

  constructor(input, list, { onSelect }) {
    this.#input = input;
    this.#list = list;
    this.#onSelect = onSelect;
    input.addEventListener("input", () => this.#schedule());
    input.addEventListener("focus", () => input.select());
    input.addEventListener("keydown", (event) => this.#onKey(event));
    input.addEventListener("blur", () => {
      // let a click on an option land first
      setTimeout(() => {
        this.#close();
        if (document.activeElement !== input) input.value = this.#current;
      }, 150);
    });
  }

  /** Show the chart's symbol in the box. */
  set value(name) {
    this.#current = name;
    this.#input.value = name;
  }

  #schedule() {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#search(), 120);
  }

  async #search() {
    clearTimeout(this.#timer);
    const query = ++this.#query;
    const text = this.#input.value.trim();
    try {
      const results = await api.search(text, 20);
      // a newer search, or the box was left or closed meanwhile: these results are stale
      if (query !== this.#query || document.activeElement !== this.#input) return;
      this.#results = results;
      this.#resultsFor = text.toUpperCase();
      this.#active = results.length ? 0 : -1;
      this.#render();
    } catch (error) {
      console.warn("Symbol search failed:", error.message);
    }
  }

  #render() {
    const options = this.#results.map((item, index) =>
      h(
        "li",
        {
          id: `symbol-option-${index}`,
          role: "option",
          "aria-selected": index === this.#active ? "true" : "false",
          class: index === this.#active ? "active" : "",
          onmousedown: (event) => {
            event.preventDefault();
            this.#choose(index);
          },
        },
        h("span", { class: "option-symbol" }, item.symbol),
        h("span", { class: "option-desc" }, item.description),
        h("span", { class: "option-exchange" }, `${item.exchange} · ${item.type}`),
      ),
    );
    if (!options.length) {
      options.push(h("li", { class: "empty", role: "presentation" }, "No matching symbol"));
    }
    this.#list.replaceChildren(...options);
    this.#list.hidden = false;
    this.#input.setAttribute("aria-expanded", "true");
    if (this.#active >= 0) {
      this.#input.setAttribute("aria-activedescendant", `symbol-option-${this.#active}`);
    } else this.#input.removeAttribute("aria-activedescendant");
  }

  /** Close the list and drop any search still due or under way (it would reopen it). */
  #close() {
    clearTimeout(this.#timer);
    this.#query += 1;
    this.#list.hidden = true;
    this.#input.setAttribute("aria-expanded", "false");
    this.#input.removeAttribute("aria-activedescendant");
  }

  #choose(index) {
    const item = this.#results[index];
    this.#close();
    if (!item) return;
    this.value = item.symbol;
    this.#input.blur();
    this.#onSelect(item.symbol);
  }

  #onKey(event) {
    const open = !this.#list.hidden;
    switch (event.key) {
      case "ArrowDown":
      case "ArrowUp": {
        event.preventDefault();
        if (!open) {
          this.#search();
          return;
        }
        const step = event.key === "ArrowDown" ? 1 : -1;
        const count = this.#results.length;
        if (count) this.#active = (this.#active + step + count) % count;
        this.#render();
        return;
      }
      case "Enter": {
        event.preventDefault();
        const text = this.#input.value.trim();
        // The list may still show the results of an earlier text (the next search is only due
        // after the debounce): its active row counts only if it answers what is typed now.
        const current = open && this.#resultsFor === text.toUpperCase();
        if (current && this.#active >= 0) {
          this.#choose(this.#active);
          return;
        }
        const exact = this.#results.findIndex((item) => item.symbol === text.toUpperCase());
        if (open && exact >= 0) this.#choose(exact);
        else if (text) {
          // a name typed before the list caught up: the server resolves it (or says 404)
          this.#close();
          this.#input.blur();
          this.#onSelect(text);
        }
        return;
      }
      case "Escape":
        event.preventDefault();
        this.#close();
        this.#input.value = this.#current;
        this.#input.blur();
        return;
      default:
    }
  }
}
