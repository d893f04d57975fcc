"""How the broker's state is laid out in SQLite rows, and read back (broker.md §12).

Decimals are stored as their exact text, enums as their values; :func:`load` reads the whole
account, with the id counters never below a stored id.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal

from trading.broker import keystore
from trading.broker.enums import (
    DurationType,
    MessageType,
    OrderStatus,
    OrderType,
    ParentType,
    Side,
    StopType,
)
from trading.broker.idempotency import KeyRecord
from trading.broker.requests import Duration
from trading.broker.state import Account, BracketRole, Fill, Order, OrderMessage, Position

ORDER_COLUMNS = (
    "id, seq, symbol, type, side, qty, status, limit_price, stop_price, take_profit, stop_loss, "
    "guaranteed_stop, trailing_stop_pips, stop_type, filled_qty, avg_price, update_time, parent, "
    "role, triggered, parent_type, duration_type, duration_datetime, expires_at, message_type, "
    "message_text"
)
ORDER_PLACEHOLDERS = ", ".join("?" * len(ORDER_COLUMNS.split(",")))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def order_row(o: Order) -> tuple[object, ...]:
    return (
        o.id, o.seq, o.symbol, int(o.type), int(o.side), str(o.qty), int(o.status),
        _text(o.limit_price), _text(o.stop_price), _text(o.take_profit), _text(o.stop_loss),
        _text(o.guaranteed_stop), _text(o.trailing_stop_pips),
        None if o.stop_type is None else int(o.stop_type), str(o.filled_qty),
        _text(o.avg_price), o.update_time, o.parent, None if o.role is None else o.role.value,
        int(o.triggered), None if o.parent_type is None else int(o.parent_type),
        *_duration_row(o.duration), o.expires_at, *_message_row(o.message),
    )  # fmt: skip


def _duration_row(d: Duration | None) -> tuple[str | None, int | None]:
    return (None, None) if d is None else (d.type.value, d.datetime)


def _message_row(m: OrderMessage | None) -> tuple[str | None, str | None]:
    return (None, None) if m is None else (m.type.value, m.text)


def _order(row: sqlite3.Row) -> Order:
    return Order(
        id=row["id"],
        seq=row["seq"],
        symbol=row["symbol"],
        type=OrderType(row["type"]),
        side=Side(row["side"]),
        qty=Decimal(row["qty"]),
        status=OrderStatus(row["status"]),
        limit_price=_dec(row["limit_price"]),
        stop_price=_dec(row["stop_price"]),
        take_profit=_dec(row["take_profit"]),
        stop_loss=_dec(row["stop_loss"]),
        guaranteed_stop=_dec(row["guaranteed_stop"]),
        trailing_stop_pips=_dec(row["trailing_stop_pips"]),
        stop_type=None if row["stop_type"] is None else StopType(row["stop_type"]),
        filled_qty=Decimal(row["filled_qty"]),
        avg_price=_dec(row["avg_price"]),
        update_time=row["update_time"],
        parent=row["parent"],
        role=None if row["role"] is None else BracketRole(row["role"]),
        triggered=bool(row["triggered"]),
        parent_type=None if row["parent_type"] is None else ParentType(row["parent_type"]),
        duration=None if row["duration_type"] is None
        else Duration(DurationType(row["duration_type"]), row["duration_datetime"]),
        expires_at=row["expires_at"],
        message=None if row["message_type"] is None
        else OrderMessage(MessageType(row["message_type"]), row["message_text"]),
    )  # fmt: skip


@dataclass
class Snapshot:
    account: Account
    orders: list[Order]
    positions: list[Position]
    fills: list[Fill]
    leverage: dict[str, Decimal]
    keys: list[KeyRecord] = field(default_factory=list)


UPDATE_ACCOUNT = "UPDATE account SET realized=?, commissions=?, order_seq=?, fill_seq=?"
UPDATE_ORDER = (
    "UPDATE orders SET "
    + ", ".join(f"{c.strip()} = ?" for c in ORDER_COLUMNS.split(",")[1:])
    + " WHERE id = ?"
)


def load(db: sqlite3.Connection) -> Snapshot:
    acc = db.execute("SELECT * FROM account").fetchone()
    # the counters never go below a stored id (a database written before they were committed
    # with every order keeps counting from its highest row)
    max_order = db.execute("SELECT COALESCE(MAX(seq), 0) FROM orders").fetchone()[0]
    max_fill = db.execute("SELECT COALESCE(MAX(seq), 0) FROM executions").fetchone()[0]
    account = Account(
        initial_balance=Decimal(acc["initial_balance"]),
        realized=Decimal(acc["realized"]),
        commissions=Decimal(acc["commissions"]),
        order_seq=max(acc["order_seq"], max_order),
        fill_seq=max(acc["fill_seq"], max_fill),
    )
    orders = [_order(r) for r in db.execute(f"SELECT {ORDER_COLUMNS} FROM orders ORDER BY seq")]
    positions = [
        Position(r["symbol"], Decimal(r["q"]), Decimal(r["avg"]))
        for r in db.execute("SELECT * FROM positions ORDER BY rowid")  # opening order
    ]
    fills = [
        Fill(r["seq"], r["order_id"], r["symbol"], Side(r["side"]), Decimal(r["qty"]),
             Decimal(r["price"]), r["time"], Decimal(r["commission"]), Decimal(r["realized"]))
        for r in db.execute("SELECT * FROM executions ORDER BY seq")
    ]  # fmt: skip
    leverage = {r["symbol"]: Decimal(r["value"]) for r in db.execute("SELECT * FROM leverage")}
    return Snapshot(account, orders, positions, fills, leverage, keystore.load_keys(db))
