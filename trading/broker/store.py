"""SQLite persistence of the broker (broker.md §12, §21), off the event loop.

One connection lives on one dedicated thread (a single-worker executor): every commit of this
process is serialized there, so the event loop never blocks on disk. Other processes (the
workers of ``serve --workers N``) may write the same file: each commit is one ``BEGIN
IMMEDIATE`` transaction that checks the version of every account it writes against the one
this process last read, so a change made elsewhere is never overwritten (:class:`StaleAccount`).
WAL mode with ``synchronous=NORMAL`` survives a killed process (only a power loss could drop
the last transactions). The file itself (lock, creation, checks, migrations) is
:mod:`trading.broker.sqlite_file`'s and the row layout :mod:`trading.broker.rows`'; this module
runs the transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import os
import socket
import sqlite3
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from trading.broker import history, keystore, rows, sqlite_file
from trading.broker.accounts import AccountInfo
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.errors import StaleAccount, StorageError
from trading.broker.history import HistoryQuery
from trading.broker.rows import Snapshot
from trading.broker.storage import Versioned

DB_FILE = "trading.sqlite3"
"""The broker database's name in the data dir."""

T = TypeVar("T")

EVALUATOR = f"{socket.gethostname()}:{os.getpid()}"
"""Who commits a fill tick, stored with it (``broker_clock.evaluator``): which process of
which host runs the fill loop, and from which tick on."""
LEADER_POLL_S = 0.02
"""How often a fill-evaluator candidate tries the evaluator lock: a dead leader's successor
starts within this (a blocking flock in a thread could not be cancelled at shutdown)."""


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
        self._leader_fd: int | None = None
        self._data_version: int | None = None
        self.failure: str | None = None
        """Why the last write failed, until a write (or readiness probe) succeeds again."""

    @property
    def where(self) -> str:
        return str(self.path)

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

    async def load_accounts(self, ids: Collection[str]) -> Snapshot:
        """Only the accounts of ``ids`` (those another process changed), as :meth:`load`."""
        wanted = list(ids)
        return await self._run(lambda db: rows.load(db, wanted))

    async def changed_since(self, seq: int) -> tuple[int, dict[str, int]]:
        """``(latest commit seq, {account: version})`` of the accounts committed after
        ``seq`` (new ones included). Costs one ``PRAGMA`` when no other connection committed
        since the last call (``data_version`` moves only for other connections' commits)."""

        def read(db: sqlite3.Connection) -> tuple[int, dict[str, int]] | None:
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return None
            with sqlite_file.reading(db):
                latest = db.execute("SELECT commit_seq FROM broker_clock").fetchone()[0]
                found = db.execute("SELECT id, version FROM accounts WHERE version > ?", (seq,))
                changed = {r[0]: r[1] for r in found}
            self._data_version = version
            return latest, changed

        found = await self._run(read)
        return (seq, {}) if found is None else found

    async def history_page(self, account: str, query: HistoryQuery) -> tuple[list[str], int | None]:
        """One page of ``account``'s final orders (ids) and where the next one starts."""
        return await self._run(lambda db: history.page_ids(db, account, query))

    async def evaluated(self) -> int | None:
        """The last second the fill evaluator committed (where its successor resumes)."""
        return await self._run(
            lambda db: db.execute("SELECT evaluated FROM broker_clock").fetchone()[0]
        )

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

    def _write(self, db: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
        """One transaction, rolled back on any failure and reported as a StorageError (a
        stale account is no failure of the database: it leaves ``failure`` alone)."""
        try:
            self._check_file()
            with sqlite_file.transaction(db):
                result = body(db)
        except StaleAccount:
            raise
        except StorageError as exc:
            self.failure = exc.detail
            raise
        except (sqlite3.Error, OSError) as exc:
            self.failure = f"the broker database {self.path} refused the write: {exc}"
            raise StorageError(self.failure) from exc
        self.failure = None
        return result

    async def commit(
        self, batch: Sequence[Versioned], *, evaluated: int | None = None, leader: bool = False
    ) -> int:
        """Write what one mutation (or one tick of the fill loop) changed, for each account
        in ``batch``, in ONE transaction (the id counters included): all or nothing. Every
        account's stored version must still be the one given, else nothing is written and
        :class:`StaleAccount` names them; the accounts then carry the new commit number,
        which is returned. ``evaluated``: the fill loop's second, stored with its fills.
        ``leader``: a commit of the fill evaluator (here the evaluator lock file fences it;
        PostgreSQL commits it on the lock's session)."""
        writes = [_account_write(account, changes, book) for account, changes, book, _ in batch]
        expected = [(account, version) for account, _, _, version in batch]

        def write(db: sqlite3.Connection) -> int:
            seq = _next_commit(db)
            write_batch(db, seq, expected, writes, evaluated)
            return seq

        return await self._run(lambda db: self._write(db, write))

    async def create_account(
        self, info: AccountInfo, initial_balance: Decimal
    ) -> tuple[AccountInfo, int]:
        """Store a new account (its totals at zero) in its own transaction; its ``seq`` is
        given here (the next of all processes'). The stored info and its version."""

        def write(db: sqlite3.Connection) -> tuple[AccountInfo, int]:
            seq = _next_commit(db)
            number = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM accounts").fetchone()[0]
            stored = dataclasses.replace(info, seq=number)
            db.execute(rows.INSERT_ACCOUNT, (
                stored.id, stored.seq, stored.owner, stored.name, stored.currency,
                str(initial_balance), stored.created, seq,
            ))  # fmt: skip
            return stored, seq

        return await self._run(lambda db: self._write(db, write))

    async def transact(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """``body`` in one write transaction (the broker service calls it under its lock, so
        it never lands inside a command's transaction)."""
        return await self._run(lambda db: self._write(db, body))

    async def begin(self) -> None:
        """Take the database's write lock now (``BEGIN IMMEDIATE``, waiting for another
        process's transaction up to the busy timeout): the reads and the commit that follow
        form one transaction. :meth:`end` closes it if the commit did not."""

        def begin(db: sqlite3.Connection) -> None:
            try:
                self._check_file()
                db.execute("BEGIN IMMEDIATE")
            except StorageError as exc:
                self.failure = exc.detail
                raise
            except (sqlite3.Error, OSError) as exc:
                self.failure = f"the broker database {self.path} refused the write: {exc}"
                raise StorageError(self.failure) from exc

        await self._run(begin)

    async def end(self) -> None:
        """Roll back what :meth:`begin` opened and no commit closed (a refused command)."""
        await self._run(sqlite_file.rollback)

    # -- the fill evaluator's election (one host: a lock file beside the database) ---------

    async def acquire_leadership(self) -> None:
        """Wait until this process holds the evaluator lock: the one fill loop of all the
        processes on this data dir. The kernel releases it when the holder dies."""
        path = self.path.parent / sqlite_file.EVALUATOR_LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(LEADER_POLL_S)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._leader_fd = fd

    def leader_lost(self) -> str | None:
        """Why this process is no longer the evaluator (a file lock is held until closed)."""
        return None if self._leader_fd is not None else "the evaluator lock is not held"

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
            if db.in_transaction:  # a command holds the write lock: it does take writes
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
        if self._leader_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._leader_fd)  # the next worker's fill loop takes over
            self._leader_fd = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_sync)
        self._executor.shutdown(wait=True)


