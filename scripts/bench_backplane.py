"""Benchmark of the Redis backplane against the single-process server, measured in one run.

Three servers run side by side (``python -m trading serve``, keys mode, ``TRADING_BENCH=1``,
each on its own data dir and port) plus one ``redis-server``:

- ``local1``: one process, no Redis (the default mode): the clients and the pushes are here;
- ``redis2``: two processes A and B on the same Redis: the pushes are made on A, the clients
  are on B, so every delivered message took the Redis hop.

Pushes come from ``POST /api/v1/__bench/broker``: synthetic equity commits (with a version)
through exactly what real commits go through (encode once, publish pipelined, reader, hub,
socket queues). Each figure is measured for both configurations in the same repetition,
alternating which goes first, and the medians of ``--reps`` repetitions are printed with the
ratio redis2 / local1:

- **narrow**: ``--accounts`` accounts × 1 WebSocket subscriber each (the per-account
  streams), ``--count`` pushes back-to-back round-robin; total CPU (every server process plus
  Redis, from /proc/<pid>/stat, 10 ms ticks) per delivered message;
- **latency**: pushes paced at ``--lat-rate`` per second; client-side latency p50/p99 from the
  push's stamp to its arrival (the added hop = redis2 − local1);
- **recovery**: Redis killed and started again on the same port; the time from Redis
  accepting connections to the last subscriber on B having its fresh snapshot.

The load client (aiohttp, in this process) shares the 2 cores with the servers: compare the
CPU-per-message figures, which depend far less on it than rates do.

    .venv/bin/python scripts/bench_backplane.py --accounts 200 --count 20000 --reps 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
DEMO = "DEMO-ACCOUNT"
STAMPED = 10**14
"""Pushes of the hook carry the wall clock in µs as ``equity``; snapshots carry a balance."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pctl(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


class Redis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@dataclass
class Server:
    name: str
    workdir: Path
    redis_url: str | None
    auth: str = "keys"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    key: str = ""
    accounts: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(
            os.environ,
            TRADING_HOST="127.0.0.1", TRADING_PORT=str(self.port),
            TRADING_DATA_DIR=str(self.workdir), TRADING_LOG_LEVEL="WARNING",
            TRADING_ACCESS_LOG="0", TRADING_AUTH=self.auth, TRADING_BENCH="1",
            TRADING_MAX_ACCOUNTS_PER_USER="10000", TRADING_WS_MAX_SUBSCRIPTIONS="10000",
            TRADING_RATE_LIMIT_REST_PER_S="100000", TRADING_RATE_LIMIT_REST_BURST="1000000",
            TRADING_RATE_LIMIT_WS_PER_S="100000", TRADING_RATE_LIMIT_WS_BURST="1000000",
        )  # fmt: skip
        env.pop("TRADING_REDIS_URL", None)
        if self.redis_url is not None:
            env["TRADING_REDIS_URL"] = self.redis_url
        return env

    def start(self) -> None:
        if self.auth == "keys":
            out = subprocess.run(
                [sys.executable, "-m", "trading", "users", "create", f"bench-{self.name}"],
                env=self.env(), cwd=ROOT, capture_output=True, text=True, check=True,
            )  # fmt: skip
            self.key = out.stdout.strip().splitlines()[-1]
        log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trading", "serve"], env=self.env(), cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


async def wait_ready(session: aiohttp.ClientSession, server: Server) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(server.base + "/api/v1/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{server.name} did not start: see {server.workdir / 'server.log'}")


async def open_accounts(session: aiohttp.ClientSession, server: Server, n: int) -> None:
    url = server.base + "/api/v1/broker/accounts"
    async with session.get(url, headers=server.headers) as resp:
        ids = [a["id"] for a in await resp.json()]
    while len(ids) < n:
        async with session.post(url, json={}, headers=server.headers) as resp:
            body = await resp.json()
            assert resp.status in (200, 201), body
            ids.append(body["id"])
    server.accounts = ids[:n]


