"""Many accounts in one server (issue 14, Scale): per-tick fill-loop CPU, memory per working
order and start-up load time of a :class:`BrokerService` holding ``--accounts`` accounts ×
``--orders`` working orders, on the real SyntheticMarket and SQLite in a temp dir.

Build: the accounts are opened with ``open_account`` (one transaction each); the orders are
limit and stop orders on every symbol of the catalog, a fraction ``--near`` of them within
``--near-ticks`` ticks of the touch (some fill on most ticks), the rest 2-15 % away. The first
``--place-sample`` orders go through ``BrokerService.place`` (one commit each, timed); the rest
are placed on the same engines and committed through the service's own commit path, one
transaction per chunk of accounts (same rows, fewer transactions; ``--check`` compares the two
ways on a small build row by row first).

Tick: ``BrokerService.evaluate()`` with a manual clock moved one second per tick, CPU from
``time.process_time`` (the store's thread included), against (a) the same accounts holding
only the near orders (the orders that can fill) and (b) a brute-force loop that calls
``fills.evaluate`` on every account for every symbol (no index). Each run starts from a copy
of the built database at the same second, so all three fill the same orders; repeats are
interleaved and medians taken. No WebSocket client follows an account (``followed`` empty,
as in a server without subscribers), so a tick pushes no marks.

Memory: tracemalloc (Python heap) and RSS, each in a fresh process, of a loaded service:
the full database minus the same accounts without orders, per working order. Start-up:
``BrokerService.load()`` of the full database, each in a fresh process.

    .venv/bin/python scripts/bench_accounts.py --accounts 10000 --orders 10 --repeat 3
    .venv/bin/python scripts/bench_accounts.py --quick --json /tmp/accounts.json  # make bench

``--json PATH`` also writes the rows of ``make bench`` (scripts/bench_all.py): the tick's CPU
with all orders against the same accounts holding only the near ones (issue 16: a tick costs
what the orders that can fill cost, goal :data:`SCALING_GOAL`), and brute force against the
index. ``--quick``: one repeat, 60 ticks, one load, no check — still 100 000 orders.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from trading.app import broker_service
from trading.broker import fills
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.enums import OrderType, Side
from trading.broker.evaluator import MAX_CATCH_UP_S, Evaluator
from trading.broker.events import BrokerEvent, Executed
from trading.broker.requests import OrderRequest
from trading.broker.service import DB_FILE, BrokerService
from trading.clock import ManualClock
from trading.market.series import SyntheticMarket
from trading.settings import Settings

CHUNK = 500
"""Accounts per transaction of the batched placement."""
KINDS = ((Side.BUY, OrderType.LIMIT), (Side.SELL, OrderType.LIMIT),
         (Side.BUY, OrderType.STOP), (Side.SELL, OrderType.STOP))  # fmt: skip


def copy_db(source: Path, target: Path) -> None:
    """Copy the broker database of the data dir ``source`` (with its WAL, if any)."""
    target.mkdir(parents=True, exist_ok=True)
    for file in source.glob(DB_FILE + "*"):
        shutil.copy(file, target)


def make_service(data_dir: Path, clock: ManualClock) -> BrokerService:
    """The service as ``create_app`` builds it, from the default settings."""
    settings = Settings(clock=clock, data_dir=data_dir)
    service = broker_service(settings, SyntheticMarket(settings.market_config()))
    service.followed = lambda: ()  # what the streaming layer says with no subscriber
    return service


# -- the orders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    near: list[list[OrderRequest]]
    """Per account, the orders within a few ticks of the market."""
    far: list[list[OrderRequest]]


def plan(
    service: BrokerService, now: int, accounts: int, per_account: int, near: float,
    near_ticks: int, seed: int,
) -> Plan:  # fmt: skip
    rng = random.Random(seed)
    specs = list(service.catalog.symbols)
    touches = {s.name: service._market.touch(s, now) for s in specs}
    total = accounts * per_account
    near_slots = set(rng.sample(range(total), round(total * near)))
    out = Plan([[] for _ in range(accounts)], [[] for _ in range(accounts)])
    for slot in range(total):
        spec = rng.choice(specs)
        touch = touches[spec.name]
        side, kind = rng.choice(KINDS)
        is_near = slot in near_slots
        # ticks away from the touch, on the side where the order waits (never marketable)
        ref = touch.ask if side is Side.BUY else touch.bid
        away = (rng.randint(1, near_ticks) if is_near
                else max(near_ticks + 1, round(ref * rng.uniform(0.02, 0.15))))  # fmt: skip
        rests_below = (side is Side.BUY) == (kind is OrderType.LIMIT)
        level = Decimal(ref - away if rests_below else ref + away) / spec.pricescale
        request = OrderRequest(
            symbol=spec.name, type=kind, side=side, qty=Decimal(rng.randint(1, 10)),
            limit_price=level if kind is OrderType.LIMIT else None,
            stop_price=level if kind is OrderType.STOP else None,
        )  # fmt: skip
        (out.near if is_near else out.far)[slot // per_account].append(request)
    return out


async def place_batched(
    service: BrokerService, accounts: list[str], orders: list[list[OrderRequest]]
) -> None:
    """Place on the engines and commit through the service's commit path, one transaction per
    ``CHUNK`` accounts: the rows ``place`` writes, with fewer transactions."""
    now = service.clock.now()
    for start in range(0, len(accounts), CHUNK):
        batch: list[tuple[str, Changes]] = []
        for account, requests in zip(
            accounts[start : start + CHUNK], orders[start : start + CHUNK], strict=True
        ):
            merged = Changes()
            book = service._book(account)
            for request in requests:
                merged.merge(book.place(request, now)[1])
            batch.append((account, merged))
        await service._commit(batch, now)


@dataclass
class Built:
    empty: Path
    """The accounts, no orders."""
    near: Path
    full: Path
    open_s: float
    place_rate: float
    """Orders per second through ``BrokerService.place``."""
    batched_rate: float
    near_orders: int
    far_orders: int


async def build(root: Path, args: argparse.Namespace, start: int) -> Built:
    work = root / "build"
    dirs = {name: root / name for name in ("empty", "near", "full")}
    clock = ManualClock(start)

    async def snapshot(service: BrokerService, name: str) -> None:
        await service.stop()
        copy_db(work, dirs[name])

    service = make_service(work, clock)
    await service.load()
    t0 = time.perf_counter()
    ids = [(await service.open_account(f"user-{i}", None, None)).id for i in range(args.accounts)]
    open_s = time.perf_counter() - t0
    await snapshot(service, "empty")

    service = make_service(work, clock)
    await service.load()
    orders = plan(service, start, args.accounts, args.orders, args.near, args.near_ticks,
                  args.seed)  # fmt: skip
    await place_batched(service, ids, orders.near)
    await snapshot(service, "near")

    service = make_service(work, clock)
    await service.load()
    # the first orders through the service's own place, one commit each (timed)
    sample = 0
    t0 = time.perf_counter()
    far = [list(requests) for requests in orders.far]
    for i, requests in enumerate(far):
        while requests and sample < args.place_sample:
            await service.place(ids[i], requests.pop(0))
            sample += 1
        if sample >= args.place_sample:
            break
    place_s = time.perf_counter() - t0
    rest = sum(map(len, far))
    t0 = time.perf_counter()
    await place_batched(service, ids, far)
    batched_s = time.perf_counter() - t0
    await snapshot(service, "full")
    return Built(
        dirs["empty"], dirs["near"], dirs["full"], open_s,
        sample / place_s if sample else math.nan, rest / batched_s,
        sum(map(len, orders.near)), sum(map(len, orders.far)),
    )  # fmt: skip


# -- the same database, placed both ways --------------------------------------------------------


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, account ids replaced by the account's opening seq."""
    db = sqlite3.connect(path)
    seq = dict(db.execute("SELECT id, seq FROM accounts").fetchall())
    out: dict[str, list[tuple[object, ...]]] = {}
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        rows = []
        for row in db.execute(f"SELECT * FROM {table}"):
            named = dict(zip(columns, row, strict=True))
            for key in ("account", "id"):
                if key in named and named[key] in seq:
                    named[key] = f"account#{seq[named[key]]}"
            rows.append(tuple(sorted(named.items(), key=lambda kv: kv[0])))
        out[table] = sorted(rows, key=repr)
    db.close()
    return out


