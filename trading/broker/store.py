"""SQLite persistence of the broker (broker.md §12), off the event loop.

One connection lives on one dedicated thread (a single-worker executor): every commit is
serialized there, so the event loop never blocks on disk and there is exactly one writer.
WAL mode with ``synchronous=NORMAL`` survives a killed process (only a power loss could drop
the last transactions). The file itself (lock, creation, checks, migrations) is
:mod:`trading.broker.sqlite_file`'s; this module maps rows to the broker's state and back.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from trading.broker import history, keystore, sqlite_file
from trading.broker.changes import Changes
from trading.broker.enums import (
    DurationType,
    MessageType,
    OrderStatus,
    OrderType,
    ParentType,
    Side,
    StopType,
)
from trading.broker.errors import StorageError
from trading.broker.idempotency import KeyRecord
from trading.broker.requests import Duration
from trading.broker.state import Account, BracketRole, Fill, Order, OrderMessage, Position

T = TypeVar("T")

_ORDER_COLUMNS = (
    "id, seq, symbol, type, side, qty, status, limit_price, stop_price, take_profit, stop_loss, "
    "guaranteed_stop, trailing_stop_pips, stop_type, filled_qty, avg_price, update_time, parent, "
    "role, triggered, parent_type, duration_type, duration_datetime, expires_at, message_type, "
    "message_text"
)
_ORDER_PLACEHOLDERS = ", ".join("?" * len(_ORDER_COLUMNS.split(",")))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _order_row(o: Order) -> tuple[object, ...]:
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


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-sqlite")
        self._db: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._lock_fd: int | None = None
        self.failure: str | None = None
        """Why the last write failed, until a write (or readiness probe) succeeds again."""

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None
            return fn(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self, initial_balance: Decimal) -> Snapshot:
        """Lock the data dir, open (or create) the database, check it, load it.

        Raises :class:`StartupError` with a message naming the file or dir when it cannot be
        served: never a new account over a file that is there but unreadable."""

        def connect() -> Snapshot:
            self._lock_fd = sqlite_file.lock_data_dir(self.path.parent)
            try:
                if not self.path.exists():
                    sqlite_file.create(self.path, initial_balance)
                self._db = sqlite_file.open_existing(self.path)
                self._identity = sqlite_file.identity(self.path)
                return _load(self._db)
            except BaseException:
                self._close_sync()
                raise

        return await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def load(self) -> Snapshot:
        return await self._run(_load)

    async def query(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the store's thread (the orders history pages here)."""
        return await self._run(fn)

    def _check_file(self) -> None:
        """The file at the path is still the one the connection writes to (not deleted or
        replaced): otherwise every commit would vanish with the unlinked inode."""
        try:
            now = sqlite_file.identity(self.path)
        except FileNotFoundError:
            raise StorageError(
                f"the broker database {self.path} was deleted while the server ran: "
                "writes are refused (restore the file and restart the server)"
            ) from None
        if now != self._identity:
            raise StorageError(
                f"the broker database {self.path} was replaced while the server ran: "
                "writes are refused (restart the server)"
            )

    def _write(self, db: sqlite3.Connection, body: Callable[[sqlite3.Connection], object]) -> None:
        """One transaction, rolled back on any failure and reported as a StorageError."""
        try:
            self._check_file()
            with sqlite_file.transaction(db):
                body(db)
        except StorageError as exc:
            self.failure = exc.detail
            raise
        except (sqlite3.Error, OSError) as exc:
            self.failure = f"the broker database {self.path} refused the write: {exc}"
            raise StorageError(self.failure) from exc
        self.failure = None

    async def commit(self, changes: Changes, account: Account, positions: dict[str, Position],
                     leverage: dict[str, Decimal]) -> None:  # fmt: skip
        """Write what a mutation changed, in one transaction (the id counters included)."""
        created = [_order_row(o) for o in changes.orders.values() if o.id in changes.created]
        updated = [
            (*_order_row(o)[1:], o.id)
            for o in changes.orders.values()
            if o.id not in changes.created
        ]
        fills = [
            (f.seq, f.order_id, f.symbol, int(f.side), str(f.qty), str(f.price), f.time,
             str(f.commission), str(f.realized))
            for f in changes.fills
        ]  # fmt: skip
        pos_rows = {s: positions.get(s) for s in changes.positions}
        lev_rows = [(s, str(leverage[s])) for s in changes.leverage if s in leverage]
        acc = (str(account.realized), str(account.commissions), account.order_seq,
               account.fill_seq)  # fmt: skip
        write_account = changes.account or bool(created) or bool(fills)
        reset = changes.reset
        finals = history.final_rows(changes.orders.values())
        keys, expire_before = list(changes.keys), changes.keys_expire_before

        def write(db: sqlite3.Connection) -> None:
            if reset:
                for table in ("orders", "executions", "positions", "leverage",
                              "idempotency_keys", "order_history"):  # fmt: skip
                    db.execute(f"DELETE FROM {table}")
                db.execute(_UPDATE_ACCOUNT, acc)
                return
            if created:
                # a plain INSERT: an id that is already stored fails the whole transaction
                # instead of overwriting an acknowledged order
                db.executemany(
                    f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({_ORDER_PLACEHOLDERS})",
                    created,
                )
            for row in updated:
                if db.execute(_UPDATE_ORDER, row).rowcount != 1:
                    raise sqlite3.IntegrityError(f"order {row[-1]} is not stored")
            if fills:
                db.executemany("INSERT INTO executions VALUES (?,?,?,?,?,?,?,?,?)", fills)
            for symbol, pos in pos_rows.items():
                if pos is None:
                    db.execute("DELETE FROM positions WHERE symbol = ?", (symbol,))
                else:
                    # an upsert keeps the row (and its rowid, the opening order)
                    db.execute(
                        "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT (symbol) "
                        "DO UPDATE SET q = excluded.q, avg = excluded.avg",
                        (symbol, str(pos.q), str(pos.avg)),
                    )
            if lev_rows:
                db.executemany("INSERT OR REPLACE INTO leverage VALUES (?, ?)", lev_rows)
            history.record_finals(db, finals)
            keystore.write_keys(db, keys, expire_before)
            if write_account:
                db.execute(_UPDATE_ACCOUNT, acc)

        await self._run(lambda db: self._write(db, write))

    async def probe(self) -> str | None:
        """Readiness: None when the database takes writes, else why not.

        Cheap while writes succeed (the file check and a write lock, rolled back); after a
        failed write it commits a no-op update, so a disk with space again is seen as such."""

        def check(db: sqlite3.Connection) -> str | None:
            if self.failure is not None:
                try:
                    self._write(db, lambda d: d.execute("UPDATE account SET id = id"))
                except StorageError as exc:
                    return exc.detail
                return None
            try:
                self._check_file()
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.execute("UPDATE account SET id = id")
                finally:
                    db.execute("ROLLBACK")
            except StorageError as exc:
                return exc.detail
            except (sqlite3.Error, OSError) as exc:
                return f"the broker database {self.path} refuses writes: {exc}"
            return None

        if self._db is None:
            return f"the broker database {self.path} is not open"
        return await self._run(check)

    def _close_sync(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the data-dir lock
            self._lock_fd = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_sync)
        self._executor.shutdown(wait=True)


_UPDATE_ACCOUNT = "UPDATE account SET realized=?, commissions=?, order_seq=?, fill_seq=?"
_UPDATE_ORDER = (
    "UPDATE orders SET "
    + ", ".join(f"{c.strip()} = ?" for c in _ORDER_COLUMNS.split(",")[1:])
    + " WHERE id = ?"
)


def _load(db: sqlite3.Connection) -> Snapshot:
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
    orders = [_order(r) for r in db.execute(f"SELECT {_ORDER_COLUMNS} FROM orders ORDER BY seq")]
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
