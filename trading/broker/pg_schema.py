"""The broker's PostgreSQL schema and its migrations (broker.md §12; issue 15).

The tables and columns are the SQLite store's (:mod:`trading.broker.sqlite_file`), as its
migrations leave them, so the row code of :mod:`trading.broker.rows` reads and writes both.
Where SQLite has something implicit, the schema here spells it out:

- ``positions.rowid``: SQLite's implicit row number is the positions' opening order (an upsert
  keeps the row, a reopened position gets a new, higher number); here it is an identity
  column of that name, so the shared ``ORDER BY rowid`` means the same.
- ``order_history.hseq``: an identity instead of ``AUTOINCREMENT`` (never reused). Numbers
  follow commit order because every writing transaction first locks the ``broker_clock`` row
  (:mod:`trading.broker.pg_store`): the history's keyset never sees a later commit below an
  earlier one.
- Integers are ``BIGINT`` (SQLite's INTEGER is 64-bit: epoch milliseconds do not fit 32 bits);
  decimals stay ``TEXT``, their exact digits.

Migrations run in ONE transaction under a transaction-level advisory lock: hosts starting
together against a fresh database wait for the first one and then find the schema made (DDL
is transactional here, so a crash midway leaves nothing half-made).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg

from trading.broker.accounts import CURRENCY, DEFAULT_ACCOUNT, DEFAULT_ACCOUNT_NAME
from trading.broker.sqlite_file import StartupError

LOCK_SPACE = 0x54524144
"""The first key of this server's advisory locks ("TRAD"); the second says which lock."""
MIGRATION_LOCK = 1
EVALUATOR_LOCK = 2

MIGRATIONS: tuple[str, ...] = (
    # 1: the schema of SQLite's migrations 1-7 (issue 15: versions, the fill clock)
    """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        seq BIGINT NOT NULL UNIQUE,
        owner TEXT,
        name TEXT NOT NULL,
        currency TEXT NOT NULL,
        initial_balance TEXT NOT NULL,
        realized TEXT NOT NULL,
        commissions TEXT NOT NULL,
        order_seq BIGINT NOT NULL,
        fill_seq BIGINT NOT NULL,
        created BIGINT NOT NULL,
        version BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX accounts_owner ON accounts (owner, seq);
    CREATE INDEX accounts_version ON accounts (version);
    CREATE TABLE orders (
        account TEXT NOT NULL,
        id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        symbol TEXT NOT NULL,
        type INTEGER NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        status INTEGER NOT NULL,
        limit_price TEXT, stop_price TEXT, take_profit TEXT, stop_loss TEXT,
        guaranteed_stop TEXT, trailing_stop_pips TEXT, stop_type INTEGER,
        filled_qty TEXT NOT NULL,
        avg_price TEXT,
        update_time BIGINT NOT NULL,
        parent TEXT,
        role TEXT,
        triggered INTEGER NOT NULL DEFAULT 0,
        parent_type INTEGER,
        duration_type TEXT, duration_datetime BIGINT, expires_at BIGINT,
        message_type TEXT, message_text TEXT,
        since BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (account, id),
        UNIQUE (account, seq)
    );
    CREATE TABLE executions (
        account TEXT NOT NULL,
        seq BIGINT NOT NULL,
        order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        time BIGINT NOT NULL,
        commission TEXT NOT NULL,
        realized TEXT NOT NULL,
        PRIMARY KEY (account, seq)
    );
    CREATE INDEX executions_symbol ON executions (account, symbol, seq);
    CREATE TABLE positions (
        account TEXT NOT NULL,
        symbol TEXT NOT NULL,
        q TEXT NOT NULL,
        avg TEXT NOT NULL,
        rowid BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (account, symbol)
    );
    CREATE TABLE leverage (
        account TEXT NOT NULL,
        symbol TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account, symbol)
    );
    CREATE TABLE idempotency_keys (
        account TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        order_id TEXT NOT NULL,
        created BIGINT NOT NULL,
        PRIMARY KEY (account, key)
    );
    CREATE INDEX idempotency_keys_created ON idempotency_keys (created);
    CREATE TABLE order_history (
        hseq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account TEXT NOT NULL,
        order_id TEXT NOT NULL,
        update_time BIGINT NOT NULL,
        status INTEGER NOT NULL,
        UNIQUE (account, order_id)
    );
    CREATE INDEX order_history_account ON order_history (account, hseq);
    CREATE INDEX order_history_time ON order_history (account, update_time, hseq);
    CREATE TABLE broker_clock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        commit_seq BIGINT NOT NULL,
        evaluated BIGINT,
        evaluator TEXT
    );
    INSERT INTO broker_clock VALUES (1, 0, NULL, NULL);
    """,
    # 2: SQLite's migration 8, replay sessions (docs/replay.md §3)
    """
    CREATE TABLE replay_sessions (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        symbols TEXT NOT NULL,
        created BIGINT NOT NULL,
        speed INTEGER NOT NULL,
        state TEXT NOT NULL,
        anchor_wall BIGINT NOT NULL,
        anchor_replay BIGINT NOT NULL,
        version INTEGER NOT NULL
    );
    CREATE INDEX replay_sessions_account ON replay_sessions (account, created);
    """,
    # 3: SQLite's migration 9, the replay time a session's book is evaluated from and the
    # one it started at
    """
    ALTER TABLE replay_sessions ADD COLUMN trade_from BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE replay_sessions ADD COLUMN start_time BIGINT NOT NULL DEFAULT 0;
    UPDATE replay_sessions SET trade_from = anchor_replay, start_time = anchor_replay;
    """,
)

_VERSION_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
    )
"""
_DEMO_ACCOUNT = (
    "INSERT INTO accounts (id, seq, owner, name, currency, initial_balance, realized, "
    "commissions, order_seq, fill_seq, created, version) "
    "VALUES (%s, 1, NULL, %s, %s, %s, '0', '0', 0, 0, 0, 0)"
)


def migrate(conn: psycopg.Connection[Any], initial_balance: Decimal, where: str) -> int:
    """Bring the schema to the newest version (creating it, with DEMO-ACCOUNT at
    ``initial_balance``, on an empty database); the version found before. Refuses a schema
    newer than this server knows rather than guess at its rows."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, MIGRATION_LOCK))
        conn.execute(_VERSION_TABLE)
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        found = 0 if row is None else int(row[0])
        if found > len(MIGRATIONS):
            raise StartupError(
                f"the broker database {where} has schema version {found}, newer than this "
                f"server knows (1..{len(MIGRATIONS)}): refusing to serve it (upgrade the server)"
            )
        for number, script in enumerate(MIGRATIONS[found:], start=found + 1):
            conn.execute(script)
            if number == 1:
                conn.execute(
                    _DEMO_ACCOUNT,
                    (DEFAULT_ACCOUNT, DEFAULT_ACCOUNT_NAME, CURRENCY, str(initial_balance)),
                )
        if found < len(MIGRATIONS):
            conn.execute(
                "INSERT INTO schema_version VALUES (1, %s) ON CONFLICT (id) DO UPDATE "
                "SET version = excluded.version",
                (len(MIGRATIONS),),
            )
    return found
