"""The two PostgreSQL sessions of a broker store and the transactions on them.

The store's own session runs on a dedicated thread (a single-worker executor, like the SQLite
store's), the evaluator lock's on another (:mod:`trading.broker.pg_leader`): psycopg runs
synchronously there, because the row code shared with SQLite is synchronous, and the event
loop never waits on the network. A command's transaction (:meth:`PgSessions.begin`) pins every
call until its commit or :meth:`PgSessions.end` to the session it opened on.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import psycopg

from trading.broker import pg_conn
from trading.broker.errors import StaleAccount, StorageError
from trading.broker.pg_db import PgDb, Transaction
from trading.broker.pg_leader import Leadership, NotLeader

T = TypeVar("T")
Session = Literal["main", "leader"]

READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
LOCK_CLOCK = "SELECT commit_seq FROM broker_clock FOR UPDATE"
"""The commit lock: every write takes this row first (the next commit number)."""


class PgSessions:
    """The sessions, their threads and the transaction rules of :class:`PgStore`: what
    runs where, and how a failure of the database becomes a :class:`StorageError`."""

    def __init__(self, url: str, keepalive_s: int) -> None:
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
        except StorageError:
            if session == "main" or self._leader.lost() is None:
                self._tx_on = None
                raise
            # the evaluator's session ended unnoticed (psycopg sees it at the next call): a
            # command does not fail for that, it runs on the store's own session
            self._tx_on = "main"
            try:
                await self._run(lock)
            except BaseException:
                self._tx_on = None
                raise
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
