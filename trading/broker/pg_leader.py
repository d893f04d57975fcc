"""The fill evaluator's election across hosts: a PostgreSQL session advisory lock, and the
evaluator's commits on THAT session (issue 15).

The lock belongs to the session: the server frees it when the session ends (the process died,
or its host stopped answering keepalives). Committing fills on the same session is the fence:
a leader that was partitioned away has lost its session, so its commit fails instead of
writing next to its successor's. Never grab the lock on one connection and write on another
(and never through a transaction-mode pooler, which breaks session locks).

The session lives on its own thread, so polling for the lock and the evaluator's commits
never queue behind the store's other reads and writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg

from trading.broker import pg_conn
from trading.broker.pg_db import PgDb
from trading.broker.pg_schema import EVALUATOR_LOCK, LOCK_SPACE

T = TypeVar("T")
log = logging.getLogger(__name__)

LEADER_POLL_S = 0.1
"""How often a candidate tries the lock: a dead leader's successor starts within this."""
TRY_LOCK = "SELECT pg_try_advisory_lock(%s::int, %s::int)"
HOLDS_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
    "AND classid::bigint = ? AND objid::bigint = ? AND objsubid = 2 AND granted"
)
"""Whether this session holds the evaluator lock (the two-key form has objsubid 2); run
through :class:`~trading.broker.pg_db.PgDb` (``?`` placeholders)."""
EVALUATOR_KEY = (LOCK_SPACE, EVALUATOR_LOCK)


class NotLeader(Exception):
    """This process does not (or no longer) hold the evaluator lock: ``str()`` says why."""


class Leadership:
    """The evaluator-lock session of one store."""

    def __init__(self, url: str, keepalive_s: int, where: str) -> None:
        self._url = url
        self._keepalive_s = keepalive_s
        self._where = where
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-pg-lead")
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._lost: str | None = None
        self._last_error: str | None = None

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def acquire(self) -> None:
        """Wait until this session holds the lock (cancellable: a lock taken by a try that
        was in flight when cancelled is given back)."""
        while True:
            try:
                if await self._call(self._try):
                    return
            except asyncio.CancelledError:
                self._executor.submit(self._release)  # runs after the try in flight
                raise
            await asyncio.sleep(LEADER_POLL_S)

    def _try(self) -> bool:
        if self._held and pg_conn.alive(self._conn):
            return True
        try:
            if not pg_conn.alive(self._conn):
                self._drop()
                self._conn = pg_conn.connect(self._url, self._keepalive_s)
            assert self._conn is not None
            row = self._conn.execute(TRY_LOCK, EVALUATOR_KEY).fetchone()
        except psycopg.Error as exc:
            message = f"cannot try the evaluator lock on {self._where}: {exc}"
            if message != self._last_error:  # once per kind of failure, not every poll
                log.warning("%s", message)
                self._last_error = message
            self._drop()
            return False
        self._last_error = None
        self._held = bool(row and row[0])
        if self._held:
            self._lost = None
        return self._held

    def lost(self) -> str | None:
        """None while this session holds the lock, else why not."""
        if not self._held:
            return self._lost or "this process does not hold the evaluator lock"
        if not pg_conn.alive(self._conn):
            return f"the session holding the evaluator lock on {self._where} ended"
        return None

    async def run(self, fn: Callable[[PgDb], T]) -> T:
        """Run ``fn`` on the lock's session (raises :class:`NotLeader` without the lock; a
        session lost meanwhile fails the call and ends the leadership)."""

        def call() -> T:
            if not self._held or not pg_conn.alive(self._conn):
                raise NotLeader(self._mark_lost())
            assert self._conn is not None
            try:
                return fn(PgDb(self._conn))
            finally:
                if not pg_conn.alive(self._conn):
                    self._mark_lost()

        return await self._call(call)

    def _mark_lost(self) -> str:
        if self._held:
            self._lost = f"the session holding the evaluator lock on {self._where} ended"
            log.error("fill evaluator: %s", self._lost)
        self._held = False
        self._drop()
        return self._lost or "this process does not hold the evaluator lock"

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _release(self) -> None:
        """Give the lock back (closing the session frees it on the server)."""
        self._held = False
        self._drop()

    async def close(self) -> None:
        await self._call(self._release)
        self._executor.shutdown(wait=True)
