"""Resolutions and bar labels (market.md §2).

Intraday bars are labelled by their UTC start (a multiple of the resolution since the epoch);
1D/1W/1M bars are labelled TradingView-style by their New York trading date at 00:00 UTC.

This module is the one definition of which resolutions exist and which aliases name them: the
catalogue, the configuration routes and the query models all derive their lists from it. It
imports nothing but the standard library, so wire models may import it (a leaf, see
docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import enum
from functools import lru_cache
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
DAY_S = 86_400


class Resolution(enum.Enum):
    M1 = "1"
    M5 = "5"
    M15 = "15"
    M30 = "30"
    M60 = "60"
    D1 = "1D"
    W1 = "1W"
    MN1 = "1M"

    @property
    def minutes(self) -> int:
        """Bar length in minutes for intraday resolutions, 0 for 1D/1W/1M."""
        return int(self.value) if self.value.isdigit() else 0

    @property
    def is_intraday(self) -> bool:
        return self.minutes > 0

    @property
    def seconds(self) -> int:
        return self.minutes * 60


_ALIASES = {"D": Resolution.D1, "W": Resolution.W1, "M": Resolution.MN1}

SUPPORTED_RESOLUTIONS: tuple[str, ...] = tuple(r.value for r in Resolution)
"""Every resolution the service serves, as clients write them (market.md §2), in order."""

INTRADAY_RESOLUTIONS: tuple[str, ...] = tuple(r.value for r in Resolution if r.is_intraday)

RESOLUTION_ALIASES: dict[str, str] = {alias: r.value for alias, r in _ALIASES.items()}
"""Alias → the resolution it names (``D`` → ``1D``)."""


def parse_resolution(text: str) -> Resolution | None:
    """The resolution a client string names (``D``/``W``/``M`` are aliases), or None."""
    alias = _ALIASES.get(text)
    if alias is not None:
        return alias
    try:
        return Resolution(text)
    except ValueError:
        return None


@lru_cache(maxsize=16_384)
def ny_day_start(ordinal: int) -> int:
    """UTC epoch seconds of 00:00 New York on the given date (a proleptic ordinal)."""
    day = dt.date.fromordinal(ordinal)
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).timestamp())


def ny_ordinal(t: float) -> int:
    """The New York trading date (ordinal) of a UTC instant."""
    return dt.datetime.fromtimestamp(t, NEW_YORK).date().toordinal()


def ordinal_label(ordinal: int) -> int:
    """TradingView label of a date: that date at 00:00 UTC, epoch seconds."""
    return (ordinal - EPOCH_ORDINAL) * DAY_S


def label_ordinal(label: int) -> int:
    return label // DAY_S + EPOCH_ORDINAL


def week_start(ordinal: int) -> int:
    """Ordinal of the Monday of the week holding ``ordinal``."""
    return ordinal - dt.date.fromordinal(ordinal).weekday()


def month_start(ordinal: int) -> int:
    return dt.date.fromordinal(ordinal).replace(day=1).toordinal()


def next_month_start(ordinal: int) -> int:
    day = dt.date.fromordinal(ordinal)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return dt.date(year, month, 1).toordinal()


def period_start(resolution: Resolution, ordinal: int) -> int:
    """First date (ordinal) of the 1D/1W/1M period holding ``ordinal``."""
    if resolution is Resolution.W1:
        return week_start(ordinal)
    if resolution is Resolution.MN1:
        return month_start(ordinal)
    return ordinal


def next_period_start(resolution: Resolution, ordinal: int) -> int:
    """First date (ordinal) of the period after the one starting at ``ordinal``."""
    if resolution is Resolution.W1:
        return ordinal + 7
    if resolution is Resolution.MN1:
        return next_month_start(ordinal)
    return ordinal + 1
