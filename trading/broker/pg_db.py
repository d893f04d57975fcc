"""The surface of ``sqlite3.Connection`` that the shared row code uses, over a psycopg
connection: so :mod:`trading.broker.rows`, :mod:`~trading.broker.history`,
:mod:`~trading.broker.keystore` and the SQLite store's account write define each row once for
both stores.

What it translates:

- ``?`` placeholders become psycopg's ``%s`` (a literal ``%`` is escaped);
- the three statements written in SQLite's dialect (``INSERT OR REPLACE``/``OR IGNORE``) are
  looked up in :data:`POSTGRES_FORMS`, their PostgreSQL upserts; any other statement in that
  dialect fails loudly, so a new one cannot slip through untranslated;
- rows answer by column name and by position, as ``sqlite3.Row`` does;
- ``in_transaction`` as sqlite3 has it: the PostgreSQL store opens the transactions (a read
  that spans tables runs in one ``REPEATABLE READ`` transaction there), and shared code that
  opens one only when none is open joins it.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import RowMaker, tuple_row

POSTGRES_FORMS: dict[str, str] = {
    "INSERT OR REPLACE INTO leverage VALUES (?, ?, ?)": (
        "INSERT INTO leverage VALUES (?, ?, ?) ON CONFLICT (account, symbol) "
        "DO UPDATE SET value = excluded.value"
    ),
    "INSERT OR REPLACE INTO idempotency_keys "
    "(account, key, fingerprint, order_id, created) VALUES (?, ?, ?, ?, ?)": (
        "INSERT INTO idempotency_keys (account, key, fingerprint, order_id, created) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, key) DO UPDATE SET "
        "fingerprint = excluded.fingerprint, order_id = excluded.order_id, "
        "created = excluded.created"
    ),
    "INSERT OR IGNORE INTO order_history (account, order_id, update_time, status) "
    "VALUES (?,?,?,?)": (
        "INSERT INTO order_history (account, order_id, update_time, status) "
        "VALUES (?,?,?,?) ON CONFLICT (account, order_id) DO NOTHING"
    ),
}
"""SQLite statement -> the same write in PostgreSQL (``INSERT OR REPLACE`` deletes and
reinserts the row; nothing refers to these rows, so an upsert is the same)."""

_SQLITE_ONLY = re.compile(r"\bOR\s+(REPLACE|IGNORE)\b|\bPRAGMA\b|\bAUTOINCREMENT\b", re.I)


class UntranslatedStatement(psycopg.ProgrammingError):
    """A statement in SQLite's dialect without a PostgreSQL form in POSTGRES_FORMS."""


@functools.lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """``sql`` as psycopg runs it with parameters."""
    sql = POSTGRES_FORMS.get(sql, sql)
    if _SQLITE_ONLY.search(sql):
        raise UntranslatedStatement(f"no PostgreSQL form of: {sql}")
    return sql.replace("%", "%%").replace("?", "%s")


class Row(tuple[Any, ...]):
    """A row readable as ``row["column"]`` and ``row[0]`` (what ``sqlite3.Row`` offers)."""

    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def named_row(cursor: Any) -> RowMaker[Row]:
    """psycopg row factory of :class:`Row`s (one class per result, its names looked up once)."""
    names = [c.name for c in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}
    row_type = type("Row", (Row,), {"_index": index, "__slots__": ()})

    def make(values: Sequence[Any]) -> Row:
        return row_type(values)  # type: ignore[no-any-return]

    return make


class Result:
    """What ``sqlite3.Cursor`` answers after an execute: rows, ``rowcount``."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor
        self.rowcount = cursor.rowcount

    def fetchall(self) -> list[Any]:
        return [] if self._cursor.description is None else self._cursor.fetchall()

    def fetchone(self) -> Any:
        return None if self._cursor.description is None else self._cursor.fetchone()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgDb:
    """A psycopg connection (autocommit: the store opens its transactions explicitly)
    behind the sqlite3 calls of the shared row code."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] = (), *, named: bool = True) -> Result:
        cursor = self.conn.cursor(row_factory=named_row if named else tuple_row)
        cursor.execute(postgres_sql(sql), tuple(params) or None)
        return Result(cursor)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Result:
        rows = [tuple(r) for r in seq]
        cursor = self.conn.cursor()
        if rows:
            cursor.executemany(postgres_sql(sql), rows)
        return Result(cursor)

    def cursor(self) -> _Cursor:
        return _Cursor(self)


class _Cursor:
    """``db.cursor()`` with ``row_factory = None``: plain tuples, read by position."""

    row_factory: object = "named"

    def __init__(self, db: PgDb) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        return self._db.execute(sql, params, named=self.row_factory is not None)


class Transaction:
    """BEGIN ... COMMIT, or ROLLBACK on an error (a broken session needs none: the server
    rolled it back when it ended).

    Inside a transaction already open (a command's, from ``PgStore.begin``) it joins it: a
    write then ends it (its COMMIT is the command's), a read (``ends_open=False``) leaves it
    open for the rest of the command."""

    def __init__(
        self, conn: psycopg.Connection[Any], begin: str = "BEGIN", *, ends_open: bool = True
    ) -> None:
        self._conn, self._begin, self._ends_open = conn, begin, ends_open
        self._joined = False

    def __enter__(self) -> None:
        self._joined = self._conn.info.transaction_status != TransactionStatus.IDLE
        if not self._joined:
            self._conn.execute(self._begin)

    def __exit__(self, kind: object, *_: object) -> None:
        if self._joined and not self._ends_open:
            return
        if kind is None:
            self._conn.execute("COMMIT")
        elif not self._conn.closed and not self._conn.broken:
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("ROLLBACK")
