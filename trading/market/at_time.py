"""The market as of one second in the past: what a replay session sees (docs/replay.md §4).

A :class:`MarketAt` is a snapshot, made per request at the session's replay-now: its clock is
that second, its windows and quotes are the underlying source's as of it
(:class:`~trading.market.source.TimedSource`), and its catalog holds only the session's
symbols. Bars it lists before ``final_before`` are the same bars the live market lists (a
completed bar never changes), so the API's bar cache serves both.
"""

from __future__ import annotations

from collections.abc import Sequence

from trading.market.resolution import Resolution
from trading.market.source import (
    Bars,
    History,
    IntArray,
    Quote,
    TimedMarket,
    Touch,
    Window,
    windowed_history,
)
from trading.market.symbols import SymbolCatalog, SymbolSpec

_ALL = 2**62


class MarketAt:
    def __init__(self, source: TimedMarket, catalog: SymbolCatalog, now_s: int) -> None:
        self._source = source
        self._catalog = catalog
        self._now = now_s

    @classmethod
    def of(
        cls, source: TimedMarket, full: SymbolCatalog, symbols: Sequence[str], now_s: int
    ) -> MarketAt:
        """The view of ``symbols`` (names of ``full``; unknown ones are left out) at ``now_s``."""
        specs = [spec for name in symbols if (spec := full.lookup(name)) is not None]
        return cls(source, SymbolCatalog(specs), now_s)

    @property
    def catalog(self) -> SymbolCatalog:
        return self._catalog

    def now(self) -> float:
        return float(self._now)

    def window(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int = 0,
        limit: int | None = None,
    ) -> Window:
        return self._source.window_at(symbol, resolution, start, end, count_back, limit, self._now)

    def bars(self, symbol: SymbolSpec, resolution: Resolution, labels: IntArray, at: int) -> Bars:
        return self._source.bars(symbol, resolution, labels, min(at, self._now))

    def history(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int = 0,
        limit: int | None = None,
    ) -> History:
        return windowed_history(self, symbol, resolution, start, end, count_back, limit)

    def quote(self, symbol: SymbolSpec) -> Quote:
        return self._source.quote_at(symbol, self._now)

    def touch(self, symbol: SymbolSpec, second: int) -> Touch:
        return self._source.touch(symbol, min(second, self._now))

    def daily_bar_count(self, symbol: SymbolSpec) -> int:
        return len(self.window(symbol, Resolution.D1, -_ALL, _ALL).labels)
