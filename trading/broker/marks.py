"""The account marked to market: what was last pushed of equity, each position's P&L and the
margin, and which of them moved (broker.md §10, §19).

Two occasions push them. A commit that booked money (a fill, a close, a reset) or changed
leverage pushes what moved at once: the figures jumped. A price move between commits pushes
what moved at most once per ``interval_s`` (``TRADING_EQUITY_INTERVAL_S``), under one rate limit
for the three, so a busy market does not flood a desk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from trading.broker import desk
from trading.broker.book import Book
from trading.broker.events import BrokerEvent, EquityChanged, MarginChanged, PositionPLChanged
from trading.broker.margin import Margin, margin_of
from trading.broker.state import Equity


def margin_at(book: Book, now: float, symbol: str | None = None) -> Margin:
    """Margin now, buying power at ``symbol``'s leverage (the default one when None)."""
    leverage = book.default_leverage if symbol is None else book.leverage_of(symbol)
    return margin_of(book.equity(now), leverage)


class Marks:
    def __init__(self, interval_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval_s
        self._monotonic = monotonic
        self._equity: Equity | None = None
        self._pl: dict[str, Decimal] = {}
        self._margin: Margin | None = None
        self._pushed = 0.0

    @staticmethod
    def moved(
        book: Book, events: list[BrokerEvent], leverage_changed: bool, now: float
    ) -> Moved | None:
        """The P&L and margin a command left, read at once when it booked money or changed
        leverage (None otherwise): its commit may come after later commands changed the book
        (group commit, broker/grouping.py), and a push must show this command's figures."""
        if leverage_changed or any(isinstance(e, EquityChanged) for e in events):
            return _measure(book, now)
        return None

    def after_commit(self, events: list[BrokerEvent], moved: Moved | None) -> list[BrokerEvent]:
        """``events`` of a commit, followed by the P&L and margin that moved with it
        (``moved``: what :meth:`moved` read at the command; not throttled: the figures jumped)."""
        out = list(events)
        if moved is not None:
            out += self._changed(moved)
        for event in events:
            if isinstance(event, EquityChanged):
                self._equity = event.equity
        return out

    def on_tick(self, book: Book, now: float) -> list[BrokerEvent]:
        """Between commits: what the market moved, at most once per interval."""
        if not book.positions or self._monotonic() - self._pushed < self._interval:
            return []
        events: list[BrokerEvent] = []
        equity = book.equity(now)
        if equity != self._equity:
            self._equity = equity
            events.append(EquityChanged(equity))
        events += self._pl_and_margin(book, now)
        if events:
            self._pushed = self._monotonic()
        return events

    def _pl_and_margin(self, book: Book, now: float) -> list[BrokerEvent]:
        return self._changed(_measure(book, now))

    def _changed(self, moved: Moved) -> list[BrokerEvent]:
        """``pl`` of each open position and ``margin`` whose value moved since last pushed
        (a closed position's P&L is no longer followed: its close is on ``positions``)."""
        pl, margin = moved
        events: list[BrokerEvent] = [
            PositionPLChanged(pid, v) for pid, v in pl.items() if self._pl.get(pid) != v
        ]
        self._pl = pl
        if margin != self._margin:
            self._margin = margin
            events.append(MarginChanged(margin))
        return events


Moved = tuple[dict[str, Decimal], Margin]
"""Each open position's P&L and the margin, at one instant."""


def _measure(book: Book, now: float) -> Moved:
    return dict(desk.position_pl(book, now)), margin_at(book, now)
