"""``<data_dir>/users.sqlite3``: users, their API keys (hashes only) and login sessions.

A file of its own, not the broker's database: the broker holds an exclusive lock on the data
dir for its whole life, and ``python -m trading users ...`` must work while the server runs.
WAL and a busy timeout let the CLI and the server write the same file; the server notices the
CLI's commits through ``PRAGMA data_version`` (:mod:`trading.auth.authenticator`).

Synchronous on purpose: the CLI calls it directly, the server only from its auth thread.
Times are epoch milliseconds.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from trading.auth import tokens
from trading.broker.sqlite_file import StartupError

USERS_FILE = "users.sqlite3"
BUSY_TIMEOUT_MS = 5000
NAME_PATTERN = re.compile(r"[\w][\w .@+-]{0,63}")
"""A user name: 1..64 word characters, spaces, dots, @, + and -, starting with a word
character (it is printed by the CLI and shown on the page)."""

MIGRATIONS: tuple[str, ...] = (
    # 1: issue 14
    """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id),
        secret_hash TEXT NOT NULL,
        created INTEGER NOT NULL,
        revoked INTEGER
    );
    CREATE INDEX api_keys_user ON api_keys (user_id);
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES api_keys (id),
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
    );
    CREATE INDEX sessions_key ON sessions (key_id);
    CREATE INDEX sessions_expires ON sessions (expires);
    """,
)


class UserError(ValueError):
    """A request the users file refuses: unknown user or key, a name taken or malformed."""


@dataclass(frozen=True)
class KeyRow:
    id: str
    user_id: str
    created: int
    revoked: int | None


@dataclass(frozen=True)
class UserRow:
    id: str
    name: str
    created: int
    keys: tuple[KeyRow, ...]


@dataclass(frozen=True)
class ActiveKey:
    key_id: str
    user_id: str
    user_name: str
    secret_hash: str


@dataclass(frozen=True)
class SessionRow:
    id: str
    key_id: str
    expires: int


@dataclass(frozen=True)
class Snapshot:
    """What the server checks requests against: active keys and unexpired sessions."""

    keys: dict[str, ActiveKey]
    sessions: dict[str, SessionRow]


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(
            f"bad user name {name!r}: 1 to 64 letters, digits, spaces or . @ + - _ "
            "starting with a letter or digit"
        )
    return name


class UserStore:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / USERS_FILE
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )  # fmt: skip
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StartupError(f"cannot use the users database {self.path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StartupError(
                f"the users database {self.path} has schema version {version}, newer than "
                f"this version knows (1..{len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # --- reads ----------------------------------------------------------------------------

    def data_version(self) -> int:
        """Changes when another connection (the CLI) commits: the server's cue to reload."""
        value: int = self._db.execute("PRAGMA data_version").fetchone()[0]
        return value

    def snapshot(self, now_ms: int) -> Snapshot:
        keys = {
            row[0]: ActiveKey(row[0], row[1], row[2], row[3])
            for row in self._db.execute(
                "SELECT k.id, u.id, u.name, k.secret_hash FROM api_keys k "
                "JOIN users u ON u.id = k.user_id WHERE k.revoked IS NULL"
            )
        }
        sessions = {
            row[0]: SessionRow(row[0], row[1], row[2])
            for row in self._db.execute(
                "SELECT id, key_id, expires FROM sessions WHERE expires > ?", (now_ms,)
            )
        }
        return Snapshot(keys, sessions)

    def users(self) -> list[UserRow]:
        keys: dict[str, list[KeyRow]] = {}
        for row in self._db.execute(
            "SELECT id, user_id, created, revoked FROM api_keys ORDER BY created, rowid"
        ):
            keys.setdefault(row[1], []).append(KeyRow(*row))
        return [
            UserRow(row[0], row[1], row[2], tuple(keys.get(row[0], ())))
            for row in self._db.execute(
                "SELECT id, name, created FROM users ORDER BY created, rowid"
            )
        ]

    def find_user(self, name_or_id: str) -> tuple[str, str]:
        """``(id, name)`` of the user with that id or name."""
        row = self._db.execute(
            "SELECT id, name FROM users WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1",
            (name_or_id, name_or_id.strip(), name_or_id),
        ).fetchone()
        if row is None:
            raise UserError(f"unknown user {name_or_id!r}")
        return row[0], row[1]

    # --- writes ---------------------------------------------------------------------------

    def create_user(self, name: str, now_ms: int) -> tuple[UserRow, str]:
        """A new user with one key; the key text is returned here and nowhere else."""
        name = check_name(name)
        user_id = tokens.new_user_id()
        key_id, text, secret_hash = tokens.new_key()
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("INSERT INTO users VALUES (?, ?, ?)", (user_id, name, now_ms))
                self._db.execute(
                    "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
                    (key_id, user_id, secret_hash, now_ms),
                )
        except sqlite3.IntegrityError:
            raise UserError(f"a user named {name!r} exists already") from None
        key = KeyRow(key_id, user_id, now_ms, None)
        return UserRow(user_id, name, now_ms, (key,)), text

    def add_key(self, name_or_id: str, now_ms: int) -> tuple[KeyRow, str]:
        user_id, _ = self.find_user(name_or_id)
        key_id, text, secret_hash = tokens.new_key()
        self._db.execute(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)", (key_id, user_id, secret_hash, now_ms)
        )
        return KeyRow(key_id, user_id, now_ms, None), text

    def revoke(self, key_id: str, now_ms: int) -> bool:
        """Revoke a key and end its sessions; False if it was revoked already."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT revoked FROM api_keys WHERE id = ?", (key_id,))
            found = row.fetchone()
            if found is None:
                raise UserError(f"unknown key {key_id!r}")
            self._db.execute("DELETE FROM sessions WHERE key_id = ?", (key_id,))
            if found[0] is not None:
                return False
            self._db.execute("UPDATE api_keys SET revoked = ? WHERE id = ?", (now_ms, key_id))
        return True

    def add_session(self, session: SessionRow, now_ms: int) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM sessions WHERE expires <= ?", (now_ms,))
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (session.id, session.key_id, now_ms, session.expires),
            )

    def delete_session(self, session_id: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
