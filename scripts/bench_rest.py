"""REST benchmark: requests/s, latency and server CPU µs per request.

Starts ``python -m trading serve`` on a free loopback port (or uses ``--base`` and ``--pid``),
then for each workload measures one **cold** request (first time that data is asked for in
the process: empty caches) and a **warm** closed loop of ``--requests`` requests at
``--concurrency``. Server CPU comes from /proc/<pid>/stat, so it counts everything the server
process did (HTTP parsing, routing, JSON), not just the handler. Each workload is repeated
``--repeat`` times; the table shows medians.

    .venv/bin/python scripts/bench_rest.py --requests 2000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Result:
    rps: float
    cpu_us: float
    p50_ms: float
    p99_ms: float


def workloads(now_ms: int) -> dict[str, str]:
    now_s = now_ms // 1000
    return {
        "health": "/api/v1/health",
        "bars 1D (1 year)": (
            "/api/v1/datafeed/bars?symbol=AAPL&resolution=1D"
            f"&from_time={now_ms - 365 * 86_400_000}&to_time={now_ms}"
        ),
        "udf history 10000 x 1m": (
            f"/api/v1/udf/history?symbol=MSFT&resolution=1&from=0&to={now_s}&countback=10000"
        ),
        "bars 10000 x 1m (REST)": (
            "/api/v1/datafeed/bars?symbol=GOOGL&resolution=1"
            f"&from_time=0&to_time={now_ms}&count_back=10000"
        ),
    }


async def one(session: aiohttp.ClientSession, url: str, expect: int = 200) -> float:
    t0 = time.perf_counter()
    async with session.get(url) as resp:
        await resp.read()
        if resp.status != expect:
            raise RuntimeError(f"{url}: HTTP {resp.status}, expected {expect}")
    return time.perf_counter() - t0


async def loop(
    session: aiohttp.ClientSession,
    url: str,
    requests: int,
    concurrency: int,
    pid: int,
    expect: int = 200,
) -> Result:
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            latencies.append(await one(session, url, expect))

    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    latencies.sort()
    return Result(
        rps=requests / wall,
        cpu_us=cpu / requests * 1e6,
        p50_ms=latencies[len(latencies) // 2] * 1e3,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1e3,
    )


async def wait_ready(base: str, tries: int = 200) -> None:
    """Poll the health route every 50 ms, ``tries`` times at most."""
    async with aiohttp.ClientSession() as session:
        for _ in range(tries):
            try:
                async with session.get(base + "/api/v1/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, TRADING_PORT=str(port), TRADING_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "trading", "serve"], env=env)
    return proc, f"http://127.0.0.1:{port}"


async def run(args: argparse.Namespace, base: str, pid: int) -> None:
    await wait_ready(base)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(base, connector=connector) as session:
        print(
            f"server pid {pid}, {args.requests} requests x {args.repeat} repeats, "
            f"concurrency {args.concurrency}"
        )
        header = (
            f"{'workload':26} {'cold ms':>8} {'req/s':>8} {'CPU µs/req':>11} "
            f"{'p50 ms':>7} {'p99 ms':>7}"
        )
        print(header)
        for name, url in workloads(int(time.time() * 1000)).items():
            cold = await one(session, url) * 1e3
            runs = [
                await loop(session, url, args.requests, args.concurrency, pid)
                for _ in range(args.repeat)
            ]
            print(
                f"{name:26} {cold:8.2f} "
                f"{statistics.median(r.rps for r in runs):8.0f} "
                f"{statistics.median(r.cpu_us for r in runs):11.0f} "
                f"{statistics.median(r.p50_ms for r in runs):7.2f} "
                f"{statistics.median(r.p99_ms for r in runs):7.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="use a running server (needs --pid)")
    parser.add_argument("--pid", type=int, help="server pid for CPU accounting")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if (args.base is None) != (args.pid is None):
        parser.error("--base and --pid go together")
    proc = None
    base, pid = args.base, args.pid
    if base is None:
        proc, base = start_server()
        pid = proc.pid
    try:
        asyncio.run(run(args, base, pid))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
