"""Order placement with 100 concurrent users (issue 14, Scale): orders/s, server CPU µs per
order and p50/p99 latency of ``POST /api/v1/broker/orders`` in ``TRADING_AUTH=keys`` mode,
against the same workload on the same database in ``TRADING_AUTH=off`` mode (what
authentication and one book per user cost).

The database: ``--resting-accounts`` accounts × ``--resting-orders`` working orders built with
scripts/bench_accounts.py's builder (limit and stop orders 2-15 % away from the market, so
they rest for the whole run: no fills in the background), copied into two fresh data dirs;
``--resting-accounts 0`` starts from an empty database. Two servers (``python -m trading
serve``, free loopback ports) run side by side on the copies, one per mode; only one is
driven at a time, the other idles (its fill loop over the resting orders costs a fraction of
a millisecond per second).

keys mode: ``--users`` users created over the admin API (``TRADING_ADMIN_KEY``), each one
client with its own key and its own connection (``Authorization: Bearer``), whose first
account is opened on first use (``GET /broker/accounts``, before the timing). The per-key
rate limit is raised out of the way (``TRADING_RATE_LIMIT_REST_PER_S`` / ``_BURST``): this
measures the server, not the limiter's refusals. off mode: one client pool of as many
concurrent connections, every order on ``DEMO-ACCOUNT``.

Each round places ``--orders`` orders in total (closed loop: every client sends its next order
when the previous one is answered) for two workloads: resting limit orders (one row each) and
market orders that fill at once (buy and sell alternating per client, so positions stay small).
Server CPU comes from /proc/<pid>/stat of the server driven. Modes alternate within a round,
in the opposite order every other round; every account used is reset between rounds
(so a round starts from the same books); the table shows medians over ``--repeat`` rounds
after one warm-up round.

    .venv/bin/python scripts/bench_users.py --users 100 --orders 3000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from bench_accounts import build, copy_db
from bench_broker import Result
from bench_rest import cpu_seconds, free_port

API = "/api/v1"
ORDERS = f"{API}/broker/orders"
LIMIT = {"symbol": "AAPL", "type": 1, "side": 1, "qty": 1, "limitPrice": 100.0}
"""Far below AAPL's synthetic price: rests (as in bench_broker.py)."""
WORKLOADS: dict[str, Callable[[int], dict[str, object]]] = {
    "limit (rests)": lambda i: LIMIT,
    "market (fills)": lambda i: {"symbol": "MSFT", "type": 2, "side": 1 - 2 * (i % 2), "qty": 1},
}
MODES = ("keys", "off")
FILLED, WORKING = 2, 6
"""Order statuses (TradingView's OrderStatus)."""


