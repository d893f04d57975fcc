"""What the broker asks of a store (broker.md §12, §21): SQLite in the data dir
(:class:`~trading.broker.store.Store`) or PostgreSQL shared by hosts
(:class:`~trading.broker.pg_store.PgStore`). Every method runs its SQL off the event loop."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from typing import Protocol, TypeVar

from trading.broker.accounts import AccountInfo
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.history import HistoryQuery
from trading.broker.rows import Snapshot

T = TypeVar("T")

Versioned = tuple[str, Changes, Book, int]
"""An account's changes, its book, and the version this process last read of it."""


class BrokerStore(Protocol):
    @property
    def where(self) -> str:
        """What logs and errors name (a file, or a database without its password)."""
        ...

    async def open(self, initial_balance: Decimal) -> Snapshot:
        """Create or migrate, check, and load every account."""
        ...

    async def load(self) -> Snapshot: ...

    async def load_accounts(self, ids: Collection[str]) -> Snapshot:
        """Only these accounts (others changed them)."""
        ...

    async def changed_since(self, seq: int) -> tuple[int, dict[str, int]]:
        """The latest commit number and the versions of the accounts committed after ``seq``."""
        ...

    async def history_page(
        self, account: str, query: HistoryQuery
    ) -> tuple[list[str], int | None]: ...

    async def begin(self) -> None:
        """Take the store's write lock for one command (its reads and its commit)."""
        ...

    async def end(self) -> None:
        """Release what :meth:`begin` took if no commit did."""
        ...

    async def commit(
        self, batch: Sequence[Versioned], *, evaluated: int | None = None, leader: bool = False
    ) -> int:
        """Write a batch in one transaction unless an account's version moved
        (:class:`~trading.broker.errors.StaleAccount`); the new commit number."""
        ...

    async def create_account(
        self, info: AccountInfo, initial_balance: Decimal
    ) -> tuple[AccountInfo, int]: ...

    async def acquire_leadership(self) -> None:
        """Wait until this process is the one fill evaluator."""
        ...

    def leader_lost(self) -> str | None:
        """Why this process is no longer the evaluator, or None."""
        ...

    async def evaluated(self) -> int | None:
        """The last second a fill evaluator committed."""
        ...

    async def probe(self) -> str | None:
        """Readiness: None when the store takes writes, else why not."""
        ...

    async def transact(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """``body`` (row code of :mod:`trading.broker.replay_rows`) in ONE write transaction of
        its own, off the loop: all of it is stored or none (docs/replay.md §3)."""
        ...

    async def close(self) -> None: ...
