"""A data dir that cannot be served stops ``python -m trading serve`` with a clear message
(broker.md §12): a second server, a corrupt/truncated/empty file, a read-only file or dir.
Never a traceback, never a new account over a file that is there.

Real subprocesses. As root, permissions do not bind, so "read-only" is made real with
``chattr +i`` (the file) and a read-only tmpfs (the dir); skipped with the reason if the
machine allows neither.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serverproc import Server, run_cli
from trading.broker.service import DB_FILE

REFUSED = 3  # the exit code of a refused start (trading/__main__.py)


def new_account(data_dir: Path) -> Path:
    """A real database made by the CLI (reset-broker creates it)."""
    done = run_cli(data_dir, "reset-broker")
    assert done.returncode == 0, done.stderr
    return data_dir / DB_FILE


def assert_refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == REFUSED, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Server(data, tmp_path / "first.log")
    first.start()
    try:
        done = run_cli(data, "serve")
        assert_refused(done, str(data), "another trading server holds the data dir")
        done = run_cli(data, "reset-broker")  # the reset CLI respects the lock too
        assert_refused(done, str(data), "another trading server")
        with urllib.request.urlopen(f"{first.origin}/api/v1/ready", timeout=5) as resp:
            assert resp.status == 200  # the first one is untouched
    finally:
        assert first.stop() == 0
    new_account(data)  # released at exit: the dir can be used again


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_database_stops_the_start_and_is_left_as_it_was(
    tmp_path: Path, damage: str
) -> None:
    data = tmp_path / "data"
    db = new_account(data)
    if damage == "garbage":
        db.write_bytes(b"not a database, but someone's notes\n" * 200)
    elif damage == "truncated":
        size = db.stat().st_size
        assert size >= 3 * 4096, size
        os.truncate(db, size - 4096)
    else:
        os.truncate(db, 0)
    before = db.read_bytes()
    done = run_cli(data, "serve")
    assert_refused(done, str(db), "refusing to start")
    assert db.read_bytes() == before  # no new account written over it


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """The file cannot be written, even by root."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("root ignores chmod and chattr is not installed")
    done = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"root ignores chmod and chattr +i fails here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_a_read_only_database_file_stops_the_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = new_account(data)
    with immutable(db):
        done = run_cli(data, "serve")
    assert_refused(done, str(db), "does not take writes", "readonly")


def test_a_read_only_data_dir_stops_the_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if os.geteuid() != 0:
        new_account(data)
        data.chmod(0o555)
        try:
            done = run_cli(data, "serve")
        finally:
            data.chmod(0o755)
        assert_refused(done, str(data))
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(data)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"root ignores chmod and a tmpfs cannot be mounted: {mounted.stderr.strip()}")
    try:
        new_account(data)
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
        done = run_cli(data, "serve")
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)
    assert_refused(done, str(data), "Read-only file system")
