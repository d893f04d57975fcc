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
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from trading.broker.accounts import DEFAULT_ACCOUNT
from trading.broker.errors import StorageError
from trading.broker.migrations import MIGRATIONS

PROBE_WRITE = f"UPDATE accounts SET id = id WHERE id = '{DEFAULT_ACCOUNT}'"
"""A write that changes nothing: proves the file takes writes (DEMO-ACCOUNT always exists)."""


class StartupError(StorageError):
    """The data dir cannot be served (locked, corrupt, read-only): the server must not start."""


LOCK_FILE = "trading.lock"
EVALUATOR_LOCK_FILE = "trading.evaluator.lock"
"""Held by the one process that runs the fill loop (one host, several workers): the kernel
frees it when that process dies, kill -9 included, and the next holder takes over."""
BUSY_TIMEOUT_S = 5.0
"""How long a write waits for another process's transaction (several workers) before it
fails as a storage error: far above any commit here (milliseconds)."""


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
    db = sqlite3.connect(
        uri, uri=True, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
    )
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


def rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


@contextlib.contextmanager
def reading(db: sqlite3.Connection) -> Iterator[None]:
    """Several reads that see one committed state (another process may commit meanwhile);
    inside a write transaction already open (``Store.begin``) they simply belong to it."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


class transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an error. A COMMIT that fails (disk full)
    leaves SQLite's transaction open: it is rolled back too, so the next read (the reload of
    the committed state) never sees the refused rows. A write transaction opened before
    (``Store.begin``: the command's reads belong to it) is the one committed here."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        if not self._db.in_transaction:
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
        rollback(self._db)


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
