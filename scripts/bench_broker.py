"""Broker benchmark: orders placed per second through REST, server CPU per order, and the
end-to-end latency from sending ``POST /broker/orders`` to receiving that order's
``orders.update`` on a WebSocket.

Starts ``python -m trading serve`` on a free port with a fresh data dir (SQLite in WAL mode,
every order committed before its response: group commit, broker.md §12), subscribes
``orders``, then places ``--orders`` orders at ``--concurrency`` for two workloads: resting
limit orders (one row each) and market orders that fill at once (order, execution, position,
account rows and five pushes each). The two workloads alternate, ``--repeat`` runs each, the
account reset between runs; the table shows medians. The issue-16 goals have no minimal-server
comparison (``minimal``/``ratio`` are null in ``--json``).

    .venv/bin/python scripts/bench_broker.py --orders 2000 --concurrency 16 --repeat 5
    .venv/bin/python scripts/bench_broker.py --quick --json /tmp/broker.json
    .venv/bin/python scripts/bench_broker.py --profile /tmp/broker.prof   # cProfile the server

``--profile`` runs the server under cProfile (so its figures are slower than the plain run) and
prints the functions that took the most CPU, own time and cumulative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from bench_rest import cpu_seconds, free_port, wait_ready

WORKLOADS = {
    "limit (rests)": {"symbol": "AAPL", "type": 1, "side": 1, "qty": 1, "limitPrice": 100.0},
    "market (fills)": {"symbol": "MSFT", "type": 2, "side": 1, "qty": 1},
}
GOAL_RATE = {"limit (rests)": 5000.0, "market (fills)": 3000.0}
"""Orders/s at concurrency 16 (issue 16)."""
GOAL_CPU_US = {"limit (rests)": 150.0}
GOAL_P99_MS = 10.0
"""Placement → ``orders.update`` push p99 (issue 16), for both workloads."""


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


async def run(args: argparse.Namespace, base: str, pid: int) -> dict[str, list[Result]]:
    await wait_ready(base)
    print(f"server pid {pid}, {args.orders} orders x {args.repeat} repeats, "
          f"concurrency {args.concurrency}")  # fmt: skip
    chosen = {name: body for name, body in WORKLOADS.items() if args.only in (None, name)}
    runs: dict[str, list[Result]] = {name: [] for name in chosen}
    connector = aiohttp.TCPConnector(limit=args.concurrency + 1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(args.repeat):
            for name, body in chosen.items():  # interleaved: both see the same neighbours
                result = await run_workload(session, base, pid, body, args.orders, args.concurrency)
                runs[name].append(result)
                await session.post(base + "/api/v1/broker/debug/reset", json={})
    print(f"{'workload':16} {'orders/s':>9} {'CPU µs/order':>13} {'push p50 ms':>12} "
          f"{'push p99 ms':>12}   (medians; each run's orders/s in brackets)")  # fmt: skip
    for name, results in runs.items():
        print(
            f"{name:16} {statistics.median(r.rate for r in results):9.0f} "
            f"{statistics.median(r.cpu_us for r in results):13.0f} "
            f"{statistics.median(r.p50_ms for r in results):12.2f} "
            f"{statistics.median(r.p99_ms for r in results):12.2f}"
            f"   [{', '.join(f'{r.rate:.0f}' for r in results)}]"
        )
    return runs


def rows(runs: dict[str, list[Result]]) -> list[dict[str, object]]:
    """The ``--json`` rows (the contract of scripts/bench_all.py)."""

    def row(
        workload: str, metric: str, ours: float, goal: str, met: bool | None
    ) -> dict[str, object]:
        return {"workload": workload, "metric": metric, "ours": round(ours, 2), "minimal": None,
                "ratio": None, "goal": goal, "met": met}  # fmt: skip

    out = []
    for name, results in runs.items():
        workload = f"broker {name}, concurrency 16"
        rate = statistics.median(r.rate for r in results)
        cpu = statistics.median(r.cpu_us for r in results)
        p99 = statistics.median(r.p99_ms for r in results)
        out.append(row(workload, "orders/s", rate, f">= {GOAL_RATE[name]:.0f}",
                       rate >= GOAL_RATE[name]))  # fmt: skip
        cpu_goal = GOAL_CPU_US.get(name)
        out.append(row(workload, "server CPU µs/order", cpu,
                       "—" if cpu_goal is None else f"<= {cpu_goal:.0f}",
                       None if cpu_goal is None else cpu <= cpu_goal))  # fmt: skip
        out.append(row(workload, "placement → orders.update p99 ms", p99,
                       f"<= {GOAL_P99_MS:.0f}", p99 <= GOAL_P99_MS))  # fmt: skip
    return out


def show_profile(path: Path) -> None:
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="500 orders x 3 repeats (for make bench)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures as JSON rows here")
    parser.add_argument("--only", choices=list(WORKLOADS), help="one workload only")
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, to here")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.repeat = 500, 3
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, TRADING_PORT=str(port), TRADING_LOG_LEVEL="WARNING",
                   TRADING_DATA_DIR=data, TRADING_INITIAL_BALANCE="1000000000")  # fmt: skip
        command = ["-m", "trading", "serve"]
        if args.profile:  # main() returns on SIGINT; `python -m trading` would then _exit
            command = ["-c", "import cProfile, sys; sys.argv = ['trading', 'serve']; "
                       "from trading.__main__ import main; "
                       f"cProfile.run('main()', {str(args.profile)!r})"]  # fmt: skip
        proc = subprocess.Popen([sys.executable, *command], env=env)
        try:
            runs = asyncio.run(run(args, f"http://127.0.0.1:{port}", proc.pid))
        finally:
            proc.send_signal(signal.SIGINT)  # a clean exit: cProfile writes its file
            proc.wait(30)
    if args.json:
        args.json.write_text(json.dumps(rows(runs), indent=1))
    if args.profile:
        show_profile(args.profile)


if __name__ == "__main__":
    main()
