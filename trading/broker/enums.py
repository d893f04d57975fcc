"""The broker's vocabulary: sides, order types, statuses, stop kinds, parent kinds, durations
and messages.

Their values are TradingView's integers (broker-api.d.ts ``Side``, ``OrderType``,
``OrderStatus``, ``StopType``, ``ParentType``), so the wire models use these very enums and
nothing has to be translated at the edge; durations and message kinds are TradingView's strings
(``OrderDuration.type``, ``OrderOrPositionMessageType``). This module imports nothing: the
domain (``trading.broker``) and the wire models (``trading.models``) both depend on it,
neither on the other.
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


class ParentType(IntEnum):
    """What a bracket order protects (TradingView ``ParentType``): an entry order that has not
    filled yet, or the position it opened. TradingView's ``TRADE = 3`` is not used: positions
    here are net, not per trade."""

    ORDER = 1
    POSITION = 2


LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
"""Order types that carry a limit price."""
STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
"""Order types that carry a stop price."""


class DurationType(StrEnum):
    """Time in force (TradingView ``OrderDuration.type``, broker.md §18): the one list of
    durations this broker accepts. Instrument info (``allowedDurations``) and the broker
    configuration derive from it, so a new duration is one member here."""

    GTC = "gtc"
    """Good till canceled: the default."""
    DAY = "day"
    """Until the end of the New York calendar day the order was placed (or modified) on."""
    GTD = "gtd"
    """Good till date: until the order's ``datetime`` (epoch ms)."""
    IOC = "ioc"
    """Immediate or cancel: fill at placement or be canceled (no partial fills yet)."""
    FOK = "fok"
    """Fill or kill: all at placement or nothing (the same as IOC without partial fills)."""


IMMEDIATE_DURATIONS = frozenset({DurationType.IOC, DurationType.FOK})
"""Durations that never leave an order working after placement."""


class MessageType(StrEnum):
    """TradingView ``OrderOrPositionMessageType``: how a client shows an order's message."""

    INFORMATION = "information"
    WARNING = "warning"
    ERROR = "error"
