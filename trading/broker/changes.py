"""The outcome of one engine mutation: the events to publish and the rows to persist."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from trading.broker.events import (
    BrokerEvent,
    EquityChanged,
    Executed,
    OrderChanged,
    PositionChanged,
)
from trading.broker.state import Equity, Fill, Order, Position

if TYPE_CHECKING:
    from trading.broker.idempotency import KeyRecord


@dataclass
class Changes:
    """What one mutation did: events to publish (in order) and rows to persist."""

    events: list[BrokerEvent] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    """Ids in ``orders`` that this mutation numbered: stored with an INSERT (a collision with
    a stored row fails loudly), every other order with an UPDATE of its existing row."""
    positions: set[str] = field(default_factory=set)
    fills: list[Fill] = field(default_factory=list)
    leverage: set[str] = field(default_factory=set)
    account: bool = False
    reset: bool = False
    keys: list[KeyRecord] = field(default_factory=list)
    """Idempotency keys to store with this mutation's orders (broker.md §15)."""
    keys_expire_before: int | None = None
    """Stored keys created before this instant (epoch ms) are deleted in the same write."""

    def order(self, order: Order) -> None:
        """Record an order change; the event keeps a copy of the order as it is now.

        The order moves to the end of ``orders``: their order is the order of their last
        changes, which numbers the orders that became final in the order they did
        (``order_history.hseq``, history.py), however many commands a commit holds."""
        self.orders.pop(order.id, None)
        self.orders[order.id] = order
        # a shallow copy (the fields are immutable values): copy.copy is twice as fast as
        # dataclasses.replace, which re-runs __init__, and this runs for every order event
        self.events.append(OrderChanged(copy.copy(order)))

    def position(self, position: Position) -> None:
        self.positions.add(position.symbol)
        self.events.append(PositionChanged(copy.copy(position)))

    def fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.account = True
        self.events.append(Executed(fill))

    def equity(self, equity: Equity) -> None:
        self.events.append(EquityChanged(equity))

    def merge(self, later: Changes) -> None:
        """Append what a later mutation of the same command did (desk operations run several
        engine commands and commit them as one): events in order, rows united, flags or-ed.
        Field by field, so a field added to this class is merged without changing this.

        A later reset deletes every stored row of the account, so the rows that earlier
        mutations changed need not be written any more: they start again from the reset's
        (the events are all kept, in order). Only group commit (broker/grouping.py) merges a
        reset with the commands around it; a desk operation never resets."""
        if later.reset:
            for f in _FIELDS:
                if f.name != "events":
                    setattr(self, f.name, getattr(Changes(), f.name))
        for f in _FIELDS:
            mine, theirs = getattr(self, f.name), getattr(later, f.name)
            if isinstance(mine, list):
                mine.extend(theirs)
            elif isinstance(mine, dict):  # a later change moves its key to the end, as order()
                for key, value in theirs.items():
                    mine.pop(key, None)
                    mine[key] = value
            elif isinstance(mine, set):
                mine |= theirs
            elif isinstance(mine, bool):
                setattr(self, f.name, mine or theirs)
            elif f.name == "keys_expire_before":  # the later purge bound, if any
                if theirs is not None:
                    setattr(self, f.name, theirs if mine is None else max(mine, theirs))
            else:  # pragma: no cover - a new kind of field must say how it merges
                raise TypeError(f"Changes.{f.name}: no merge rule for {type(mine).__name__}")

    def __bool__(self) -> bool:
        return bool(
            self.events or self.orders or self.positions or self.leverage or self.account
            or self.keys
        )  # fmt: skip


_FIELDS = fields(Changes)
"""Once: ``fields()`` builds its tuple on every call, and group commit merges every command."""