async def check(root: Path, start: int) -> None:
    """A small build placed with ``place`` and with :func:`place_batched`: the same rows."""
    dumps = []
    for way in ("place", "batched"):
        data = root / f"check-{way}"
        service = make_service(data, ManualClock(start))
        await service.load()
        ids = [(await service.open_account(f"u{i}")).id for i in range(40)]
        orders = plan(service, start, 40, 10, 0.2, 5, seed=1)
        both = [n + f for n, f in zip(orders.near, orders.far, strict=True)]
        if way == "place":
            for account, requests in zip(ids, both, strict=True):
                for request in requests:
                    await service.place(account, request)
        else:
            await place_batched(service, ids, both)
        await service.stop()
        dumps.append(dump(data / DB_FILE))
    if dumps[0] != dumps[1]:
        raise SystemExit("batched placement wrote other rows than BrokerService.place")
    rows = sum(map(len, dumps[0].values()))
    print(f"check: 40 accounts x 10 orders, place and batched commits write the same {rows} rows")


# -- ticks --------------------------------------------------------------------------------------


class BruteForce(Evaluator):
    """The fill loop without the index: every account on every symbol with working orders."""

    def run(
        self, books: Mapping[str, Book], now: float, *, not_before: int | None = None
    ) -> list[tuple[str, Changes]]:
        now_s = math.floor(now)
        out: dict[str, Changes] = {}
        for symbol in self.index.symbols():
            first = max(self._evaluated.get(symbol, now_s - 1) + 1, now_s - MAX_CATCH_UP_S)
            if first <= now_s:
                for account, book in books.items():
                    changes = fills.evaluate(book, symbol, first, now_s, now)
                    if changes:
                        out.setdefault(account, Changes()).merge(changes)
            self._evaluated[symbol] = now_s
        return list(out.items())


