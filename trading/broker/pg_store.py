"""PostgreSQL persistence of the broker (broker.md §12; issue 15): the store several hosts share
(``TRADING_DATABASE_URL``), with the interface and the semantics of the SQLite store
(:mod:`trading.broker.store`), whose row code it runs through :class:`~trading.broker.pg_db.PgDb`.

psycopg runs synchronously on a dedicated thread (and the evaluator's session on another),
like the SQLite store: the row code both share is synchronous, and the event loop never waits
on the network (:mod:`trading.broker.pg_session`). Sync psycopg rather than its async
connection for that reason: one definition of every row, not two.

Every write is ONE transaction that first takes the next global commit number
(``UPDATE broker_clock ... RETURNING``): the row lock serializes the writers of all hosts,
so commit numbers, account versions and order-history numbers follow commit order (a reader
of :meth:`PgStore.changed_since` or of a history page never sees a later commit before an
earlier one). Reads of several tables run in one ``REPEATABLE READ`` transaction: another
host's commit never lands between two tables.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from typing import TypeVar, cast

import psycopg

from trading.broker import history, pg_schema, rows
from trading.broker.accounts import AccountInfo
from trading.broker.errors import StorageError
from trading.broker.history import HistoryQuery
from trading.broker.pg_db import PgDb
from trading.broker.pg_leader import EVALUATOR_KEY, HOLDS_LOCK
from trading.broker.pg_session import PgSessions
from trading.broker.rows import Snapshot
from trading.broker.sqlite_file import PROBE_WRITE, StartupError
from trading.broker.storage import Versioned
from trading.broker.store import _account_write, write_batch

T = TypeVar("T")

NEXT_COMMIT = "UPDATE broker_clock SET commit_seq = commit_seq + 1 RETURNING commit_seq"


def _sqlite_like(db: PgDb) -> sqlite3.Connection:
    """The shared row code is typed against sqlite3's connection; PgDb offers the part of
    it that code calls (the contract tests run both stores through it)."""
    return cast(sqlite3.Connection, db)


class PgStore(PgSessions):
    def __init__(self, url: str, *, keepalive_s: int) -> None:
        super().__init__(url, keepalive_s)

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
        return rows.load(_sqlite_like(db), ids)

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
            write_batch(_sqlite_like(db), seq, expected, writes, evaluated)
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
            db.execute(rows.INSERT_ACCOUNT, (*row, seq))
            return stored, seq

        try:
            return await self._run(lambda db: self._write(db, write))
        finally:
            self._tx_on = None

    async def transact(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """``body`` in one write transaction on the store's own session (the broker service
        calls it under its lock, so it never lands inside a command's transaction)."""
        return await self._on("main", lambda db: self._write(db, lambda d: body(_sqlite_like(d))))

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

    # -- the fill evaluator's election ------------------------------------------------------

    async def acquire_leadership(self) -> None:
        """Wait until this process holds the evaluator lock (polled every
        :data:`~trading.broker.pg_leader.LEADER_POLL_S`): the one fill loop of all hosts."""
        await self._leader.acquire()

    def leader_lost(self) -> str | None:
        """None while this process holds the evaluator lock, else why not."""
        return self._leader.lost()
