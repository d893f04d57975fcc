"""The synthetic market and the imported symbols behind one :class:`MarketSource`.

Every consumer (datafeed, UDF, streams, broker) asks one source; this one lists the synthetic
symbols first, then the imported ones, and hands each question to the source that holds the
symbol. Names cannot collide: an import refuses the synthetic names (docs/history.md §1).
"""

from __future__ import annotations

from trading.market.imported import ImportedMarket
from trading.market.resolution import Resolution
from trading.market.source import (
    Bars,
    History,
    IntArray,
    MarketSource,
    Quote,
    RangedTouch,
    TimedMarket,
    TimedSource,
    Touch,
    TouchRange,
    Window,
    touch_range_of_seconds,
)
from trading.market.symbols import SymbolCatalog, SymbolSpec

WindowedMarket = TimedMarket
"""A market source that also selects windows, as of any second (the synthetic market does)."""


class CompositeMarket:
    def __init__(self, base: WindowedMarket, imported: ImportedMarket) -> None:
        self.base = base
        self.imported = imported
        self._catalog = SymbolCatalog([*base.catalog.symbols, *imported.catalog.symbols])

    def _source(self, symbol: SymbolSpec) -> WindowedMarket:
        return self.imported if self.imported.holds(symbol) else self.base

    @property
    def catalog(self) -> SymbolCatalog:
        return self._catalog

    def now(self) -> float:
        return self.base.now()

    def history(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int = 0,
        limit: int | None = None,
    ) -> History:
        return self._source(symbol).history(symbol, resolution, start, end, count_back, limit)

    def window(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int = 0,
        limit: int | None = None,
    ) -> Window:
        return self._source(symbol).window(symbol, resolution, start, end, count_back, limit)

    def window_at(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int,
        limit: int | None,
        now_s: int,
    ) -> Window:
        source = self._source(symbol)
        return source.window_at(symbol, resolution, start, end, count_back, limit, now_s)

    def quote_at(self, symbol: SymbolSpec, now_s: int) -> Quote:
        return self._source(symbol).quote_at(symbol, now_s)

    def bars(self, symbol: SymbolSpec, resolution: Resolution, labels: IntArray, at: int) -> Bars:
        return self._source(symbol).bars(symbol, resolution, labels, at)

    def quote(self, symbol: SymbolSpec) -> Quote:
        return self._source(symbol).quote(symbol)

    def touch(self, symbol: SymbolSpec, second: int) -> Touch:
        return self._source(symbol).touch(symbol, second)

    def touch_range(self, symbol: SymbolSpec, first: int, last: int) -> TouchRange:
        source = self._source(symbol)
        if isinstance(source, RangedTouch):
            return source.touch_range(symbol, first, last)
        return touch_range_of_seconds(source.touch, symbol, first, last)

    def daily_bar_count(self, symbol: SymbolSpec) -> int:
        return self._source(symbol).daily_bar_count(symbol)


def with_imported(base: MarketSource, imported: ImportedMarket) -> MarketSource:
    """``base`` itself when nothing was imported (the service exactly as before), else both."""
    if len(imported) == 0 or not isinstance(base, TimedSource):
        return base
    return CompositeMarket(base, imported)
