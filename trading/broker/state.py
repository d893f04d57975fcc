"""The broker's state: orders, positions, executions, account totals (broker.md §2-§6).

Prices and quantities are Decimals; the wire floats are made at the edge (``trading/wire``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from trading.broker.enums import MessageType, OrderStatus, OrderType, ParentType, Side, StopType
from trading.broker.money import ZERO, round2
from trading.broker.requests import Duration


class BracketRole(StrEnum):
    TAKE_PROFIT = "tp"
    STOP = "stop"


@dataclass(frozen=True)
class OrderMessage:
    """Why an order ended as it did (TradingView ``OrderOrPositionMessage``): set when it
    expired, was canceled by its IOC/FOK duration, or was rejected at fill time."""

    type: MessageType
    text: str


def _sign(q: Decimal) -> int:
    return (q > 0) - (q < 0)


@dataclass
class Order:
    id: str
    seq: int
    symbol: str
    type: OrderType
    side: Side
    qty: Decimal
    status: OrderStatus
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    guaranteed_stop: Decimal | None = None
    trailing_stop_pips: Decimal | None = None
    stop_type: StopType | None = None
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    update_time: int = 0
    parent: str | None = None
    """Bracket children only: the id of what the order protects, its entry order's id while
    that has not filled (``parent_type`` ORDER, the child INACTIVE), then the position's
    (its symbol, ``parent_type`` POSITION)."""
    parent_type: ParentType | None = None
    role: BracketRole | None = None
    triggered: bool = False
    """A STOP_LIMIT whose stop was reached (it now acts as a LIMIT)."""
    duration: Duration | None = None
    """The time in force as given (None: GTC, never given; broker.md §18)."""
    expires_at: int | None = None
    """Epoch ms from which the order no longer works (DAY, GTD); None: it does not expire."""
    message: OrderMessage | None = None
    since: int = 0
    """First second the fill loop may evaluate it (its acceptance or last modify); not stored:
    after a restart evaluation resumes at the current second anyway."""

    @property
    def working(self) -> bool:
        return self.status is OrderStatus.WORKING

    @property
    def open(self) -> bool:
        """WORKING, or an INACTIVE bracket waiting for its entry: not final yet."""
        return self.status in (OrderStatus.WORKING, OrderStatus.INACTIVE)

    def protects(self, parent_type: ParentType, parent: str) -> bool:
        return self.parent_type is parent_type and self.parent == parent

    @property
    def guaranteed(self) -> bool:
        return self.parent is not None and self.stop_type is StopType.GUARANTEED_STOP

    @property
    def trailing(self) -> bool:
        return self.parent is not None and self.stop_type is StopType.TRAILING_STOP

    @property
    def has_brackets(self) -> bool:
        return any(
            v is not None
            for v in (self.take_profit, self.stop_loss, self.guaranteed_stop,
                      self.trailing_stop_pips)
        )  # fmt: skip


@dataclass
class Position:
    """Signed quantity ``q`` (long > 0) and average price ``A`` (broker.md §5)."""

    symbol: str
    q: Decimal = ZERO
    avg: Decimal = ZERO
    closed_side: Side = Side.BUY
    """The side it had before ``q`` became 0: a close is pushed with it (broker.md §5)."""

    @property
    def side(self) -> Side:
        if self.q == 0:
            return self.closed_side
        return Side.BUY if self.q > 0 else Side.SELL

    def close(self) -> None:
        """``q`` becomes 0; the side and average price stay what they were."""
        self.closed_side = self.side
        self.q = ZERO

    def apply(self, side: Side, qty: Decimal, price: Decimal) -> Decimal:
        """Net one execution into the position; returns the realized P&L it booked (rounded).

        An execution ``(s, x, p)`` on ``(q, A)`` opens or adds with
        ``A' = (|q|·A + x·p) / (|q| + x)``, reduces keeping ``A`` and realizing
        ``min(x, |q|) · (p − A) · sign(q)``, closes at ``x = |q|``, and flips at ``x > |q|`` to
        ``q' = s·(x − |q|)``, ``A' = p``. So ``q`` always equals ``Σ s·x`` (broker.md §5)."""
        before = self.q
        s = Decimal(side.value)
        if before == 0 or _sign(before) == s:
            self.avg = (abs(before) * self.avg + qty * price) / (abs(before) + qty)
            self.q = before + s * qty
            return ZERO
        realized = round2(min(qty, abs(before)) * (price - self.avg) * _sign(before))
        if qty == abs(before):
            self.close()
        else:
            self.q = before + s * qty
        if qty > abs(before):
            self.avg = price
        return realized

    def unrealized(self, lp: Decimal) -> Decimal:
        return round2((lp - self.avg) * self.q)


@dataclass(frozen=True)
class Fill:
    """One execution with what it booked."""

    seq: int
    order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    time: int
    commission: Decimal
    realized: Decimal


@dataclass
class Account:
    initial_balance: Decimal
    realized: Decimal = ZERO
    commissions: Decimal = ZERO
    order_seq: int = 0
    fill_seq: int = 0

    @property
    def balance(self) -> Decimal:
        return self.initial_balance + self.realized - self.commissions


@dataclass(frozen=True)
class Equity:
    equity: Decimal
    balance: Decimal
    unrealized: Decimal
    realized: Decimal
    margin_used: Decimal

    @property
    def available(self) -> Decimal:
        return self.equity - self.margin_used
