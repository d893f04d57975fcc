"""Brackets (broker.md §3): the take-profit and stop orders that protect a position.

A position's brackets are child orders on the opposite side, sized to the whole position: one
take-profit LIMIT and at most one stop (a STOP_LOSS, a TRAILING_STOP that follows the market,
or a GUARANTEED_STOP that fills at its price). When one fills the position closes and the other
is canceled (OCO). This module decides; the engine numbers the orders and applies the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from trading.broker.enums import OrderType, Side, StopType
from trading.broker.errors import Violation
from trading.broker.matching import Prices
from trading.broker.money import to_tick
from trading.broker.requests import BracketRequest
from trading.broker.rules import OrderSpec, bracket_side_rules, stop_combination_rules
from trading.broker.state import BracketRole, Order


def protecting_side(q: Decimal) -> Side:
    """A long position (q > 0) is protected by SELL orders, a short one by BUY orders."""
    return Side.SELL if q > 0 else Side.BUY


@dataclass(frozen=True)
class ChildPlan:
    """One child order to create for a position."""

    type: OrderType
    role: BracketRole
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_type: StopType | None = None
    guaranteed_stop: Decimal | None = None
    trailing_stop_pips: Decimal | None = None

    def spec(self, symbol: str, side: Side, qty: Decimal) -> OrderSpec:
        return OrderSpec(
            symbol=symbol, type=self.type, side=side, qty=qty, limit_price=self.limit_price,
            stop_price=self.stop_price, take_profit=None, stop_loss=None,
            guaranteed_stop=self.guaranteed_stop, trailing_stop_pips=self.trailing_stop_pips,
            stop_type=None,
        )  # fmt: skip


def plan_children(
    q: Decimal, brackets: BracketRequest, prices: Prices, pricescale: int
) -> list[ChildPlan]:
    """The children of a position of ``q`` for ``brackets``: take profit first, then the stop.

    A trailing stop without a starting stop loss starts its distance away from the current
    bid (long) or ask (short)."""
    long = q > 0
    plans = []
    if brackets.take_profit is not None:
        plans.append(ChildPlan(OrderType.LIMIT, BracketRole.TAKE_PROFIT,
                               limit_price=brackets.take_profit))  # fmt: skip
    if brackets.guaranteed_stop is not None:
        gs = brackets.guaranteed_stop
        plans.append(ChildPlan(OrderType.STOP, BracketRole.STOP, stop_price=gs,
                               stop_type=StopType.GUARANTEED_STOP, guaranteed_stop=gs))  # fmt: skip
    elif brackets.trailing_stop_pips is not None:
        distance = brackets.trailing_stop_pips / pricescale
        start = brackets.stop_loss
        if start is None:
            start = prices.bid - distance if long else prices.ask + distance
        plans.append(ChildPlan(OrderType.STOP, BracketRole.STOP, stop_price=start,
                               stop_type=StopType.TRAILING_STOP,
                               trailing_stop_pips=brackets.trailing_stop_pips))  # fmt: skip
    elif brackets.stop_loss is not None:
        plans.append(ChildPlan(OrderType.STOP, BracketRole.STOP, stop_price=brackets.stop_loss,
                               stop_type=StopType.STOP_LOSS))  # fmt: skip
    return plans


def trail(order: Order, prices: Prices, pricescale: int) -> bool:
    """Pull a trailing stop towards the market (never away from it); True when it moved."""
    assert order.trailing_stop_pips is not None
    assert order.stop_price is not None
    distance = order.trailing_stop_pips / pricescale
    if order.side is Side.SELL:  # protects a long
        target = max(order.stop_price, to_tick(prices.bid - distance, pricescale))
    else:
        target = min(order.stop_price, to_tick(prices.ask + distance, pricescale))
    if target == order.stop_price:
        return False
    order.stop_price = target
    return True


def edit_rules(q: Decimal, brackets: BracketRequest, prices: Prices) -> list[Violation]:
    """New brackets of a position of ``q`` must sit on the right side of the current price:
    a long's take profit above the bid and its stops below it; a short's the reverse."""
    long = q > 0
    found = bracket_side_rules(
        Side.BUY if long else Side.SELL, prices.bid if long else prices.ask,
        brackets.take_profit, brackets.stop_loss, brackets.guaranteed_stop,
        what="the current price",
    )  # fmt: skip
    return found + stop_combination_rules(
        brackets.stop_loss, brackets.guaranteed_stop, brackets.trailing_stop_pips
    )


def child_price_rules(child: Order, spec: OrderSpec, prices: Prices) -> list[Violation]:
    """A bracket child may move its price, on the right side of the current price."""
    assert child.role is not None
    take_profit = child.role is BracketRole.TAKE_PROFIT
    long = child.side is Side.SELL  # it protects a long position
    reference = prices.bid if long else prices.ask
    price = spec.limit_price if take_profit else spec.stop_price
    field = "limitPrice" if take_profit else "stopPrice"
    if price is None:
        return []
    above = take_profit == long
    if not (price <= reference if above else price >= reference):
        return []
    where = "above" if above else "below"
    return [Violation(field, f"{field} must be {where} the current price {reference}", price)]


class AfterFill(Enum):
    """What a fill on the position does to its brackets (broker.md §3)."""

    KEEP = "keep"
    """Resize them to the new quantity (a partial reduction)."""
    CANCEL = "cancel"
    """The position closed or flipped: its brackets no longer protect anything."""
    REPLACE = "replace"
    """An entry with brackets added to (or opened) the position: its brackets replace the old."""


def after_fill(before: Decimal, after: Decimal, order: Order) -> AfterFill:
    flipped = before != 0 and after != 0 and (before > 0) != (after > 0)
    grew = after != 0 and (after > 0) == (order.side is Side.BUY)
    if grew and order.has_brackets:
        return AfterFill.REPLACE
    if after == 0 or flipped:
        return AfterFill.CANCEL
    return AfterFill.KEEP


def brackets_of(order: Order) -> BracketRequest:
    """The brackets an entry order asked for, to create when it fills."""
    return BracketRequest(order.take_profit, order.stop_loss, order.guaranteed_stop,
                          order.trailing_stop_pips)  # fmt: skip
