"""The price of every second of an imported symbol, along each bar's path (docs/history.md §6).

The symbol's base bars (1-minute, or daily for a daily-only import) are laid on the clock as
**spans**: a 1-minute bar is one span ``[t, t + 60)``; a daily bar is its trading date's
session ranges (:mod:`trading.market.sessions`), each range a span, and the day's path
(:mod:`trading.market.bar_path`) runs over the session's seconds only, as if the ranges were
one stretch of time. A second inside a span is at its point of the path; a second after a
span and before the next one (a minute without a bar, a lunch break, the night, a weekend,
after the last bar) holds the price the path had at the span's last second: the bar's close
once its last range is over. Before the first span it is the first bar's open.

A lookup is one binary search; the span found is kept, so the consecutive seconds the fill
loop asks for cost a comparison and the path's few integer operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from trading.market.aggregate import CLOSE, HIGH, LOW, OPEN, TIME, Table
from trading.market.bar_path import path_price
from trading.market.resolution import DAY_S, EPOCH_ORDINAL, Resolution
from trading.market.sessions import IntArray, Session, local_midnight, session_ranges

_FOREVER = 2**62


class _Span(NamedTuple):
    since: int
    """First second this entry answers for (the span's start)."""
    until: int
    """First second it does not (the next span's start)."""
    start: int
    last: int
    """The span's last second: later ones hold its price."""
    offset: int
    """Seconds of the bar's path before this span (earlier session ranges of the day)."""
    length: int
    """Seconds of the bar's whole path."""
    open: int
    high: int
    low: int
    close: int
    """The bar's prices in ticks."""


_NOWHERE = _Span(0, 0, 0, 0, 0, 60, 0, 0, 0, 0)
"""Answers for no second: the first price asked finds its span."""


@dataclass(frozen=True)
class _DaySpans:
    """The spans of daily bars beyond their starts (1-minute spans need none: 60 s, offset 0)."""

    ends: IntArray
    offsets: IntArray
    """Session seconds of the day before each span."""
    lengths: IntArray
    """Session seconds of each span's whole day."""
    bars: IntArray
    """The bar (index into the table) of each span."""


def _day_spans(labels: IntArray, session: Session, zone: ZoneInfo) -> tuple[IntArray, _DaySpans]:
    """Each daily bar's session ranges, in order: their starts and the rest."""
    ordinals = labels // DAY_S + EPOCH_ORDINAL
    first_day, last_day = (int(ordinals[0]), int(ordinals[-1])) if len(labels) else (1, 0)
    ranges = session_ranges(session, zone, first_day, last_day)
    by_day: dict[int, list[tuple[int, int]]] = {}
    for a, b, day in zip(ranges.starts, ranges.ends, ranges.ordinals, strict=True):
        by_day.setdefault(int(day), []).append((int(a), int(b)))
    columns: tuple[list[int], ...] = ([], [], [], [], [])
    starts, ends, offsets, lengths, bars = columns
    for i, day in enumerate(int(d) for d in ordinals):
        # an import only holds trading dates of the session; a date without one (never
        # written by an import) trades over its whole local day rather than not at all
        spans = by_day.get(day) or [(local_midnight(day, zone), local_midnight(day + 1, zone))]
        length = sum(b - a for a, b in spans)
        before = 0
        for a, b in spans:
            starts.append(a)
            ends.append(b)
            offsets.append(before)
            lengths.append(length)
            bars.append(i)
            before += b - a
    first, *rest = (np.asarray(c, dtype=np.int64) for c in columns)
    return first, _DaySpans(*rest)


class BarSeconds:
    """The per-second prices of one symbol's base bars (``table``, a ``(6, n)`` table; an import
    writes at least one bar, and a price is asked of a symbol only then)."""

    def __init__(self, table: Table, base: Resolution, session: Session, zone: ZoneInfo) -> None:
        self._table = table
        self._days: _DaySpans | None = None
        if base is Resolution.M1:
            self._starts: IntArray = table[TIME]
        else:
            self._starts, self._days = _day_spans(table[TIME], session, zone)
        self._span = _NOWHERE

    def _find(self, second: int) -> _Span:
        starts = self._starts
        j = int(np.searchsorted(starts, second, side="right")) - 1
        hi = int(starts[j + 1]) if j + 1 < len(starts) else _FOREVER
        if j < 0:
            first = int(starts[0])
            o = int(self._table[OPEN, 0])
            return _Span(-_FOREVER, first, first, first, 0, 60, o, o, o, o)
        start = int(starts[j])
        days = self._days
        if days is None:  # a 1-minute bar: one span of 60 s
            bar, end, offset, length = j, start + 60, 0, 60
        else:
            bar, end = int(days.bars[j]), int(days.ends[j])
            offset, length = int(days.offsets[j]), int(days.lengths[j])
        row = self._table[:, bar].tolist()
        return _Span(
            start, hi, start, end - 1, offset, length, row[OPEN], row[HIGH], row[LOW], row[CLOSE]
        )

    def price(self, second: int) -> int:
        """The price in ticks at ``second``."""
        span = self._span
        if not span[0] <= second < span[1]:
            span = self._span = self._find(second)
        _, _, start, last, offset, length, o, h, lo, c = span  # unpacking: the cheapest read
        elapsed = offset + (second if second < last else last) - start
        return path_price(o, h, lo, c, elapsed, length)
