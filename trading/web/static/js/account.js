// The paper account the page trades, shared like writes.js (issue 14).
//
// - `id`: what every broker REST request names in its X-Account-Id header (api.js). null in off
//   mode (TRADING_AUTH=off: the server serves its one account and the page names none, exactly
//   as before) and while logged out.
// - `ready`: whether broker requests may be sent at all: false until GET /auth/me has answered
//   and, in keys mode, while nobody is logged in (the ticket, leverage and history wait).
//
// Listeners are told on every change of either, and on `reload()` (the account was reset:
// same id, new state), so each panel drops what it shows and reads the account again.

const listeners = new Set();
let state = Object.freeze({ id: null, ready: false });

export const account = {
  get id() {
    return state.id;
  },

  get ready() {
    return state.ready;
  },

  set({ id, ready }) {
    if (id === state.id && ready === state.ready) return;
    state = Object.freeze({ id, ready });
    for (const listener of listeners) listener(state);
  },

  /** Tell every listener again: the same account, whose state changed as a whole. */
  reload() {
    for (const listener of listeners) listener(state);
  },

  /** `listener({ id, ready })` on every change; returns the function that stops it. */
  onChange(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};
