"""Storage of imported history, measured (issue 17; docs/performance.md "Imported history").

Generates five years of 1-minute bars for one symbol (24x7: 2 629 440 rows, a seeded random
walk on the cent grid), then measures:

- **import**: ``python -m trading import-bars`` of that CSV (epoch seconds) and Parquet,
  each into a fresh data dir, as a subprocess (wall time, parsing to the fsync'd commit);
  ``--iso`` adds a CSV with ISO 8601 times.
- **the alternative, SQLite**: the same rows into one table (``WITHOUT ROWID``, keyed by
  time) in one transaction, and a 10 000-bar read (1-minute rows, and 60-minute bars
  aggregated by SQL from 600 000 of them) — what choosing SQLite would have cost.
- **serving** from the chosen store (the ``.npy`` tables, mapped): the source's window and
  bars for 10 000 bars, the cached bytes of the REST and UDF answers, and whole HTTP
  requests to a real server on a loopback socket (median and p95 of ``--requests``, warm).

    .venv/bin/python scripts/bench_import.py            # about a minute
    .venv/bin/python scripts/bench_import.py --iso      # plus the ISO 8601 CSV
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trading.clock import ManualClock  # noqa: E402
from trading.market.imported import ImportedMarket  # noqa: E402
from trading.market.resolution import Resolution  # noqa: E402
from trading.wire.bar_bytes import BarBytes, Shape  # noqa: E402

START = 1_546_300_800  # 2019-01-01T00:00:00Z
ROWS = 5 * 365 * 1440 + 1440  # five years of minutes (one leap day)
BARS = 10_000


def bars(rows: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 20_000 + np.cumsum(rng.integers(-6, 7, rows))
    close = np.maximum(close, 1_000)
    open_ = np.concatenate(([20_000], close[:-1]))
    high = np.maximum(open_, close) + rng.integers(0, 5, rows)
    low = np.minimum(open_, close) - rng.integers(0, 5, rows)
    return {
        "time": START + 60 * np.arange(rows, dtype=np.int64),
        "open": open_ / 100,
        "high": high / 100,
        "low": low / 100,
        "close": close / 100,
        "volume": rng.integers(100, 5_000, rows),
    }


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_import(path: Path, data_dir: Path) -> float:
    env = {**os.environ, "TRADING_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "trading", "import-bars", str(path), "--symbol", "BENCH"]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def per_call(fn: Callable[[], object], n: int = 200) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(n):
        samples.append(timed(fn))
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * len(samples)) - 1]


def sqlite_candidate(cols: dict[str, np.ndarray], path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE bars (time INTEGER PRIMARY KEY, open INTEGER, high INTEGER, low INTEGER,"
        " close INTEGER, volume INTEGER) WITHOUT ROWID"
    )
    ticks = [
        np.rint(cols[c] * 100).astype(np.int64).tolist() for c in ("open", "high", "low", "close")
    ]
    rows = zip(cols["time"].tolist(), *ticks, cols["volume"].tolist(), strict=True)

    def insert() -> None:
        db.executemany("INSERT INTO bars VALUES (?,?,?,?,?,?)", rows)
        db.commit()

    t_insert = timed(insert)
    start = int(cols["time"][len(cols["time"]) // 2])

    def read_1m() -> object:
        got = db.execute(
            "SELECT time, open, high, low, close, volume FROM bars WHERE time >= ? ORDER BY time"
            " LIMIT ?",
            (start, BARS),
        ).fetchall()
        return np.asarray(got, dtype=np.int64)

    def read_60m() -> object:
        return db.execute(
            "SELECT time / 3600 * 3600 AS h, max(high), min(low), sum(volume) FROM bars"
            " WHERE time >= ? AND time < ? GROUP BY h ORDER BY h",
            (start - BARS * 3600, start),
        ).fetchall()

    m1, m1_p95 = per_call(read_1m, 50)
    h60, _ = per_call(read_60m, 5)
    db.close()
    print(
        f"sqlite: insert {len(cols['time'])} rows in one transaction: {t_insert:.1f} s "
        f"({path.stat().st_size / 1e6:.0f} MB)"
    )
    print(f"sqlite: 10 000 1-minute rows: median {m1 * 1e3:.2f} ms, p95 {m1_p95 * 1e3:.2f} ms")
    print(
        f"sqlite: 10 000 60-minute bars aggregated by SQL (600 000 rows): {h60 * 1e3:.0f} ms "
        "(and open/close need a second pass)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def http_requests(data_dir: Path, n: int) -> None:
    port = free_port()
    env = {**os.environ, "TRADING_DATA_DIR": str(data_dir), "TRADING_PORT": str(port)}
    server = subprocess.Popen(  # noqa: ASYNC220 (started once, before measuring)
        [sys.executable, "-m", "trading", "serve"], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"{base}/api/v1/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            last = START + 60 * (ROWS - 1)
            rest_to = (last + 1) * 1000
            workloads: list[tuple[str, str, dict[str, str | int]]] = [
                ("REST 1", "/api/v1/datafeed/bars",
                 {"symbol": "BENCH", "resolution": "1", "from_time": 0, "to_time": rest_to,
                  "count_back": BARS}),
                ("REST 60", "/api/v1/datafeed/bars",
                 {"symbol": "BENCH", "resolution": "60", "from_time": 0, "to_time": rest_to,
                  "count_back": BARS}),
                ("UDF 1", "/api/v1/udf/history",
                 {"symbol": "BENCH", "resolution": "1", "from": 0, "to": last + 1,
                  "countback": BARS}),
            ]  # fmt: skip
            for label, path, params in workloads:
                samples = []
                size = 0
                for i in range(n + 1):
                    t0 = time.perf_counter()
                    async with session.get(base + path, params=params) as r:
                        body = await r.read()
                        assert r.status == 200, body[:200]
                    if i:  # the first is cold (segments built)
                        samples.append(time.perf_counter() - t0)
                    size = len(body)
                samples.sort()
                print(
                    f"http {label}: {BARS} bars, {size / 1e3:.0f} kB, warm median "
                    f"{statistics.median(samples) * 1e3:.2f} ms, p95 "
                    f"{samples[int(0.95 * len(samples)) - 1] * 1e3:.2f} ms"
                )
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iso", action="store_true", help="also import an ISO 8601 CSV")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cols = bars(ROWS)
        table = pa.table(cols)
        pacsv.write_csv(table, tmp / "bars.csv")
        pq.write_table(table, tmp / "bars.parquet")
        print(
            f"data: {ROWS} 1-minute bars, CSV {(tmp / 'bars.csv').stat().st_size / 1e6:.0f} MB, "
            f"Parquet {(tmp / 'bars.parquet').stat().st_size / 1e6:.0f} MB"
        )
        print(f"import CSV (epoch s): {run_import(tmp / 'bars.csv', tmp / 'csv'):.1f} s")
        print(f"import Parquet: {run_import(tmp / 'bars.parquet', tmp / 'pq'):.1f} s")
        if args.iso:
            iso = pc.strftime(
                pa.array(cols["time"] * 1_000_000_000, pa.timestamp("ns", "UTC")),
                format="%Y-%m-%dT%H:%M:%SZ",
            )
            pacsv.write_csv(table.set_column(0, "time", iso), tmp / "iso.csv")
            print(f"import CSV (ISO 8601): {run_import(tmp / 'iso.csv', tmp / 'iso'):.1f} s")
        stored = sum(f.stat().st_size for f in (tmp / "csv").rglob("*.npy"))
        print(f"store: {stored / 1e6:.0f} MB of .npy tables (all resolutions)")
        if not args.no_sqlite:
            sqlite_candidate(cols, tmp / "candidate.sqlite3")

        clock = ManualClock(START + 60 * ROWS + 3600)
        market = ImportedMarket(tmp / "csv", clock, 5.0)
        spec = market.catalog.lookup("BENCH")
        assert spec is not None
        for res in (Resolution.M1, Resolution.M60):

            def source(res: Resolution = res) -> object:
                h = market.history(spec, res, 0, 2**40, count_back=BARS)
                assert len(h.bars) == BARS
                return h

            med, p95 = per_call(source)
            print(
                f"source {res.value}: window + bars of {BARS}: median {med * 1e6:.0f} µs, "
                f"p95 {p95 * 1e6:.0f} µs"
            )
        cache = BarBytes(market, 64 * 2**20)
        for shape in Shape:

            def answer(shape: Shape = shape) -> bytes:
                a = cache.answer(shape, spec, Resolution.M1, 0, 2**40, BARS, 20_000)
                a.complete()
                return a.body

            cold = timed(answer)
            med, p95 = per_call(answer)
            print(
                f"cached bytes {shape.value} 1: cold {cold * 1e3:.1f} ms, warm median "
                f"{med * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"
            )
        asyncio.run(http_requests(tmp / "csv", args.requests))


if __name__ == "__main__":
    main()
