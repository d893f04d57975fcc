"""SQLite persistence of the broker (broker.md §12), off the event loop.

One connection lives on one dedicated thread (a single-worker executor): every commit is
serialized there, so the event loop never blocks on disk and there is exactly one writer.
WAL mode with ``synchronous=NORMAL`` survives a killed process (only a power loss could drop
the last transactions). The schema is created or migrated at start-up from :data:`MIGRATIONS`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from trading.broker.state import Account, BracketRole, Changes, Fill, Order, Position
from trading.models.broker import OrderStatus, OrderType, Side, StopType

T = TypeVar("T")

MIGRATIONS: tuple[str, ...] = (
    # 1: the initial schema
    """
    CREATE TABLE account (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        initial_balance TEXT NOT NULL,
        realized TEXT NOT NULL,
        commissions TEXT NOT NULL,
        order_seq INTEGER NOT NULL,
        fill_seq INTEGER NOT NULL
    );
    CREATE TABLE orders (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        symbol TEXT NOT NULL,
        type INTEGER NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        status INTEGER NOT NULL,
        limit_price TEXT, stop_price TEXT, take_profit TEXT, stop_loss TEXT,
        guaranteed_stop TEXT, trailing_stop_pips TEXT, stop_type INTEGER,
        filled_qty TEXT NOT NULL,
        avg_price TEXT,
        update_time INTEGER NOT NULL,
        parent TEXT,
        role TEXT,
        triggered INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE executions (
        seq INTEGER PRIMARY KEY,
        order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        time INTEGER NOT NULL,
        commission TEXT NOT NULL,
        realized TEXT NOT NULL
    );
    CREATE INDEX executions_symbol ON executions (symbol, seq);
    CREATE TABLE positions (symbol TEXT PRIMARY KEY, q TEXT NOT NULL, avg TEXT NOT NULL);
    CREATE TABLE leverage (symbol TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)

_ORDER_COLUMNS = (
    "id, seq, symbol, type, side, qty, status, limit_price, stop_price, take_profit, stop_loss, "
    "guaranteed_stop, trailing_stop_pips, stop_type, filled_qty, avg_price, update_time, parent, "
    "role, triggered"
)


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
        int(o.triggered),
    )  # fmt: skip


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
    )


@dataclass
class Snapshot:
    account: Account
    orders: list[Order]
    positions: list[Position]
    fills: list[Fill]
    leverage: dict[str, Decimal]


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-sqlite")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None
            return fn(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self, initial_balance: Decimal) -> Snapshot:
        def connect() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._db = db

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        await self._run(lambda db: _migrate(db, initial_balance))
        return await self.load()

    async def load(self) -> Snapshot:
        return await self._run(_load)

    async def commit(self, changes: Changes, account: Account, positions: dict[str, Position],
                     leverage: dict[str, Decimal]) -> None:  # fmt: skip
        """Write what a mutation changed, in one transaction."""
        orders = [_order_row(o) for o in changes.orders.values()]
        fills = [
            (f.seq, f.order_id, f.symbol, int(f.side), str(f.qty), str(f.price), f.time,
             str(f.commission), str(f.realized))
            for f in changes.fills
        ]  # fmt: skip
        pos_rows = {s: positions.get(s) for s in changes.positions}
        lev_rows = [(s, str(leverage[s])) for s in changes.leverage if s in leverage]
        acc = (str(account.realized), str(account.commissions), account.order_seq,
               account.fill_seq)  # fmt: skip
        reset = changes.reset

        def write(db: sqlite3.Connection) -> None:
            with _transaction(db):
                if reset:
                    for table in ("orders", "executions", "positions", "leverage"):
                        db.execute(f"DELETE FROM {table}")
                    db.execute(
                        "UPDATE account SET realized=?, commissions=?, order_seq=?, fill_seq=?",
                        acc,
                    )
                    return
                if orders:
                    db.executemany(
                        f"INSERT OR REPLACE INTO orders ({_ORDER_COLUMNS}) "
                        f"VALUES ({', '.join('?' * 20)})",
                        orders,
                    )
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
                if changes.account:
                    db.execute(
                        "UPDATE account SET realized=?, commissions=?, order_seq=?, fill_seq=?",
                        acc,
                    )

        await self._run(write)

    async def close(self) -> None:
        def shut(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(shut)
            self._db = None
        self._executor.shutdown(wait=True)


class _transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


def _migrate(db: sqlite3.Connection, initial_balance: Decimal) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with _transaction(db):
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            if number == 1:
                db.execute(
                    "INSERT INTO account VALUES (1, ?, '0', '0', 0, 0)", (str(initial_balance),)
                )
            db.execute(f"PRAGMA user_version = {number}")


def _load(db: sqlite3.Connection) -> Snapshot:
    acc = db.execute("SELECT * FROM account").fetchone()
    account = Account(
        initial_balance=Decimal(acc["initial_balance"]),
        realized=Decimal(acc["realized"]),
        commissions=Decimal(acc["commissions"]),
        order_seq=acc["order_seq"],
        fill_seq=acc["fill_seq"],
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
    return Snapshot(account, orders, positions, fills, leverage)
