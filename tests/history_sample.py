"""A small, real-looking sample of imported history, generated (nothing is downloaded).

``ACME``: a stock on a New York weekday session, 09:30 to 16:00, three trading days of
1-minute bars around a daylight-saving change (Friday 2024-03-08, then Monday 2024-03-11 and
Tuesday 2024-03-12 after the switch), a seeded random walk on the cent grid with volumes
heavier at the open and close. The same generator makes daily bars and the files of every
format the import reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
SESSION = "0930-1600"
DAYS = (dt.date(2024, 3, 8), dt.date(2024, 3, 11), dt.date(2024, 3, 12))


@dataclass(frozen=True)
class Row:
    time: int
    """Epoch seconds (a 1-minute bar's start, or a daily bar's date at 00:00 UTC)."""
    open: int
    high: int
    low: int
    close: int
    volume: int
    """Prices in cents."""


def minute_rows(days: Sequence[dt.date] = DAYS, seed: int = 7, start: int = 18_250) -> list[Row]:
    """Bars of every minute of the session of each day."""
    rng = random.Random(seed)
    price = start
    rows: list[Row] = []
    for day in days:
        opening = dt.datetime(day.year, day.month, day.day, 9, 30, tzinfo=NEW_YORK)
        for minute in range(390):
            o = price
            path = [o]
            for _ in range(4):
                path.append(max(100, path[-1] + rng.randint(-9, 9)))
            c = path[-1]
            volume = int(rng.randint(800, 2500) * (3 if minute < 30 or minute >= 360 else 1))
            t = int(opening.timestamp()) + 60 * minute
            rows.append(Row(t, o, max(path), min(path), c, volume))
            price = c
        price += rng.randint(-40, 40)  # the overnight gap
    return rows


def daily_rows(first: dt.date = dt.date(2024, 1, 2), count: int = 45, seed: int = 3) -> list[Row]:
    """Weekday bars labelled 00:00 UTC of their date."""
    rng = random.Random(seed)
    rows: list[Row] = []
    price = 9_900
    day = first
    while len(rows) < count:
        if day.weekday() < 5:
            o = price + rng.randint(-30, 30)
            c = o + rng.randint(-150, 150)
            h = max(o, c) + rng.randint(0, 80)
            lo = min(o, c) - rng.randint(0, 80)
            t = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
            rows.append(Row(t, o, h, lo, c, rng.randint(1_000_000, 5_000_000)))
            price = c
        day += dt.timedelta(days=1)
    return rows


def time_text(t: int, fmt: str) -> str:
    if fmt == "s":
        return str(t)
    if fmt == "ms":
        return str(t * 1000)
    if fmt == "iso":  # UTC with an offset
        return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
    if fmt == "iso-local":  # naive: the symbol's zone
        return dt.datetime.fromtimestamp(t, NEW_YORK).replace(tzinfo=None).isoformat()
    if fmt == "date":
        return dt.datetime.fromtimestamp(t, dt.UTC).date().isoformat()
    raise ValueError(fmt)


def write_csv(
    path: Path, rows: Sequence[Row], fmt: str = "s", header: Sequence[str] | None = None
) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header or ("time", "open", "high", "low", "close", "volume"))
        for r in rows:
            writer.writerow(
                (
                    time_text(r.time, fmt),
                    *(f"{p / 100:.2f}" for p in (r.open, r.high, r.low, r.close)),
                    r.volume,
                )
            )
    return path


def write_parquet(path: Path, rows: Sequence[Row], *, timestamps: bool = True) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    times: pa.Array = pa.array([r.time for r in rows], pa.int64())
    if timestamps:
        times = pa.array([r.time for r in rows], pa.timestamp("s", "UTC"))
    table = pa.table(
        {
            "timestamp": times,
            "open": [r.open / 100 for r in rows],
            "high": [r.high / 100 for r in rows],
            "low": [r.low / 100 for r in rows],
            "close": [r.close / 100 for r in rows],
            "volume": [r.volume for r in rows],
        }
    )
    pq.write_table(table, path)
    return path
