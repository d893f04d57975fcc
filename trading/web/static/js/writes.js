// Whether the page may send writes (place, modify, cancel, close, brackets, leverage): only
// while the live connection is up. Offline a write's result could not reach the blotter and the
// numbers it would be decided on are stale, so every control that sends one is disabled until
// the socket is back (main.js follows the socket state).

const listeners = new Set();
let allowed = false;

export const writes = {
  get allowed() {
    return allowed;
  },

  set(value) {
    if (value === allowed) return;
    allowed = value;
    for (const listener of listeners) listener(allowed);
  },

  /** `listener(allowed)` on every change; returns the function that stops it. */
  onChange(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

/** The reason shown next to a write control while offline. */
export const OFFLINE_REASON = "Offline: orders and changes can be sent again once the connection is back.";
