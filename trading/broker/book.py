"""One paper account's book: its orders, positions, executions, leverage and totals.

The book holds the state and answers questions about it (equity, buying power, working
orders); it changes only through the engine's commands (:mod:`~trading.broker.engine`) and
the fill path (:mod:`~trading.broker.fills`), which both number new orders here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal

from trading.broker.changes import Changes
from trading.broker.enums import OrderStatus, ParentType, Side
from trading.broker.errors import BrokerError
from trading.broker.margin import buying_power_problem, equity_of
from trading.broker.matching import PriceFeed, Prices, TouchFn
from trading.broker.money import ZERO
from trading.broker.rules import OrderSpec
from trading.broker.state import Account, BracketRole, Equity, Fill, Order, Position
from trading.market.symbols import SymbolCatalog


class Book:
    def __init__(
        self,
        catalog: SymbolCatalog,
        touch: TouchFn,
        *,
        initial_balance: Decimal,
        commission_rate: Decimal,
        default_leverage: Decimal,
    ) -> None:
        self.market = PriceFeed(catalog, touch)
        self.commission_rate = commission_rate
        self.default_leverage = default_leverage
        self.account = Account(initial_balance)
        self.orders: dict[str, Order] = {}
        """Every order of the account, in creation order."""
        self._open: dict[str, Order] = {}
        """A superset of the open orders (WORKING, INACTIVE), in creation order: each order
        from its creation until a scan finds it final (a final status is never left). The
        scans of open orders then cost in proportion to them, not to the account's history
        (an account with 3 000 finished orders paid ~0.5 ms per fill to find its brackets)."""
        self.positions: dict[str, Position] = {}
        """Open positions by symbol (the position id is its symbol)."""
        self.fills: list[Fill] = []
        self.leverage: dict[str, Decimal] = {}
        """Leverage set per symbol; others use ``default_leverage``."""

    # -- reading ------------------------------------------------------------------------------

    @property
    def catalog(self) -> SymbolCatalog:
        return self.market.catalog

    def prices(self, symbol: str, second: int) -> Prices:
        return self.market.at(symbol, second)

    def leverage_of(self, symbol: str) -> Decimal:
        return self.leverage.get(symbol, self.default_leverage)

    def equity(self, now: float, leverage: dict[str, Decimal] | None = None) -> Equity:
        """Equity at ``now`` (with ``leverage`` instead of the set one, to try a change)."""
        second = math.floor(now)
        levels = self.leverage if leverage is None else leverage
        return equity_of(
            self.account, self.positions.values(),
            lambda symbol: self.prices(symbol, second).lp,
            lambda symbol: levels.get(symbol, self.default_leverage),
        )  # fmt: skip

    def live(self) -> list[Order]:
        """The open orders now, in creation order (dropping those that became final)."""
        for order_id in [i for i, o in self._open.items() if not o.open]:
            del self._open[order_id]
        return list(self._open.values())

    def working_orders(self) -> Iterator[Order]:
        return (o for o in self.live() if o.working)

    def open_orders(self) -> Iterator[Order]:
        """WORKING orders and INACTIVE brackets: what a client must know is still live."""
        return iter(self.live())

    def children(self, symbol: str) -> list[Order]:
        """The working brackets of the position in ``symbol``."""
        return [o for o in self.live() if o.working and o.protects(ParentType.POSITION, symbol)]

    def fills_of(self, symbol: str) -> list[Fill]:
        return [f for f in self.fills if f.symbol == symbol]

    def check_buying_power(self, symbol: str, spec: OrderSpec, price: Decimal, now: float) -> None:
        """Refuse (BrokerError) an order whose added exposure the available margin cannot
        carry; previews call this too, so they say what placing would say."""
        problem = self.buying_power_problem(symbol, spec.side, spec.qty, price, now)
        if problem is not None:
            raise BrokerError(problem)

    def buying_power_problem(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, now: float
    ) -> str | None:
        position = self.positions.get(symbol)
        return buying_power_problem(
            position.q if position else ZERO, side, qty, price,
            self.leverage_of(symbol), self.equity(now),
        )  # fmt: skip

    # -- numbering and status -----------------------------------------------------------------

    def new_order(
        self,
        spec: OrderSpec,
        now: float,
        changes: Changes,
        *,
        parent: str | None = None,
        role: BracketRole | None = None,
    ) -> Order:
        """A WORKING order numbered from the account's counter (recorded as created)."""
        self.account.order_seq += 1
        seq = self.account.order_seq
        order = Order(
            id=f"ORDER-{seq}", seq=seq, symbol=self.market.spec(spec.symbol).name,
            type=spec.type, side=spec.side, qty=spec.qty, status=OrderStatus.WORKING,
            limit_price=spec.limit_price, stop_price=spec.stop_price,
            take_profit=spec.take_profit, stop_loss=spec.stop_loss,
            guaranteed_stop=spec.guaranteed_stop, trailing_stop_pips=spec.trailing_stop_pips,
            stop_type=spec.stop_type, update_time=int(now * 1000), parent=parent, role=role,
            since=math.floor(now),
        )  # fmt: skip
        self.orders[order.id] = order
        self._open[order.id] = order
        # stored with an INSERT, and the counter with it in the same transaction (store.commit)
        changes.created.add(order.id)
        changes.account = True
        return order

    def set_status(self, order: Order, status: OrderStatus, now: float, changes: Changes) -> None:
        order.status = status
        order.update_time = int(now * 1000)
        changes.order(order)

    # -- restoring ----------------------------------------------------------------------------

    def restore(
        self,
        account: Account,
        orders: list[Order],
        positions: list[Position],
        fills: list[Fill],
        leverage: dict[str, Decimal],
    ) -> None:
        """Replace the whole state with what the store loaded."""
        self.account = account
        self.orders = {o.id: o for o in sorted(orders, key=lambda o: o.seq)}
        self._open = {i: o for i, o in self.orders.items() if o.open}
        self.positions = {p.symbol: p for p in positions}
        self.fills = sorted(fills, key=lambda f: f.seq)
        self.leverage = dict(leverage)
