"""``serve --workers N`` (issue 15, docs/deployment.md): a supervisor and N real worker
processes sharing one port with SO_REUSEPORT, on a real ``redis-server``.

These tests stay on serving (health, market data, WebSocket bars): which worker holds a
connection is read from /proc (tests/clusterproc.py). Broker writes from two workers on one
SQLite file are the shared-store work's tests.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.clusterproc import Cluster, alive, children, client_ports
from tests.realservers import RedisServer
from tests.serverproc import REPO, Server, free_port, run_cli, server_env
from tests.wsclient import WS, drain, subscribe, updates
from trading import cluster
from trading.broker import sqlite_file
from trading.broker.sqlite_file import StartupError
from trading.broker.store import prepare_store
from trading.settings import Settings

BARS_QUERY = (
    "/api/v1/datafeed/bars?symbol=AAPL&resolution=1D&from_time=1704067200000&to_time=1706745600000"
)


@pytest.fixture
def running(tmp_path: Path, redis_server: RedisServer) -> Iterator[Cluster]:
    server = Cluster(tmp_path / "data", tmp_path / "cluster.log", redis_server.url, workers=2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def health(origin: str) -> int:
    """One request on a fresh connection (a new 4-tuple: any worker may take it)."""
    with urllib.request.urlopen(f"{origin}/api/v1/health", timeout=5) as response:
        status: int = response.status
        return status


def connections_by_worker(
    server: Cluster, count: int
) -> dict[int, list[http.client.HTTPConnection]]:
    """``count`` keep-alive connections, grouped by the worker that accepted each."""
    conns = []
    for _ in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.connect()
        conns.append(conn)
    time.sleep(0.2)  # accepted by now
    owner = {port: pid for pid in server.worker_pids() for port in client_ports(pid, server.port)}
    grouped: dict[int, list[http.client.HTTPConnection]] = {}
    for conn in conns:
        assert conn.sock is not None
        grouped.setdefault(owner[conn.sock.getsockname()[1]], []).append(conn)
    return grouped


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def wait_gone(pid: int, timeout: float) -> float:
    """Seconds until ``pid`` exited (pidfd: exact, also for another process's child)."""
    fd = os.pidfd_open(pid)
    try:
        begun = time.monotonic()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(timeout * 1000), f"pid {pid} still running after {timeout} s"
        return time.monotonic() - begun
    finally:
        os.close(fd)


# --- start-up -----------------------------------------------------------------------------


def test_two_workers_share_the_port_and_both_serve_the_same_market(running: Cluster) -> None:
    """Both workers accept connections on the one port and answer market data; the synthetic
    market is deterministic, so both compute the very same bars (no backplane needed)."""
    pids = running.wait_workers(2)
    grouped = connections_by_worker(running, 24)
    assert set(grouped) == pids, "both workers took connections"
    answers = set()
    for conns in grouped.values():
        status, body = get(conns[0], BARS_QUERY)
        assert status == 200, body
        answers.add(body)
        assert get(conns[-1], "/api/v1/ready")[0] == 200
    assert len(answers) == 1
    assert b'"bars":[{' in next(iter(answers))
    for conns in grouped.values():
        for conn in conns:
            conn.close()
    log = running.log()
    for pid in pids:
        assert f"started (pid {pid})" in log
        assert f"(pid {pid}) is ready" in log


async def test_websocket_bars_from_every_worker(running: Cluster) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = [await session.ws_connect(running.origin + WS) for _ in range(16)]
        served = {
            pid
            for pid in running.worker_pids()
            for ws in sockets
            if ws.get_extra_info("sockname")[1] in client_ports(pid, running.port)
        }
        assert served == running.worker_pids()
        for ws in sockets:
            _, snapshot = await subscribe(ws, "bars", {"symbol": "AAPL"})
            assert snapshot, "the forming bar"
            assert {f["type"] for f in snapshot} == {"bars.update"}
        await asyncio.gather(*(ws.close() for ws in sockets))


def test_a_second_server_on_the_data_dir_is_refused(running: Cluster) -> None:
    result = run_cli(running.data_dir, "serve")
    assert result.returncode == 3, result.stderr
    assert "another trading server holds the data dir" in result.stderr
    assert f"pid {running.pid}" in result.stderr, "the lock names the supervisor"
    assert health(running.origin) == 200


def test_a_busy_port_is_refused_by_the_cluster_and_by_a_lone_server(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Only workers bind with SO_REUSEPORT: a lone server keeps refusing a busy port, and a
    cluster refuses a port something listens on instead of sharing it."""
    first = Server(tmp_path / "one", tmp_path / "one.log")
    first.start()
    try:
        env = server_env(tmp_path / "two", first.port, TRADING_REDIS_URL=redis_server.url)
        lone = subprocess.run(
            [sys.executable, "-m", "trading", "serve"], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert lone.returncode != 0
        assert "address already in use" in lone.stderr.lower()
        clustered = subprocess.run(
            [sys.executable, "-m", "trading", "serve", "--workers", "2"], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert clustered.returncode == 1, clustered.stderr
        assert f"cannot listen on 127.0.0.1:{first.port}" in clustered.stderr
        assert "worker" not in clustered.stderr
        assert health(first.origin) == 200
    finally:
        first.stop()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "TRADING_REDIS_URL"),  # several workers need the backplane
        ({"TRADING_REDIS_URL": "redis://127.0.0.1:1/0", "TRADING_TICK_INTERVAL_S": "0"},
         "TRADING_TICK_INTERVAL_S"),
    ],
)  # fmt: skip
def test_bad_settings_with_workers_stop_before_any_worker(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    result = subprocess.run(
        [sys.executable, "-m", "trading", "serve", "--workers", "2"], cwd=REPO,
        env={**server_env(tmp_path / "data", free_port()), **base, **env,
             "TRADING_DATA_DIR": str(tmp_path / "data")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "cannot start, bad settings" in result.stderr
    assert named in result.stderr
    assert "started (pid" not in result.stderr, "no worker was ever started"


def test_the_cli_flag_wins_over_trading_workers(tmp_path: Path) -> None:
    """TRADING_WORKERS=2 without Redis is refused (exit 2); ``--workers 1`` overrides it and
    runs one plain server."""
    env = {**server_env(tmp_path / "data", free_port()), "TRADING_WORKERS": "2"}
    env.pop("TRADING_REDIS_URL", None)
    refused = subprocess.run(
        [sys.executable, "-m", "trading", "serve"], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "TRADING_WORKERS=2" in refused.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "trading", "serve", "--workers", "1"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        origin = f"http://127.0.0.1:{env['TRADING_PORT']}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                assert health(origin) == 200
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert children(process.pid) == set(), "one process, no supervisor"
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


# --- failures and stops -------------------------------------------------------------------


def test_a_killed_worker_is_restarted_and_the_port_keeps_answering(running: Cluster) -> None:
    before = running.wait_workers(2)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_gone(victim, 5)
    assert [health(running.origin) for _ in range(20)] == [200] * 20, "the survivor answers"
    deadline = time.monotonic() + 30
    while running.ready_count() < 3:
        assert time.monotonic() < deadline, running.log()
        time.sleep(0.05)
    after = running.wait_workers(2)
    assert victim not in after
    assert len(after & before) == 1
    assert f"(pid {victim}) ended (killed by SIGKILL): restarting it" in running.log()
    grouped = connections_by_worker(running, 24)
    assert set(grouped) == after, "the new worker takes connections"


async def test_sigterm_to_one_worker_closes_its_sockets_with_1001_in_under_a_second(
    running: Cluster,
) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = [await session.ws_connect(running.origin + WS) for _ in range(30)]
        for ws in sockets:
            await subscribe(ws, "bars", {"symbol": "AAPL"})
        victim = min(running.worker_pids())
        theirs = client_ports(victim, running.port)
        mine = [ws for ws in sockets if ws.get_extra_info("sockname")[1] in theirs]
        others = [ws for ws in sockets if ws not in mine]
        assert mine
        assert others
        pidfd = os.pidfd_open(victim)
        begun = time.monotonic()
        os.kill(victim, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[float] = loop.create_future()

        def exited() -> None:
            if not gone.done():
                gone.set_result(time.monotonic())

        loop.add_reader(pidfd, exited)
        try:
            exit_s = await asyncio.wait_for(gone, 10) - begun
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        assert exit_s < 1.0, f"the worker took {exit_s:.3f} s to exit"
        for ws in mine:
            msg = await ws.receive(timeout=1)
            while msg.type is aiohttp.WSMsgType.TEXT:  # updates queued before the close
                msg = await ws.receive(timeout=1)
            assert msg.type is aiohttp.WSMsgType.CLOSE, msg
            assert msg.data == aiohttp.WSCloseCode.GOING_AWAY
        # the other worker's clients keep their sockets and their updates
        for ws in others:
            assert not ws.closed
        frame = await others[0].receive(timeout=5)
        assert frame.type is aiohttp.WSMsgType.TEXT
        assert "bars.update" in frame.data
        statuses = [await asyncio.to_thread(health, running.origin) for _ in range(20)]
        assert statuses == [200] * 20
        await asyncio.gather(*(ws.close() for ws in others))


def _stuck_client(port: int, pings: int) -> socket.socket:
    """A WebSocket client that asks for a lot (big pings: the server queues the pongs) and
    then reads nothing, with a tiny receive buffer: its queue cannot drain, its close frame
    cannot be written."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {WS} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert b" 101 " in sock.recv(4096)
    payload = orjson.dumps({"type": "ping", "payload": "x" * 60_000})
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    frame = bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload)) + mask + masked
    for _ in range(pings):
        sock.sendall(frame)
    return sock


