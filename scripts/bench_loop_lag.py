"""Event-loop lag under a burst of cold intraday history (issue 16: p99 ≤ 50 ms).

Starts a fresh ``python -m trading serve`` (nothing cached), then fires 16 concurrent **cold**
history requests (UDF ``/history``, full intraday depth of 16 distinct symbol × resolution
pairs: 60/30/15/5-minute bars, up to ``TRADING_MAX_BARS`` each) while a **probe** measures how
long the server takes to answer its cheapest route, ``GET /api/v1/udf/time``, one request at a
time on a 2 ms schedule (while an answer is late, every slot it covers counts with its own
delay: no coordinated omission). The server has no loop-lag sampler of its own
(trading/metrics.py has none), and a probe is what another client experiences: a probe answer
that waits means the loop was blocked. The probe runs in its own process (plain blocking
``http.client``, keep-alive) so that the load generator reading megabytes of answers cannot
delay it on the client side.

Lag = probe latency minus the idle probe latency (median before the burst). Each run starts a
new server; the figures are medians over ``--repeat`` runs. The same burst is also run with
``TRADING_BARS_THREADS=0`` (cold history computed on the loop) for scale, and with ``--tree``
against another checkout's server (e.g. the tree before issue 16).

    .venv/bin/python scripts/bench_loop_lag.py                  # medians of 5
    .venv/bin/python scripts/bench_loop_lag.py --quick --json /tmp/lag.json
    .venv/bin/python scripts/bench_loop_lag.py --tree /path/to/checkout-before   # + before
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from bench_rest import free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = ("AAPL", "GOOGL", "MSFT", "AMZN", "IBM", "JPM")
RESOLUTIONS = ("60", "30", "15", "5")
BURST = 16
GOAL_MS = 50.0
INTERVAL_S = 0.002


def burst_paths(now_s: int) -> list[str]:
    """16 distinct cold (symbol, resolution) pairs, the heaviest resolutions first."""
    pairs = [(s, r) for r in RESOLUTIONS for s in SYMBOLS][:BURST]
    return [f"/api/v1/udf/history?symbol={s}&resolution={r}&from=0&to={now_s}" for s, r in pairs]


def probe(port: int, seconds: float) -> None:
    """Child process: GET /udf/time on a fixed 2 ms schedule for ``seconds``; prints
    ``[[epoch of slot, delay s], ...]`` with one entry per **slot**: while an answer is late,
    every slot that passes is recorded with its own delay (answer time minus slot), so a loop
    blocked for 1 s counts as 500 late samples, not as one (no coordinated omission)."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    offset = time.time() - time.perf_counter()
    slot = time.perf_counter()
    end = slot + seconds
    while slot < end:
        now = time.perf_counter()
        if now < slot:
            time.sleep(slot - now)
        conn.request("GET", "/api/v1/udf/time")
        conn.getresponse().read()
        done = time.perf_counter()
        while slot <= done:
            samples.append((slot + offset, done - slot))
            slot += INTERVAL_S
    print(json.dumps(samples))


def start_server(
    port: int, data_dir: str, threads: int | None, tree: Path
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TRADING_PORT=str(port), TRADING_DATA_DIR=data_dir)
    env.setdefault("TRADING_LOG_LEVEL", "INFO")
    if threads is not None:
        env["TRADING_BARS_THREADS"] = str(threads)
    return subprocess.Popen(
        [sys.executable, "-m", "trading", "serve"],  # -m: the package of the cwd, ``tree``
        env=env,
        cwd=tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def one_run(
    threads: int | None, tree: Path = ROOT, idle_s: float = 1.0
) -> tuple[float, float, float]:
    """(lag p99 ms, lag max ms, burst wall s) of one fresh server."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-lag-") as data_dir:
        server = start_server(port, data_dir, threads, tree)
        try:
            await wait_ready(f"http://127.0.0.1:{port}", tries=1200)
            prober = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--probe",
                str(port),
                "--seconds",
                str(idle_s + 8),
                stdout=asyncio.subprocess.PIPE,
            )
            await asyncio.sleep(idle_s)  # idle latency first
            paths = burst_paths(int(time.time()))
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:

                async def get(path: str) -> None:
                    async with session.get(path) as resp:
                        body = await resp.read()
                        if resp.status != 200 or not body.startswith(b'{"s":"ok"'):
                            raise RuntimeError(f"{path}: HTTP {resp.status} {body[:80]!r}")

                t0, w0 = time.time(), time.perf_counter()
                await asyncio.gather(*(get(p) for p in paths))
                t1, wall = time.time(), time.perf_counter() - w0
            out, _ = await prober.communicate()
        finally:
            server.terminate()
            server.wait(10)
    samples = json.loads(out)
    idle = statistics.median(lat for t, lat in samples if t < t0) * 1e3
    # a probe answered after the burst may have waited inside it: keep those too
    during = sorted(lat * 1e3 - idle for t, lat in samples if t0 <= t <= t1 + 0.5)
    if not during:
        raise RuntimeError("no probe answer during the burst")
    p99 = during[min(len(during) - 1, int(len(during) * 0.99))]
    return p99, during[-1], wall


async def measure(repeat: int, tree: Path | None) -> list[dict[str, object]]:
    labels = {"default": "TRADING_BARS_THREADS=1 (default)", "on the loop": "THREADS=0"}
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in labels}
    if tree is not None:
        labels["tree"] = f"tree {tree}"
        runs["tree"] = []
    for _ in range(repeat):  # interleaved: all see the same neighbourhood
        runs["default"].append(await one_run(None))
        runs["on the loop"].append(await one_run(0))
        if tree is not None:  # an older checkout: no TRADING_BARS_THREADS there
            runs["tree"].append(await one_run(None, tree))
    rows: list[dict[str, object]] = []
    for name, results in runs.items():
        p99 = statistics.median(r[0] for r in results)
        worst = statistics.median(r[1] for r in results)
        wall = statistics.median(r[2] for r in results)
        workload = f"16 cold intraday histories, {labels[name]}"
        goal = name == "default"
        rows += [
            {
                "workload": workload,
                "metric": "loop lag p99 ms (probe GET /udf/time)",
                "ours": round(p99, 1),
                "minimal": None,
                "ratio": None,
                "goal": f"≤ {GOAL_MS:.0f} ms" if goal else "(for scale)",
                "met": p99 <= GOAL_MS if goal else None,
            },
            {
                "workload": workload,
                "metric": "loop lag max ms",
                "ours": round(worst, 1),
                "minimal": None,
                "ratio": None,
                "goal": "",
                "met": None,
            },
            {
                "workload": workload,
                "metric": "burst wall s (all 16 answered)",
                "ours": round(wall, 2),
                "minimal": None,
                "ratio": None,
                "goal": "",
                "met": None,
            },
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh servers per setting")
    parser.add_argument("--quick", action="store_true", help="3 runs per setting")
    parser.add_argument("--json", type=Path, help="also write the rows here (bench_all.py)")
    parser.add_argument(
        "--tree", type=Path, help="also run the server of this checkout (a before figure)"
    )
    parser.add_argument("--probe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe is not None:
        probe(args.probe, args.seconds)
        return
    rows = asyncio.run(measure(3 if args.quick else args.repeat, args.tree))
    for r in rows:
        mark = {True: "met", False: "NOT met", None: ""}[r["met"]]  # type: ignore[index]
        print(f"{r['workload']!s:58} {r['metric']!s:40} {r['ours']:>8}  {r['goal']} {mark}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
