"""The interface every market data source offers (market.md §7).

The synthetic series is the default; a file-backed or live provider only has to implement
:class:`MarketSource`. Times are epoch **seconds** here; the REST edge converts to milliseconds.
Prices travel as integer ticks (``price = ticks / pricescale``) so that aggregation is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from trading.market.resolution import Resolution
from trading.market.symbols import SymbolCatalog, SymbolSpec

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Bars:
    """Columns of bars: labels in epoch seconds, prices in ticks, integer volumes."""

    time: IntArray
    open: IntArray
    high: IntArray
    low: IntArray
    close: IntArray
    volume: IntArray
    pricescale: int

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def prices(self, column: IntArray) -> FloatArray:
        """A price column as floats on the tick grid (``25130 → 251.3``)."""
        return column / float(self.pricescale)

    @classmethod
    def empty(cls, pricescale: int) -> Bars:
        e = np.zeros(0, dtype=np.int64)
        return cls(e, e, e, e, e, e, pricescale)


@dataclass(frozen=True)
class History:
    """Result of a history query (market.md §6)."""

    bars: Bars
    no_data: bool
    """True only when nothing is available before the query's end (REST ``no_data``)."""
    next_time: int | None
    """Label (seconds) of the most recent available bar older than the query's start."""


@dataclass(frozen=True)
class Window:
    """Which bars a history query selects, decided before any bar is computed.

    ``labels`` are the selected bar times (seconds, ascending, possibly empty); every bar
    labelled below ``final_before`` is complete and can never change, so a cache may keep it
    (what is at or after it, the forming bar, moves with the clock). ``at`` is the second the
    selection was made: :meth:`WindowedSource.bars` computes the forming bar at that instant,
    so a window and its bars are one snapshot even while the clock runs.
    """

    labels: IntArray
    no_data: bool
    next_time: int | None
    final_before: int
    at: int


def select_window(
    labels: IntArray,
    start: int,
    end: int,
    count_back: int,
    limit: int | None,
    final_before: int,
    at: int,
) -> Window:
    """The selection rules of market.md §6 over a source's available labels (ascending):
    ``start <= label < end``, or the ``count_back`` before ``end``, the most recent ``limit``,
    and for an empty answer ``no_data`` and the older label a chart may jump to."""
    bound = 2**62
    start, end = max(-bound, min(start, bound)), max(-bound, min(end, bound))
    stop = int(np.searchsorted(labels, end, side="left"))  # labels < end
    if count_back > 0:
        first = max(0, stop - count_back)
    else:
        first = int(np.searchsorted(labels, start, side="left"))
    if limit is not None:
        first = max(first, stop - limit)
    if first >= stop:
        older = int(np.searchsorted(labels, start, side="left")) - 1
        return Window(
            labels=labels[:0],
            no_data=stop == 0,
            next_time=int(labels[older]) if older >= 0 else None,
            final_before=final_before,
            at=at,
        )
    return Window(labels[first:stop], False, None, final_before, at)


@runtime_checkable
class WindowedSource(Protocol):
    """A source that can select bars without computing them and say which are final.

    Optional: the serialized-bar cache of the API (``trading/wire/bar_bytes.py``) uses it when
    the source offers it, and otherwise serves :meth:`MarketSource.history` uncached. An
    imported or replayed history only has to say up to where its bars are final; nothing here
    assumes the synthetic market.
    """

    def window(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int = 0,
        limit: int | None = None,
    ) -> Window:
        """The selection :meth:`MarketSource.history` would answer (same arguments, same
        rules), as labels only."""
        ...

    def bars(self, symbol: SymbolSpec, resolution: Resolution, labels: IntArray, at: int) -> Bars:
        """The bars of ``labels``, a non-empty contiguous run of the labels of a
        :class:`Window` taken at ``at`` (a forming bar among them is computed at ``at``).

        A function of its arguments: the API serializes the forming bar once per second and
        serves those bytes to every request of that second."""
        ...