@dataclass
class Server:
    mode: str
    proc: subprocess.Popen[bytes]
    base: str
    clients: list[aiohttp.ClientSession]
    """keys: one session (one connection, one key) per user; off: one pool of ``users``."""
    accounts: list[tuple[aiohttp.ClientSession, str]]
    """What to reset between rounds: each client's account."""

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_server(mode: str, data: Path, admin_key: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(
        os.environ,
        TRADING_PORT=str(port),
        TRADING_LOG_LEVEL="WARNING",
        TRADING_DATA_DIR=str(data),
        TRADING_AUTH=mode,
        TRADING_INITIAL_BALANCE="1000000000",
        # out of the way: the benchmark measures placement, not the limiter's 429s
        TRADING_RATE_LIMIT_REST_PER_S="100000",
        TRADING_RATE_LIMIT_REST_BURST="1000000",
    )
    if mode == "keys":
        env["TRADING_ADMIN_KEY"] = admin_key
    proc = subprocess.Popen([sys.executable, "-m", "trading", "serve"], env=env)
    return proc, f"http://127.0.0.1:{port}"


async def wait_ready(base: str, timeout_s: float = 120) -> float:
    """Seconds until ``/health`` answers 200 (the broker database is loaded before that)."""
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - t0 < timeout_s:
            try:
                async with session.get(base + f"{API}/health") as resp:
                    if resp.status == 200:
                        return time.perf_counter() - t0
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server at {base} did not start in {timeout_s} s")


async def expect(resp: aiohttp.ClientResponse, status: int = 200) -> object:
    body = await resp.json()
    if resp.status != status:
        raise RuntimeError(f"{resp.method} {resp.url}: HTTP {resp.status}: {body}")
    return body


async def keys_clients(
    proc: subprocess.Popen[bytes], base: str, admin_key: str, users: int
) -> Server:
    admin = {"Authorization": f"Bearer {admin_key}"}
    clients: list[aiohttp.ClientSession] = []
    accounts: list[tuple[aiohttp.ClientSession, str]] = []
    async with aiohttp.ClientSession(base) as session:
        for i in range(users):
            async with session.post(
                f"{API}/admin/users", json={"name": f"bench-{i}"}, headers=admin
            ) as resp:
                created = await expect(resp, 201)
            assert isinstance(created, dict)
            client = aiohttp.ClientSession(
                base,
                connector=aiohttp.TCPConnector(limit=1),
                headers={"Authorization": f"Bearer {created['key']}"},
            )
            clients.append(client)
    for client in clients:  # the first account, opened on first use
        async with client.get(f"{API}/broker/accounts") as resp:
            listed = await expect(resp)
        assert isinstance(listed, list)
        accounts.append((client, str(listed[0]["id"])))
    return Server("keys", proc, base, clients, accounts)


def off_clients(proc: subprocess.Popen[bytes], base: str, users: int) -> Server:
    pool = aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=users))
    return Server("off", proc, base, [pool] * users, [(pool, "DEMO-ACCOUNT")])


async def reset(server: Server) -> None:
    for client, account in server.accounts:
        if server.mode == "keys":
            url = f"{API}/broker/accounts/{account}/reset"
        else:
            url = f"{API}/broker/debug/reset"
        async with client.post(url, json={}) as resp:
            await expect(resp)


async def statuses(server: Server) -> dict[int, int]:
    """How many of the orders on the accounts placed on have each status."""
    counts: dict[int, int] = {}
    for client, _ in server.accounts:
        async with client.get(ORDERS) as resp:
            orders = await expect(resp)
        assert isinstance(orders, list)
        for order in orders:
            counts[order["status"]] = counts.get(order["status"], 0) + 1
    return counts


