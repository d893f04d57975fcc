"""The life of bracket children and their parent links (broker.md §14).

TradingView shows an order as a bracket only when it names its parent (broker-api.d.ts
``BracketOrderBase``: ``parentId`` and ``parentType``). So an entry placed with brackets gets
its children at once: INACTIVE, linked to the entry (``ParentType.ORDER``), never evaluated.
They follow the entry while it works (a modify reprices, adds or cancels them; a cancel or a
rejection cancels them) and, when its fill opens or adds to the position, the very same orders
become WORKING children of the position (``ParentType.POSITION``, the id its symbol), sized to
it. Which fills keep, resize, replace or cancel a position's children is
:func:`trading.broker.brackets.after_fill`'s (broker.md §3); this module only applies plans to
existing children.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

from trading.broker import brackets
from trading.broker.book import Book
from trading.broker.brackets import ChildPlan
from trading.broker.changes import Changes
from trading.broker.enums import OrderStatus, ParentType, Side
from trading.broker.matching import Prices
from trading.broker.requests import BracketRequest
from trading.broker.state import BracketRole, Order, Position


def of_entry(book: Book, entry: Order) -> list[Order]:
    """The INACTIVE children waiting for ``entry`` to fill."""
    return [
        o for o in book.live()
        if o.status is OrderStatus.INACTIVE and o.protects(ParentType.ORDER, entry.id)
    ]  # fmt: skip


def follow_entry(
    book: Book, entry: Order, entry_price: Decimal, now: float, changes: Changes
) -> None:
    """Make the INACTIVE children of a working ``entry`` match its brackets, quantity and side
    (placement creates them, a modify reprices, adds or cancels them).

    A trailing stop without a starting stop loss is shown its distance away from the entry
    price ``E``; it starts from the market when the entry fills."""
    scale = book.market.spec(entry.symbol).pricescale
    signed = entry.qty if entry.side is Side.BUY else -entry.qty
    at_entry = Prices(entry_price, entry_price, entry_price)
    plans = brackets.plan_children(signed, brackets.brackets_of(entry), at_entry, scale)
    _apply(book, of_entry(book, entry), plans, entry.symbol, entry.side.opposite, entry.qty,
           OrderStatus.INACTIVE, ParentType.ORDER, entry.id, None, now, changes)  # fmt: skip


def activate(
    book: Book, entry: Order, position: Position, prices: Prices, now: float, changes: Changes
) -> None:
    """``entry`` filled and its brackets now protect ``position``: its INACTIVE children (the
    same ids) become WORKING children of the position, sized to it and priced from the market
    of now (a trailing stop starts here)."""
    protect(book, position, brackets.brackets_of(entry), prices, now, changes,
            existing=of_entry(book, entry))  # fmt: skip


def protect(
    book: Book,
    position: Position,
    request: BracketRequest,
    prices: Prices,
    now: float,
    changes: Changes,
    existing: list[Order] | None = None,
) -> None:
    """Give ``position`` the WORKING children ``request`` asks for, reusing ``existing``."""
    scale = book.market.spec(position.symbol).pricescale
    plans = brackets.plan_children(position.q, request, prices, scale)
    _apply(book, existing or [], plans, position.symbol, brackets.protecting_side(position.q),
           abs(position.q), OrderStatus.WORKING, ParentType.POSITION, position.symbol, prices,
           now, changes)  # fmt: skip


def cancel_of_entry(book: Book, entry: Order, now: float, changes: Changes) -> None:
    """``entry`` is final without opening anything its brackets could protect."""
    for child in of_entry(book, entry):
        book.set_status(child, OrderStatus.CANCELED, now, changes)


def cancel_inactive(book: Book, child: Order, now: float, changes: Changes) -> None:
    """Canceling an INACTIVE child drops that bracket from its entry, so the entry and its
    children keep saying the same (the entry's update follows the child's)."""
    assert child.parent is not None
    entry = book.orders[child.parent]
    book.set_status(child, OrderStatus.CANCELED, now, changes)
    if child.role is BracketRole.TAKE_PROFIT:
        entry.take_profit = None
    else:
        entry.stop_loss = entry.guaranteed_stop = entry.trailing_stop_pips = None
    entry.update_time = int(now * 1000)
    changes.order(entry)


def _apply(
    book: Book,
    existing: list[Order],
    plans: list[ChildPlan],
    symbol: str,
    side: Side,
    qty: Decimal,
    status: OrderStatus,
    parent_type: ParentType,
    parent: str,
    trail_prices: Prices | None,
    now: float,
    changes: Changes,
) -> None:
    """Reuse the child of each plan's role (reprice it), create the missing ones, cancel
    those no plan wants; only a child that changed is recorded (and pushed)."""
    scale = book.market.spec(symbol).pricescale
    by_role = {c.role: c for c in existing}
    for plan in plans:
        child = by_role.pop(plan.role, None)
        if child is None:
            child = book.new_order(plan.spec(symbol, side, qty), now, changes, parent=parent,
                                   role=plan.role)  # fmt: skip
            was = None
        else:
            was = replace(child)
            spec = plan.spec(symbol, side, qty)
            child.type, child.side, child.qty = spec.type, spec.side, spec.qty
            child.limit_price, child.stop_price = spec.limit_price, spec.stop_price
            child.guaranteed_stop = spec.guaranteed_stop
            child.trailing_stop_pips = spec.trailing_stop_pips
        child.status, child.parent, child.parent_type = status, parent, parent_type
        child.stop_type = plan.stop_type
        if trail_prices is not None and child.trailing:
            brackets.trail(child, trail_prices, scale)
        if child != was:
            child.update_time = int(now * 1000)
            child.since = math.floor(now)
            changes.order(child)
    for child in by_role.values():
        book.set_status(child, OrderStatus.CANCELED, now, changes)
