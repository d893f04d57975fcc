"""SQLite persistence of the broker (broker.md §12), off the event loop.

One connection lives on one dedicated thread (a single-worker executor): every commit is
serialized there, so the event loop never blocks on disk and there is exactly one writer.
WAL mode with ``synchronous=NORMAL`` survives a killed process (only a power loss could drop
the last transactions). The schema is created or migrated at start-up from :data:`MIGRATIONS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from trading.broker.changes import Changes
from trading.broker.enums import OrderStatus, OrderType, Side, StopType
from trading.broker.errors import StorageError
from trading.broker.state import Account, BracketRole, Fill, Order, Position

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


class StartupError(StorageError):
    """The data dir cannot be served (locked, corrupt, read-only): the server must not start."""


LOCK_FILE = "trading.lock"


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
            self._lock_fd = lock_data_dir(self.path.parent)
            try:
                if not self.path.exists():
                    _create(self.path, initial_balance)
                self._db = _open_existing(self.path)
                self._identity = _identity(self.path)
                return _load(self._db)
            except BaseException:
                self._close_sync()
                raise

        return await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def load(self) -> Snapshot:
        return await self._run(_load)

    def _check_file(self) -> None:
        """The file at the path is still the one the connection writes to (not deleted or
        replaced): otherwise every commit would vanish with the unlinked inode."""
        try:
            now = _identity(self.path)
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
            with _transaction(db):
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

        def write(db: sqlite3.Connection) -> None:
            if reset:
                for table in ("orders", "executions", "positions", "leverage"):
                    db.execute(f"DELETE FROM {table}")
                db.execute(_UPDATE_ACCOUNT, acc)
                return
            if created:
                # a plain INSERT: an id that is already stored fails the whole transaction
                # instead of overwriting an acknowledged order
                db.executemany(
                    f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * 20)})",
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


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def lock_data_dir(data_dir: Path) -> int:
    """An exclusive ``flock`` on the data dir's lock file, held until the fd is closed (the
    process ends at the latest): one server (or reset) per data dir."""
    lock_path = data_dir / LOCK_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StartupError(
            f"cannot use the data dir {data_dir}: {exc.strerror} ({lock_path}); "
            "it must exist or be creatable, and be writable"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        os.close(fd)
        raise StartupError(
            f"another trading server holds the data dir {data_dir} "
            f"(lock {lock_path}{', pid ' + holder if holder else ''}); stop it first, or use "
            "another TRADING_DATA_DIR"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _connect(uri: str) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def _create(path: Path, initial_balance: Decimal) -> None:
    """A new database, built beside the path and renamed into place once migrated: a crash
    midway never leaves a half-made file that a restart would take for a broken account."""
    for suffix in ("-wal", "-shm"):
        stray = path.with_name(path.name + suffix)
        if suffix == "-wal" and stray.exists() and stray.stat().st_size > 0:
            raise StartupError(
                f"the broker database {path} is missing but its write-ahead log {stray} is "
                "there: the database file was deleted or moved. Restore it, or remove the "
                "-wal and -shm files to start a new account"
            )
    fresh = path.with_name(path.name + ".new")
    for leftover in (fresh, fresh.with_name(fresh.name + "-wal"),
                     fresh.with_name(fresh.name + "-shm")):  # fmt: skip
        leftover.unlink(missing_ok=True)
    try:
        db = _connect(fresh.resolve().as_uri())
        try:
            db.execute("PRAGMA journal_mode=WAL")
            _migrate(db, initial_balance)
        finally:
            db.close()
        os.replace(fresh, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (sqlite3.Error, OSError) as exc:
        raise StartupError(f"cannot create the broker database {path}: {exc}") from None


def _open_existing(path: Path) -> sqlite3.Connection:
    """Open the file that is there, check it is a sound broker database that takes writes."""
    if path.stat().st_size == 0:
        raise StartupError(
            f"the broker database {path} is empty (0 bytes), not a broker database: refusing "
            "to start a new account over it. Restore it from a backup, or move it away to "
            "start a new account"
        )
    try:
        db = _connect(path.resolve().as_uri() + "?mode=rw")
    except sqlite3.Error as exc:
        raise StartupError(f"cannot open the broker database {path}: {exc}") from None
    try:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            problems = [r[0] for r in db.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        if problems != ["ok"]:
            raise StartupError(
                f"the broker database {path} is corrupt ({'; '.join(problems[:3])}): refusing "
                "to start over it. Restore it from a backup, or move it away to start a new "
                "account"
            )
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 or version > len(MIGRATIONS):
            raise StartupError(
                f"the file {path} is not a broker database this version can use (schema "
                f"version {version}, known 1..{len(MIGRATIONS)}): refusing to start over it"
            )
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            _migrate(db, Decimal(0))
            # a write that is rolled back: a read-only file fails here, not at the first order
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("UPDATE account SET id = id")
            finally:
                db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise StartupError(
                f"the broker database {path} does not take writes ({exc}): check that the "
                "file and its directory are writable by the server's user"
            ) from None
    except BaseException:
        db.close()
        raise
    return db


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an error. A COMMIT that fails (disk full)
    leaves SQLite's transaction open: it is rolled back too, so the next read (the reload of
    the committed state) never sees the refused rows."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            try:
                self._db.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")


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
    return Snapshot(account, orders, positions, fills, leverage)
