"""SQLite persistence of the broker (broker.md §12), off the event loop.

One connection lives on one dedicated thread (a single-worker executor): every commit is
serialized there, so the event loop never blocks on disk and there is exactly one writer.
WAL mode with ``synchronous=NORMAL`` survives a killed process (only a power loss could drop
the last transactions). The file itself (lock, creation, checks, migrations) is
:mod:`trading.broker.sqlite_file`'s and the row layout :mod:`trading.broker.rows`'; this module
runs the transactions.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from trading.broker import history, keystore, rows, sqlite_file
from trading.broker.accounts import AccountInfo
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.errors import StorageError
from trading.broker.rows import Snapshot

DB_FILE = "trading.sqlite3"
"""The broker database's name in the data dir."""

T = TypeVar("T")


def prepare_store(data_dir: Path, initial_balance: Decimal) -> int:
    """Lock the data dir, create or migrate the broker database (and switch it to WAL),
    close it, and return the still-locked fd: what ``serve --workers N`` runs once before any
    worker starts (two processes switching a fresh file to WAL at once fail with "database is
    locked"). Raises :class:`StartupError` as :meth:`Store.open` does."""
    path = data_dir / DB_FILE
    fd = sqlite_file.lock_data_dir(data_dir)
    try:
        if not path.exists():
            sqlite_file.create(path, initial_balance)
        sqlite_file.open_existing(path).close()
    except BaseException:
        os.close(fd)
        raise
    return fd


class Store:
    def __init__(self, path: Path, *, lock_fd: int | None = None) -> None:
        """``lock_fd``: the data-dir lock the cluster supervisor holds (already ``flock``ed;
        see ``Settings.data_dir_lock_fd``); None: the store locks the data dir itself."""
        self.path = path
        self._inherited_lock = lock_fd
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
            if self._inherited_lock is not None:
                self._lock_fd = sqlite_file.adopt_lock(self._inherited_lock, self.path.parent)
            else:
                self._lock_fd = sqlite_file.lock_data_dir(self.path.parent)
            try:
                if not self.path.exists():
                    sqlite_file.create(self.path, initial_balance)
                self._db = sqlite_file.open_existing(self.path)
                self._identity = sqlite_file.identity(self.path)
                return rows.load(self._db)
            except BaseException:
                self._close_sync()
                raise

        return await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def load(self) -> Snapshot:
        return await self._run(rows.load)

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

    async def commit(self, batch: Sequence[tuple[str, Changes, Book]]) -> None:
        """Write what one mutation (or one tick of the fill loop) changed, for each account
        in ``batch``, in ONE transaction (the id counters included): all or nothing."""
        writes = [_account_write(account, changes, book) for account, changes, book in batch]
        if not writes:
            return

        def write(db: sqlite3.Connection) -> None:
            for one in writes:
                one(db)

        await self._run(lambda db: self._write(db, write))

    async def create_account(self, info: AccountInfo, initial_balance: Decimal) -> None:
        """Store a new account (its totals at zero) in its own transaction."""
        row = (info.id, info.seq, info.owner, info.name, info.currency, str(initial_balance),
               info.created)  # fmt: skip
        await self._run(lambda db: self._write(db, lambda d: d.execute(rows.INSERT_ACCOUNT, row)))

    async def probe(self) -> str | None:
        """Readiness: None when the database takes writes, else why not.

        Cheap while writes succeed (the file check and a write lock, rolled back); after a
        failed write it commits a no-op update, so a disk with space again is seen as such."""

        def check(db: sqlite3.Connection) -> str | None:
            if self.failure is not None:
                try:
                    self._write(db, lambda d: d.execute(sqlite_file.PROBE_WRITE))
                except StorageError as exc:
                    return exc.detail
                return None
            try:
                self._check_file()
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.execute(sqlite_file.PROBE_WRITE)
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


ACCOUNT_TABLES = ("orders", "executions", "positions", "leverage", "idempotency_keys",
                  "order_history")  # fmt: skip
"""Every table whose rows belong to an account (its reset deletes them)."""


def _account_write(
    account: str, changes: Changes, book: Book
) -> Callable[[sqlite3.Connection], None]:
    """The statements of one account's changes, with every row read now, on the event loop's
    thread (the engine may change the objects again before the store's thread runs)."""
    created = [(account, *rows.order_row(o)) for o in changes.orders.values()
               if o.id in changes.created]  # fmt: skip
    updated = [
        (*rows.order_row(o)[1:], account, o.id)
        for o in changes.orders.values()
        if o.id not in changes.created
    ]
    fills = [(account, *rows.fill_row(f)) for f in changes.fills]
    pos_rows = {s: book.positions.get(s) for s in changes.positions}
    lev_rows = [(account, s, str(book.leverage[s])) for s in changes.leverage if s in book.leverage]
    acc = (*rows.account_totals(book.account), account)
    write_account = changes.account or bool(created) or bool(fills)
    reset = changes.reset
    finals = history.final_rows(account, changes.orders.values())
    keys, expire_before = list(changes.keys), changes.keys_expire_before

    def write(db: sqlite3.Connection) -> None:
        if reset:
            for table in ACCOUNT_TABLES:
                db.execute(f"DELETE FROM {table} WHERE account = ?", (account,))
            db.execute(rows.UPDATE_ACCOUNT, acc)
            return
        if created:
            # a plain INSERT: an id that is already stored fails the whole transaction
            # instead of overwriting an acknowledged order
            db.executemany(
                f"INSERT INTO orders (account, {rows.ORDER_COLUMNS}) "
                f"VALUES (?, {rows.ORDER_PLACEHOLDERS})",
                created,
            )
        for row in updated:
            if db.execute(rows.UPDATE_ORDER, row).rowcount != 1:
                raise sqlite3.IntegrityError(f"order {row[-1]} of {account} is not stored")
        if fills:
            db.executemany("INSERT INTO executions VALUES (?,?,?,?,?,?,?,?,?,?)", fills)
        for symbol, pos in pos_rows.items():
            if pos is None:
                db.execute(
                    "DELETE FROM positions WHERE account = ? AND symbol = ?", (account, symbol)
                )
            else:
                # an upsert keeps the row (and its rowid, the opening order)
                db.execute(
                    "INSERT INTO positions VALUES (?, ?, ?, ?) ON CONFLICT (account, symbol) "
                    "DO UPDATE SET q = excluded.q, avg = excluded.avg",
                    (account, symbol, str(pos.q), str(pos.avg)),
                )
        if lev_rows:
            db.executemany("INSERT OR REPLACE INTO leverage VALUES (?, ?, ?)", lev_rows)
        history.record_finals(db, finals)
        keystore.write_keys(db, keys, expire_before)
        if write_account and db.execute(rows.UPDATE_ACCOUNT, acc).rowcount != 1:
            raise sqlite3.IntegrityError(f"account {account} is not stored")

    return write
