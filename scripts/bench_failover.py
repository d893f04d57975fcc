"""kill -9 of the fill evaluator of a real ``serve --workers N`` cluster under order load
(issue 15, broker.md §21): how long until another worker commits a fill tick, and whether
every acknowledged order is stored and none filled twice.

    .venv/bin/python scripts/bench_failover.py --rounds 3

Starts its own ``redis-server`` (the backplane workers > 1 require) on a free loopback port
and a cluster on a temporary data dir; writer threads place orders (a third MARKET, filled at
once by the worker that took them; the rest LIMIT just off the market, filled by the
evaluator as the price wiggles) on fresh connections, which SO_REUSEPORT spreads over the
workers. Each round reads the leader's pid from ``trading.evaluator.lock``, kills it, and
polls the database until ``broker_clock.evaluator`` names another process: its first fill
tick is committed.
tests/test_cluster_failover.py runs it and asserts the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EVALUATOR_LOCK = "trading.evaluator.lock"  # trading.broker.sqlite_file.EVALUATOR_LOCK_FILE


@dataclass
class Result:
    failovers_ms: list[float] = field(default_factory=list)
    acked: int = 0
    stored: int = 0
    """Acknowledged orders found in the database."""
    refused: int = 0
    """Answers that were not 2xx, or connections the killed worker dropped: not acked."""
    overfilled: list[str] = field(default_factory=list)
    """Orders whose executions add up to more than their filled or ordered quantity."""
    reasons: dict[str, int] = field(default_factory=dict)
    """Why answers were not acknowledgements, and how many of each."""
    filled_by_evaluator: int = 0
    """Acknowledged LIMIT orders filled after they rested."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def post(origin: str, path: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        origin + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


SYMBOLS = ("AAPL", "GOOGL", "MSFT", "AMZN", "IBM", "JPM")
"""The writers spread over every default symbol: one symbol's price can stay flat for ten
seconds (about one window in nine), all six at once practically never, and a resting limit
only fills when its symbol moves."""


def ask_bid(origin: str) -> dict[str, tuple[float, float]]:
    _, quotes = post(origin, "/api/v1/datafeed/quotes", {"symbols": list(SYMBOLS)})
    return {q["n"]: (float(q["v"]["ask"]), float(q["v"]["bid"])) for q in quotes}


class Writers:
    """Threads placing orders as fast as answers come; only 2xx answers count as acked."""

    def __init__(self, origins: list[str], count: int) -> None:
        self.origins = origins
        self.acked: list[str] = []
        self.limits: set[str] = set()
        self.refused = 0
        self.reasons: dict[str, int] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(count)]

    def _run(self) -> None:
        touches = ask_bid(self.origins[0])
        i = 0
        while not self.stop.is_set():
            i += 1
            symbol = SYMBOLS[i % len(SYMBOLS)]
            order: dict[str, Any] = {"symbol": symbol, "type": 2, "side": 1, "qty": 1}
            if i % 3:  # LIMIT a cent off the touch, alternately each side: any move fills
                side = 1 if (i // len(SYMBOLS)) % 2 else -1
                touch = touches[symbol]
                level = touch[0] - 0.01 if side == 1 else touch[1] + 0.01
                order = {**order, "type": 1, "side": side, "limitPrice": round(level, 2)}
            try:
                origin = self.origins[i % len(self.origins)]
                status, body = post(origin, "/api/v1/broker/orders", order)
            except OSError as exc:  # the killed worker's connection: not acknowledged
                self.refused += 1
                self.reasons[type(exc).__name__] = self.reasons.get(type(exc).__name__, 0) + 1
                continue
            if 200 <= status < 300:
                self.acked.append(body["orderId"])
                if order["type"] == 1:
                    self.limits.add(body["orderId"])
            else:
                self.refused += 1
                reason = f"{status} {body.get('detail', '')[:60] if isinstance(body, dict) else ''}"
                self.reasons[reason] = self.reasons.get(reason, 0) + 1
            if i % 20 == 0:
                with contextlib.suppress(OSError):
                    touches = ask_bid(self.origins[0])

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (Debian package redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port, 10)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[str]:
    """A PostgreSQL cluster of its own (the tests' server harness), and a database on it."""
    sys.path.insert(0, str(REPO))
    from tests.realservers import PostgresServer, find_binary

    initdb = find_binary("initdb")
    if initdb is None:
        sys.exit("PostgreSQL is not installed (Debian package postgresql)")
    server = PostgresServer(Path(initdb).parent, workdir)
    server.init()
    server.start()
    try:
        yield server.create_database("failover")
    finally:
        server.stop()


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def wait_ready(origin: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{origin}/api/v1/ready", timeout=1) as resp,
        ):
            if resp.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{origin} not ready in {timeout} s")


def candidates(data_dir: Path) -> int:
    """Processes that hold the evaluator lock file open: the leader and every worker waiting
    to take over (a worker opens it once it has started)."""
    lock = str((data_dir / EVALUATOR_LOCK).resolve())
    count = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == lock for fd in fd_dir.iterdir()):
                count += 1
    return count


