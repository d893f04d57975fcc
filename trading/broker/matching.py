"""Where an order meets the market: the prices of one second and the fill decision (broker.md §4).

Pure: :func:`match` reads an order and a second's prices and says what happens; the engine
applies it. A BUY trades at the ask and a SELL at the bid; a guaranteed stop fills at its stop
price whatever the market did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from trading.broker.enums import OrderType, Side
from trading.broker.money import price_from_ticks
from trading.broker.state import Order
from trading.broker.working import Window
from trading.market.source import Touch, TouchRange, touch_range_of_seconds
from trading.market.symbols import SymbolCatalog, SymbolSpec

TouchFn = Callable[[SymbolSpec, int], Touch]
"""The market's last price, bid and ask of a symbol at one second, in ticks."""
TouchRangeFn = Callable[[SymbolSpec, int, int], TouchRange]
"""The extremes of a symbol's ask and bid over a run of seconds, in ticks."""


@dataclass(frozen=True)
class Prices:
    """One second of one symbol as Decimals."""

    lp: Decimal
    bid: Decimal
    ask: Decimal


class PriceFeed:
    """The market as the broker sees it: symbols and Decimal prices of any second."""

    def __init__(
        self, catalog: SymbolCatalog, touch: TouchFn, touch_range: TouchRangeFn | None = None
    ) -> None:
        self.catalog = catalog
        self._touch = touch
        self._touch_range = touch_range

    def spec(self, symbol: str) -> SymbolSpec:
        found = self.catalog.lookup(symbol)
        assert found is not None, symbol
        return found

    def extremes(self, symbol: str, first: int, last: int) -> Window:
        """The lowest and highest ask, then bid, of ``symbol`` over the seconds
        ``first..last`` (what the fill loop asks for every second a tick covers: an hour of
        them per tick for a replay at 3600×), from the market's own range where it has one."""
        spec = self.spec(symbol)
        if self._touch_range is not None:
            found = self._touch_range(spec, first, last)
        else:
            found = touch_range_of_seconds(self._touch, spec, first, last)
        scale = spec.pricescale
        return Window(
            ask_low=price_from_ticks(found.ask_low, scale),
            ask_high=price_from_ticks(found.ask_high, scale),
            bid_low=price_from_ticks(found.bid_low, scale),
            bid_high=price_from_ticks(found.bid_high, scale),
        )

    def at(self, symbol: str, second: int) -> Prices:
        spec = self.spec(symbol)
        t = self._touch(spec, second)
        scale = spec.pricescale
        return Prices(
            price_from_ticks(t.lp, scale), price_from_ticks(t.bid, scale),
            price_from_ticks(t.ask, scale),
        )  # fmt: skip


@dataclass(frozen=True)
class Match:
    price: Decimal | None
    """Fill the whole order at this price now; None: it keeps working."""
    triggers: bool = False
    """A STOP_LIMIT's stop is reached: from now on it works as a LIMIT (persisted)."""


NO_MATCH = Match(None)


def _limit_price(buy: bool, limit: Decimal, prices: Prices) -> Decimal | None:
    if buy:
        return prices.ask if prices.ask <= limit else None
    return prices.bid if prices.bid >= limit else None


def match(order: Order, prices: Prices) -> Match:
    """What ``order`` does against ``prices``: MARKET fills at once; a STOP triggers when
    ask ≥ stop (BUY) or bid ≤ stop (SELL) and fills at the market (a guaranteed stop at its
    stop price); a STOP_LIMIT triggers likewise and then works as a LIMIT, in the same second;
    a LIMIT fills when ask ≤ limit (BUY) or bid ≥ limit (SELL)."""
    buy = order.side is Side.BUY
    market_price = prices.ask if buy else prices.bid
    if order.type is OrderType.MARKET:
        return Match(market_price)
    triggers = False
    if order.type is OrderType.STOP or (order.type is OrderType.STOP_LIMIT and not order.triggered):
        assert order.stop_price is not None
        crossed = prices.ask >= order.stop_price if buy else prices.bid <= order.stop_price
        if not crossed:
            return NO_MATCH
        if order.type is OrderType.STOP:
            return Match(order.stop_price if order.guaranteed else market_price)
        triggers = True
    assert order.limit_price is not None
    return Match(_limit_price(buy, order.limit_price, prices), triggers)
