"""The broker's SQLite file: the data-dir lock, creation, the checks before serving it, the
schema migrations and the transaction wrapper (broker.md §12).

Everything here runs on the store's thread (:mod:`trading.broker.store`) or before the server
starts; each refusal is a :class:`StartupError` naming the file or dir, so a broken data dir
stops start-up with one line and leaves the file as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

from trading.broker.accounts import DEFAULT_ACCOUNT, DEFAULT_ACCOUNT_NAME
from trading.broker.errors import StorageError

_ORDER_COLUMNS = (
    "id, seq, symbol, type, side, qty, status, limit_price, stop_price, take_profit, stop_loss, "
    "guaranteed_stop, trailing_stop_pips, stop_type, filled_qty, avg_price, update_time, parent, "
    "role, triggered, parent_type, duration_type, duration_datetime, expires_at, message_type, "
    "message_text"
)
"""The order columns as every migration before the accounts one left them (in their order)."""

MIGRATIONS: tuple[str, ...] = (
    # 1: the initial schema
    """
    CREATE TABLE account (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        initial_balance TEXT NOT NULL,
        realized TEXT NOT NULL,
        commissions TEXT NOT NULL,
        order_seq INTEGER NOT NULL,
        fill_seq INTEGER NOT NULL
    );
    CREATE TABLE orders (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        symbol TEXT NOT NULL,
        type INTEGER NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        status INTEGER NOT NULL,
        limit_price TEXT, stop_price TEXT, take_profit TEXT, stop_loss TEXT,
        guaranteed_stop TEXT, trailing_stop_pips TEXT, stop_type INTEGER,
        filled_qty TEXT NOT NULL,
        avg_price TEXT,
        update_time INTEGER NOT NULL,
        parent TEXT,
        role TEXT,
        triggered INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE executions (
        seq INTEGER PRIMARY KEY,
        order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        time INTEGER NOT NULL,
        commission TEXT NOT NULL,
        realized TEXT NOT NULL
    );
    CREATE INDEX executions_symbol ON executions (symbol, seq);
    CREATE TABLE positions (symbol TEXT PRIMARY KEY, q TEXT NOT NULL, avg TEXT NOT NULL);
    CREATE TABLE leverage (symbol TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # bracket parent links (issue 13, broker.md §14): what a child protects, 1 its entry order
    # (the child INACTIVE until the entry fills), 2 the position; children stored before this
    # were the position's (``parent`` held its symbol)
    """
    ALTER TABLE orders ADD COLUMN parent_type INTEGER;
    UPDATE orders SET parent_type = 2 WHERE parent IS NOT NULL;
    """,
    # order durations and messages (issue 13, broker.md §18): NULLs are a GTC order without a
    # message, which is what every order written before this migration was
    """
    ALTER TABLE orders ADD COLUMN duration_type TEXT;
    ALTER TABLE orders ADD COLUMN duration_datetime INTEGER;
    ALTER TABLE orders ADD COLUMN expires_at INTEGER;
    ALTER TABLE orders ADD COLUMN message_type TEXT;
    ALTER TABLE orders ADD COLUMN message_text TEXT;
    """,
    # issue 13, idempotent placement (broker.md §15): the placements remembered per account
    # and key, written in the transaction of their order; `created` finds the expired ones
    """
    CREATE TABLE idempotency_keys (
        account TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        order_id TEXT NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (account, key)
    );
    CREATE INDEX idempotency_keys_created ON idempotency_keys (created);
    """,
    # issue 13, orders history (broker.md §16): the order in which orders became final
    # (hseq, never reused), the keyset of GET /orders/history. An older database gets its
    # final orders (canceled 1, filled 2, rejected 5) in the order of their last update.
    """
    CREATE TABLE order_history (
        hseq INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id TEXT NOT NULL UNIQUE,
        update_time INTEGER NOT NULL,
        status INTEGER NOT NULL
    );
    CREATE INDEX order_history_time ON order_history (update_time, hseq);
    INSERT INTO order_history (order_id, update_time, status)
        SELECT id, update_time, status FROM orders WHERE status IN (1, 2, 5)
        ORDER BY update_time, seq;
    """,
    # issue 14, many accounts (broker.md §20): every row belongs to one account. The one
    # account so far becomes DEMO-ACCOUNT (what TRADING_AUTH=off serves); order and execution
    # numbers are per account; tables whose key must now include the account are rebuilt with
    # their rows (positions keep their rowid: the opening order).
    f"""
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        owner TEXT,
        name TEXT NOT NULL,
        currency TEXT NOT NULL,
        initial_balance TEXT NOT NULL,
        realized TEXT NOT NULL,
        commissions TEXT NOT NULL,
        order_seq INTEGER NOT NULL,
        fill_seq INTEGER NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX accounts_owner ON accounts (owner, seq);
    INSERT INTO accounts SELECT '{DEFAULT_ACCOUNT}', 1, NULL, '{DEFAULT_ACCOUNT_NAME}', 'USD',
        initial_balance, realized, commissions, order_seq, fill_seq, 0 FROM account;
    DROP TABLE account;
    CREATE TABLE orders_new (
        account TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        type INTEGER NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        status INTEGER NOT NULL,
        limit_price TEXT, stop_price TEXT, take_profit TEXT, stop_loss TEXT,
        guaranteed_stop TEXT, trailing_stop_pips TEXT, stop_type INTEGER,
        filled_qty TEXT NOT NULL,
        avg_price TEXT,
        update_time INTEGER NOT NULL,
        parent TEXT,
        role TEXT,
        triggered INTEGER NOT NULL DEFAULT 0,
        parent_type INTEGER,
        duration_type TEXT, duration_datetime INTEGER, expires_at INTEGER,
        message_type TEXT, message_text TEXT,
        PRIMARY KEY (account, id),
        UNIQUE (account, seq)
    );
    INSERT INTO orders_new SELECT '{DEFAULT_ACCOUNT}', {_ORDER_COLUMNS} FROM orders;
    DROP TABLE orders;
    ALTER TABLE orders_new RENAME TO orders;
    CREATE TABLE executions_new (
        account TEXT NOT NULL,
        seq INTEGER NOT NULL,
        order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        time INTEGER NOT NULL,
        commission TEXT NOT NULL,
        realized TEXT NOT NULL,
        PRIMARY KEY (account, seq)
    );
    INSERT INTO executions_new SELECT '{DEFAULT_ACCOUNT}', seq, order_id, symbol, side, qty,
        price, time, commission, realized FROM executions;
    DROP TABLE executions;
    ALTER TABLE executions_new RENAME TO executions;
    CREATE INDEX executions_symbol ON executions (account, symbol, seq);
    CREATE TABLE positions_new (
        account TEXT NOT NULL,
        symbol TEXT NOT NULL,
        q TEXT NOT NULL,
        avg TEXT NOT NULL,
        PRIMARY KEY (account, symbol)
    );
    INSERT INTO positions_new (rowid, account, symbol, q, avg)
        SELECT rowid, '{DEFAULT_ACCOUNT}', symbol, q, avg FROM positions;
    DROP TABLE positions;
    ALTER TABLE positions_new RENAME TO positions;
    CREATE TABLE leverage_new (
        account TEXT NOT NULL,
        symbol TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account, symbol)
    );
    INSERT INTO leverage_new SELECT '{DEFAULT_ACCOUNT}', symbol, value FROM leverage;
    DROP TABLE leverage;
    ALTER TABLE leverage_new RENAME TO leverage;
    CREATE TABLE order_history_new (
        hseq INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        order_id TEXT NOT NULL,
        update_time INTEGER NOT NULL,
        status INTEGER NOT NULL,
        UNIQUE (account, order_id)
    );
    INSERT INTO order_history_new SELECT hseq, '{DEFAULT_ACCOUNT}', order_id, update_time, status
        FROM order_history;
    DROP TABLE order_history;
    ALTER TABLE order_history_new RENAME TO order_history;
    CREATE INDEX order_history_account ON order_history (account, hseq);
    CREATE INDEX order_history_time ON order_history (account, update_time, hseq);
    """,
)


PROBE_WRITE = f"UPDATE accounts SET id = id WHERE id = '{DEFAULT_ACCOUNT}'"
"""A write that changes nothing: proves the file takes writes (DEMO-ACCOUNT always exists)."""


class StartupError(StorageError):
    """The data dir cannot be served (locked, corrupt, read-only): the server must not start."""


LOCK_FILE = "trading.lock"


def identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def lock_data_dir(data_dir: Path) -> int:
    """An exclusive ``flock`` on the data dir's lock file, held until the fd is closed (the
    process ends at the latest): one server (or reset) per data dir."""
    lock_path = data_dir / LOCK_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StartupError(
            f"cannot use the data dir {data_dir}: {exc.strerror} ({lock_path}); "
            "it must exist or be creatable, and be writable"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        os.close(fd)
        raise StartupError(
            f"another trading server holds the data dir {data_dir} "
            f"(lock {lock_path}{', pid ' + holder if holder else ''}); stop it first, or use "
            "another TRADING_DATA_DIR"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def adopt_lock(fd: int, data_dir: Path) -> int:
    """Check that ``fd`` is an open file description of the data dir's lock file whose
    ``flock`` is already held (the cluster supervisor's, inherited by its workers) and take
    it as this process's lock: ``flock`` on the same description succeeds, on any other
    description of a held lock it would not, so a wrong fd is refused, not trusted."""
    lock_path = data_dir / LOCK_FILE
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        if same:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        same = False
    except OSError as exc:
        raise StartupError(
            f"cannot use the inherited lock of the data dir {data_dir} ({lock_path}): "
            f"{exc.strerror}"
        ) from None
    if not same:
        raise StartupError(
            f"the inherited fd {fd} is not the held lock {lock_path} of the data dir "
            f"{data_dir}: start the workers through `serve --workers N`"
        )
    return fd


def connect(uri: str) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def create(path: Path, initial_balance: Decimal) -> None:
    """A new database, built beside the path and renamed into place once migrated: a crash
    midway never leaves a half-made file that a restart would take for a broken account."""
    for suffix in ("-wal", "-shm"):
        stray = path.with_name(path.name + suffix)
        if suffix == "-wal" and stray.exists() and stray.stat().st_size > 0:
            raise StartupError(
                f"the broker database {path} is missing but its write-ahead log {stray} is "
                "there: the database file was deleted or moved. Restore it, or remove the "
                "-wal and -shm files to start a new account"
            )
    fresh = path.with_name(path.name + ".new")
    for leftover in (fresh, fresh.with_name(fresh.name + "-wal"),
                     fresh.with_name(fresh.name + "-shm")):  # fmt: skip
        leftover.unlink(missing_ok=True)
    try:
        db = connect(fresh.resolve().as_uri())
        try:
            db.execute("PRAGMA journal_mode=WAL")
            migrate(db, initial_balance)
        finally:
            db.close()
        os.replace(fresh, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (sqlite3.Error, OSError) as exc:
        raise StartupError(f"cannot create the broker database {path}: {exc}") from None


def open_existing(path: Path) -> sqlite3.Connection:
    """Open the file that is there, check it is a sound broker database that takes writes."""
    if path.stat().st_size == 0:
        raise StartupError(
            f"the broker database {path} is empty (0 bytes), not a broker database: refusing "
            "to start a new account over it. Restore it from a backup, or move it away to "
            "start a new account"
        )
    try:
        db = connect(path.resolve().as_uri() + "?mode=rw")
    except sqlite3.Error as exc:
        raise StartupError(f"cannot open the broker database {path}: {exc}") from None
    try:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            problems = [r[0] for r in db.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        if problems != ["ok"]:
            raise StartupError(
                f"the broker database {path} is corrupt ({'; '.join(problems[:3])}): refusing "
                "to start over it. Restore it from a backup, or move it away to start a new "
                "account"
            )
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 or version > len(MIGRATIONS):
            raise StartupError(
                f"the file {path} is not a broker database this version can use (schema "
                f"version {version}, known 1..{len(MIGRATIONS)}): refusing to start over it"
            )
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            migrate(db, Decimal(0))
            # a write that is rolled back: a read-only file fails here, not at the first order
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(PROBE_WRITE)
            finally:
                db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise StartupError(
                f"the broker database {path} does not take writes ({exc}): check that the "
                "file and its directory are writable by the server's user"
            ) from None
    except BaseException:
        db.close()
        raise
    return db


class transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an error. A COMMIT that fails (disk full)
    leaves SQLite's transaction open: it is rolled back too, so the next read (the reload of
    the committed state) never sees the refused rows."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            try:
                self._db.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")


def migrate(db: sqlite3.Connection, initial_balance: Decimal) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with transaction(db):
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            if number == 1:
                db.execute(
                    "INSERT INTO account VALUES (1, ?, '0', '0', 0, 0)", (str(initial_balance),)
                )
            db.execute(f"PRAGMA user_version = {number}")
