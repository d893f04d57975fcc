"""What a ticket needs to know about a symbol before sending an order (broker.md §19).

Every number is read from the definition the broker enforces, never restated: the quantity
rules of :mod:`~trading.broker.rules`, the symbol's ``pricescale`` (prices are rounded to its
tick; a trailing distance of one pip is one tick), the leverage of the symbol now
(:mod:`~trading.broker.margin`), and the order types and durations the broker accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.broker.book import Book
from trading.broker.enums import DurationType, OrderType
from trading.broker.rules import QTY_MAX, QTY_STEP

ACCOUNT_CURRENCY = "USD"
"""The paper account's currency: balances, P&L and every symbol's prices are in it."""


@dataclass(frozen=True)
class Instrument:
    symbol: str
    description: str
    qty_min: Decimal
    qty_max: Decimal
    qty_step: Decimal
    qty_default: Decimal
    min_tick: Decimal
    pip_size: Decimal
    pip_value: Decimal
    """Account currency one pip is worth on one unit (a unit is one share: no multiplier)."""
    leverage: Decimal
    margin_rate: Decimal
    """``1 / leverage``: the share of an order's notional its margin takes."""
    currency: str
    order_types: tuple[OrderType, ...]
    durations: tuple[DurationType, ...]


def instrument(book: Book, symbol: str) -> Instrument | None:
    """The instrument info of ``symbol`` (looked up as orders are), or None if unknown."""
    spec = book.catalog.lookup(symbol)
    if spec is None:
        return None
    tick = Decimal(1) / spec.pricescale
    leverage = book.leverage_of(spec.name)
    return Instrument(
        symbol=spec.name, description=spec.description,
        # qty > 0 and a multiple of the step: the smallest order is one step
        qty_min=QTY_STEP, qty_max=QTY_MAX, qty_step=QTY_STEP, qty_default=QTY_STEP,
        min_tick=tick, pip_size=tick, pip_value=tick, leverage=leverage,
        margin_rate=1 / leverage, currency=ACCOUNT_CURRENCY,
        order_types=tuple(OrderType), durations=tuple(DurationType),
    )  # fmt: skip
