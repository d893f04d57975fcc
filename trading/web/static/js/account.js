// The paper account the page trades, shared like writes.js (issue 14).
//
// - `id`: what every broker REST request names in its X-Account-Id header (api.js). null in off
//   mode (TRADING_AUTH=off: the server serves its one account and the page names none, exactly
//   as before) and while logged out.
// - `ready`: whether broker requests may be sent at all: false until GET /auth/me has answered
//   and, in keys mode, while nobody is logged in (the ticket, leverage and history wait).
//
// - `book`: the replay session whose own paper account the page trades meanwhile (issue 17:
//   a session's book has the session's id for its account id), or null. While a book is set,
//   `id` is the book's, so every broker request and WebSocket topic acts on the session's book;
//   `baseId` stays the account the user chose (the replay routes act on that one), and leaving
//   the book brings `id` back to it.
//
// Listeners are told on every change of either, and on `reload()` (the account was reset:
// same id, new state), so each panel drops what it shows and reads the account again.

const listeners = new Set();
let base = Object.freeze({ id: null, ready: false });
let book = null;
let state = base;

function publish() {
  const next = book === null ? base : Object.freeze({ id: book, ready: base.ready });
  if (next.id === state.id && next.ready === state.ready) return;
  state = next;
  for (const listener of listeners) listener(state);
}

export const account = {
  get id() {
    return state.id;
  },

  get ready() {
    return state.ready;
  },

  /** The account the user chose (null in off mode), whatever book is traded meanwhile. */
  get baseId() {
    return base.id;
  },

  get book() {
    return book;
  },

  set({ id, ready }) {
    base = Object.freeze({ id, ready });
    publish();
  },

  /** Trade the book of replay session `sessionId` (its account id), or the base account again
   * with null. */
  setBook(sessionId) {
    book = sessionId;
    publish();
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
