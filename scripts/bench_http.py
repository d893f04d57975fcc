"""REST benchmark against the minimal twin: server CPU µs per request, ours vs minimal, ratio.

Starts a fresh ``python -m trading serve`` (default settings: INFO access log, every
middleware; a temporary data dir) and a fresh ``scripts/bench_rest_twin.py``, both on free
loopback ports. Every workload is then run in rounds, **ours and the twin interleaved** in each
round (the 2 shared cores see the same neighbourhood for both), and the table shows the median
over ``--repeat`` rounds of server CPU per request (from /proc/<pid>/stat, so HTTP parsing,
middlewares and JSON are counted) and the ratio. Cold figures are wall times of the first
request for that data in the fresh server (nothing cached), before any warm round.

    .venv/bin/python scripts/bench_http.py                       # medians of 5
    .venv/bin/python scripts/bench_http.py --quick --json /tmp/http.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from bench_rest import free_port, loop, one, wait_ready

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Workload:
    name: str
    path: str
    concurrency: int
    goal_ratio: float | None = None
    goal_us: float | None = None
    status: int = 200


def workloads(now_ms: int) -> list[Workload]:
    now_s = now_ms // 1000
    return [
        Workload(
            "bars 401 × 1D (REST)",
            f"/api/v1/datafeed/bars?symbol=AAPL&resolution=1D&from_time=0&to_time={now_ms}"
            "&count_back=401",
            16,
            goal_ratio=1.3,
        ),
        Workload("health", "/api/v1/health", 32, goal_ratio=1.5),
        Workload("datafeed config", "/api/v1/datafeed/config", 32, goal_ratio=1.5),
        Workload(
            "bars 10000 × 1m (REST)",
            f"/api/v1/datafeed/bars?symbol=GOOGL&resolution=1&from_time=0&to_time={now_ms}"
            "&count_back=10000",
            16,
            goal_us=1500,
        ),
        Workload(
            "UDF history 10000 × 1m",
            f"/api/v1/udf/history?symbol=MSFT&resolution=1&from=0&to={now_s}&countback=10000",
            16,
            goal_us=1000,
        ),
        # --- small routes (issue 16: each ≤ 1.5× the minimal server, default settings) ---
        Workload("versions", "/api/v1/versions", 32, goal_ratio=1.5),
        Workload("resolve symbol", "/api/v1/datafeed/resolve/AAPL", 32, goal_ratio=1.5),
        Workload("broker orders (none)", "/api/v1/broker/orders", 32, goal_ratio=1.5),
        Workload("404 unknown path", "/api/v1/no-such-route", 32, goal_ratio=1.5, status=404),
        Workload(
            "422 bad query",
            "/api/v1/datafeed/search?user_input=A&max_results=x",
            32,
            goal_ratio=1.5,
            status=422,
        ),
    ]


# First request for the data in a fresh process, in this order (the first is the very first
# request after start): UDF history 10 000 bars, goal ≤ 5 ms; the others for scale.
COLD: tuple[tuple[str, float | None], ...] = (
    ("UDF history 10000 × 1m", 5.0),
    ("bars 10000 × 1m (REST)", None),
    ("bars 401 × 1D (REST)", None),
)


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


def start_ours(port: int, data_dir: str) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ, TRADING_PORT=str(port), TRADING_DATA_DIR=data_dir, TRADING_LOG_LEVEL="INFO"
    )
    # the access log goes to stderr like a real deployment's; discard it, keep its cost
    return subprocess.Popen(
        [sys.executable, "-m", "trading", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_twin(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_rest_twin.py"), "--port", str(port)]
    return start(cmd, dict(os.environ))


async def measure(args: argparse.Namespace) -> list[dict[str, object]]:
    ports = {"ours": free_port(), "minimal": free_port()}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as data_dir:
        procs = {
            "ours": start_ours(ports["ours"], data_dir),
            "minimal": start_twin(ports["minimal"]),
        }
        try:
            bases = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
            for base in bases.values():
                await wait_ready(base, tries=1200)
            return await rounds(args, bases, {k: p.pid for k, p in procs.items()})
        finally:
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                proc.wait(10)


async def rounds(
    args: argparse.Namespace, bases: dict[str, str], pids: dict[str, int]
) -> list[dict[str, object]]:
    loads = workloads(int(time.time() * 1000))
    cpu: dict[tuple[str, str], list[float]] = {}
    sessions = {
        k: aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=64))
        for k, base in bases.items()
    }
    try:
        cold_ms = {}
        for cold_name, _ in COLD:
            cold_path = next(w.path for w in loads if w.name == cold_name)
            cold_ms[cold_name] = await one(sessions["ours"], cold_path) * 1e3
        for _ in range(args.repeat):
            for w in loads:
                for side in ("ours", "minimal"):
                    result = await loop(
                        sessions[side], w.path, args.requests, w.concurrency, pids[side], w.status
                    )
                    cpu.setdefault((w.name, side), []).append(result.cpu_us)
    finally:
        for session in sessions.values():
            await session.close()
    rows: list[dict[str, object]] = []
    for w in loads:
        ours = statistics.median(cpu[(w.name, "ours")])
        minimal = statistics.median(cpu[(w.name, "minimal")])
        ratio = ours / minimal
        if w.goal_ratio is not None:
            goal, met = f"≤ {w.goal_ratio}× minimal", ratio <= w.goal_ratio
        else:
            assert w.goal_us is not None
            goal, met = f"≤ {w.goal_us:.0f} µs", ours <= w.goal_us
        metric = f"server CPU µs/req, concurrency {w.concurrency}"
        rows.append(
            {
                "workload": w.name,
                "metric": metric,
                "ours": round(ours, 1),
                "minimal": round(minimal, 1),
                "ratio": round(ratio, 2),
                "goal": goal,
                "met": met,
            }
        )
    for n, (cold_name, cold_goal) in enumerate(COLD):
        ms = cold_ms[cold_name]
        rows.append(
            {
                "workload": f"{cold_name}, cold",
                "metric": "first request after start, wall ms"
                if n == 0
                else "first request for that data, wall ms",
                "ours": round(ms, 2),
                "minimal": None,
                "ratio": None,
                "goal": "" if cold_goal is None else f"≤ {cold_goal} ms",
                "met": None if cold_goal is None else ms <= cold_goal,
            }
        )
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    print(f"{'workload':28} {'metric':40} {'ours':>9} {'minimal':>9} {'ratio':>6}  goal")
    for r in rows:
        minimal = "" if r["minimal"] is None else f"{r['minimal']:.1f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        mark = {True: "met", False: "NOT met", None: ""}[r["met"]]  # type: ignore[index]
        print(
            f"{r['workload']!s:28} {r['metric']!s:40} {r['ours']:>9} {minimal:>9} {ratio:>6}"
            f"  {r['goal']} {mark}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per run")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (medians over them)")
    parser.add_argument("--quick", action="store_true", help="500 requests × 3 rounds")
    parser.add_argument("--json", type=Path, help="also write the rows here (bench_all.py)")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.repeat = 500, 3
    rows = asyncio.run(measure(args))
    print_table(rows)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
