"""A/B REST benchmark: two checkouts of this service served side by side, measured in
alternating batches, so both see the same machine at the same minutes.

Each tree is started with ``python -m trading serve`` from its own directory (its own
``trading/`` package), on a free loopback port with a temporary data dir. For each workload,
``--rounds`` rounds of ``--batch`` sequential requests go to each server in turn (the order
flips every round); server CPU per request comes from /proc/<pid>/stat (10 ms ticks, so a
batch should take well over that). Prints the medians and the ratio B/A.

    .venv/bin/python scripts/bench_ab_rest.py --a ../old-checkout --b . --rounds 8 --batch 20
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get(port: int, path: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
        resp.read()


def wait_ready(port: int, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            get(port, "/api/v1/health")
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not answer within {deadline_s} s")


def workloads() -> dict[str, str]:
    now_ms = int(time.time()) * 1000
    year_ms = 365 * 86_400_000
    return {
        "bars 1D (1 year)": "/api/v1/datafeed/bars?symbol=AAPL&resolution=1D"
        f"&from_time={now_ms - year_ms}&to_time={now_ms}",
        "udf history 10000 x 1m": "/api/v1/udf/history?symbol=MSFT&resolution=1&from=0"
        f"&to={now_ms // 1000}&countback=10000",
        "bars 10000 x 1m (REST)": "/api/v1/datafeed/bars?symbol=GOOGL&resolution=1"
        f"&from_time=0&to_time={now_ms}&count_back=10000",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="checkout A (e.g. the older one)")
    parser.add_argument("--b", required=True, help="checkout B")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for name, tree in (("A", args.a), ("B", args.b)):
            port = free_port()
            env = dict(os.environ, TRADING_PORT=str(port), TRADING_LOG_LEVEL="WARNING",
                       TRADING_ACCESS_LOG="off", TRADING_DATA_DIR=tempfile.mkdtemp())  # fmt: skip
            proc = subprocess.Popen([sys.executable, "-m", "trading", "serve"], cwd=tree, env=env)
            servers[name] = (proc, port)
        for _, port in servers.values():
            wait_ready(port)
        print(f"A = {args.a}, B = {args.b}; {args.rounds} rounds of {args.batch} requests")
        print(f"{'workload':26} {'A µs/req':>9} {'B µs/req':>9} {'B/A':>6}")
        for label, path in workloads().items():
            cost: dict[str, list[float]] = {"A": [], "B": []}
            for _, port in servers.values():
                get(port, path)  # warm: the first request fills the caches
            for round_ in range(args.rounds):
                order = list(servers.items()) if round_ % 2 == 0 else list(servers.items())[::-1]
                for name, (proc, port) in order:
                    before = cpu_seconds(proc.pid)
                    for _ in range(args.batch):
                        get(port, path)
                    cost[name].append((cpu_seconds(proc.pid) - before) / args.batch * 1e6)
            a, b = statistics.median(cost["A"]), statistics.median(cost["B"])
            print(f"{label:26} {a:9.0f} {b:9.0f} {b / a if a else float('nan'):6.2f}")
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
