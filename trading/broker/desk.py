"""Desk operations (broker.md §19): one click that acts on several orders or positions.

Each is made of the engine's own commands (a market order through the normal order path, a
cancel), so every rule, event and bracket consequence is the one that command has; their
:class:`~trading.broker.changes.Changes` are merged and committed as one. Everything that could
refuse is checked before the first command runs, so a refusal changes nothing.
"""

from __future__ import annotations

import math
from decimal import Decimal

from trading.broker import brackets
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.engine import Engine
from trading.broker.enums import OrderStatus, OrderType, Side
from trading.broker.errors import BrokerError, UnknownPosition
from trading.broker.requests import OrderRequest
from trading.broker.rules import QTY_MAX
from trading.broker.state import Order, Position


def _position(engine: Engine, position_id: str) -> Position:
    position = engine.positions.get(position_id)
    if position is None:
        raise UnknownPosition(f"Position {position_id} not found")
    return position


def reverse(engine: Engine, position_id: str, now: float) -> tuple[Order, Changes]:
    """Flip the position at the market in ONE execution of twice its size: the first half
    closes it (booking the P&L a close at that price books), the second opens the other side,
    which needs the buying power of a new position that size. The brackets are canceled as on
    any flip (broker.md §3)."""
    position = _position(engine, position_id)
    qty = 2 * abs(position.q)
    if qty > QTY_MAX:
        raise BrokerError(
            f"Cannot reverse position {position_id}: {float(qty)} units exceed the order "
            f"limit {QTY_MAX}"
        )
    request = OrderRequest(
        symbol=position.symbol, type=OrderType.MARKET,
        side=brackets.protecting_side(position.q), qty=qty,
    )  # fmt: skip
    return engine.place(request, now)


def cancel_all(
    engine: Engine, symbol: str | None, side: Side | None, now: float
) -> tuple[list[str], Changes]:
    """Cancel every WORKING order of ``symbol`` (any when None) on ``side`` (any when None),
    bracket orders included; returns the ids that became CANCELED, in creation order (with any
    order the cancel of another one cancels)."""
    wanted = None
    if symbol is not None:
        spec = engine.catalog.lookup(symbol)
        if spec is None:
            raise BrokerError(f"Symbol {symbol} not found")
        wanted = spec.name
    matching = [
        o.id for o in engine.working_orders()
        if (wanted is None or o.symbol == wanted) and (side is None or o.side is side)
    ]  # fmt: skip
    changes = Changes()
    for order_id in matching:
        if engine.orders[order_id].working:  # not canceled already with another one
            changes.merge(engine.cancel(order_id, now))
    canceled = [o for o in changes.orders.values() if o.status is OrderStatus.CANCELED]
    return [o.id for o in sorted(canceled, key=lambda o: o.seq)], changes


def flatten(engine: Engine, now: float) -> tuple[list[str], Changes]:
    """Close every position at the market (each through ``close_position``: one market order
    for its whole size, its brackets canceled); returns the closed ids in the order the
    positions were opened."""
    positions = list(engine.positions.values())
    too_big = [p.symbol for p in positions if abs(p.q) > QTY_MAX]
    if too_big:
        raise BrokerError(
            f"Cannot flatten: positions {', '.join(too_big)} exceed the order limit {QTY_MAX}"
        )
    changes = Changes()
    for position in positions:
        changes.merge(engine.close_position(position.symbol, None, now))
    return [p.symbol for p in positions], changes


def position_pl(book: Book, now: float) -> list[tuple[str, Decimal]]:
    """The unrealized P&L of each open position now (broker.md §6), in the order opened."""
    return [
        (p.symbol, p.unrealized(book.prices(p.symbol, math.floor(now)).lp))
        for p in book.positions.values()
    ]