class Client:
    """One socket subscribed to one account's equity; records hook pushes and snapshots."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received = 0
        self.last_seq: dict[str, int] = {}
        self.disorder = 0
        self.latencies: list[float] | None = None
        self.snapshot_at: float | None = None
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            now_us = time.time_ns() / 1000
            frame = orjson.loads(msg.data)
            if frame["type"] != "equity.update":
                continue
            payload = frame["payload"]["payload"]
            stamp = payload["equity"]
            if stamp < STAMPED:
                self.snapshot_at = time.monotonic()
                continue
            self.received += 1
            seq = int(payload["balance"])
            topic = frame["payload"]["topic"]
            if seq <= self.last_seq.get(topic, -1):
                self.disorder += 1
            self.last_seq[topic] = seq
            if self.latencies is not None:
                self.latencies.append((now_us - stamp) / 1000)


async def connect(
    session: aiohttp.ClientSession, server: Server, topics: list[str] | None = None
) -> list[Client]:
    """One client per account of ``topics`` (default: one per account of the server)."""
    url = server.base.replace("http", "ws") + "/api/v1/ws"
    sem = asyncio.Semaphore(50)

    async def one(account: str) -> Client:
        async with sem:
            ws = await session.ws_connect(url, headers=server.headers, max_msg_size=0)
            request = {"type": "equity.subscribe", "payload": {"accountId": account}}
            await ws.send_str(orjson.dumps(request).decode())
            reply = orjson.loads((await ws.receive(timeout=10)).data)
            assert reply["payload"]["status"] == "ok", reply
            snapshot = orjson.loads((await ws.receive(timeout=10)).data)
            assert snapshot["type"] == "equity.update", snapshot
            return Client(ws)

    return list(await asyncio.gather(*(one(a) for a in topics or server.accounts)))


async def close(clients: list[Client]) -> None:
    for c in clients:
        await c.ws.close()
        c.task.cancel()


async def push(
    session: aiohttp.ClientSession, via: Server, accounts: list[str], count: int, rate: float
) -> Any:
    body = {"accounts": accounts, "count": count, "rate": rate}
    async with session.post(via.base + "/api/v1/__bench/broker", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def delivered(clients: list[Client], expected: int, within: float = 60) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = sum(c.received for c in clients)
        if got >= expected:
            return got
        await asyncio.sleep(0.005)
    return sum(c.received for c in clients)


@dataclass
class Config:
    name: str
    via: Server
    to: Server
    pids: list[int]


async def narrow(session: aiohttp.ClientSession, cfg: Config, count: int) -> dict[str, float]:
    clients = await connect(session, cfg.to)
    try:
        await asyncio.sleep(0.3)
        cpu0, t0 = [cpu_seconds([p]) for p in cfg.pids], time.monotonic()
        await push(session, cfg.via, cfg.to.accounts, count, 1e9)
        got = await delivered(clients, count)
        cpu1, t1 = [cpu_seconds([p]) for p in cfg.pids], time.monotonic()
        each = [(b - a) / max(got, 1) * 1e6 for a, b in zip(cpu0, cpu1, strict=True)]
        return {
            "cpu_us_per_msg": sum(each),
            "cpu_us_per_msg_each": each,  # type: ignore[dict-item]
            "delivered": got / count,
            "msgs_per_s": got / (t1 - t0),
            "disorder": sum(c.disorder for c in clients),
        }
    finally:
        await close(clients)


async def latency(
    session: aiohttp.ClientSession, cfg: Config, count: int, rate: float
) -> dict[str, float]:
    clients = await connect(session, cfg.to)
    try:
        lat: list[float] = []
        for c in clients:
            c.latencies = lat
        await asyncio.sleep(0.3)
        await push(session, cfg.via, cfg.to.accounts, count, rate)
        got = await delivered(clients, count)
        return {"p50_ms": pctl(lat, 0.5), "p99_ms": pctl(lat, 0.99), "delivered": got / count}
    finally:
        await close(clients)


async def recovery(session: aiohttp.ClientSession, redis: Redis, to: Server) -> float:
    clients = await connect(session, to)
    try:
        await asyncio.sleep(0.5)
        redis.kill()
        await asyncio.sleep(0.3)
        for c in clients:
            c.snapshot_at = None
        back = await asyncio.to_thread(start_and_wait, redis)
        deadline = back + 10
        # the clients stamp arrivals themselves; this only waits for the last one
        while any(c.snapshot_at is None for c in clients) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        missing = sum(c.snapshot_at is None for c in clients)
        if missing:
            raise SystemExit(f"{missing} subscribers got no fresh snapshot within 10 s")
        return (max(c.snapshot_at for c in clients if c.snapshot_at) - back) * 1000
    finally:
        await close(clients)


async def wide(
    session: aiohttp.ClientSession,
    via: Server,
    on: list[Server],
    clients_n: int,
    count: int,
    rate: float,
    pids: list[int],
) -> dict[str, float]:
    """``clients_n`` subscribers of one account (off mode: DEMO-ACCOUNT) spread over ``on``;
    ``count`` pushes at ``rate`` made on ``via``: server CPU per delivered message."""
    share = clients_n // len(on)
    clients = [c for s in on for c in await connect(session, s, ["W"] * share)]
    try:
        await asyncio.sleep(0.5)
        expected = count * len(clients)
        cpu0 = cpu_seconds(pids)
        await push(session, via, [DEMO], count, rate)
        got = await delivered(clients, expected, within=120)
        cpu1 = cpu_seconds(pids)
        return {"cpu_us_per_msg": (cpu1 - cpu0) / max(got, 1) * 1e6, "delivered": got / expected}
    finally:
        await close(clients)


def start_and_wait(redis: Redis) -> float:
    """Start Redis and return when it first accepts a connection (polled every 0.2 ms from
    a thread, so the clients' event loop is not what delays the figure)."""
    redis.start()
    while True:
        try:
            with socket.create_connection(("127.0.0.1", redis.port), timeout=0.05):
                return time.monotonic()
        except OSError:
            time.sleep(0.0002)


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}–{max(values):.1f}]"


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-backplane-"))
    redis = Redis(workdir)
    redis.start()
    servers = {
        "L": Server("L", workdir / "L", None),
        "A": Server("A", workdir / "A", redis.url),
        "B": Server("B", workdir / "B", redis.url),
    }
    wide_servers = {
        "WL": Server("WL", workdir / "WL", None, auth="off"),
        "WA": Server("WA", workdir / "WA", redis.url, auth="off"),
        "WB": Server("WB", workdir / "WB", redis.url, auth="off"),
    }
    try:
        for s in servers.values():
            s.workdir.mkdir()
            s.start()
        connector = aiohttp.TCPConnector(limit=0)  # every socket holds a connection
        async with aiohttp.ClientSession(connector=connector) as session:
            for s in servers.values():
                await wait_ready(session, s)
            for name in ("L", "B"):
                await open_accounts(session, servers[name], args.accounts)
            local1 = Config("local1", servers["L"], servers["L"], [servers["L"].pid])
            redis2 = Config(
                "redis2",
                servers["A"],
                servers["B"],
                [servers["A"].pid, servers["B"].pid, redis.pid],
            )
            results: dict[str, dict[str, list[float]]] = {"local1": {}, "redis2": {}}
            rec: list[float] = []
            for rep in range(0 if args.wide_only else args.reps):
                order = (local1, redis2) if rep % 2 == 0 else (redis2, local1)
                for cfg in order:
                    figures = await narrow(session, cfg, args.count)
                    figures.update(await latency(session, cfg, args.lat_count, args.lat_rate))
                    for k, v in figures.items():
                        if isinstance(v, float | int):
                            results[cfg.name].setdefault(k, []).append(v)
                    print(json.dumps({"rep": rep + 1, "config": cfg.name, **figures}))
                rec.append(await recovery(session, redis, servers["B"]))
                redis2.pids[2] = redis.pid
                print(json.dumps({"rep": rep + 1, "recovery_ms": rec[-1]}))
                await asyncio.sleep(1.0)  # publisher/back-off settle before the next round
            wide_res: dict[str, list[float]] = {"local1": [], "redis2": [], "redis2_total": []}
            if args.wide or args.wide_only:
                for s in wide_servers.values():
                    s.workdir.mkdir()
                    s.start()
                for s in wide_servers.values():
                    await wait_ready(session, s)
                wl, wa, wb = wide_servers["WL"], wide_servers["WA"], wide_servers["WB"]
                for rep in range(args.wide_reps or args.reps):
                    names = ("local1", "redis2") if rep % 2 == 0 else ("redis2", "local1")
                    for name in names:
                        if name == "local1":
                            f = await wide(session, wl, [wl], args.wide_clients,
                                           args.wide_count, args.wide_rate, [wl.pid])  # fmt: skip
                            wide_res["local1"].append(f["cpu_us_per_msg"])
                        else:
                            pids = [wa.pid, wb.pid]
                            cpu_r0 = cpu_seconds([redis.pid])
                            f = await wide(session, wa, [wa, wb], args.wide_clients,
                                           args.wide_count, args.wide_rate, pids)  # fmt: skip
                            wide_res["redis2"].append(f["cpu_us_per_msg"])
                            f["redis_cpu_s"] = cpu_seconds([redis.pid]) - cpu_r0
                        print(json.dumps({"rep": rep + 1, "wide": name, **f}))
    finally:
        for s in [*servers.values(), *wide_servers.values()]:
            s.stop()
        redis.kill()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    cmd = " ".join(["python", "scripts/bench_backplane.py", *sys.argv[1:]])
    print(f"\n$ {cmd}")
    if not args.wide_only:
        print_narrow(args, results, rec)
    if args.wide or args.wide_only:
        w1, w2 = wide_res["local1"], wide_res["redis2"]
        print(f"wide: {args.wide_clients} subscribers of one account (local1: one process; "
              f"redis2: half on A, half on B), {args.wide_count} pushes at {args.wide_rate:g}/s "
              f"made on A; server CPU µs / delivered msg: local1 {median(w1)}, redis2 "
              f"{median(w2)}, ratio {statistics.median(w2) / statistics.median(w1):.2f}× "
              "(goal ≤ 1.25×)")  # fmt: skip