def serve(workdir: Path, name: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    """``python -m trading serve`` with its own data dir and log."""
    full = {**os.environ, "TRADING_DATA_DIR": str(workdir / name), "TRADING_PORT": str(port),
            "TRADING_HOST": "127.0.0.1", "TRADING_LOG_LEVEL": "INFO",
            # no spread: the resting limits sit a cent off the touch, and with a spread a quiet
            # stretch of the market (moves smaller than the spread) lets the evaluator fill none
            "TRADING_MARKET_SPREAD_BPS": "0", **env}  # fmt: skip
    with (workdir / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "trading", "serve"], cwd=REPO, env=full, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


class OneHost:
    """``serve --workers N`` on one SQLite file: the supervisor restarts a killed worker."""

    def __init__(self, workdir: Path, redis_url: str, workers: int) -> None:
        self.workdir, self.workers, port = workdir, workers, free_port()
        self.origins = [f"http://127.0.0.1:{port}"]
        self.process = serve(workdir, "data", port, TRADING_WORKERS=str(workers),
                             TRADING_REDIS_URL=redis_url)  # fmt: skip
        wait_ready(self.origins[0], 60)
        path = workdir / "data" / "trading.sqlite3"
        self.db: Any = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def standby(self) -> None:
        """Wait until every worker could take over (the one killed last is back)."""
        deadline = time.monotonic() + 60
        while candidates(self.workdir / "data") < self.workers and time.monotonic() < deadline:
            time.sleep(0.05)

    def killed(self, pid: int) -> None:
        return None  # the supervisor starts a new worker by itself

    def stop(self) -> None:
        stop(self.process)


class TwoHosts:
    """Two servers with their own data dirs (two machines) on one PostgreSQL and one Redis;
    a killed one is started again (what a host's service manager would do)."""

    def __init__(self, workdir: Path, redis_url: str, database_url: str) -> None:
        self.workdir = workdir
        self.env = {"TRADING_REDIS_URL": redis_url, "TRADING_DATABASE_URL": database_url}
        self.ports = [free_port(), free_port()]
        self.origins = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.hosts = [serve(workdir, f"host{i}", port, **self.env)
                      for i, port in enumerate(self.ports)]  # fmt: skip
        for origin in self.origins:
            wait_ready(origin, 60)
        import psycopg  # only here: the one-host run needs no PostgreSQL client

        self.db = psycopg.connect(database_url, autocommit=True)

    def standby(self) -> None:
        for origin in self.origins:
            wait_ready(origin, 60)

    def killed(self, pid: int) -> None:
        for i, host in enumerate(self.hosts):
            if host.pid == pid:
                host.wait(timeout=10)
                self.hosts[i] = serve(self.workdir, f"host{i}", self.ports[i], **self.env)

    def stop(self) -> None:
        for host in self.hosts:
            stop(host)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def evaluator(db: Any) -> int | None:
    """The pid of the process that committed the last fill tick (``broker_clock``)."""
    row = db.execute("SELECT evaluator FROM broker_clock").fetchone()
    return None if row is None or row[0] is None else int(row[0].rsplit(":", 1)[1])


def run(
    redis_url: str, workdir: Path, *, rounds: int, workers: int = 2, writers: int = 2,
    settle_s: float = 2.0, database_url: str | None = None,
) -> Result:  # fmt: skip
    """One cluster (one host on SQLite, or two hosts on ``database_url``), ``rounds`` kills
    of its fill evaluator, then the database compared with the acknowledgements."""
    where: OneHost | TwoHosts = (
        OneHost(workdir, redis_url, workers) if database_url is None
        else TwoHosts(workdir, redis_url, database_url)
    )  # fmt: skip
    result = Result()
    try:
        deadline = time.monotonic() + 10
        while evaluator(where.db) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with Writers(where.origins, writers) as load:
            time.sleep(settle_s)
            for _ in range(rounds):
                where.standby()
                old = evaluator(where.db)
                assert old is not None, "no process leads the fill loop"
                killed = time.monotonic()
                os.kill(old, signal.SIGKILL)
                while time.monotonic() - killed < 10:
                    if evaluator(where.db) not in (None, old):  # a successor's first tick
                        result.failovers_ms.append((time.monotonic() - killed) * 1000)
                        break
                    time.sleep(0.001)
                where.killed(old)
                time.sleep(settle_s)
        time.sleep(1.5)  # the last ticks fill what still rests within reach
    finally:
        where.stop()
    db = where.db
    result.acked, result.refused = len(load.acked), load.refused
    result.reasons = load.reasons
    orders = {r[0]: (Decimal(r[1]), Decimal(r[2]))
              for r in db.execute("SELECT id, qty, filled_qty FROM orders")}  # fmt: skip
    result.stored = sum(1 for o in load.acked if o in orders)
    executed: dict[str, Decimal] = {}
    for order_id, qty in db.execute("SELECT order_id, qty FROM executions"):
        executed[order_id] = executed.get(order_id, Decimal(0)) + Decimal(qty)
    result.overfilled = [o for o, total in executed.items()
                         if not total == orders[o][1] <= orders[o][0]]  # fmt: skip
    result.filled_by_evaluator = sum(1 for o in load.limits if o in executed)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="kills of the leader (3)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--writers", type=int, default=2, help="order-placing threads (2)")
    parser.add_argument(
        "--postgres", action="store_true",
        help="two hosts on a PostgreSQL started here (initdb) instead of one host on SQLite",
    )  # fmt: skip
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server(Path(tmp)) as url,
        postgres(Path(tmp)) if args.postgres else contextlib.nullcontext() as database_url,
    ):
        result = run(url, Path(tmp), rounds=args.rounds, workers=args.workers,
                     writers=args.writers, database_url=database_url)  # fmt: skip
    print(json.dumps(result.__dict__, indent=1))
    print(
        f"failover after kill -9: {', '.join(f'{f:.0f}' for f in result.failovers_ms)} ms; "
        f"acknowledged {result.acked}, stored {result.stored}, filled twice "
        f"{len(result.overfilled)}, resting orders filled by the evaluator "
        f"{result.filled_by_evaluator}"
    )


if __name__ == "__main__":
    main()
