"""How the broker's state is laid out in SQLite rows, and read back (broker.md §12).

Decimals are stored as their exact text, enums as their values; every row carries its account
(broker.md §20). :func:`load` reads every account, with the id counters never below a stored id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from trading.broker import keystore
from trading.broker.accounts import AccountInfo
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


def _order(row: Sequence[Any]) -> Order:
    """An order from its columns in :data:`ORDER_COLUMNS` order (positional: a name lookup
    in a ``sqlite3.Row`` scans the column names, 26 times per order at start-up)."""
    (id_, seq, symbol, type_, side, qty, status, limit_price, stop_price, take_profit,
     stop_loss, guaranteed_stop, trailing_stop_pips, stop_type, filled_qty, avg_price,
     update_time, parent, role, triggered, parent_type, duration_type, duration_datetime,
     expires_at, message_type, message_text) = row  # fmt: skip
    return Order(
        id=id_,
        seq=seq,
        symbol=symbol,
        type=OrderType(type_),
        side=Side(side),
        qty=Decimal(qty),
        status=OrderStatus(status),
        limit_price=_dec(limit_price),
        stop_price=_dec(stop_price),
        take_profit=_dec(take_profit),
        stop_loss=_dec(stop_loss),
        guaranteed_stop=_dec(guaranteed_stop),
        trailing_stop_pips=_dec(trailing_stop_pips),
        stop_type=None if stop_type is None else StopType(stop_type),
        filled_qty=Decimal(filled_qty),
        avg_price=_dec(avg_price),
        update_time=update_time,
        parent=parent,
        role=None if role is None else BracketRole(role),
        triggered=bool(triggered),
        parent_type=None if parent_type is None else ParentType(parent_type),
        duration=None if duration_type is None
        else Duration(DurationType(duration_type), duration_datetime),
        expires_at=expires_at,
        message=None if message_type is None
        else OrderMessage(MessageType(message_type), message_text),
    )  # fmt: skip


@dataclass
class BookRows:
    """One account as stored: its description, totals, orders, positions, fills, leverage."""

    info: AccountInfo
    account: Account
    orders: list[Order] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    leverage: dict[str, Decimal] = field(default_factory=dict)
    version: int = 0
    """The commit sequence number of the account's last change (broker.md §21)."""


@dataclass
class Snapshot:
    """Every account (in opening order) and the idempotency keys of all of them."""

    books: list[BookRows]
    keys: list[KeyRecord] = field(default_factory=list)
    commit_seq: int = 0
    """The store's commit sequence number when this was read: every change up to it is in."""


ACCOUNT_TOTALS = "realized=?, commissions=?, order_seq=?, fill_seq=?"
UPDATE_ACCOUNT = f"UPDATE accounts SET {ACCOUNT_TOTALS} WHERE id = ?"
INSERT_ACCOUNT = (
    "INSERT INTO accounts (id, seq, owner, name, currency, initial_balance, realized, "
    "commissions, order_seq, fill_seq, created) VALUES (?, ?, ?, ?, ?, ?, '0', '0', 0, 0, ?)"
)
STAMP_ACCOUNT = "UPDATE accounts SET version = ? WHERE id = ? AND version = ?"
"""(new version, account, version last read): no row when another process wrote it since."""
UPDATE_ORDER = (
    "UPDATE orders SET "
    + ", ".join(f"{c.strip()} = ?" for c in ORDER_COLUMNS.split(",")[1:])
    + " WHERE account = ? AND id = ?"
)


def account_totals(account: Account) -> tuple[str, str, int, int]:
    return (str(account.realized), str(account.commissions), account.order_seq,
            account.fill_seq)  # fmt: skip


def fill_row(f: Fill) -> tuple[object, ...]:
    return (f.seq, f.order_id, f.symbol, int(f.side), str(f.qty), str(f.price), f.time,
            str(f.commission), str(f.realized))  # fmt: skip


def load(db: sqlite3.Connection, ids: Collection[str] | None = None) -> Snapshot:
    """Every account (or those of ``ids``), one query per table (grouped here: start-up with
    many accounts reads each table once)."""
    where, args = ("", ()) if ids is None else (
        f" WHERE account IN ({', '.join('?' * len(ids))})", tuple(ids)
    )  # fmt: skip
    # the counters never go below a stored id (a database written before they were committed
    # with every order keeps counting from its highest row)
    max_order = dict(db.execute(
        f"SELECT account, MAX(seq) FROM orders{where} GROUP BY account", args
    ).fetchall())  # fmt: skip
    max_fill = dict(
        db.execute(f"SELECT account, MAX(seq) FROM executions{where} GROUP BY account", args)
    )
    books: dict[str, BookRows] = {}
    id_where = where.replace("account IN", "id IN")
    for r in db.execute(f"SELECT * FROM accounts{id_where} ORDER BY seq", args):
        info = AccountInfo(r["id"], r["seq"], r["name"], r["currency"], r["owner"], r["created"])
        account = Account(
            initial_balance=Decimal(r["initial_balance"]),
            realized=Decimal(r["realized"]),
            commissions=Decimal(r["commissions"]),
            order_seq=max(r["order_seq"], max_order.get(info.id) or 0),
            fill_seq=max(r["fill_seq"], max_fill.get(info.id) or 0),
        )
        books[info.id] = BookRows(info, account)
    orders = db.cursor()
    orders.row_factory = None  # plain tuples, read by position
    for r in orders.execute(
        f"SELECT account, {ORDER_COLUMNS} FROM orders{where} ORDER BY account, seq", args
    ):
        books[r[0]].orders.append(_order(r[1:]))
    for r in db.execute(f"SELECT * FROM positions{where} ORDER BY rowid", args):  # opening order
        position = Position(r["symbol"], Decimal(r["q"]), Decimal(r["avg"]))
        books[r["account"]].positions.append(position)
    for r in db.execute(f"SELECT * FROM executions{where} ORDER BY account, seq", args):
        books[r["account"]].fills.append(
            Fill(r["seq"], r["order_id"], r["symbol"], Side(r["side"]), Decimal(r["qty"]),
                 Decimal(r["price"]), r["time"], Decimal(r["commission"]), Decimal(r["realized"]))
        )  # fmt: skip
    for r in db.execute(f"SELECT * FROM leverage{where}", args):
        books[r["account"]].leverage[r["symbol"]] = Decimal(r["value"])
    return Snapshot(list(books.values()), keystore.load_keys(db, where, args))