def print_narrow(
    args: argparse.Namespace, results: dict[str, dict[str, list[float]]], rec: list[float]
) -> None:
    lo, re_ = results["local1"], results["redis2"]
    print(f"narrow: {args.accounts} accounts x 1 subscriber, {args.count} pushes back-to-back; "
          f"{args.reps} interleaved reps, median [min–max]")  # fmt: skip
    print("| figure | local1 | redis2 (A pushes, B serves) | ratio | goal |")
    print("|---|---|---|---|---|")
    ratio = statistics.median(re_["cpu_us_per_msg"]) / statistics.median(lo["cpu_us_per_msg"])
    print(f"| total CPU µs / delivered msg (servers + Redis) | {median(lo['cpu_us_per_msg'])} | "
          f"{median(re_['cpu_us_per_msg'])} | {ratio:.2f}× | ≤ 40 µs |")  # fmt: skip
    print(f"| delivered msgs/s | {median(lo['msgs_per_s'])} | {median(re_['msgs_per_s'])} | "
          f"| |")  # fmt: skip
    print(f"| delivered / pushed | {median(lo['delivered'])} | {median(re_['delivered'])} | | 1 |")
    added50 = statistics.median(re_["p50_ms"]) - statistics.median(lo["p50_ms"])
    added99 = statistics.median(re_["p99_ms"]) - statistics.median(lo["p99_ms"])
    print(f"| latency p50 ms at {args.lat_rate:g}/s | {median(lo['p50_ms'])} | "
          f"{median(re_['p50_ms'])} | {added50:+.2f} ms | ≤ +1.5 ms |")  # fmt: skip
    print(f"| latency p99 ms | {median(lo['p99_ms'])} | {median(re_['p99_ms'])} | "
          f"{added99:+.2f} ms | ≤ +6 ms |")  # fmt: skip
    print(f"| Redis restart → every subscriber's fresh snapshot, ms | – | {median(rec)} | "
          f"| ≤ 100 ms |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--lat-rate", type=float, default=500.0)
    parser.add_argument("--lat-count", type=int, default=2_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--wide", action="store_true", help="also the wide topic")
    parser.add_argument("--wide-only", action="store_true", help="only the wide topic")
    parser.add_argument("--wide-reps", type=int, default=0, help="default: --reps")
    parser.add_argument("--wide-clients", type=int, default=1000)
    parser.add_argument("--wide-count", type=int, default=200)
    parser.add_argument("--wide-rate", type=float, default=50.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary dir (logs)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
