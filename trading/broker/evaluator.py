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
from trading.broker.working import Window, WorkingIndex

MAX_CATCH_UP_S = 3600
"""Seconds replayed after a loop stall; longer gaps (a suspended host) resume at now."""


class Evaluator:
    def __init__(self, market: PriceFeed) -> None:
        self._market = market
        self.index = WorkingIndex()
        self._evaluated: dict[str, int] = {}

    def restore(self, books: Mapping[str, Book]) -> None:
        """Index the working orders of ``books`` afresh. The remembered seconds are forgotten
        (as after a restart: evaluation resumes at the current second)."""
        self._evaluated.clear()
        self.index.rebuild(
            (account, order) for account, book in books.items() for order in book.working_orders()
        )

    def follow(self, account: str, changes: Changes) -> None:
        """Keep the index in step with a committed change of ``account``'s orders."""
        for order in changes.orders.values():
            self.index.update(account, order)

    def _window(self, symbol: str, first: int, last: int) -> Window:
        seconds = [self._market.at(symbol, s) for s in range(first, last + 1)]
        return Window(
            ask_low=min(p.ask for p in seconds), ask_high=max(p.ask for p in seconds),
            bid_low=min(p.bid for p in seconds), bid_high=max(p.bid for p in seconds),
        )  # fmt: skip

    def run(self, books: Mapping[str, Book], now: float) -> list[tuple[str, Changes]]:
        """Evaluate up to ``now``: the changes of each account that changed, by account."""
        now_s = math.floor(now)
        out: dict[str, Changes] = {}
        # symbols in name order: one account's fills on two symbols in one tick are numbered,
        # and checked against buying power, in an order that does not depend on history
        for symbol in sorted(self.index.symbols()):
            first = max(self._evaluated.get(symbol, now_s - 1) + 1, now_s - MAX_CATCH_UP_S)
            if first <= now_s:
                window = self._window(symbol, first, now_s)
                for account in self.index.candidates(symbol, window, now_s):
                    changes = fills.evaluate(books[account], symbol, first, now_s, now)
                    if changes:
                        out.setdefault(account, Changes()).merge(changes)
            self._evaluated[symbol] = now_s
        return list(out.items())