AccountWrite = Callable[[sqlite3.Connection], None]


def write_batch(
    db: sqlite3.Connection,
    seq: int,
    expected: Sequence[tuple[str, int]],
    writes: Sequence[AccountWrite],
    evaluated: int | None,
) -> None:
    """The body of every commit, on either store's connection (the PostgreSQL one through its
    adapter), numbered ``seq``: every account still at the version this process read (else
    :class:`StaleAccount`, and the caller rolls back), its rows, the fill clock and who keeps it."""
    stale = [
        account
        for account, version in expected
        if db.execute(rows.STAMP_ACCOUNT, (seq, account, version)).rowcount != 1
    ]
    if stale:
        raise StaleAccount(stale)
    for one in writes:
        one(db)
    if evaluated is not None:
        db.execute("UPDATE broker_clock SET evaluated = ?, evaluator = ?", (evaluated, EVALUATOR))


def _next_commit(db: sqlite3.Connection) -> int:
    """The next commit number of all processes (inside the writing transaction)."""
    seq: int = db.execute(
        "UPDATE broker_clock SET commit_seq = commit_seq + 1 RETURNING commit_seq"
    ).fetchone()[0]
    return seq


ACCOUNT_TABLES = ("orders", "executions", "positions", "leverage", "idempotency_keys",
                  "order_history")  # fmt: skip
"""Every table whose rows belong to an account (its reset deletes them)."""


def _account_write(
    account: str, changes: Changes, book: Book
) -> Callable[[sqlite3.Connection], None]:
    """The statements of one account's changes, with every row read now, on the event loop's
    thread (the engine may change the objects again before the store's thread runs)."""
    reset = changes.reset
    numbered = [o for o in changes.orders.values() if o.id in changes.created]
    created = [(account, *rows.order_row(o)) for o in numbered]
    # after a reset only the orders numbered since are stored (those it canceled are deleted)
    updated = [] if reset else [
        (*rows.order_row(o)[1:], account, o.id)
        for o in changes.orders.values()
        if o.id not in changes.created
    ]  # fmt: skip
    fills = [(account, *rows.fill_row(f)) for f in changes.fills]
    # in opening order (a new position's row id is its place): a set iterates in hash order
    opened = {s: i for i, s in enumerate(book.positions)}
    pos_rows = {
        s: book.positions.get(s) for s in sorted(changes.positions, key=lambda s: opened.get(s, -1))
    }
    lev_rows = [(account, s, str(book.leverage[s])) for s in changes.leverage if s in book.leverage]
    acc = (*rows.account_totals(book.account), account)
    write_account = changes.account or bool(created) or bool(fills) or reset
    finals = history.final_rows(account, numbered if reset else changes.orders.values())
    keys, expire_before = list(changes.keys), changes.keys_expire_before

    def write(db: sqlite3.Connection) -> None:
        if reset:
            # everything of the account goes; what follows is what commands grouped after
            # the reset in the same commit did (broker/grouping.py), nothing for a reset alone
            for table in ACCOUNT_TABLES:
                db.execute(f"DELETE FROM {table} WHERE account = ?", (account,))
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