def test_clients_that_stopped_reading_do_not_hold_a_sigterm(tmp_path: Path) -> None:
    """The shutdown's drain and close are bounded (trading/ws/setup.py): measured 3.0 s with
    the former bounds, here well under a second."""
    server = Server(tmp_path / "data", tmp_path / "server.log", TRADING_LOG_LEVEL="INFO")
    server.start()
    stuck = [_stuck_client(server.port, 60) for _ in range(3)]
    try:
        time.sleep(1.0)  # the pongs are queued behind full buffers
        assert server.process is not None
        begun = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) == 0
        assert time.monotonic() - begun < 1.0
    finally:
        for sock in stuck:
            sock.close()
        server.kill()


def test_sigterm_to_the_supervisor_stops_every_worker_cleanly(running: Cluster) -> None:
    pids = running.wait_workers(2)
    assert running.stop() == 0
    assert not any(alive(pid) for pid in pids)
    log = running.log()
    for pid in pids:
        assert f"(pid {pid}) stopped (exit status 0)" in log
    assert "restarting" not in log
    # the lock went with them: a server starts on the data dir again
    again = Server(running.data_dir, running.log_path)
    again.start()
    assert again.stop() == 0


def test_workers_stop_when_the_supervisor_is_killed(running: Cluster) -> None:
    """SIGKILL gives the supervisor no chance to stop them: each worker sees its channel's
    end-of-file and shuts down by itself, so no orphan keeps the port or the lock."""
    pids = running.wait_workers(2)
    assert running.process is not None
    running.process.kill()
    running.process.wait(timeout=10)
    for pid in pids:
        wait_gone(pid, 10)
    assert running.log().count("the cluster supervisor is gone: shutting down") == 2
    again = Server(running.data_dir, running.log_path)
    again.start()
    assert again.stop() == 0


