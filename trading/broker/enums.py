"""The broker's vocabulary: sides, order types, statuses and stop kinds.

Their values are TradingView's integers (broker-api.d.ts ``Side``, ``OrderType``,
``OrderStatus``, ``StopType``), so the wire models use these very enums and nothing has to be
translated at the edge. This module imports nothing: the domain (``trading.broker``) and the
wire models (``trading.models``) both depend on it, neither on the other.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Side(IntEnum):
    BUY = 1
    SELL = -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP = 3
    STOP_LIMIT = 4


class OrderStatus(IntEnum):
    CANCELED = 1
    FILLED = 2
    INACTIVE = 3
    PLACING = 4
    REJECTED = 5
    WORKING = 6


class StopType(IntEnum):
    STOP_LOSS = 0
    TRAILING_STOP = 1
    GUARANTEED_STOP = 2


LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
"""Order types that carry a limit price."""
STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
"""Order types that carry a stop price."""


class DurationType(StrEnum):
    """TradingView's order duration (time in force) ``type`` values this broker accepts.

    The one list of durations: instrument info (``allowedDurations``) and whatever else
    advertises durations derive from it, so a new duration is one member here."""

    GTC = "gtc"
