"""Broker benchmark: orders placed per second through REST, server CPU per order, and the
end-to-end latency from sending ``POST /broker/orders`` to receiving that order's
``orders.update`` on a WebSocket.

Starts ``python -m trading serve`` on a free port with a fresh data dir (SQLite in WAL mode,
every order committed before its response), subscribes ``orders``, then places ``--orders``
orders at ``--concurrency`` for two workloads: resting limit orders (one row each) and market
orders that fill at once (order, execution, position, account rows and five pushes each).

    .venv/bin/python scripts/bench_broker.py --orders 2000 --concurrency 16 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import aiohttp
from bench_rest import cpu_seconds, free_port, wait_ready

WORKLOADS = {
    "limit (rests)": {"symbol": "AAPL", "type": 1, "side": 1, "qty": 1, "limitPrice": 100.0},
    "market (fills)": {"symbol": "MSFT", "type": 2, "side": 1, "qty": 1},
}


@dataclass
class Result:
    rate: float
    cpu_us: float
    p50_ms: float
    p99_ms: float


async def run_workload(
    session: aiohttp.ClientSession, base: str, pid: int, body: dict[str, object], n: int, conc: int
) -> Result:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    seen: dict[str, float] = {}
    done = asyncio.Event()

    async with session.ws_connect(base + "/api/v1/ws") as ws:
        await ws.send_json({"type": "orders.subscribe", "payload": {"accountId": "BENCH"}})

        async def reader() -> None:
            async for msg in ws:
                data = msg.json()
                if data["type"] != "orders.update":
                    continue
                order_id = data["payload"]["payload"]["id"]
                if order_id not in seen:
                    seen[order_id] = time.perf_counter()
                    if len(seen) >= n:
                        done.set()

        reading = asyncio.create_task(reader())
        await asyncio.sleep(0.2)  # the subscribe reply and snapshot
        seen.clear()
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                async with session.post(base + "/api/v1/broker/orders", json=body) as resp:
                    reply = await resp.json()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}: {reply}")
                sent[reply["orderId"]] = t0

        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        wall = time.perf_counter() - t0
        await asyncio.wait_for(done.wait(), 30)
        cpu = cpu_seconds(pid) - cpu0
        reading.cancel()
    latencies = sorted(seen[i] - sent[i] for i in sent if i in seen)
    return Result(
        rate=n / wall,
        cpu_us=cpu / n * 1e6,
        p50_ms=latencies[len(latencies) // 2] * 1e3,
        p99_ms=latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1e3,
    )


async def run(args: argparse.Namespace, base: str, pid: int) -> None:
    await wait_ready(base)
    print(f"server pid {pid}, {args.orders} orders x {args.repeat} repeats, "
          f"concurrency {args.concurrency}")  # fmt: skip
    print(f"{'workload':16} {'orders/s':>9} {'CPU µs/order':>13} {'push p50 ms':>12} "
          f"{'push p99 ms':>12}")  # fmt: skip
    connector = aiohttp.TCPConnector(limit=args.concurrency + 1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for name, body in WORKLOADS.items():
            runs = []
            for _ in range(args.repeat):
                runs.append(
                    await run_workload(session, base, pid, body, args.orders, args.concurrency)
                )
                await session.post(base + "/api/v1/broker/debug/reset", json={})
            print(
                f"{name:16} {statistics.median(r.rate for r in runs):9.0f} "
                f"{statistics.median(r.cpu_us for r in runs):13.0f} "
                f"{statistics.median(r.p50_ms for r in runs):12.2f} "
                f"{statistics.median(r.p99_ms for r in runs):12.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, TRADING_PORT=str(port), TRADING_LOG_LEVEL="WARNING",
                   TRADING_DATA_DIR=data, TRADING_INITIAL_BALANCE="1000000000")  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-m", "trading", "serve"], env=env)
        try:
            asyncio.run(run(args, f"http://127.0.0.1:{port}", proc.pid))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
