"""The fill loop's search over every account (broker.md §4, §20): which seconds to evaluate
on each symbol, and which accounts' orders those seconds can fill.

Per symbol it remembers the last second done, so a late tick replays what it missed (at most
:data:`MAX_CATCH_UP_S`) and no second is evaluated twice. For the seconds of a tick it takes
the lowest and highest ask and bid, asks the :class:`~trading.broker.working.WorkingIndex`
which accounts hold an order those prices reach, and lets each of those accounts evaluate its
own orders (:func:`trading.broker.fills.evaluate`). So a tick costs in proportion to the
orders that can fill, whatever the number of accounts and orders resting far from the market.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from trading.broker import fills
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.matching import PriceFeed
from trading.broker.working import WorkingIndex

MAX_CATCH_UP_S = 3600
"""Seconds replayed after a loop stall; longer gaps (a suspended host) resume at now."""


class Evaluator:
    def __init__(
        self,
        market: PriceFeed,
        *,
        catch_up_new: bool = False,
        max_catch_up_s: int = MAX_CATCH_UP_S,
    ) -> None:
        """``catch_up_new``: a symbol's first evaluation replays up to :data:`MAX_CATCH_UP_S`
        instead of starting at the current second. Evaluations on request only (a manual
        clock, docs/scenarios.md §4) need it: the first one may come long after the orders
        it must fill were placed, and orders never fill before their ``since`` anyway. The
        fill loop evaluates every second, so it starts at the current one.
        ``max_catch_up_s``: the longest run of seconds one evaluation covers (a replay
        session at 3600× moves an hour per tick: its evaluator allows more)."""
        self._market = market
        self._max_catch_up = max_catch_up_s
        self._catch_up_new = catch_up_new
        self.index = WorkingIndex()
        self._evaluated: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._resume_at: int | None = None
        self.pending_second: int | None = None
        """The second the last :meth:`run` evaluated up to (stored with its changes)."""

    def restore(self, books: Mapping[str, Book]) -> None:
        """Index the working orders of ``books`` afresh. The remembered seconds are forgotten
        (as after a restart: evaluation resumes at the current second)."""
        self._evaluated.clear()
        self.index.rebuild(
            (account, order) for account, book in books.items() for order in book.working_orders()
        )

    def resume(self, second: int | None) -> None:
        """Take over from a previous evaluator that committed up to ``second``: the next tick
        evaluates from the second after it (bounded by :data:`MAX_CATCH_UP_S`), so no second
        is skipped between two leaders. Orders never fill on a second before their
        ``since``, so replaying a second is safe; skipping one is not."""
        self._evaluated.clear()
        self._resume_at = second

    def replace(self, account: str, old: Book | None, new: Book) -> None:
        """Re-index ``account`` after its book was reloaded from the store."""
        if old is not None:
            for order in old.working_orders():
                self.index.forget(account, order.id)
        for order in new.working_orders():
            self.index.update(account, order)

    def follow(self, account: str, changes: Changes) -> None:
        """Keep the index in step with a committed change of ``account``'s orders."""
        for order in changes.orders.values():
            self.index.update(account, order)

    def run(
        self, books: Mapping[str, Book], now: float, *, not_before: int | None = None
    ) -> list[tuple[str, Changes]]:
        """Evaluate up to ``now``: the changes of each account that changed, by account.
        ``not_before``: no second before it is evaluated (a replay session's book is not
        traded through the time a jump skipped)."""
        now_s = math.floor(now)
        out: dict[str, Changes] = {}
        start = now_s - 1 if self._resume_at is None else self._resume_at
        if self._catch_up_new and self._resume_at is None:
            start = now_s - self._max_catch_up - 1
        lowest = now_s - self._max_catch_up
        if not_before is not None:
            lowest = max(lowest, not_before)
        self._pending = {}
        # symbols in name order: one account's fills on two symbols in one tick are numbered,
        # and checked against buying power, in an order that does not depend on history
        for symbol in sorted(self.index.symbols()):
            first = max(self._evaluated.get(symbol, start) + 1, lowest)
            if first <= now_s:
                window = self._market.extremes(symbol, first, now_s)
                for account in self.index.candidates(symbol, window, now_s):
                    changes = fills.evaluate(books[account], symbol, first, now_s, now)
                    if changes:
                        out.setdefault(account, Changes()).merge(changes)
            self._pending[symbol] = now_s
        self.pending_second = now_s
        return list(out.items())

    def committed(self) -> None:
        """The changes of the last :meth:`run` are stored: its seconds are done. (Not called
        when the commit failed: the next tick evaluates them again, from reloaded books.)"""
        self._evaluated.update(self._pending)
        self._pending = {}
        self._resume_at = None
