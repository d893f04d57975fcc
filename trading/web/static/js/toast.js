// Short messages about actions (placed, canceled, refused…), announced to screen readers.

import { h } from "./format.js";

let container = null;

export function initToasts(element) {
  container = element;
}

/** kind: "info", "success" or "error". Errors stay longer. */
export function toast(text, kind = "info") {
  if (!container) return;
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  container.append(item);
  while (container.children.length > 4) container.firstElementChild.remove();
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}
