"""The committed state a streaming subscriber reads at the instant it starts listening
(``BrokerService.subscribe_with_snapshot``): read-only, and valid only during that call."""

from __future__ import annotations

from decimal import Decimal

from trading.broker import desk
from trading.broker.book import Book
from trading.broker.margin import Margin
from trading.broker.marks import margin_at
from trading.broker.state import Equity, Order, Position


class CommittedState:
    """What a :meth:`BrokerService.subscribe_with_snapshot` callback may read: the committed
    state at one instant. Valid only during the callback (the lock is held meanwhile)."""

    def __init__(self, book: Book, now: float, version: int = 0) -> None:
        self._book = book
        self._now = now
        self.version = version
        """The account's version this state is: a pushed commit of this version or older is
        already in it (a subscriber fed through the backplane skips those)."""

    def open_orders(self) -> list[Order]:
        """WORKING orders and INACTIVE brackets (the orders route's snapshot)."""
        return list(self._book.open_orders())

    def positions(self) -> list[Position]:
        return list(self._book.positions.values())

    def equity(self) -> Equity:
        return self._book.equity(self._now)

    def position_pl(self) -> list[tuple[str, Decimal]]:
        return desk.position_pl(self._book, self._now)

    def margin(self) -> Margin:
        return margin_at(self._book, self._now)
