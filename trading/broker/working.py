"""Every account's working orders, indexed by symbol and trigger price (broker.md §20).

One server holds many accounts; the fill loop must cost in proportion to the orders the
market can fill now, not to all orders of all accounts. Each working order waits for one
price to cross one level, so per symbol it sits in one of four lists sorted by that level:

- the ask falls to it: a BUY LIMIT (its limit), a triggered BUY STOP_LIMIT;
- the ask rises to it: a BUY STOP, an untriggered BUY STOP_LIMIT (its stop);
- the bid rises to it: a SELL LIMIT, a triggered SELL STOP_LIMIT;
- the bid falls to it: a SELL STOP, an untriggered SELL STOP_LIMIT.

Given the lowest and highest ask and bid of the seconds a tick evaluates, the orders that can
fill are a suffix or a prefix of each list (a bisection). Orders whose level moves with the
market (trailing stops) and MARKET orders are always candidates; orders that expire are kept
by expiry instant, so the tick that passes it finds them. The index says *which accounts* to
evaluate on a symbol; the evaluation itself is the account's (:mod:`trading.broker.fills`), so
the rules stay where they are and the index can only widen the search, never decide a fill.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from typing import TypeVar

from trading.broker.enums import OrderType, Side
from trading.broker.state import Order

E = TypeVar("E", tuple[Decimal, str, str], tuple[int, str, str])
Entry = tuple[Decimal, str, str]
"""(level, account, order id): sorted by level, then by account and id (deterministic)."""


class Wait(IntEnum):
    ASK_FALLS = 0
    ASK_RISES = 1
    BID_RISES = 2
    BID_FALLS = 3


@dataclass(frozen=True)
class Window:
    """The extremes of the seconds one tick evaluates on one symbol."""

    ask_low: Decimal
    ask_high: Decimal
    bid_low: Decimal
    bid_high: Decimal


def waits_for(order: Order) -> tuple[Wait, Decimal] | None:
    """The price and level ``order`` waits for; None: it must be looked at every second."""
    buy = order.side is Side.BUY
    if order.type is OrderType.MARKET or order.trailing:
        return None
    stop_first = order.type is OrderType.STOP or (
        order.type is OrderType.STOP_LIMIT and not order.triggered
    )
    if stop_first:
        assert order.stop_price is not None
        return (Wait.ASK_RISES if buy else Wait.BID_FALLS), order.stop_price
    assert order.limit_price is not None
    return (Wait.ASK_FALLS if buy else Wait.BID_RISES), order.limit_price


@dataclass
class _Symbol:
    levels: tuple[list[Entry], ...] = field(default_factory=lambda: ([], [], [], []))
    always: dict[tuple[str, str], None] = field(default_factory=dict)
    expiring: list[tuple[int, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(self.levels) or bool(self.always) or bool(self.expiring)


@dataclass(frozen=True)
class _Place:
    symbol: str
    wait: tuple[Wait, Decimal] | None
    expires_at: int | None


class WorkingIndex:
    def __init__(self) -> None:
        self._symbols: dict[str, _Symbol] = {}
        self._places: dict[tuple[str, str], _Place] = {}

    def __len__(self) -> int:
        return len(self._places)

    def clear(self) -> None:
        self._symbols.clear()
        self._places.clear()

    def symbols(self) -> list[str]:
        """The symbols with working orders."""
        return list(self._symbols)

    def update(self, account: str, order: Order) -> None:
        """Follow ``order`` as it is now: indexed while WORKING, forgotten otherwise."""
        key = (account, order.id)
        place = _Place(order.symbol, waits_for(order), order.expires_at)
        old = self._places.get(key)
        if old == place and order.working:
            return
        if old is not None:
            self._remove(key, old)
        if order.working:
            self._add(key, place)

    def forget(self, account: str, order_id: str) -> None:
        """Stop following an order (its account is being reloaded from the store)."""
        key = (account, order_id)
        old = self._places.get(key)
        if old is not None:
            self._remove(key, old)

    def rebuild(self, orders: Iterable[tuple[str, Order]]) -> None:
        """Index exactly the WORKING ones of ``orders`` (account, order; each order once),
        forgetting what was indexed: what :meth:`update` of each gives, with each list sorted
        once instead of inserted into order by order (start-up with 100 000 orders)."""
        self.clear()
        for account, order in orders:
            if order.working:
                place = _Place(order.symbol, waits_for(order), order.expires_at)
                self._add((account, order.id), place, insert=False)
        for book in self._symbols.values():
            for entries in book.levels:
                entries.sort()
            book.expiring.sort()

    def _add(self, key: tuple[str, str], place: _Place, *, insert: bool = True) -> None:
        """Index ``key`` at ``place``; ``insert=False`` appends (the caller sorts after)."""
        book = self._symbols.setdefault(place.symbol, _Symbol())
        add = insort if insert else list.append
        if place.wait is None:
            book.always[key] = None
        else:
            add(book.levels[place.wait[0]], (place.wait[1], *key))
        if place.expires_at is not None:
            add(book.expiring, (place.expires_at, *key))
        self._places[key] = place

    def _remove(self, key: tuple[str, str], place: _Place) -> None:
        del self._places[key]
        book = self._symbols[place.symbol]
        if place.wait is None:
            book.always.pop(key, None)
        else:
            _discard(book.levels[place.wait[0]], (place.wait[1], *key))
        if place.expires_at is not None:
            _discard(book.expiring, (place.expires_at, *key))
        if not book:
            del self._symbols[place.symbol]

    def candidates(self, symbol: str, window: Window, last_second: int) -> list[str]:
        """The accounts with an order on ``symbol`` that the window's prices can fill (or
        that must be looked at every second), or that expires by ``last_second``; sorted."""
        book = self._symbols.get(symbol)
        if book is None:
            return []
        found: set[str] = {account for account, _ in book.always}
        ask_falls, ask_rises, bid_rises, bid_falls = book.levels
        # a BUY LIMIT at L fills when ask <= L: every L >= the lowest ask
        found.update(e[1] for e in ask_falls[bisect_left(ask_falls, (window.ask_low,)) :])
        # a BUY STOP at S triggers when ask >= S: every S <= the highest ask
        found.update(e[1] for e in ask_rises[: _upto(ask_rises, window.ask_high)])
        # a SELL LIMIT at L fills when bid >= L: every L <= the highest bid
        found.update(e[1] for e in bid_rises[: _upto(bid_rises, window.bid_high)])
        # a SELL STOP at S triggers when bid <= S: every S >= the lowest bid
        found.update(e[1] for e in bid_falls[bisect_left(bid_falls, (window.bid_low,)) :])
        # expires at E: the first second s with s * 1000 >= E is at most last_second
        until = bisect_right(book.expiring, ((last_second * 1000), "\uffff", "\uffff"))
        found.update(e[1] for e in book.expiring[:until])
        return sorted(found)


def _upto(entries: list[Entry], level: Decimal) -> int:
    """Index after the last entry whose level is <= ``level``."""
    return bisect_right(entries, (level, "\uffff", "\uffff"))


def _discard(entries: list[E], entry: E) -> None:
    i = bisect_left(entries, entry)
    if i < len(entries) and entries[i] == entry:
        del entries[i]