@dataclass
class Ticks:
    cpu_ms: list[float]
    wall_ms: list[float]
    fills: list[int]
    """Executions per tick."""


async def run_ticks(template: Path, root: Path, start: int, ticks: int, brute: bool) -> Ticks:
    data = Path(tempfile.mkdtemp(dir=root))
    copy_db(template, data)
    clock = ManualClock(start)
    service = make_service(data, clock)
    await service.load()
    if brute:
        brute_force = BruteForce(service._timelines.live._market)
        brute_force.restore(service._held.engines)
        service._timelines.live = brute_force
    executed = 0

    def count(account: str, event: BrokerEvent) -> None:
        nonlocal executed
        executed += isinstance(event, Executed)

    service.listen(count)
    cpu_ms: list[float] = []
    wall_ms: list[float] = []
    per_tick: list[int] = []
    gc.collect()
    for _ in range(ticks):
        clock.advance(1)
        c0, w0 = time.process_time(), time.perf_counter()
        await service.evaluate()
        cpu_ms.append((time.process_time() - c0) * 1e3)
        wall_ms.append((time.perf_counter() - w0) * 1e3)
        per_tick.append(executed - sum(per_tick))
    await service.stop()
    shutil.rmtree(data)
    return Ticks(cpu_ms, wall_ms, per_tick)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