def test_sighup_replaces_the_workers_one_at_a_time_without_a_refused_request(
    running: Cluster,
) -> None:
    before = running.wait_workers(2)
    failures: list[BaseException] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            try:
                assert health(running.origin) == 200
            except (OSError, AssertionError) as exc:
                failures.append(exc)
            time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        os.kill(running.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while "rolling restart done" not in running.log():
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.05)
    finally:
        done.set()
        poller.join()
    after = running.wait_workers(2)
    assert not after & before, "every worker was replaced"
    assert failures == []
    log = running.log()
    assert "restarting it" not in log
    for pid in before:
        assert f"(pid {pid}) stopped (exit status 0)" in log


# --- the supervisor's restart policy, with stand-in workers ------------------------------


def _fast_backoff(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "trading.cluster")
    monkeypatch.setattr(cluster, "RESTART_BACKOFF_S", 0.01)
    monkeypatch.setattr(cluster, "RESTART_BACKOFF_MAX_S", 0.05)


def test_a_worker_failing_with_a_settings_or_data_dir_code_ends_the_cluster_at_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fast_backoff(monkeypatch, caplog)
    worker = [sys.executable, "-c", "import sys; sys.exit(3)"]
    begun = time.monotonic()
    assert cluster.Supervisor(worker, 2).run() == 3
    assert time.monotonic() - begun < 10
    assert "giving up" in caplog.text
    assert caplog.text.count("started (pid") == 2, "no restart"


