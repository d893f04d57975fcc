"""Microseconds per ``touch`` of an imported symbol: the broker's price of one second.

The fill loop asks once per second per symbol and a catch-up or a fast replay thousands of
times per tick (docs/history.md §5, docs/performance.md "Imported history"). This imports a
year of 1-minute bars (New York 09:30-16:00, a seeded random walk) and five years of daily
bars into a temporary data dir, in process, and times ``ImportedMarket.touch``:

- *consecutive*: an hour of consecutive seconds, as an evaluation after a stall asks;
- *scattered*: random seconds across the history, as sessions at different dates ask.

Each figure is the best of 9 runs (a loaded machine inflates means, not minima).

    .venv/bin/python scripts/bench_touch.py
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import tempfile
import timeit
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trading.clock import ManualClock  # noqa: E402
from trading.market.bar_import import ImportOptions, import_bars  # noqa: E402
from trading.market.imported import ImportedMarket  # noqa: E402
from trading.market.symbols import SymbolSpec  # noqa: E402

NEW_YORK = ZoneInfo("America/New_York")
SECONDS = 3600


def walk(rng: random.Random, price: int) -> tuple[int, int, int, int]:
    path = [price]
    for _ in range(4):
        path.append(max(100, path[-1] + rng.randint(-9, 9)))
    return path[0], max(path), min(path), path[-1]


def write_minutes(path: Path, days: int) -> list[int]:
    rng, price, times = random.Random(7), 18_250, list[int]()
    day = dt.date(2023, 1, 2)
    with open(path, "w") as out:
        out.write("time,open,high,low,close,volume\n")
        while len(times) < days * 390:
            if day.weekday() < 5:
                opening = int(dt.datetime(day.year, day.month, day.day, 9, 30,
                                          tzinfo=NEW_YORK).timestamp())  # fmt: skip
                for minute in range(390):
                    o, h, lo, c = walk(rng, price)
                    t = opening + 60 * minute
                    out.write(f"{t},{o / 100:.2f},{h / 100:.2f},{lo / 100:.2f},{c / 100:.2f},1\n")
                    times.append(t)
                    price = c
            day += dt.timedelta(days=1)
    return times


def write_days(path: Path, count: int) -> list[int]:
    rng, price, times = random.Random(3), 9_900, list[int]()
    day = dt.date(2019, 1, 2)
    with open(path, "w") as out:
        out.write("time,open,high,low,close,volume\n")
        while len(times) < count:
            if day.weekday() < 5:
                o = price + rng.randint(-30, 30)
                c = o + rng.randint(-150, 150)
                h, lo = max(o, c) + rng.randint(0, 80), min(o, c) - rng.randint(0, 80)
                out.write(f"{day.isoformat()},{o / 100:.2f},{h / 100:.2f},{lo / 100:.2f},"
                          f"{c / 100:.2f},1\n")  # fmt: skip
                t = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
                times.append(t)
                price = c
            day += dt.timedelta(days=1)
    return times


def _ask(market: ImportedMarket, spec: SymbolSpec, seconds: list[int]) -> None:
    for s in seconds:
        market.touch(spec, s)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        minutes = write_minutes(Path(tmp) / "m.csv", 250)
        days = write_days(Path(tmp) / "d.csv", 1260)
        for name, file, resolution in (("MIN", "m.csv", "1"), ("DAY", "d.csv", "1D")):
            options = ImportOptions(name, session="0930-1600", timezone="America/New_York",
                                    resolution=resolution)  # fmt: skip
            import_bars(Path(tmp) / file, data, options)
        market = ImportedMarket(data, ManualClock(2e9), 5.0)
        for name, times in (("1-minute", minutes), ("daily", days)):
            spec = market.catalog.lookup("MIN" if name == "1-minute" else "DAY")
            assert spec is not None
            first = times[len(times) // 2] + (14 * 3600 if name == "daily" else 0)
            rng = random.Random(1)
            asks = {
                "consecutive": list(range(first, first + SECONDS)),
                "scattered": [rng.randrange(times[0], times[-1] + 86_400) for _ in range(SECONDS)],
            }
            for seconds in asks.values():  # first sight of each price (the half-spread memo)
                for s in seconds:
                    market.touch(spec, s)
            for label, seconds in asks.items():
                best = min(timeit.repeat(partial(_ask, market, spec, seconds), repeat=9, number=1))
                print(f"{name:9} {label:12} {best / len(seconds) * 1e6:6.2f} µs per touch")


if __name__ == "__main__":
    main()
