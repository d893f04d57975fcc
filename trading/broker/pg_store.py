"""PostgreSQL persistence of the broker (broker.md §12; issue 15): the store several hosts share
(``TRADING_DATABASE_URL``), with the interface and the semantics of the SQLite store
(:mod:`trading.broker.store`), whose row code it runs through :class:`~trading.broker.pg_db.PgDb`.

psycopg runs synchronously on a dedicated thread (and the evaluator's session on another,
:mod:`trading.broker.pg_leader`), like the SQLite store: the row code both share is
synchronous, and the event loop never waits on the network. Sync psycopg rather than its
async connection for that reason: one definition of every row, not two.

Every write is ONE transaction that first takes the next global commit number
(``UPDATE broker_clock ... RETURNING``): the row lock serializes the writers of all hosts,
so commit numbers, account versions and order-history numbers follow commit order (a reader
of :meth:`PgStore.changed_since` or of a history page never sees a later commit before an
earlier one). Reads of several tables run in one ``REPEATABLE READ`` transaction: another
host's commit never lands between two tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Literal, TypeVar, cast

import psycopg

from trading.broker import history, pg_conn, pg_schema, rows
from trading.broker.accounts import AccountInfo
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.errors import StaleAccount, StorageError
from trading.broker.history import HistoryQuery
from trading.broker.pg_db import PgDb, Transaction
from trading.broker.pg_leader import EVALUATOR_KEY, HOLDS_LOCK, Leadership, NotLeader
from trading.broker.rows import Snapshot
from trading.broker.sqlite_file import PROBE_WRITE, StartupError
from trading.broker.store import _account_write

T = TypeVar("T")
Session = Literal["main", "leader"]
Versioned = tuple[str, Changes, Book, int]
"""An account's changes, its book, and the version this process last read of it."""

NEXT_COMMIT = "UPDATE broker_clock SET commit_seq = commit_seq + 1 RETURNING commit_seq"
READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
LOCK_CLOCK = "SELECT commit_seq FROM broker_clock FOR UPDATE"


def _sqlite_like(db: PgDb) -> sqlite3.Connection:
    """The shared row code is typed against sqlite3's connection; PgDb offers the part of
    it that code calls (the contract tests run both stores through it)."""
    return cast(sqlite3.Connection, db)