@runtime_checkable
class TimedSource(WindowedSource, Protocol):
    """A windowed source that answers as of any second up to now, not only its clock's: what a
    replay session sees (docs/replay.md §4). Nothing it answers for ``now_s`` holds anything
    of a later second (the forming bar is computed at ``now_s``, or left out when the source
    cannot cut it there)."""

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
        """:meth:`WindowedSource.window` as of ``now_s`` (the window's ``at``)."""
        ...

    def quote_at(self, symbol: SymbolSpec, now_s: int) -> Quote:
        """The quote at second ``now_s``."""
        ...


def windowed_history(
    source: WindowedSource,
    symbol: SymbolSpec,
    resolution: Resolution,
    start: int,
    end: int,
    count_back: int = 0,
    limit: int | None = None,
) -> History:
    """:meth:`MarketSource.history` of a windowed source: its window, then that window's
    bars (one snapshot at the window's second). Every windowed source answers this way."""
    window = source.window(symbol, resolution, start, end, count_back, limit)
    if len(window.labels) == 0:
        return History(Bars.empty(symbol.pricescale), window.no_data, window.next_time)
    return History(source.bars(symbol, resolution, window.labels, window.at), False, None)


@dataclass(frozen=True)
class Quote:
    """A quote at one second (market.md §5); prices are floats rounded to the tick."""

    symbol: SymbolSpec
    lp: float
    bid: float
    ask: float
    spread: float
    open: float
    high: float
    low: float
    prev_close: float
    volume: int
    ch: float
    chp: float


@dataclass(frozen=True)
class Touch:
    """Last price, bid and ask of one second, in ticks: what the broker trades at."""

    time: int
    lp: int
    bid: int
    ask: int


@dataclass(frozen=True)
class TouchRange:
    """The lowest and highest ask and bid of a symbol over a run of seconds, in ticks."""

    ask_low: int
    ask_high: int
    bid_low: int
    bid_high: int


def touch_range_of_seconds(
    touch: Callable[[SymbolSpec, int], Touch], symbol: SymbolSpec, first: int, last: int
) -> TouchRange:
    """:class:`TouchRange` of ``first..last`` by asking every second (any market can)."""
    touches = [touch(symbol, s) for s in range(first, last + 1)]
    asks = [t.ask for t in touches]
    bids = [t.bid for t in touches]
    return TouchRange(min(asks), max(asks), min(bids), max(bids))


@runtime_checkable
class RangedTouch(Protocol):
    """A market that knows the extremes of a run of seconds without computing each one
    (the fill loop asks for every second a tick covers: an hour per tick for a replay at
    3600×, where second by second cost ~20 µs each)."""

    def touch_range(self, symbol: SymbolSpec, first: int, last: int) -> TouchRange: ...


class MarketSource(Protocol):
    @property
    def catalog(self) -> SymbolCatalog: ...

    def now(self) -> float:
        """The source's clock, UTC epoch seconds."""
        ...

    def history(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int = 0,
        limit: int | None = None,
    ) -> History:
        """Available bars with ``start <= time < end`` (or the ``count_back`` most recent
        before ``end``), ascending; the last one may be the forming bar. ``limit`` keeps only
        the most recent that many: the API's response cap, passed by the caller rather than
        known to the market, and applied before any bar is computed (a cap applied to the
        answer afterwards would first compute every bar of a deep intraday range)."""
        ...

    def quote(self, symbol: SymbolSpec) -> Quote:
        """The quote at the current second."""
        ...

    def touch(self, symbol: SymbolSpec, second: int) -> Touch:
        """Prices of one second (any second up to now; the broker replays missed ones)."""
        ...

    def daily_bar_count(self, symbol: SymbolSpec) -> int:
        """How many 1D bars are available now (datafeed health)."""
        ...


@runtime_checkable
class TimedMarket(MarketSource, TimedSource, Protocol):
    """A market source that also answers as of any second (the synthetic market, the
    imported history and both together are)."""
