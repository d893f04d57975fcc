"""Rows of the ``replay_sessions`` table (docs/replay.md §3), shared by the SQLite and the
PostgreSQL store (the latter runs this code through :class:`~trading.broker.pg_db.PgDb`).

Each function is the body of one transaction its store opens: creating counts the account's
sessions in the same transaction (two workers cannot both take the last place), and an update
names the version it read (a change made meanwhile by another worker wins; this one is
refused, :data:`False`).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from trading.market.replay import ReplayClock, ReplayLimitReached, ReplaySession, ReplayState

_COLUMNS = (
    "id, account, symbols, created, speed, state, anchor_wall, anchor_replay, version, trade_from, "
    "start_time"
)


def _session(row: Any) -> ReplaySession:
    clock = ReplayClock(
        speed=int(row[4]),
        state=ReplayState(row[5]),
        anchor_wall=int(row[6]),
        anchor_replay=int(row[7]),
        trade_from=int(row[9]),
    )
    return ReplaySession(
        id=row[0],
        account=row[1],
        symbols=tuple(json.loads(row[2])),
        created=int(row[3]),
        clock=clock,
        version=int(row[8]),
        start=int(row[10]),
    )


def insert(db: sqlite3.Connection, session: ReplaySession, limit: int) -> ReplaySession:
    """Store a new session unless its account already has ``limit`` of them."""
    (count,) = db.execute(
        "SELECT COUNT(*) FROM replay_sessions WHERE account = ?", (session.account,)
    ).fetchone()
    if int(count) >= limit:
        raise ReplayLimitReached(limit)
    c = session.clock
    db.execute(
        f"INSERT INTO replay_sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (session.id, session.account, json.dumps(list(session.symbols)), session.created,
         c.speed, c.state.value, c.anchor_wall, c.anchor_replay, session.version, c.trade_from,
         session.start),
    )  # fmt: skip
    return session


def get(db: sqlite3.Connection, account: str, session_id: str) -> ReplaySession | None:
    """The session ``session_id`` of ``account`` (another account's is None, as a missing one)."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM replay_sessions WHERE id = ? AND account = ?",
        (session_id, account),
    ).fetchone()
    return None if row is None else _session(row)


def find(db: sqlite3.Connection, session_ids: list[str]) -> list[ReplaySession]:
    """The sessions of these ids, whatever their accounts (the WebSocket route's periodic
    read, which decides access itself): one statement for all of them."""
    if not session_ids:
        return []
    marks = ", ".join("?" * len(session_ids))
    found = db.execute(
        f"SELECT {_COLUMNS} FROM replay_sessions WHERE id IN ({marks})", session_ids
    ).fetchall()
    return [_session(row) for row in found]


def of_account(db: sqlite3.Connection, account: str) -> list[ReplaySession]:
    found = db.execute(
        f"SELECT {_COLUMNS} FROM replay_sessions WHERE account = ? ORDER BY created, id",
        (account,),
    ).fetchall()
    return [_session(row) for row in found]


def every(db: sqlite3.Connection) -> list[ReplaySession]:
    """Every session of every account (the fill loop follows their clocks)."""
    found = db.execute(f"SELECT {_COLUMNS} FROM replay_sessions ORDER BY created, id").fetchall()
    return [_session(row) for row in found]


def update(db: sqlite3.Connection, session: ReplaySession) -> bool:
    """Store ``session``'s clock as version ``session.version + 1`` if the stored one is still
    ``session.version``; whether it was."""
    c = session.clock
    cur = db.execute(
        "UPDATE replay_sessions SET speed = ?, state = ?, anchor_wall = ?, anchor_replay = ?, "
        "trade_from = ?, version = version + 1 WHERE id = ? AND account = ? AND version = ?",
        (c.speed, c.state.value, c.anchor_wall, c.anchor_replay, c.trade_from, session.id,
         session.account, session.version),
    )  # fmt: skip
    return bool(cur.rowcount == 1)


def delete(db: sqlite3.Connection, account: str, session_id: str) -> bool:
    cur = db.execute(
        "DELETE FROM replay_sessions WHERE id = ? AND account = ?", (session_id, account)
    )
    return bool(cur.rowcount == 1)