class PgStore:
    def __init__(self, url: str, *, keepalive_s: int) -> None:
        self._url = url
        self._keepalive_s = keepalive_s
        self.where = pg_conn.describe(url)
        """What logs and errors name: ``postgresql://host:port/db``, never the password."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-pg")
        self._conn: psycopg.Connection[Any] | None = None
        self._leader = Leadership(url, keepalive_s, self.where)
        self._closed = False
        self._tx_on: Session | None = None
        """The session of the command transaction :meth:`begin` opened, until its commit or
        :meth:`end`: every call meanwhile runs on it."""
        self.failure: str | None = None
        """Why the last write failed, until a write (or readiness probe) succeeds again."""

    # -- the session ------------------------------------------------------------------------

    def _session(self) -> PgDb:
        """The store's session, opened again when it was lost (a restarted server, a dropped
        connection): the failed call reported it, the next one reconnects."""
        if not pg_conn.alive(self._conn):
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            try:
                self._conn = pg_conn.connect(self._url, self._keepalive_s)
            except psycopg.Error as exc:
                raise StorageError(
                    f"cannot connect to the broker database {self.where}: {exc}"
                ) from None
        assert self._conn is not None
        return PgDb(self._conn)

    async def _on(self, session: Session, fn: Callable[[PgDb], T]) -> T:
        """``fn`` on the store's own session (its thread) or on the evaluator lock's."""
        if session == "main":
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, lambda: fn(self._session())
            )
        try:
            return await self._leader.run(fn)
        except NotLeader as exc:
            raise StorageError(f"not the fill evaluator of {self.where}: {exc}") from None

    async def _run(self, fn: Callable[[PgDb], T]) -> T:
        return await self._on(self._tx_on or "main", fn)

    async def _read(self, fn: Callable[[PgDb], T], *, snapshot: bool = True) -> T:
        """``fn`` in one consistent read transaction (``snapshot``; a single statement is
        one by itself, and spares the two round trips); errors become StorageError."""

        def read(db: PgDb) -> T:
            try:
                if not snapshot:
                    return fn(db)
                with Transaction(db.conn, READ, ends_open=False):
                    return fn(db)
            except psycopg.Error as exc:
                raise StorageError(f"cannot read the broker database {self.where}: {exc}") from exc

        return await self._run(read)

    def _write(self, db: PgDb, body: Callable[[PgDb], T]) -> T:
        """One transaction, rolled back on any failure and reported as a StorageError (a
        stale account is no failure of the database: it leaves ``failure`` alone)."""
        try:
            with Transaction(db.conn):
                result = body(db)
        except StaleAccount:
            raise
        except StorageError as exc:
            self.failure = exc.detail
            raise
        except (psycopg.Error, sqlite3.Error) as exc:
            # sqlite3.IntegrityError: the shared account write found a row missing
            self.failure = f"the broker database {self.where} refused the write: {exc}"
            raise StorageError(self.failure) from exc
        self.failure = None
        return result

    # -- reading ----------------------------------------------------------------------------

    async def open(self, initial_balance: Decimal) -> Snapshot:
        """Connect, create or migrate the schema (under an advisory lock: hosts starting
        together never collide), load every account. Raises :class:`StartupError` naming
        the database when it cannot be served."""

        def connect(db: PgDb) -> None:
            try:
                pg_schema.migrate(db.conn, initial_balance, self.where)
            except psycopg.Error as exc:
                raise StartupError(
                    f"cannot set up the broker database {self.where}: {exc}"
                ) from None

        try:
            await self._run(connect)
            return await self._read(self._load)
        except StartupError:
            raise
        except StorageError as exc:
            raise StartupError(exc.detail) from None

    def _load(self, db: PgDb, ids: Collection[str] | None = None) -> Snapshot:
        snap = rows.load(_sqlite_like(db), ids)
        # the version columns as the integrator's shared load reads them after the merge
        found = db.execute(
            "SELECT id, version FROM accounts" + ("" if ids is None else " WHERE id = ANY(?)"),
            () if ids is None else (list(ids),),
        )
        versions = {r[0]: r[1] for r in found}
        for book in snap.books:
            book.version = versions[book.info.id]
        snap.commit_seq = db.execute("SELECT commit_seq FROM broker_clock").fetchone()[0]
        return snap

    async def load(self) -> Snapshot:
        return await self._read(self._load)

    async def load_accounts(self, ids: Collection[str]) -> Snapshot:
        """Only the accounts of ``ids`` (those another process changed), as :meth:`load`."""
        wanted = list(ids)
        if not wanted:
            return await self._read(
                lambda db: Snapshot([], [], db.execute("SELECT commit_seq FROM broker_clock")
                                    .fetchone()[0])
            )  # fmt: skip
        return await self._read(lambda db: self._load(db, wanted))

    async def changed_since(self, seq: int) -> tuple[int, dict[str, int]]:
        """``(latest commit seq, {account: version})`` of the accounts committed after
        ``seq`` (new ones included): one statement, so both come from one snapshot."""

        def read(db: PgDb) -> tuple[int, dict[str, int]]:
            found = db.execute(
                "SELECT c.commit_seq, a.id, a.version FROM broker_clock c "
                "LEFT JOIN accounts a ON a.version > ?",
                (seq,),
            ).fetchall()
            return found[0][0], {r[1]: r[2] for r in found if r[1] is not None}

        return await self._read(read, snapshot=False)  # before every command: one round trip

    async def history_page(self, account: str, query: HistoryQuery) -> tuple[list[str], int | None]:
        """One page of ``account``'s final orders (ids) and where the next one starts."""
        return await self._read(
            lambda db: history.page_ids(_sqlite_like(db), account, query), snapshot=False
        )

    async def evaluated(self) -> int | None:
        """The last second the fill evaluator committed (where its successor resumes)."""
        found: int | None = await self._read(
            lambda db: db.execute("SELECT evaluated FROM broker_clock").fetchone()[0],
            snapshot=False,
        )
        return found

    # -- writing ----------------------------------------------------------------------------

    async def commit(
        self, batch: Sequence[Versioned], *, evaluated: int | None = None, leader: bool = False
    ) -> int:
        """Write what one mutation (or one tick of the fill loop) changed, for each account
        in ``batch``, in ONE transaction: all or nothing. Every account's stored version
        must still be the one given, else nothing is written and :class:`StaleAccount` names
        them; the accounts then carry the new commit number, which is returned.
        ``evaluated``: the fill loop's second, stored with its fills. ``leader``: the fill
        evaluator's commit, run on the session that holds the evaluator lock (and checked to
        hold it in the same transaction); without that session it fails."""
        writes = [_account_write(account, changes, book) for account, changes, book, _ in batch]
        expected = [(account, version) for account, _, _, version in batch]

        def write(db: PgDb) -> int:
            seq: int = db.execute(NEXT_COMMIT).fetchone()[0]
            if leader and db.execute(HOLDS_LOCK, EVALUATOR_KEY).fetchone()[0] != 1:
                raise StorageError(f"this session lost the evaluator lock on {self.where}")
            stale = [
                account
                for account, version in expected
                if db.execute(rows.STAMP_ACCOUNT, (seq, account, version)).rowcount != 1
            ]
            if stale:
                raise StaleAccount(stale)
            for one in writes:
                one(_sqlite_like(db))
            if evaluated is not None:
                db.execute("UPDATE broker_clock SET evaluated = ?", (evaluated,))
            return seq

        session = self._tx_on or ("leader" if leader else "main")
        if leader and session != "leader":  # begun before this process was elected
            await self.end()
            raise StorageError("the fill evaluator's commit must run on its lock's session")
        try:
            return await self._on(session, lambda db: self._write(db, write))
        finally:
            self._tx_on = None  # committed or rolled back: the command's transaction ended

    async def create_account(
        self, info: AccountInfo, initial_balance: Decimal
    ) -> tuple[AccountInfo, int]:
        """Store a new account (its totals at zero) in its own transaction; its ``seq`` is
        given here (the next of all hosts'). The stored info and its version (this commit's
        number)."""

        def write(db: PgDb) -> tuple[AccountInfo, int]:
            seq = db.execute(NEXT_COMMIT).fetchone()[0]
            number = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM accounts").fetchone()[0]
            stored = dataclasses.replace(info, seq=number)
            row = (stored.id, stored.seq, stored.owner, stored.name, stored.currency,
                   str(initial_balance), stored.created)  # fmt: skip
            # the shared INSERT takes the version once the SQLite store has the column
            # (issue 15, merged from the integrator's branch); until then it is set after
            versioned = "version" in rows.INSERT_ACCOUNT
            db.execute(rows.INSERT_ACCOUNT, (*row, seq) if versioned else row)
            if not versioned:
                db.execute("UPDATE accounts SET version = ? WHERE id = ?", (seq, stored.id))
            return stored, seq

        try:
            return await self._run(lambda db: self._write(db, write))
        finally:
            self._tx_on = None

    async def probe(self) -> str | None:
        """Readiness: None when the database takes writes, else why not (a write that
        changes nothing, rolled back; committed after a failure, to clear it)."""

        def check(db: PgDb) -> str | None:
            if db.in_transaction:  # a command holds the commit lock: it does take writes
                return None
            try:
                if self.failure is not None:
                    self._write(db, lambda d: d.execute(PROBE_WRITE))
                    return None
                db.conn.execute("BEGIN")
                try:
                    db.execute(PROBE_WRITE)
                finally:
                    db.conn.execute("ROLLBACK")
            except StorageError as exc:
                return exc.detail
            except psycopg.Error as exc:
                return f"the broker database {self.where} refuses writes: {exc}"
            return None

        try:
            return await self._run(check)
        except StorageError as exc:  # no session
            return exc.detail

    async def begin(self) -> None:
        """Take the commit lock now (the ``broker_clock`` row, which every write takes
        first), so the reads and the commit that follow form one transaction no other host
        can write into: a command decides on the stored state. On the evaluator lock's
        session while this process holds it: the fill evaluator's commit must run there, and
        a transaction open on the other session would hold the lock it waits for.
        :meth:`end` closes it if no commit did."""
        session: Session = "leader" if self._leader.lost() is None else "main"

        def lock(db: PgDb) -> None:
            try:
                db.conn.execute("BEGIN")
                db.execute(LOCK_CLOCK)
            except psycopg.Error as exc:
                if pg_conn.alive(db.conn):
                    db.conn.execute("ROLLBACK")
                self.failure = f"the broker database {self.where} refused the write: {exc}"
                raise StorageError(self.failure) from exc

        self._tx_on = session
        try:
            await self._run(lock)
        except BaseException:
            self._tx_on = None
            raise

    async def end(self) -> None:
        """Roll back what :meth:`begin` opened and no commit closed (a refused command)."""
        session, self._tx_on = self._tx_on, None
        if session is None:
            return

        def rollback(db: PgDb) -> None:
            if db.in_transaction:
                db.conn.execute("ROLLBACK")

        # a session that is gone took its transaction with it
        with contextlib.suppress(StorageError, psycopg.Error):
            await self._on(session, rollback)

    # -- the fill evaluator's election ------------------------------------------------------

    async def acquire_leadership(self) -> None:
        """Wait until this process holds the evaluator lock (polled every
        :data:`~trading.broker.pg_leader.LEADER_POLL_S`): the one fill loop of all hosts."""
        await self._leader.acquire()

    def leader_lost(self) -> str | None:
        """None while this process holds the evaluator lock, else why not."""
        return self._leader.lost()

    async def close(self) -> None:
        """Close both sessions (the evaluator lock is freed with its own); again: nothing."""
        if self._closed:
            return
        self._closed = True

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._leader.close()
        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)
