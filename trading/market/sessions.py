"""Trading sessions of imported symbols: which instants hold bars, where intraday bars start.

A symbol's ``session`` is TradingView's string in the symbol's time zone (docs/history.md §3):
``24x7``, or one or more same-day ranges ``HHMM-HHMM`` separated by commas with an optional
``:DAYS`` suffix (TradingView's day numbers, 1 = Sunday … 7 = Saturday; without it Monday to
Friday, TradingView's default for a session that is not 24x7). Overnight ranges, per-day
variants (``|``) and a first-day-of-week (``;``) are refused rather than half understood.

Intraday bars are aligned on each range's opening instant and never span two ranges, as
TradingView draws them; for ``24x7`` the range is the whole local day, so in a time zone a
whole number of hours from UTC the 60-minute bars fall on the epoch-aligned hours of the
synthetic market. Ranges are computed as UTC instants through :mod:`zoneinfo`, so days of 23 or
25 hours (daylight saving) hold exactly the minutes they have.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

_RANGE = re.compile(r"^(\d{2})(\d{2})-(\d{2})(\d{2})$")
_WEEKDAYS = frozenset(range(5))  # Python weekdays: Monday = 0


class SessionError(ValueError):
    """A session or time zone text that cannot be used (the message says why)."""


@dataclass(frozen=True)
class Session:
    text: str
    ranges: tuple[tuple[int, int], ...]
    """(open, close) in minutes after local midnight, ascending, not overlapping."""
    weekdays: frozenset[int]
    """Python weekdays (Monday = 0) that trade."""

    @property
    def is_24x7(self) -> bool:
        return self.text == "24x7"


def parse_session(text: str) -> Session:
    """The :class:`Session` of a TradingView session string, or :class:`SessionError`."""
    text = text.strip()
    if text == "24x7":
        return Session(text, ((0, 1440),), frozenset(range(7)))
    if "|" in text or ";" in text:
        raise SessionError(f"session {text!r}: per-day variants ('|', ';') are not supported")
    times, _, days = text.partition(":")
    weekdays = _WEEKDAYS
    if days:
        if not days.isdigit() or any(d not in "1234567" for d in days):
            raise SessionError(f"session {text!r}: days are digits 1 (Sunday) to 7 (Saturday)")
        weekdays = frozenset((int(d) - 2) % 7 for d in days)
    ranges: list[tuple[int, int]] = []
    for part in times.split(","):
        match = _RANGE.match(part.strip())
        if match is None:
            raise SessionError(f"session {text!r}: expected HHMM-HHMM ranges or 24x7")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or start >= 1440 or end > 1440:
            raise SessionError(f"session {text!r}: {part.strip()} is not a time of day")
        if end <= start:
            raise SessionError(f"session {text!r}: overnight ranges are not supported")
        if ranges and start < ranges[-1][1]:
            raise SessionError(f"session {text!r}: ranges must ascend without overlapping")
        ranges.append((start, end))
    return Session(text, tuple(ranges), weekdays)


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SessionError(f"unknown time zone {name!r}") from exc


def local_midnight(ordinal: int, zone: ZoneInfo) -> int:
    """UTC epoch seconds of 00:00 local time on a date (a proleptic ordinal)."""
    day = dt.date.fromordinal(ordinal)
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def _local_instant(ordinal: int, minute: int, zone: ZoneInfo) -> int:
    if minute == 1440:
        return local_midnight(ordinal + 1, zone)
    day = dt.date.fromordinal(ordinal)
    local = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=zone)
    return int(local.timestamp())


@dataclass(frozen=True)
class SessionRanges:
    """The trading ranges of a span of dates, as UTC instants (ascending)."""

    starts: IntArray
    ends: IntArray
    ordinals: IntArray
    """The local trading date of each range."""

    def locate(self, times: IntArray, length: int) -> IntArray:
        """Index of the range holding each bar ``[t, t + length)``, or -1 outside every one."""
        idx = np.searchsorted(self.starts, times, side="right") - 1
        inside = (idx >= 0) & (times + length <= self.ends[np.maximum(idx, 0)])
        return np.where(inside, idx, -1).astype(np.int64)


def session_ranges(session: Session, zone: ZoneInfo, first: int, last: int) -> SessionRanges:
    """The ranges of the trading dates ``first..last`` (ordinals, inclusive)."""
    starts, ends, ordinals = [], [], []
    for ordinal in range(first, last + 1):
        if dt.date.fromordinal(ordinal).weekday() not in session.weekdays:
            continue
        for a, b in session.ranges:
            starts.append(_local_instant(ordinal, a, zone))
            ends.append(_local_instant(ordinal, b, zone))
            ordinals.append(ordinal)
    return SessionRanges(
        np.asarray(starts, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
        np.asarray(ordinals, dtype=np.int64),
    )


def local_ordinals(times: IntArray, zone: ZoneInfo) -> IntArray:
    """The local date (ordinal) of each UTC instant, vectorised over the hours they touch
    (an offset changes on whole hours in every zone in use since 1970, hence one zoneinfo
    call per distinct hour)."""
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    hours, inverse = np.unique(times // 3600, return_inverse=True)
    offsets = np.asarray(
        [
            int(dt.datetime.fromtimestamp(int(h) * 3600, zone).utcoffset().total_seconds())  # type: ignore[union-attr]
            for h in hours
        ],
        dtype=np.int64,
    )
    local = times + offsets[inverse.reshape(times.shape)]
    return local // 86_400 + dt.date(1970, 1, 1).toordinal()
