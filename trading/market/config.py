"""What the synthetic market needs to know, and nothing of the service around it.

The app builds a :class:`MarketConfig` from its ``Settings`` (``Settings.market_config``); the
market never sees the settings, so the HTTP limits, the bind address or the broker's knobs
cannot leak into market rules. The response cap (``max_bars``) is not here either: it is a
limit of the API's answers, passed per request by the routes (``MarketSource.history``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from trading.clock import Clock


@dataclass(frozen=True)
class MarketConfig:
    clock: Clock
    """The market reads time only through it (tests pass a ``ManualClock``)."""
    seed: int
    """Same seed, same series (market.md §3)."""
    history_start: dt.date
    """First trading date of the 1D/1W/1M series."""
    intraday_depth_days: Mapping[int, int]
    """Minutes of an intraday resolution → days of history it reaches back."""
    spread_bps: float
    """Bid/ask spread around the last price, basis points."""

    def __post_init__(self) -> None:
        # frozen all the way down: a caller's dict cannot change the market afterwards
        object.__setattr__(
            self, "intraday_depth_days", MappingProxyType(dict(self.intraday_depth_days))
        )