# -- memory and load ----------------------------------------------------------------------------


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def measure_memory(data: Path, traced: bool) -> dict[str, float]:
    """Run in a fresh process: what loading the service at ``data`` adds (bytes)."""
    copy = Path(tempfile.mkdtemp())
    copy_db(data, copy)
    gc.collect()
    if traced:
        tracemalloc.start()
    before = rss_kb()
    service = make_service(copy, ManualClock(time.time()))
    await service.load()
    gc.collect()
    out = {"rss": (rss_kb() - before) * 1024.0}
    if traced:
        out["traced"] = float(tracemalloc.get_traced_memory()[0])
    await service.stop()
    shutil.rmtree(copy)
    return out


def in_fresh_process(flag: str, data: Path, *extra: str) -> dict[str, float]:
    """Run this script with ``flag`` on ``data`` in a new process (as a server starts)."""
    result = subprocess.run(
        [sys.executable, __file__, flag, str(data), *extra],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    loaded: dict[str, float] = json.loads(result.stdout)
    return loaded


def memory_of(data: Path, traced: bool) -> dict[str, float]:
    return in_fresh_process("--memory-of", data, *(["--traced"] if traced else []))


async def load_time(data: Path) -> dict[str, float]:
    """Wall and CPU seconds of ``BrokerService.load()``: open and check the file, read every
    row, build the engines and the index."""
    service = make_service(data, ManualClock(time.time()))
    c0, w0 = time.process_time(), time.perf_counter()
    await service.load()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    await service.stop()
    return {"wall": wall, "cpu": cpu}


# -- the run ------------------------------------------------------------------------------------


SCALING_GOAL = 1.5
"""All 100 000 working orders against only the 1 % near the market: at most this ratio of tick
CPU (the far orders must cost next to nothing)."""


def contract_rows(total: int, near: int, medians: Mapping[str, float]) -> list[dict[str, object]]:
    """The rows ``make bench`` prints (workload, metric, ours, minimal, ratio, goal, met)."""
    all_ms, near_ms, brute_ms = (medians[k] for k in VARIANTS)
    ratio = all_ms / near_ms if near_ms else math.inf
    return [
        {"workload": f"fill tick, {total:,} working orders vs only the {near:,} near",
         "metric": "tick CPU ms p50", "ours": round(all_ms, 3), "minimal": round(near_ms, 3),
         "ratio": round(ratio, 2), "goal": f"<= {SCALING_GOAL}x", "met": ratio <= SCALING_GOAL},
        {"workload": f"fill tick, {total:,} orders: brute force vs index",
         "metric": "tick CPU ms p50", "ours": round(all_ms, 3), "minimal": round(brute_ms, 3),
         "ratio": round(all_ms / brute_ms, 5) if brute_ms else None, "goal": "-", "met": None},
    ]  # fmt: skip


VARIANTS = ("all orders, indexed", "near orders only, indexed", "all orders, brute force")


async def run(args: argparse.Namespace) -> None:
    start = math.floor(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.check:
            await check(root, start)
        total = args.accounts * args.orders
        print(
            f"building {args.accounts} accounts x {args.orders} working orders ({total}, "
            f"{args.near:.1%} within {args.near_ticks} ticks of the market)"
        )
        t0 = time.perf_counter()
        built = await build(root, args, start)
        print(
            f"  built in {time.perf_counter() - t0:.1f} s: open_account "
            f"{args.accounts / built.open_s:.0f} accounts/s; BrokerService.place "
            f"{built.place_rate:.0f} orders/s (first {args.place_sample}, one commit each); "
            f"batched {built.batched_rate:.0f} orders/s ({CHUNK} accounts per commit)"
        )
        size = sum(f.stat().st_size for f in built.full.glob(DB_FILE + "*"))
        print(f"  database {size / 2**20:.1f} MiB ({size / total:.0f} B per order), "
              f"{built.near_orders} near orders, {built.far_orders} far")  # fmt: skip

        variants = dict(zip(VARIANTS, (
            (built.full, args.ticks, False),
            (built.near, args.ticks, False),
            (built.full, args.brute_ticks, True),
        ), strict=True))  # fmt: skip
        results: dict[str, list[Ticks]] = {name: [] for name in variants}
        for r in range(args.repeat):
            for name, (template, ticks, brute) in variants.items():
                results[name].append(await run_ticks(template, root, start, ticks, brute))
            print(f"  tick repeat {r + 1}/{args.repeat} done")
        print(f"\nper tick, {args.ticks} ticks ({args.brute_ticks} brute force) x "
              f"{args.repeat} repeats, medians over the repeats")  # fmt: skip
        print(f"{'variant':28} {'CPU ms p50':>10} {'CPU ms p90':>10} {'wall ms p50':>11} "
              f"{'fills/run':>9}")  # fmt: skip
        medians: dict[str, float] = {}
        for name, runs in results.items():
            medians[name] = statistics.median(statistics.median(t.cpu_ms) for t in runs)
            print(
                f"{name:28} {medians[name]:10.2f} "
                f"{statistics.median(p90(t.cpu_ms) for t in runs):10.2f} "
                f"{statistics.median(statistics.median(t.wall_ms) for t in runs):11.2f} "
                f"{statistics.median(sum(t.fills) for t in runs):9.0f}"
            )
        reference = results["all orders, indexed"][0].fills
        same = all(t.fills == reference[: len(t.fills)] for runs in results.values() for t in runs)
        print(f"the same executions tick by tick in every run: {'yes' if same else 'NO'}")
        all_ms, near_ms, brute_ms = medians.values()
        print(f"all / near-only: {all_ms / near_ms:.2f}x; "
              f"brute force / indexed: {brute_ms / all_ms:.0f}x")  # fmt: skip
        if args.json is not None:
            rows = contract_rows(total, built.near_orders, medians)
            args.json.write_text(json.dumps(rows, indent=1) + "\n")

        mem: dict[str, list[dict[str, float]]] = {"empty": [], "full": []}
        for _ in range(args.repeat):
            for name, data in (("empty", built.empty), ("full", built.full)):
                mem[name].append({**memory_of(data, True), **memory_of(data, False)})
        for key, what in (("traced", "tracemalloc"), ("rss", "RSS")):
            pairs = zip(mem["empty"], mem["full"], strict=True)
            delta = statistics.median(full[key] - empty[key] for empty, full in pairs)
            print(f"memory ({what}, loaded service, all orders minus no orders): "
                  f"{delta / 2**20:.1f} MiB, {delta / total:.0f} B per working order")  # fmt: skip
        base = statistics.median(e["traced"] for e in mem["empty"])
        print(f"memory (tracemalloc) of the {args.accounts} accounts without orders: "
              f"{base / 2**20:.1f} MiB, {base / args.accounts:.0f} B per account")  # fmt: skip

        loads = [in_fresh_process("--load-of", built.full) for _ in range(args.load_repeat)]
        print(f"start-up BrokerService.load() of {total} orders, each in a new process: "
              f"{statistics.median(t['wall'] for t in loads):.2f} s wall, "
              f"{statistics.median(t['cpu'] for t in loads):.2f} s CPU "
              f"(median of {args.load_repeat}, file in the page cache)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=10, help="working orders per account")
    parser.add_argument("--near", type=float, default=0.01, help="fraction near the market")
    parser.add_argument("--near-ticks", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=120)
    parser.add_argument("--brute-ticks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--load-repeat", type=int, default=5)
    parser.add_argument("--place-sample", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--memory-of", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load-of", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 repeat, 60 ticks, 1 load, no check (100 000 orders still)",
    )
    parser.add_argument("--json", type=Path, help="also write make bench's rows here")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.ticks, args.load_repeat, args.check = 1, 60, 1, False
    if args.load_of is not None:
        print(json.dumps(asyncio.run(load_time(args.load_of))))
        return
    if args.memory_of is not None:
        print(json.dumps(asyncio.run(measure_memory(args.memory_of, args.traced))))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