async def place(server: Server, workload: str, n: int) -> Result:
    body_of = WORKLOADS[workload]
    latencies: list[float] = []
    remaining = n

    async def client_loop(client: aiohttp.ClientSession) -> None:
        nonlocal remaining
        i = 0
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            async with client.post(ORDERS, json=body_of(i)) as resp:
                await expect(resp)
            latencies.append(time.perf_counter() - t0)
            i += 1

    cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
    await asyncio.gather(*(client_loop(c) for c in server.clients))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(server.pid) - cpu0
    latencies.sort()
    return Result(
        rate=n / wall,
        cpu_us=cpu / n * 1e6,
        p50_ms=latencies[len(latencies) // 2] * 1e3,
        p99_ms=latencies[max(0, math.ceil(len(latencies) * 0.99) - 1)] * 1e3,
    )


async def build_database(root: Path, args: argparse.Namespace) -> Path:
    """The accounts benchmark's database, every order far from the market (none fills)."""
    spec = argparse.Namespace(
        accounts=args.resting_accounts, orders=args.resting_orders, near=0.0, near_ticks=20,
        seed=args.seed, place_sample=0,
    )  # fmt: skip
    t0 = time.perf_counter()
    built = await build(root, spec, math.floor(time.time()))
    total = args.resting_accounts * args.resting_orders
    print(f"built {args.resting_accounts} accounts x {args.resting_orders} working orders "
          f"({total}) in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    return built.full


async def run(args: argparse.Namespace, root: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    template = root / "template"
    if args.resting_accounts:
        copy_db(await build_database(root / "build", args), template)
        shutil.rmtree(root / "build")
    admin_key = secrets.token_urlsafe(32)
    started: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    for mode in MODES:
        data = root / mode
        if args.resting_accounts:
            copy_db(template, data)
        started[mode] = start_server(mode, data, admin_key)
        procs.append(started[mode][0])
    for mode, (proc, base) in started.items():
        ready = await wait_ready(base)
        print(f"{mode}: server pid {proc.pid} ready after {ready:.1f} s")
    t0 = time.perf_counter()
    servers = {
        "keys": await keys_clients(*started["keys"], admin_key, args.users),
        "off": off_clients(*started["off"], args.users),
    }
    print(f"keys: {args.users} users created (admin API) and their first accounts opened in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    resting = args.resting_accounts * args.resting_orders
    print(
        f"{args.users} concurrent clients; {args.orders} orders per workload, mode and round; "
        f"{args.repeat} rounds after a warm-up; "
        + (f"{resting} working orders resting" if resting else "empty database")
    )
    results: dict[tuple[str, str], list[Result]] = {}
    for r in range(args.repeat + 1):
        order = MODES if r % 2 == 0 else MODES[::-1]
        for workload in WORKLOADS:
            for mode in order:
                await reset(servers[mode])
                result = await place(servers[mode], workload, args.orders)
                if r == 0:  # the workloads do what they say: rest, or fill at once
                    wanted = WORKING if workload.startswith("limit") else FILLED
                    counts = await statuses(servers[mode])
                    if counts != {wanted: args.orders}:
                        raise SystemExit(f"{mode} {workload}: order statuses {counts}")
                else:
                    results.setdefault((workload, mode), []).append(result)
        print(f"  round {r}/{args.repeat} done" + (" (warm-up)" if r == 0 else ""))
    for server in servers.values():
        for client in set(server.clients):
            await client.close()
    report(results)


def report(results: dict[tuple[str, str], list[Result]]) -> None:
    def med(runs: list[Result], field: str) -> float:
        return statistics.median(float(getattr(r, field)) for r in runs)

    print(f"\n{'workload':16} {'mode':5} {'orders/s':>9} {'(range)':>11} {'CPU µs/order':>13} "
          f"{'(range)':>11} {'p50 ms':>7} {'p99 ms':>7}")  # fmt: skip
    for workload in WORKLOADS:
        for mode in MODES:
            runs = results[(workload, mode)]
            rates, cpus = [r.rate for r in runs], [r.cpu_us for r in runs]
            print(f"{workload:16} {mode:5} {med(runs, 'rate'):9.0f} "
                  f"{f'{min(rates):.0f}-{max(rates):.0f}':>11} {med(runs, 'cpu_us'):13.0f} "
                  f"{f'{min(cpus):.0f}-{max(cpus):.0f}':>11} "
                  f"{med(runs, 'p50_ms'):7.1f} {med(runs, 'p99_ms'):7.1f}")  # fmt: skip
    print("\nkeys / off (medians):")
    for workload in WORKLOADS:
        keys, off = results[(workload, "keys")], results[(workload, "off")]
        print(f"  {workload:16} orders/s {med(keys, 'rate') / med(off, 'rate'):.2f}x, "
              f"CPU/order {med(keys, 'cpu_us') / med(off, 'cpu_us'):.2f}x, "
              f"p50 {med(keys, 'p50_ms') / med(off, 'p50_ms'):.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100, help="concurrent clients")
    parser.add_argument("--orders", type=int, default=3000, help="per workload, mode, round")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--resting-accounts", type=int, default=10_000)
    parser.add_argument("--resting-orders", type=int, default=10)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            asyncio.run(run(args, Path(tmp), procs))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)


if __name__ == "__main__":
    main()
