"""Order input rules (broker.md §2.1, §3): what makes a request a 422 or a 400.

Field rules produce FastAPI-style items (``loc`` under ``body``) so the API can report every
failing rule at once; state-dependent refusals raise :class:`BrokerError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trading.broker.money import to_decimal, to_tick
from trading.models.broker import OrderType, PreOrder, Side, StopType

QTY_STEP = Decimal(1)
QTY_MAX = Decimal(1_000_000)
ErrorItem = dict[str, Any]

LIMIT_TYPES = (OrderType.LIMIT, OrderType.STOP_LIMIT)
STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT)


class BrokerError(Exception):
    """A valid request refused by the current state: 400 (or 404 for unknown positions)."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class RuleViolations(Exception):
    """422: the request breaks field rules; ``errors`` has one item per offending field."""

    def __init__(self, errors: list[ErrorItem]) -> None:
        super().__init__(f"{len(errors)} rule violation(s)")
        self.errors = errors


def item(field: str, msg: str, value: Any, type_: str = "value_error", **ctx: Any) -> ErrorItem:
    out: ErrorItem = {"type": type_, "loc": ["body", field], "msg": msg, "input": value}
    if ctx:
        out["ctx"] = ctx
    return out


def positive(field: str, value: Any) -> ErrorItem:
    return item(field, "Input should be greater than 0", value, "greater_than", gt=0.0)


@dataclass(frozen=True)
class OrderSpec:
    """A PreOrder after the field rules: Decimals on the tick grid, unused prices dropped."""

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

    @property
    def has_brackets(self) -> bool:
        return any(
            v is not None
            for v in (self.take_profit, self.stop_loss, self.guaranteed_stop,
                      self.trailing_stop_pips)
        )  # fmt: skip


def _price(value: float | None, pricescale: int) -> Decimal | None:
    return None if value is None else to_tick(to_decimal(value), pricescale)


def required_price_items(order_type: OrderType, limit: Any, stop: Any) -> list[ErrorItem]:
    """The prices an order type needs (also used when other fields failed to parse)."""
    errors = []
    for field, value, types in (
        ("limitPrice", limit, LIMIT_TYPES),
        ("stopPrice", stop, STOP_TYPES),
    ):
        if order_type not in types:
            continue
        if value is None:
            errors.append(item(field, f"{field} is required for {order_type.name} orders", None))
        elif isinstance(value, int | float) and value <= 0:
            errors.append(positive(field, value))
    return errors


def required_price_items_raw(raw: Any) -> list[ErrorItem]:
    """Best effort on a body pydantic refused: still report missing type-specific prices."""
    if not isinstance(raw, dict):
        return []
    try:
        order_type = OrderType(int(raw.get("type")))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []
    return required_price_items(order_type, raw.get("limitPrice"), raw.get("stopPrice"))


def field_rules(pre: PreOrder, pricescale: int) -> tuple[OrderSpec, list[ErrorItem]]:
    """Apply the entry-independent rules; returns the normalized order and the violations."""
    errors = required_price_items(pre.type, pre.limitPrice, pre.stopPrice)
    qty = to_decimal(pre.qty)
    if qty > QTY_MAX:  # first: a huge qty has no remainder in 28 digits
        errors.append(item("qty", f"qty must not exceed {QTY_MAX}", pre.qty))
    elif qty % QTY_STEP != 0:
        errors.append(item("qty", f"qty must be a multiple of {QTY_STEP}", pre.qty))
    if pre.stopLoss is not None and pre.guaranteedStop is not None:
        errors.append(
            item("guaranteedStop", "stopLoss and guaranteedStop cannot both be set",
                 pre.guaranteedStop)
        )  # fmt: skip
    if pre.guaranteedStop is not None and pre.trailingStopPips is not None:
        errors.append(
            item("trailingStopPips", "a guaranteed stop cannot trail", pre.trailingStopPips)
        )
    spec = OrderSpec(
        symbol=pre.symbol,
        type=pre.type,
        side=pre.side,
        qty=qty,
        limit_price=_price(pre.limitPrice, pricescale) if pre.type in LIMIT_TYPES else None,
        stop_price=_price(pre.stopPrice, pricescale) if pre.type in STOP_TYPES else None,
        take_profit=_price(pre.takeProfit, pricescale),
        stop_loss=_price(pre.stopLoss, pricescale),
        guaranteed_stop=_price(pre.guaranteedStop, pricescale),
        trailing_stop_pips=None
        if pre.trailingStopPips is None
        else to_decimal(pre.trailingStopPips),
        stop_type=pre.stopType,
    )
    tick = Decimal(1) / pricescale
    for field, rounded in (
        ("limitPrice", spec.limit_price), ("stopPrice", spec.stop_price),
        ("takeProfit", spec.take_profit), ("stopLoss", spec.stop_loss),
        ("guaranteedStop", spec.guaranteed_stop),
    ):  # fmt: skip
        if rounded is not None and rounded == 0 and getattr(pre, field) > 0:
            errors.append(item(field, f"{field} must be at least one tick ({tick})",
                               getattr(pre, field)))  # fmt: skip
    return spec, errors


def bracket_side_rules(
    side: Side,
    reference: Decimal,
    take_profit: Decimal | None,
    stop_loss: Decimal | None,
    guaranteed_stop: Decimal | None,
    what: str = "the entry price",
) -> list[ErrorItem]:
    """BUY (long) needs take profit above and stops below ``reference``; SELL the reverse."""
    errors = []
    above, below = ("above", "below") if side is Side.BUY else ("below", "above")
    if take_profit is not None and (take_profit <= reference if side is Side.BUY
                                    else take_profit >= reference):  # fmt: skip
        errors.append(
            item("takeProfit", f"takeProfit must be {above} {what} {reference}", float(take_profit))
        )
    for field, stop in (("stopLoss", stop_loss), ("guaranteedStop", guaranteed_stop)):
        if stop is not None and (stop >= reference if side is Side.BUY else stop <= reference):
            errors.append(item(field, f"{field} must be {below} {what} {reference}", float(stop)))
    return errors


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
