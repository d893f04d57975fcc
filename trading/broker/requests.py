"""What a client asks the broker to do, as Decimals (the API edge builds these from the wire).

Values arrive exactly as the client wrote them (``0.1`` is ``Decimal('0.1')``, see
:func:`~trading.broker.money.to_decimal`); the broker's rules then check them and put prices
on the symbol's tick grid (:func:`~trading.broker.rules.field_rules`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.broker.enums import DurationType, OrderType, Side, StopType


@dataclass(frozen=True)
class Duration:
    """Time in force as the client gave it (TradingView ``OrderDuration``); ``datetime`` is
    epoch milliseconds, meaningful for GTD only (rules: :mod:`~trading.broker.durations`)."""

    type: DurationType = DurationType.GTC
    datetime: int | None = None


@dataclass(frozen=True)
class OrderRequest:
    """An order to place, or the new values of a working order (TradingView ``PreOrder``)."""

    symbol: str
    type: OrderType
    side: Side
    qty: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    guaranteed_stop: Decimal | None = None
    trailing_stop_pips: Decimal | None = None
    stop_type: StopType | None = None
    duration: Duration | None = None
    """None: GTC on placement, the order's own duration on a modify."""


@dataclass(frozen=True)
class BracketRequest:
    """The protection a position (or an entry order, once filled) should carry."""

    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    guaranteed_stop: Decimal | None = None
    trailing_stop_pips: Decimal | None = None
