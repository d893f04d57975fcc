"""The paper-trading engine: the order lifecycle, orchestrating the broker's parts (broker.md).

The state and its reads are the :class:`~trading.broker.book.Book` the engine extends; the
fill path is :mod:`~trading.broker.fills`. The parts decide, the engine applies:
:mod:`~trading.broker.rules` checks requests,
:mod:`~trading.broker.matching` says when and at what price an order fills,
:meth:`Position.apply <trading.broker.state.Position.apply>` nets a fill and books its P&L,
:mod:`~trading.broker.brackets` protects positions, :mod:`~trading.broker.margin` computes
equity and buying power.

Money (broker.md §6), all in Decimal, booked amounts rounded half-up to cents: an execution's
commission is ``round2(x · p · rate)``; ``balance = initial + realizedPL − Σ commission``.

Every mutation validates first and only then changes state, so a refused request changes
nothing; it returns a :class:`~trading.broker.changes.Changes` listing the events (in
publication order) and the rows to persist. The engine never awaits: the service serializes
calls and commits the changes.
"""

from __future__ import annotations

import math
from decimal import Decimal

from trading.broker import brackets as bracket_rules
from trading.broker import children, durations
from trading.broker import fills as fill_path
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.enums import OrderStatus, OrderType, ParentType
from trading.broker.errors import BrokerError, RuleViolations, UnknownPosition
from trading.broker.margin import leverage_problem
from trading.broker.matching import Prices
from trading.broker.money import to_tick
from trading.broker.requests import BracketRequest, OrderRequest
from trading.broker.rules import OrderSpec, bracket_side_rules, entry_price, field_rules
from trading.broker.state import Account, Order, Position
from trading.market.symbols import SymbolSpec


