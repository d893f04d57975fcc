"""Real ``redis-server`` and PostgreSQL for the tests: started on a free loopback port in a
temporary dir, stopped after. Never mocks (the developers' guide).

Where a binary is missing the fixture skips with the reason; in CI (``CI`` set) it fails
instead, because CI installs both (.ci/run) and must not skip these tests.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serverproc import free_port


def missing(reason: str) -> None:
    """Skip locally; fail in CI, which must run the test."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: this test must run there; see .ci/run)")
    pytest.skip(reason)


def find_binary(binary: str) -> str | None:
    found = shutil.which(binary)
    if found:
        return found
    # Debian's postgresql packages keep the server binaries off PATH
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"))
    return candidates[-1] if candidates else None


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"server not listening on {port} within {timeout} s")


class RedisServer:
    """One ``redis-server`` without persistence; :meth:`restart` keeps the port (what a
    reconnect test needs), :meth:`kill` is a crash."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        log = self.workdir / "redis.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_port(self.port, self.process, log, timeout)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def cli(self, *args: str) -> str:
        """``redis-cli`` when installed beside the server (PUBSUB NUMSUB and friends)."""
        cli = find_binary("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli not installed")
        return subprocess.run(
            [cli, "-p", str(self.port), *args], capture_output=True, text=True, check=True,
            timeout=10,
        ).stdout  # fmt: skip


class PostgresServer:
    """One PostgreSQL cluster made by ``initdb`` (trust auth, loopback only), fsync on.

    PostgreSQL refuses to run as root (CI and these machines are root): then the server runs
    as the ``postgres`` user of Debian's package (else ``nobody``) in a dir it owns."""

    def __init__(self, bindir: Path, workdir: Path) -> None:
        self.bindir = bindir
        self.user: str | None = None
        if os.geteuid() == 0:
            import pwd

            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    entry = pwd.getpwnam(name)
                    self.user = name
                    break
            workdir = Path(tempfile.mkdtemp(prefix="trading-pg-", dir="/tmp"))
            os.chown(workdir, entry.pw_uid, entry.pw_gid)
        self.workdir = workdir
        self.datadir = workdir / "pgdata"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-A", "trust", "-U",
             "postgres", "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, timeout=120, env=self._env(), user=self.user,
        )  # fmt: skip

    def _env(self) -> dict[str, str]:
        return {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}

    def start(self, timeout: float = 30) -> None:
        log = self.workdir / "postgres.log"
        log.touch()
        if self.user is not None:
            shutil.chown(log, self.user)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={self.workdir}", "-c", "max_connections=200"],
                stdout=out, stderr=subprocess.STDOUT, env=self._env(), user=self.user,
            )  # fmt: skip
        _wait_port(self.port, self.process, log, timeout)
        self._wait_accepting(timeout)

    def _wait_accepting(self, timeout: float) -> None:
        """The port opens before recovery ends: wait until a query is answered."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def create_database(self, name: str) -> str:
        """A fresh database on this server; its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.user is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = find_binary("redis-server")
    if binary is None:
        missing("redis-server is not installed (Debian package redis-server)")
    assert binary is not None
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One server per test session (initdb takes seconds); tests take a fresh database each
    with :meth:`PostgresServer.create_database` (the ``postgres_url`` fixture)."""
    initdb = find_binary("initdb")
    if initdb is None:
        missing("PostgreSQL is not installed (Debian package postgresql)")
    assert initdb is not None
    server = PostgresServer(Path(initdb).parent, tmp_path_factory.mktemp("postgres"))
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database(f"test_{os.getpid()}_{next(_databases)}")
