"""What the broker tells the world after a change is committed: typed domain events.

The service hands each event to its listeners in the order the engine produced it; the
streaming side maps each kind to its WebSocket route (``trading/ws/feeds.py``). Each event
carries a copy of the object as it was at that moment, so later changes in the same mutation
(an order that is placed and then fills at once) are pushed as two distinct states.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.broker.margin import Margin
from trading.broker.state import Equity, Fill, Order, Position


@dataclass(frozen=True)
class OrderChanged:
    order: Order


@dataclass(frozen=True)
class PositionChanged:
    """A position opened, moved or closed (a close carries ``q == 0`` and its last side)."""

    position: Position


@dataclass(frozen=True)
class Executed:
    fill: Fill


@dataclass(frozen=True)
class EquityChanged:
    equity: Equity


@dataclass(frozen=True)
class PositionPLChanged:
    """The unrealized P&L of an open position moved (TradingView's ``plUpdate``)."""

    position_id: str
    pl: Decimal


@dataclass(frozen=True)
class MarginChanged:
    """Margin used or available moved (TradingView's ``marginAvailableUpdate``)."""

    margin: Margin


BrokerEvent = (
    OrderChanged | PositionChanged | Executed | EquityChanged | PositionPLChanged | MarginChanged
)
