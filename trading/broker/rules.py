"""Order input rules (broker.md §2.1, §3): what makes a request malformed for the broker.

Field rules report every broken rule at once as :class:`~trading.broker.errors.Violation`\\ s;
state-dependent refusals (buying power, unknown orders) are the engine's, raised as
:class:`~trading.broker.errors.BrokerError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.broker.enums import LIMIT_TYPES, STOP_TYPES, OrderType, Side, StopType
from trading.broker.errors import Violation, ViolationKind
from trading.broker.money import to_tick
from trading.broker.requests import OrderRequest

QTY_STEP = Decimal(1)
QTY_MAX = Decimal(1_000_000)


def not_positive(field: str, value: Decimal) -> Violation:
    return Violation(field, "Input should be greater than 0", value, ViolationKind.NOT_POSITIVE)


@dataclass(frozen=True)
class OrderSpec:
    """An order request after the field rules: prices on the tick grid, unused prices dropped."""

    symbol: str
    type: OrderType
    side: Side
    qty: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    take_profit: Decimal | None
    stop_loss: Decimal | None
    guaranteed_stop: Decimal | None
    trailing_stop_pips: Decimal | None
    stop_type: StopType | None


def _tick(value: Decimal | None, pricescale: int) -> Decimal | None:
    return None if value is None else to_tick(value, pricescale)


def required_prices(
    order_type: OrderType, limit: Decimal | None, stop: Decimal | None
) -> list[Violation]:
    """The prices an order type needs, present and positive (the wire model cannot say this:
    which price is required depends on ``type``)."""
    found = []
    for field, value, types in (
        ("limitPrice", limit, LIMIT_TYPES),
        ("stopPrice", stop, STOP_TYPES),
    ):
        if order_type not in types:
            continue
        if value is None:
            found.append(
                Violation(field, f"{field} is required for {order_type.name} orders", None)
            )
        elif value <= 0:
            found.append(not_positive(field, value))
    return found


def field_rules(request: OrderRequest, pricescale: int) -> tuple[OrderSpec, list[Violation]]:
    """Apply the entry-independent rules; returns the normalized order and the violations."""
    found = required_prices(request.type, request.limit_price, request.stop_price)
    qty = request.qty
    if qty > QTY_MAX:  # first: a huge qty has no remainder in 28 digits
        found.append(Violation("qty", f"qty must not exceed {QTY_MAX}", qty))
    elif qty % QTY_STEP != 0:
        found.append(Violation("qty", f"qty must be a multiple of {QTY_STEP}", qty))
    found += stop_combination_rules(
        request.stop_loss, request.guaranteed_stop, request.trailing_stop_pips
    )
    spec = OrderSpec(
        symbol=request.symbol,
        type=request.type,
        side=request.side,
        qty=qty,
        limit_price=_tick(request.limit_price, pricescale) if request.type in LIMIT_TYPES else None,
        stop_price=_tick(request.stop_price, pricescale) if request.type in STOP_TYPES else None,
        take_profit=_tick(request.take_profit, pricescale),
        stop_loss=_tick(request.stop_loss, pricescale),
        guaranteed_stop=_tick(request.guaranteed_stop, pricescale),
        trailing_stop_pips=request.trailing_stop_pips,
        stop_type=request.stop_type,
    )
    tick = Decimal(1) / pricescale
    for field, given, rounded in (
        ("limitPrice", request.limit_price, spec.limit_price),
        ("stopPrice", request.stop_price, spec.stop_price),
        ("takeProfit", request.take_profit, spec.take_profit),
        ("stopLoss", request.stop_loss, spec.stop_loss),
        ("guaranteedStop", request.guaranteed_stop, spec.guaranteed_stop),
    ):
        if rounded is not None and rounded == 0 and given is not None and given > 0:
            found.append(Violation(field, f"{field} must be at least one tick ({tick})", given))
    return spec, found


def stop_combination_rules(
    stop_loss: Decimal | None, guaranteed_stop: Decimal | None, trailing_stop_pips: Decimal | None
) -> list[Violation]:
    """One stop per position: a stop loss or a guaranteed stop, and only the former trails."""
    found = []
    if stop_loss is not None and guaranteed_stop is not None:
        found.append(Violation("guaranteedStop", "stopLoss and guaranteedStop cannot both be set",
                               guaranteed_stop))  # fmt: skip
    if guaranteed_stop is not None and trailing_stop_pips is not None:
        found.append(
            Violation("trailingStopPips", "a guaranteed stop cannot trail", trailing_stop_pips)
        )
    return found


def bracket_side_rules(
    side: Side,
    reference: Decimal,
    take_profit: Decimal | None,
    stop_loss: Decimal | None,
    guaranteed_stop: Decimal | None,
    what: str = "the entry price",
) -> list[Violation]:
    """BUY (long) needs take profit above and stops below ``reference``; SELL the reverse."""
    found = []
    above, below = ("above", "below") if side is Side.BUY else ("below", "above")
    if take_profit is not None and (take_profit <= reference if side is Side.BUY
                                    else take_profit >= reference):  # fmt: skip
        found.append(
            Violation("takeProfit", f"takeProfit must be {above} {what} {reference}", take_profit)
        )
    for field, stop in (("stopLoss", stop_loss), ("guaranteedStop", guaranteed_stop)):
        if stop is not None and (stop >= reference if side is Side.BUY else stop <= reference):
            found.append(Violation(field, f"{field} must be {below} {what} {reference}", stop))
    return found


def entry_price(spec: OrderSpec, bid: Decimal, ask: Decimal) -> Decimal | None:
    """``E``: limit price for LIMIT/STOP_LIMIT, stop price for STOP, ask/bid for MARKET."""
    if spec.type in LIMIT_TYPES:
        return spec.limit_price
    if spec.type is OrderType.STOP:
        return spec.stop_price
    return ask if spec.side is Side.BUY else bid


def exposure_increase(q: Decimal, side: Side, qty: Decimal) -> Decimal:
    """The part of an order that opens or adds exposure (the rest only reduces)."""
    if q == 0 or (q > 0) == (side is Side.BUY):
        return qty
    return max(Decimal(0), qty - abs(q))