class Engine(Book):
    """The commands on a :class:`~trading.broker.book.Book`: each validates, applies and
    returns its :class:`~trading.broker.changes.Changes`."""

    # -- placing ------------------------------------------------------------------------------

    def place(self, request: OrderRequest, now: float) -> tuple[Order, Changes]:
        spec, order_spec, prices, entry = self._validate(request, now, current=None)
        self.check_buying_power(spec.name, order_spec, entry, now)
        changes = Changes()
        order = self.new_order(order_spec, now, changes)
        durations.assign(order, request.duration, now)
        changes.order(order)
        if order.has_brackets:
            children.follow_entry(self, order, entry, now, changes)
        fill_path.try_fill(self, order, prices, int(now * 1000), changes, now)
        durations.settle_immediate(self, order, now, changes)
        return order, changes

    def _validate(
        self, request: OrderRequest, now: float, current: Order | None
    ) -> tuple[SymbolSpec, OrderSpec, Prices, Decimal]:
        """Field rules (all together), then the state checks; returns what placement needs."""
        spec = self.catalog.lookup(request.symbol)
        order_spec, found = field_rules(request, spec.pricescale if spec else 100)
        found += durations.duration_rules(request.duration, now)
        prices = self.prices(spec.name, math.floor(now)) if spec else None
        entry = entry_price(order_spec, prices.bid, prices.ask) if prices else None
        if current is not None and current.parent is not None and prices is not None:
            found += bracket_rules.child_price_rules(current, order_spec, prices)
        elif entry is not None:
            found += bracket_side_rules(
                order_spec.side, entry, order_spec.take_profit, order_spec.stop_loss,
                order_spec.guaranteed_stop,
            )  # fmt: skip
        if found:
            raise RuleViolations(found)
        if spec is None or prices is None or entry is None:
            raise BrokerError(f"Symbol {request.symbol} not found")
        return spec, order_spec, prices, entry

    # -- modify, cancel -----------------------------------------------------------------------

    def _working(self, order_id: str, verb: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise BrokerError(f"Order {order_id} not found")
        if order.status is OrderStatus.INACTIVE and order.parent_type is ParentType.ORDER:
            raise BrokerError(
                f"Cannot {verb} order {order_id}: it is a bracket of order {order.parent}, which "
                f"has not filled; {verb} the brackets of {order.parent} instead"
            )
        if not order.working:
            raise BrokerError(f"Cannot {verb} order {order_id} with status {order.status.value}")
        return order

    def modify(self, order_id: str, request: OrderRequest, now: float) -> Changes:
        order = self._working(order_id, "modify")
        durations.refuse_modify(order, request.duration, now)
        spec, order_spec, prices, entry = self._validate(request, now, current=order)
        if (spec.name, order_spec.type, order_spec.side) != (order.symbol, order.type, order.side):
            raise BrokerError(f"Cannot change symbol, type or side of order {order_id}")
        if order.parent is not None:
            position = self.positions.get(order.parent)
            if position is None or order_spec.qty != abs(position.q):
                raise BrokerError(f"Cannot change the quantity of bracket order {order_id}")
        else:
            self.check_buying_power(spec.name, order_spec, entry, now)
        order.qty = order_spec.qty
        order.limit_price = order_spec.limit_price
        order.stop_price = order_spec.stop_price
        if order.parent is None:
            order.take_profit = order_spec.take_profit
            order.stop_loss = order_spec.stop_loss
            order.guaranteed_stop = order_spec.guaranteed_stop
            order.trailing_stop_pips = order_spec.trailing_stop_pips
            order.stop_type = order_spec.stop_type
            order.triggered = False
        elif order.guaranteed:
            order.guaranteed_stop = order_spec.stop_price
        durations.assign(order, request.duration, now)
        order.update_time = int(now * 1000)
        order.since = math.floor(now)
        changes = Changes()
        changes.order(order)
        if order.parent is None:
            children.follow_entry(self, order, entry, now, changes)
        fill_path.try_fill(self, order, prices, int(now * 1000), changes, now)
        durations.settle_immediate(self, order, now, changes, at="modification")
        return changes

    def cancel(self, order_id: str, now: float) -> Changes:
        """Cancel a working order (and the INACTIVE children of an entry), or one INACTIVE
        child (its bracket is dropped from the entry)."""
        order = self.orders.get(order_id)
        changes = Changes()
        if order is not None and order.status is OrderStatus.INACTIVE and order.parent:
            children.cancel_inactive(self, order, now, changes)
            return changes
        order = self._working(order_id, "cancel")
        self.set_status(order, OrderStatus.CANCELED, now, changes)
        children.cancel_of_entry(self, order, now, changes)
        return changes

    # -- positions ----------------------------------------------------------------------------

    def _position(self, position_id: str) -> Position:
        position = self.positions.get(position_id)
        if position is None:
            raise UnknownPosition(f"Position {position_id} not found")
        return position

    def close_position(self, position_id: str, amount: Decimal | None, now: float) -> Changes:
        position = self._position(position_id)
        size = abs(position.q)
        if amount is not None and amount > size:
            raise BrokerError(f"Amount {float(amount)} exceeds position quantity {float(size)}")
        request = OrderRequest(
            symbol=position.symbol, type=OrderType.MARKET,
            side=bracket_rules.protecting_side(position.q),
            qty=amount if amount is not None else size,
        )  # fmt: skip
        return self.place(request, now)[1]

    def edit_brackets(self, position_id: str, brackets: BracketRequest, now: float) -> Changes:
        position = self._position(position_id)
        scale = self.market.spec(position.symbol).pricescale

        def tick(value: Decimal | None) -> Decimal | None:
            return None if value is None else to_tick(value, scale)

        brackets = BracketRequest(
            tick(brackets.take_profit), tick(brackets.stop_loss),
            tick(brackets.guaranteed_stop), brackets.trailing_stop_pips,
        )  # fmt: skip
        prices = self.prices(position.symbol, math.floor(now))
        found = bracket_rules.edit_rules(position.q, brackets, prices)
        if found:
            raise RuleViolations(found)
        changes = Changes()
        for child in self.children(position.symbol):
            self.set_status(child, OrderStatus.CANCELED, now, changes)
        children.protect(self, position, brackets, prices, now, changes)
        # TradingView's library expects the position right after editPositionBrackets
        changes.position(position)
        return changes

    # -- leverage -----------------------------------------------------------------------------

    def set_leverage(self, symbol: str, value: Decimal, now: float) -> Changes:
        spec = self.catalog.lookup(symbol)
        if spec is None:
            raise BrokerError(f"Symbol {symbol} not found")
        problem = leverage_problem(value)
        if problem is not None:
            raise BrokerError(problem)
        after = self.equity(now, {**self.leverage, spec.name: value})
        if after.margin_used > after.equity:
            raise BrokerError(f"Insufficient equity for leverage {float(value)}")
        self.leverage[spec.name] = value
        changes = Changes()
        changes.leverage.add(spec.name)
        return changes

    # -- reset, restore -----------------------------------------------------------------------

    def reset(self, now: float) -> Changes:
        changes = Changes(reset=True)
        for order in list(self.open_orders()):
            self.set_status(order, OrderStatus.CANCELED, now, changes)
        for position in list(self.positions.values()):
            position.close()
            changes.position(position)
        self.orders.clear()
        self.positions.clear()
        self.fills.clear()
        self.leverage.clear()
        self.account = Account(self.account.initial_balance)
        changes.account = True
        changes.equity(self.equity(now))
        return changes
