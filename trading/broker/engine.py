"""The paper-trading engine: order lifecycle, fills, netting, brackets, money (broker.md).

Money formulas (broker.md §6), all in Decimal, booked amounts rounded half-up to cents:

- commission of an execution ``= round2(x · p · rate)``
- realized P&L of an execution that reduces ``q`` by ``c = min(x, |q|)``:
  ``r = c · (p − A) · sign(q)``; ``realizedPL = Σ round2(r)``
- ``balance = initial + realizedPL − Σ commission``
- unrealized of a position ``= round2((lp − A) · q)``; ``equity = balance + Σ unrealized``
- margin used ``= Σ round2(|q| · lp / leverage)``; available ``= equity − margin used``

Netting (§5): an execution ``(s, x, p)`` on ``(q, A)`` opens/adds with
``A' = (|q|·A + x·p) / (|q| + x)``, reduces keeping ``A``, closes at ``x = |q|``, and flips at
``x > |q|`` to ``q' = s·(x − |q|)``, ``A' = p``. So ``q`` always equals ``Σ s·x``.

Every mutation validates first and only then changes state, so a refused request changes
nothing; it returns a :class:`Changes` listing the events (in publication order) and the rows
to persist. The engine never awaits: the service serializes calls and commits the changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from trading.broker.money import ZERO, price_from_ticks, round2, to_tick
from trading.broker.rules import (
    BrokerError,
    ErrorItem,
    OrderSpec,
    RuleViolations,
    bracket_side_rules,
    entry_price,
    exposure_increase,
    field_rules,
    item,
)
from trading.broker.state import (
    Account,
    BracketRole,
    Changes,
    Equity,
    Fill,
    Order,
    Position,
)
from trading.market.source import Touch
from trading.market.symbols import SymbolCatalog, SymbolSpec
from trading.models.broker import OrderStatus, OrderType, PreOrder, Side, StopType

MAX_CATCH_UP_S = 3600
"""Seconds replayed after a loop stall; longer gaps (a suspended host) resume at now."""

LEVERAGE_MIN, LEVERAGE_MAX, LEVERAGE_STEP = Decimal(1), Decimal(100), Decimal(1)

TouchFn = Callable[[SymbolSpec, int], Touch]


@dataclass(frozen=True)
class Prices:
    """One second of one symbol as Decimals."""

    lp: Decimal
    bid: Decimal
    ask: Decimal


@dataclass(frozen=True)
class BracketRequest:
    take_profit: Decimal | None
    stop_loss: Decimal | None
    guaranteed_stop: Decimal | None
    trailing_stop_pips: Decimal | None


def _sign(q: Decimal) -> int:
    return (q > 0) - (q < 0)


class Engine:
    def __init__(
        self,
        catalog: SymbolCatalog,
        touch: TouchFn,
        *,
        initial_balance: Decimal,
        commission_rate: Decimal,
        default_leverage: Decimal,
    ) -> None:
        self.catalog = catalog
        self._touch = touch
        self.commission_rate = commission_rate
        self.default_leverage = default_leverage
        self.account = Account(initial_balance)
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, Position] = {}
        self.fills: list[Fill] = []
        self.leverage: dict[str, Decimal] = {}
        self._evaluated: dict[str, int] = {}

    # -- reading ------------------------------------------------------------------------------

    def spec(self, symbol: str) -> SymbolSpec:
        found = self.catalog.lookup(symbol)
        assert found is not None, symbol
        return found

    def prices(self, symbol: str, second: int) -> Prices:
        spec = self.spec(symbol)
        t = self._touch(spec, second)
        scale = spec.pricescale
        return Prices(
            price_from_ticks(t.lp, scale), price_from_ticks(t.bid, scale),
            price_from_ticks(t.ask, scale),
        )  # fmt: skip

    def leverage_of(self, symbol: str) -> Decimal:
        return self.leverage.get(symbol, self.default_leverage)

    def equity(self, now: float, leverage: dict[str, Decimal] | None = None) -> Equity:
        second = math.floor(now)
        unrealized = margin = ZERO
        for pos in self.positions.values():
            lp = self.prices(pos.symbol, second).lp
            unrealized += pos.unrealized(lp)
            lev = (leverage or {}).get(pos.symbol, self.leverage_of(pos.symbol))
            margin += round2(abs(pos.q) * lp / lev)
        balance = self.account.balance
        return Equity(balance + unrealized, balance, unrealized, self.account.realized, margin)

    def working_orders(self) -> Iterator[Order]:
        return (o for o in self.orders.values() if o.working)

    def children(self, symbol: str) -> list[Order]:
        return [o for o in self.orders.values() if o.working and o.parent == symbol]

    def fills_of(self, symbol: str) -> list[Fill]:
        return [f for f in self.fills if f.symbol == symbol]

    # -- placing ------------------------------------------------------------------------------

    def place(self, pre: PreOrder, now: float) -> tuple[Order, Changes]:
        spec, order_spec, prices, entry = self._validate(pre, now, current=None)
        self._check_buying_power(spec.name, order_spec.side, order_spec.qty, entry, now)
        changes = Changes()
        order = self._new_order(order_spec, spec.name, now, changes)
        changes.order(order)
        self._try_fill(order, prices, int(now * 1000), changes, now)
        return order, changes

    def _validate(
        self, pre: PreOrder, now: float, current: Order | None
    ) -> tuple[SymbolSpec, OrderSpec, Prices, Decimal]:
        """422 field rules (all together), then the 400 checks; returns what placement needs."""
        spec = self.catalog.lookup(pre.symbol)
        order_spec, errors = field_rules(pre, spec.pricescale if spec else 100)
        prices = self.prices(spec.name, math.floor(now)) if spec else None
        entry = entry_price(order_spec, prices.bid, prices.ask) if prices else None
        if current is not None and current.parent is not None and prices is not None:
            errors += self._child_price_rules(current, order_spec, prices)
        elif entry is not None:
            errors += bracket_side_rules(
                order_spec.side, entry, order_spec.take_profit, order_spec.stop_loss,
                order_spec.guaranteed_stop,
            )  # fmt: skip
        if errors:
            raise RuleViolations(errors)
        if spec is None or prices is None or entry is None:
            raise BrokerError(f"Symbol {pre.symbol} not found")
        return spec, order_spec, prices, entry

    def _child_price_rules(self, child: Order, spec: OrderSpec, prices: Prices) -> list[ErrorItem]:
        """A bracket child may move its price, on the right side of the current price."""
        long = child.side is Side.SELL  # it protects a long position
        reference = prices.bid if long else prices.ask
        price = spec.limit_price if child.role is BracketRole.TAKE_PROFIT else spec.stop_price
        field = "limitPrice" if child.role is BracketRole.TAKE_PROFIT else "stopPrice"
        if price is None:
            return []
        wrong = (
            (price <= reference)
            if (child.role is BracketRole.TAKE_PROFIT) == long
            else (price >= reference)
        )
        if not wrong:
            return []
        where = "above" if (child.role is BracketRole.TAKE_PROFIT) == long else "below"
        return [item(field, f"{field} must be {where} the current price {reference}", float(price))]

    def _check_buying_power(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, now: float
    ) -> None:
        position = self.positions.get(symbol)
        increase = exposure_increase(position.q if position else ZERO, side, qty)
        if increase == 0:
            return
        required = round2(increase * price / self.leverage_of(symbol))
        available = round2(self.equity(now).available)
        if required > available:
            raise BrokerError(
                f"Insufficient buying power: required {required:.2f}, available {available:.2f}"
            )

    def _new_order(
        self,
        spec: OrderSpec,
        symbol: str,
        now: float,
        changes: Changes,
        *,
        parent: str | None = None,
        role: BracketRole | None = None,
    ) -> Order:
        self.account.order_seq += 1
        seq = self.account.order_seq
        order = Order(
            id=f"ORDER-{seq}",
            seq=seq,
            symbol=symbol,
            type=spec.type,
            side=spec.side,
            qty=spec.qty,
            status=OrderStatus.WORKING,
            limit_price=spec.limit_price,
            stop_price=spec.stop_price,
            take_profit=spec.take_profit,
            stop_loss=spec.stop_loss,
            guaranteed_stop=spec.guaranteed_stop,
            trailing_stop_pips=spec.trailing_stop_pips,
            stop_type=spec.stop_type,
            update_time=int(now * 1000),
            parent=parent,
            role=role,
            since=math.floor(now),
        )
        self.orders[order.id] = order
        # stored with an INSERT, and the counter with it in the same transaction (store.commit)
        changes.created.add(order.id)
        changes.account = True
        return order

    # -- modify, cancel -----------------------------------------------------------------------

    def _working(self, order_id: str, verb: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise BrokerError(f"Order {order_id} not found")
        if not order.working:
            raise BrokerError(f"Cannot {verb} order {order_id} with status {order.status.value}")
        return order

    def modify(self, order_id: str, pre: PreOrder, now: float) -> Changes:
        order = self._working(order_id, "modify")
        spec, order_spec, prices, entry = self._validate(pre, now, current=order)
        if (spec.name, order_spec.type, order_spec.side) != (order.symbol, order.type, order.side):
            raise BrokerError(f"Cannot change symbol, type or side of order {order_id}")
        if order.parent is not None:
            position = self.positions.get(order.parent)
            if position is None or order_spec.qty != abs(position.q):
                raise BrokerError(f"Cannot change the quantity of bracket order {order_id}")
        else:
            self._check_buying_power(spec.name, order.side, order_spec.qty, entry, now)
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
        order.update_time = int(now * 1000)
        order.since = math.floor(now)
        changes = Changes()
        changes.order(order)
        self._try_fill(order, prices, int(now * 1000), changes, now)
        return changes

    def cancel(self, order_id: str, now: float) -> Changes:
        order = self._working(order_id, "cancel")
        changes = Changes()
        self._set_status(order, OrderStatus.CANCELED, now, changes)
        return changes

    def _set_status(self, order: Order, status: OrderStatus, now: float, changes: Changes) -> None:
        order.status = status
        order.update_time = int(now * 1000)
        changes.order(order)

    # -- positions ----------------------------------------------------------------------------

    def close_position(self, position_id: str, amount: Decimal | None, now: float) -> Changes:
        position = self.positions.get(position_id)
        if position is None:
            raise BrokerError(f"Position {position_id} not found", 404)
        size = abs(position.q)
        if amount is not None and amount > size:
            raise BrokerError(f"Amount {float(amount)} exceeds position quantity {float(size)}")
        pre = PreOrder(
            symbol=position.symbol,
            type=OrderType.MARKET,
            side=Side.SELL if position.q > 0 else Side.BUY,
            qty=float(amount if amount is not None else size),
        )
        return self.place(pre, now)[1]

    def edit_brackets(self, position_id: str, brackets: BracketRequest, now: float) -> Changes:
        position = self.positions.get(position_id)
        if position is None:
            raise BrokerError(f"Position {position_id} not found", 404)
        prices = self.prices(position.symbol, math.floor(now))
        long = position.q > 0
        errors = bracket_side_rules(
            Side.BUY if long else Side.SELL, prices.bid if long else prices.ask,
            brackets.take_profit, brackets.stop_loss, brackets.guaranteed_stop,
            what="the current price",
        )  # fmt: skip
        if brackets.stop_loss is not None and brackets.guaranteed_stop is not None:
            errors.append(item("guaranteedStop", "stopLoss and guaranteedStop cannot both be set",
                               float(brackets.guaranteed_stop)))  # fmt: skip
        if brackets.guaranteed_stop is not None and brackets.trailing_stop_pips is not None:
            errors.append(item("trailingStopPips", "a guaranteed stop cannot trail",
                               float(brackets.trailing_stop_pips)))  # fmt: skip
        if errors:
            for e in errors:
                e["loc"] = ["body", "brackets", *e["loc"][1:]]
            raise RuleViolations(errors)
        changes = Changes()
        for child in self.children(position.symbol):
            self._set_status(child, OrderStatus.CANCELED, now, changes)
        self._create_children(position, brackets, prices, now, changes)
        return changes

    def _create_children(
        self,
        position: Position,
        brackets: BracketRequest,
        prices: Prices,
        now: float,
        changes: Changes,
    ) -> None:
        long = position.q > 0
        side = Side.SELL if long else Side.BUY
        qty = abs(position.q)
        tick = Decimal(1) / self.spec(position.symbol).pricescale

        def child(order_type: OrderType, role: BracketRole, **prices_: Decimal | None) -> Order:
            spec = OrderSpec(
                symbol=position.symbol, type=order_type, side=side, qty=qty,
                limit_price=prices_.get("limit"), stop_price=prices_.get("stop"),
                take_profit=None, stop_loss=None, guaranteed_stop=prices_.get("guaranteed"),
                trailing_stop_pips=prices_.get("trailing"), stop_type=None,
            )  # fmt: skip
            return self._new_order(
                spec, position.symbol, now, changes, parent=position.symbol, role=role
            )

        if brackets.take_profit is not None:
            changes.order(
                child(OrderType.LIMIT, BracketRole.TAKE_PROFIT, limit=brackets.take_profit)
            )
        stop: Order | None = None
        if brackets.guaranteed_stop is not None:
            gs = brackets.guaranteed_stop
            stop = child(OrderType.STOP, BracketRole.STOP, stop=gs, guaranteed=gs)
            stop.stop_type = StopType.GUARANTEED_STOP
        elif brackets.trailing_stop_pips is not None:
            distance = brackets.trailing_stop_pips * tick
            start = brackets.stop_loss
            if start is None:
                start = prices.bid - distance if long else prices.ask + distance
            stop = child(OrderType.STOP, BracketRole.STOP, stop=start,
                         trailing=brackets.trailing_stop_pips)  # fmt: skip
            stop.stop_type = StopType.TRAILING_STOP
            self._trail(stop, prices)
        elif brackets.stop_loss is not None:
            stop = child(OrderType.STOP, BracketRole.STOP, stop=brackets.stop_loss)
            stop.stop_type = StopType.STOP_LOSS
        if stop is not None:
            changes.order(stop)

    def _trail(self, order: Order, prices: Prices) -> bool:
        """Pull a trailing stop towards the market; True when it moved."""
        assert order.trailing_stop_pips is not None
        assert order.stop_price is not None
        scale = self.spec(order.symbol).pricescale
        distance = order.trailing_stop_pips / scale
        if order.side is Side.SELL:  # protects a long
            target = max(order.stop_price, to_tick(prices.bid - distance, scale))
        else:
            target = min(order.stop_price, to_tick(prices.ask + distance, scale))
        if target == order.stop_price:
            return False
        order.stop_price = target
        return True

    # -- leverage -----------------------------------------------------------------------------

    def leverage_problem(self, value: Decimal) -> str | None:
        if value.is_nan():  # lax input accepts "nan"; it is no multiple of the step
            return f"Leverage must be a multiple of {float(LEVERAGE_STEP)}"
        if value < LEVERAGE_MIN:
            return f"Leverage must be at least {float(LEVERAGE_MIN)}"
        if value > LEVERAGE_MAX:
            return f"Leverage cannot exceed {float(LEVERAGE_MAX)}"
        if value % LEVERAGE_STEP != 0:
            return f"Leverage must be a multiple of {float(LEVERAGE_STEP)}"
        return None

    def set_leverage(self, symbol: str, value: Decimal, now: float) -> Changes:
        spec = self.catalog.lookup(symbol)
        if spec is None:
            raise BrokerError(f"Symbol {symbol} not found")
        problem = self.leverage_problem(value)
        if problem is not None:
            raise BrokerError(problem)
        after = self.equity(now, {**self.leverage, spec.name: value})
        if after.margin_used > after.equity:
            raise BrokerError(f"Insufficient equity for leverage {float(value)}")
        self.leverage[spec.name] = value
        changes = Changes()
        changes.leverage.add(spec.name)
        return changes

    # -- fills --------------------------------------------------------------------------------

    def evaluate(self, now: float) -> Changes:
        """Evaluate every second up to now for every symbol with working orders (§4)."""
        changes = Changes()
        now_s = math.floor(now)
        trailed: dict[str, Order] = {}
        symbols = dict.fromkeys(o.symbol for o in self.working_orders())
        for symbol in symbols:
            first = max(self._evaluated.get(symbol, now_s - 1) + 1, now_s - MAX_CATCH_UP_S)
            candidates: list[Order] = []
            known = -1  # the candidates are rebuilt only when a fill created orders (brackets)
            for second in range(first, now_s + 1):
                if len(self.orders) != known:
                    known = len(self.orders)
                    candidates = [o for o in self.orders.values()
                                  if o.symbol == symbol and o.working]  # fmt: skip
                prices = self.prices(symbol, second)
                for order in candidates:
                    if not order.working or second < order.since:
                        continue  # never against a second before it was placed or modified
                    if order.trailing and self._trail(order, prices):
                        trailed[order.id] = order
                    self._try_fill(order, prices, second * 1000, changes, now)
            self._evaluated[symbol] = now_s
        for order in trailed.values():
            if order.working:
                order.update_time = int(now * 1000)
                changes.order(order)
        return changes

    def _fill_price(self, order: Order, prices: Prices, changes: Changes) -> Decimal | None:
        buy = order.side is Side.BUY
        if order.type is OrderType.MARKET:
            return prices.ask if buy else prices.bid
        if order.type is OrderType.STOP or (
            order.type is OrderType.STOP_LIMIT and not order.triggered
        ):
            assert order.stop_price is not None
            crossed = prices.ask >= order.stop_price if buy else prices.bid <= order.stop_price
            if not crossed:
                return None
            if order.type is OrderType.STOP:
                if order.guaranteed:
                    return order.stop_price
                return prices.ask if buy else prices.bid
            order.triggered = True
            changes.orders[order.id] = order  # persisted; the status does not change
        assert order.limit_price is not None
        if buy:
            return prices.ask if prices.ask <= order.limit_price else None
        return prices.bid if prices.bid >= order.limit_price else None

    def _try_fill(
        self, order: Order, prices: Prices, time_ms: int, changes: Changes, now: float
    ) -> None:
        price = self._fill_price(order, prices, changes)
        if price is not None:
            self._fill(order, price, time_ms, changes, now)

    def _fill(
        self, order: Order, price: Decimal, time_ms: int, changes: Changes, now: float
    ) -> None:
        position = self.positions.get(order.symbol) or Position(order.symbol)
        before = position.q
        s = Decimal(order.side.value)
        x = order.qty
        if order.parent is None:
            increase = exposure_increase(before, order.side, x)
            lev = self.leverage_of(order.symbol)
            if increase and round2(increase * price / lev) > round2(self.equity(now).available):
                self._set_status(order, OrderStatus.REJECTED, now, changes)
                return
        realized = ZERO
        if before == 0 or _sign(before) == s:
            position.avg = (abs(before) * position.avg + x * price) / (abs(before) + x)
            position.q = before + s * x
        else:
            closed = min(x, abs(before))
            realized = round2(closed * (price - position.avg) * _sign(before))
            if x == abs(before):
                position.close()
            else:
                position.q = before + s * x
            if x > abs(before):
                position.avg = price
        commission = round2(x * price * self.commission_rate)
        self.account.realized += realized
        self.account.commissions += commission
        self.account.fill_seq += 1
        fill = Fill(self.account.fill_seq, order.id, order.symbol, order.side, x, price, time_ms,
                    commission, realized)  # fmt: skip
        self.fills.append(fill)
        changes.fills.append(fill)
        changes.account = True
        changes.events.append(("executions", fill))
        if position.q == 0:
            self.positions.pop(order.symbol, None)
        else:
            self.positions[order.symbol] = position
        changes.position(position)
        order.status = OrderStatus.FILLED
        order.filled_qty = x
        order.avg_price = price
        order.update_time = int(now * 1000)
        changes.order(order)
        changes.events.append(("equity", self.equity(now)))
        self._follow_position(order, position, before, now, changes)

    def _follow_position(
        self, order: Order, position: Position, before: Decimal, now: float, changes: Changes
    ) -> None:
        """Bracket consequences of a fill (§3): OCO, resize, replace, cancel on flip."""
        after = position.q
        children = [c for c in self.children(order.symbol) if c is not order]
        flipped = before != 0 and after != 0 and _sign(before) != _sign(after)
        grew = after != 0 and _sign(after) == order.side.value
        if after == 0 or flipped or (grew and order.has_brackets):
            for child in children:
                self._set_status(child, OrderStatus.CANCELED, now, changes)
            children = []
        if grew and order.has_brackets:
            brackets = BracketRequest(order.take_profit, order.stop_loss, order.guaranteed_stop,
                                      order.trailing_stop_pips)  # fmt: skip
            self._create_children(position, brackets, self.prices(order.symbol, math.floor(now)),
                                  now, changes)  # fmt: skip
            return
        for child in children:
            if child.qty != abs(after):
                child.qty = abs(after)
                child.update_time = int(now * 1000)
                changes.order(child)

    # -- reset --------------------------------------------------------------------------------

    def reset(self, now: float) -> Changes:
        changes = Changes(reset=True)
        for order in list(self.working_orders()):
            self._set_status(order, OrderStatus.CANCELED, now, changes)
        for position in list(self.positions.values()):
            position.close()
            changes.position(position)
        self.orders.clear()
        self.positions.clear()
        self.fills.clear()
        self.leverage.clear()
        self._evaluated.clear()
        self.account = Account(self.account.initial_balance)
        changes.account = True
        changes.events.append(("equity", self.equity(now)))
        return changes

    # -- restoring ----------------------------------------------------------------------------

    def restore(
        self,
        account: Account,
        orders: list[Order],
        positions: list[Position],
        fills: list[Fill],
        leverage: dict[str, Decimal],
    ) -> None:
        self.account = account
        self.orders = {o.id: o for o in sorted(orders, key=lambda o: o.seq)}
        self.positions = {p.symbol: p for p in positions}
        self.fills = sorted(fills, key=lambda f: f.seq)
        self.leverage = dict(leverage)
        self._evaluated.clear()
