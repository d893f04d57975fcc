"""Serving with several processes (issue 15): how SO_REUSEPORT spreads WebSockets over the
workers, and what a SIGTERM to one worker does to its clients.

Starts a real ``redis-server`` (temporary dir, free loopback port) and
``python -m trading serve --workers N`` (temporary data dir, free port), then:

1. **balance**: opens ``--connections`` WebSockets one after another (each its own TCP
   connection), counts which worker holds each (read from /proc: tests/clusterproc.py), closes
   them; ``--reps`` times. Goal: the busiest worker holds ≤ 60 % with 2 workers.
2. **rolling stop**: opens ``--sockets`` WebSockets subscribed to 1-minute bars, SIGTERMs one
   worker and measures when it exited (pidfd) and which close code each of its clients got,
   and when; meanwhile asks ``/api/v1/health`` ``--requests`` times over fresh connections.
   Goal: exit < 1 s, every client of the stopped worker closed with 1001, every request
   answered (by the other workers).

    .venv/bin/python scripts/bench_cluster_serving.py [--workers 2] [--connections 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import orjson

# the fixtures' servers, not copies of them: run from the repository root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.clusterproc import Cluster, client_ports
from tests.realservers import RedisServer

WS_PATH = "/api/v1/ws"


async def open_sockets(
    session: aiohttp.ClientSession, origin: str, count: int, *, subscribe: bool
) -> list[aiohttp.ClientWebSocketResponse]:
    sockets = []
    for _ in range(count):
        ws = await session.ws_connect(origin + WS_PATH, heartbeat=None, autoping=True)
        if subscribe:
            payload = {"symbol": "AAPL", "resolution": "1"}
            await ws.send_str(orjson.dumps({"type": "bars.subscribe", "payload": payload}).decode())
        sockets.append(ws)
    return sockets


def local_port(ws: aiohttp.ClientWebSocketResponse) -> int:
    sock = ws.get_extra_info("sockname")
    assert sock is not None
    port: int = sock[1]
    return port


def holders(cluster: Cluster, ports: list[int]) -> dict[int, int]:
    """client port → worker pid."""
    found = {}
    for pid in cluster.worker_pids():
        for port in client_ports(pid, cluster.port):
            found[port] = pid
    return {p: found[p] for p in ports if p in found}


async def balance(cluster: Cluster, connections: int, reps: int) -> list[float]:
    shares = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for rep in range(1, reps + 1):
            sockets = await open_sockets(session, cluster.origin, connections, subscribe=False)
            await asyncio.sleep(0.2)
            owner = holders(cluster, [local_port(ws) for ws in sockets])
            counts = Counter(owner.values())
            split = " / ".join(str(n) for n in sorted(counts.values(), reverse=True))
            share = max(counts.values()) / connections
            shares.append(share)
            print(f"  rep {rep}: {split} of {connections} (seen {len(owner)}), busiest {share:.1%}")
            await asyncio.gather(*(ws.close() for ws in sockets))
            await asyncio.sleep(0.5)
    return shares


async def _close_of(ws: aiohttp.ClientWebSocketResponse, t0: list[float]) -> tuple[str, float]:
    """The close the client saw (code or kind) and when, relative to the SIGTERM."""
    while True:
        msg = await ws.receive()
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
            return str(msg.data), time.monotonic() - t0[0]
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            code = ws.close_code
            return (str(code) if code is not None else msg.type.name), time.monotonic() - t0[0]


async def _health(origin: str, count: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(count):
        try:
            async with (
                aiohttp.ClientSession() as session,  # a fresh connection each time
                session.get(origin + "/api/v1/health", timeout=aiohttp.ClientTimeout(5)) as r,
            ):
                seen[str(r.status)] += 1
        except aiohttp.ClientError as exc:
            seen[type(exc).__name__] += 1
        await asyncio.sleep(0.02)
    return seen


async def rolling_stop(cluster: Cluster, count: int, requests: int) -> dict[str, object]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = await open_sockets(session, cluster.origin, count, subscribe=True)
        await asyncio.sleep(1.5)  # subscribed, snapshots sent, a tick or so of updates
        owner = holders(cluster, [local_port(ws) for ws in sockets])
        victim = min(cluster.worker_pids())
        mine = [ws for ws in sockets if owner.get(local_port(ws)) == victim]
        others = [ws for ws in sockets if owner.get(local_port(ws)) not in (None, victim)]
        t0 = [0.0]
        closes = [asyncio.create_task(_close_of(ws, t0)) for ws in mine]
        pidfd = os.pidfd_open(victim)
        t0[0] = time.monotonic()
        os.kill(victim, signal.SIGTERM)
        health = asyncio.create_task(_health(cluster.origin, requests))
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[float] = loop.create_future()

        def gone() -> None:
            if not exited.done():
                exited.set_result(time.monotonic())

        loop.add_reader(pidfd, gone)
        exit_s = await asyncio.wait_for(exited, 15) - t0[0]
        loop.remove_reader(pidfd)
        os.close(pidfd)
        seen = await asyncio.wait_for(asyncio.gather(*closes), 15)
        answered = await health
        others_closed = sum(ws.closed for ws in others)
        await asyncio.gather(*(ws.close() for ws in sockets))
    times = sorted(t for _, t in seen)
    shutdown = [line.rsplit("shut down in ", 1)[1] for line in cluster.log().splitlines()
                if f"[{victim}]: shut down in" in line]  # fmt: skip
    return {
        "victim": victim,
        "its sockets": len(mine),
        "exit_s": exit_s,
        "its shutdown (runner cleanup, as it logged)": shutdown[0] if shutdown else None,
        "codes": dict(Counter(code for code, _ in seen)),
        "close_p50_ms": statistics.median(times) * 1000 if times else None,
        "close_max_ms": times[-1] * 1000 if times else None,
        "others": len(others),
        "others_closed": others_closed,
        "health": dict(answered),
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=400)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed (Debian package redis-server)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        work = Path(tmp)
        redis = RedisServer(binary, work)
        redis.start()
        cluster = Cluster(work / "data", work / "cluster.log", redis.url, args.workers)
        try:
            cluster.start()
            print(f"{args.workers} workers on {cluster.origin}: {sorted(cluster.worker_pids())}")
            print(f"balance: {args.connections} WebSockets, {args.reps} repetitions")
            shares = await balance(cluster, args.connections, args.reps)
            print(f"  busiest share: max {max(shares):.1%}, goal <= 60 %")
            print(f"SIGTERM one of {args.workers} workers holding part of {args.sockets} sockets")
            result = await rolling_stop(cluster, args.sockets, args.requests)
            for key, value in result.items():
                print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
            print("  goal: exit < 1 s, every close 1001, every request 200")
            cluster.wait_workers(args.workers)
        finally:
            code = cluster.stop()
            redis.stop()
            print(f"supervisor exit code after SIGTERM: {code}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