def test_workers_dying_at_start_up_are_retried_then_given_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fast_backoff(monkeypatch, caplog)
    worker = [sys.executable, "-c", "import sys; sys.exit(1)"]
    assert cluster.Supervisor(worker, 1).run() == 1
    assert caplog.text.count("started (pid") == cluster.START_FAILURES
    assert "ended (exit status 1): restarting it" in caplog.text
    assert f"{cluster.START_FAILURES} time(s) in a row: giving up" in caplog.text


# --- the inherited data-dir lock ----------------------------------------------------------


def test_the_store_adopts_only_the_held_lock_it_is_given(tmp_path: Path) -> None:
    fd = prepare_store(tmp_path, Decimal(1000))
    try:
        assert (tmp_path / "trading.sqlite3").exists()
        assert sqlite_file.adopt_lock(fd, tmp_path) == fd
        with pytest.raises(StartupError, match="another trading server holds"):
            sqlite_file.lock_data_dir(tmp_path)
        other = os.open(tmp_path / "trading.lock", os.O_RDWR)  # the file, not the lock
        try:
            with pytest.raises(StartupError, match="is not the held lock"):
                sqlite_file.adopt_lock(other, tmp_path)
        finally:
            os.close(other)
        unrelated = os.open(tmp_path / "trading.sqlite3", os.O_RDONLY)
        try:
            with pytest.raises(StartupError, match="is not the held lock"):
                sqlite_file.adopt_lock(unrelated, tmp_path)
        finally:
            os.close(unrelated)
    finally:
        os.close(fd)


# --- deploy/compose.yaml (docker cannot run here: its content is checked) -----------------


def test_the_compose_file_parses_and_its_api_settings_are_valid() -> None:
    yaml = pytest.importorskip("yaml")  # PyYAML, installed with the spec tools
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"redis", "postgres"} <= set(services)
    apis = [s for s in services.values() if "serve" in s.get("command", [])]
    assert len(apis) >= 2, "several hosts"
    ports = set()
    for api in apis:
        command = api["command"]
        workers = command[command.index("--workers") + 1]
        settings = Settings.from_env(api["environment"], workers=int(workers))
        assert settings.shared_store
        assert settings.database_url is not None
        assert settings.redis_url is not None
        ports.update(api["ports"])
    assert len(ports) == len(apis), "each host on its own published port"


# --- the broker across workers (broker.md §21) ------------------------------------------------


async def test_an_order_placed_on_one_worker_is_pushed_to_clients_on_every_worker(
    running: Cluster,
) -> None:
    """A client on each worker follows DEMO-ACCOUNT's orders; orders placed over connections
    of both workers reach both clients once each, in order, and every worker answers them."""
    pids = running.wait_workers(2)
    grouped = connections_by_worker(running, 24)
    assert set(grouped) == pids
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = [await session.ws_connect(running.origin + WS) for _ in range(16)]
        by_worker = {
            pid: ws
            for pid in pids
            for ws in sockets
            if ws.get_extra_info("sockname")[1] in client_ports(pid, running.port)
        }
        assert set(by_worker) == pids, "a socket on each worker"
        for ws in by_worker.values():
            await subscribe(ws, "orders", {"accountId": "DEMO-ACCOUNT"})
        placed = []
        for pid, conns in grouped.items():  # two orders through each worker
            for _ in range(2):
                body = json.dumps({"symbol": "AAPL", "type": 1, "side": 1, "qty": 1,
                                   "limitPrice": 1})  # fmt: skip
                conns[0].request("POST", "/api/v1/broker/orders", body,
                                 {"Content-Type": "application/json"})  # fmt: skip
                response = conns[0].getresponse()
                assert response.status == 200, (pid, response.read())
                placed.append(json.loads(response.read())["orderId"])
        for pid, ws in by_worker.items():
            pushed = [f["payload"]["payload"]["id"] for f in await updates(ws, len(placed), 5)]
            assert pushed == placed, pid  # every order once, in commit order
            assert await drain(ws) == []  # and nothing twice
        for conns in grouped.values():  # every worker answers every order
            status, raw = get(conns[0], "/api/v1/broker/orders")
            assert status == 200
            assert set(placed) <= {o["id"] for o in json.loads(raw)}
        await asyncio.gather(*(ws.close() for ws in sockets))
    for conns in grouped.values():
        for conn in conns:
            conn.close()
