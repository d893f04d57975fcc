// Short messages about actions (placed, canceled, refused…), announced to screen readers.
//
// Where the desk stacks its panels (narrow windows), the toasts must not cover the order ticket
// the user is working in: they go to the top or the bottom edge of the window, whichever has
// more room beside the ticket as it is scrolled now (the CSS reads `data-edge`).

import { h } from "./format.js";

const NARROW = "(max-width: 900px)";

let container = null;
let avoid = null;
let placeQueued = false;

/** `avoidElement`: the panel the toasts keep clear of on narrow windows (the ticket). */
export function initToasts(element, avoidElement = null) {
  container = element;
  avoid = avoidElement;
  const schedule = () => {
    if (placeQueued || !container.children.length) return;
    placeQueued = true;
    requestAnimationFrame(() => {
      placeQueued = false;
      place();
    });
  };
  window.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", schedule);
}

function place() {
  if (!container) return;
  if (!avoid || !matchMedia(NARROW).matches) {
    delete container.dataset.edge;
    return;
  }
  const rect = avoid.getBoundingClientRect();
  const above = Math.max(0, rect.top);
  const below = Math.max(0, window.innerHeight - rect.bottom);
  const edge = above >= below ? "top" : "bottom";
  if (container.dataset.edge !== edge) container.dataset.edge = edge;
}

/** kind: "info", "success" or "error". Errors stay longer. */
export function toast(text, kind = "info") {
  if (!container) return;
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  container.append(item);
  while (container.children.length > 4) container.firstElementChild.remove();
  place();
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}
