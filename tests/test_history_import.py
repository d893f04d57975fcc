"""``python -m trading import-bars`` as an operator runs it (docs/history.md §1): good files of
every time format and both file types, bad files reported by line with nothing imported,
re-imports replacing their range."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.history_sample import (
    SESSION,
    daily_rows,
    minute_rows,
    write_csv,
    write_parquet,
)
from tests.historykit import Served, import_bars, spec_checked_clients  # noqa: F401
from tests.wsclient import WS, request
from trading.market.bar_store import history_dir

ACME = ("--symbol", "ACME", "--session", SESSION, "--timezone", "America/New_York")
HEADER = "time,open,high,low,close,volume\n"


def stored(data_dir: Path) -> list[str]:
    """Every file the store holds (what a refused import must leave as it was)."""
    root = history_dir(data_dir)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name != ".lock")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample imported from a CSV of epoch seconds: what every other format must equal."""
    root = tmp_path_factory.mktemp("reference")
    run = import_bars(root / "data", write_csv(root / "m.csv", minute_rows(), "s"), *ACME)
    assert run.code == 0, run.err
    assert "imported 1170 1-minute bars of ACME" in run.out
    return root / "data"


async def served_bars(data_dir: Path, symbol: str = "ACME") -> dict[str, object]:
    async with Served(data_dir) as served:
        return {r: await served.rest_bars(symbol, r) for r in ("1", "60", "1D", "1M")}


@pytest.mark.parametrize("fmt", ["ms", "iso", "iso-local"])
async def test_every_time_format_imports_the_same_bars(
    reference: Path, tmp_path: Path, fmt: str
) -> None:
    run = import_bars(tmp_path / "data", write_csv(tmp_path / "m.csv", minute_rows(), fmt), *ACME)
    assert run.code == 0, run.err
    assert await served_bars(tmp_path / "data") == await served_bars(reference)


@pytest.mark.parametrize("timestamps", [True, False])
async def test_parquet_imports_the_same_bars(
    reference: Path, tmp_path: Path, timestamps: bool
) -> None:
    file = write_parquet(tmp_path / "m.parquet", minute_rows(), timestamps=timestamps)
    run = import_bars(tmp_path / "data", file, *ACME)
    assert run.code == 0, run.err
    assert await served_bars(tmp_path / "data") == await served_bars(reference)


async def test_minute_bars_are_the_file_s_own(reference: Path) -> None:
    rows = minute_rows()
    async with Served(reference) as served:
        bars = await served.rest_bars("ACME", "1")
    assert len(bars) == len(rows)
    assert [b["time"] // 1000 for b in bars] == [r.time for r in rows]
    assert [round(b["close"] * 100) for b in bars] == [r.close for r in rows]
    assert [b["volume"] for b in bars] == [r.volume for r in rows]


@pytest.mark.parametrize("fmt", ["date", "s"])
async def test_daily_bars(tmp_path: Path, fmt: str) -> None:
    rows = daily_rows()
    file = write_csv(tmp_path / "d.csv", rows, fmt)
    run = import_bars(tmp_path / "data", file, "--symbol", "DAILY", "--exchange", "OTC")
    assert run.code == 0, run.err
    assert "imported 45 daily bars of DAILY" in run.out
    async with Served(tmp_path / "data") as served:
        info = await served.get("/api/v1/datafeed/resolve/OTC:DAILY")
        days = await served.rest_bars("DAILY", "1D")
        weeks = await served.rest_bars("DAILY", "1W")
        minutes = await served.get(
            "/api/v1/datafeed/bars", symbol="DAILY", resolution="1", from_time=0, to_time=2**42
        )
        async with served.client.ws_connect(WS) as ws:
            reply, _ = await request(ws, "bars.subscribe", {"symbol": "DAILY", "resolution": "5"})
    assert info["supported_resolutions"] == ["1D", "1W", "1M"]
    assert info["has_intraday"] is False
    assert [(b["time"] // 1000, round(b["open"] * 100)) for b in days] == [
        (r.time, r.open) for r in rows
    ]
    first_week = [r for r in rows if r.time < rows[0].time + 5 * 86_400]  # Tue 2 to Fri 5 Jan
    assert weeks[0]["time"] // 1000 == rows[0].time - 86_400  # Monday 2024-01-01
    assert round(weeks[0]["high"] * 100) == max(r.high for r in first_week)
    assert weeks[0]["volume"] == sum(r.volume for r in first_week)
    assert minutes == {"bars": [], "no_data": True}
    assert reply["payload"]["status"] == "error"
    assert reply["payload"]["message"] == "Unsupported resolution: 5"


def test_bad_rows_are_listed_by_line_and_nothing_is_imported(tmp_path: Path) -> None:
    good = minute_rows()[:3]
    text = HEADER + "".join(
        f"{r.time},{r.open / 100:.2f},{r.high / 100:.2f},{r.low / 100:.2f},{r.close / 100:.2f},"
        f"{r.volume}\n"
        for r in good
    )
    t = good[-1].time
    text += f"{t + 60},10.00,9.00,9.50,9.60,5\n"  # line 5: high below open
    text += f"{t + 120},abc,10,9,9.5,5\n"  # line 6: not a number
    text += f"{t},10.00,10.00,10.00,10.00,5\n"  # line 7: goes back in time
    text += f"{t + 200},10.00,10.00,10.00,10.00,5\n"  # line 8: not a whole minute
    text += f"{t + 240},10.00,10.00,10.00,10.00\n"  # line 9: a field missing
    text += f"{t + 300},10.001,10.01,10.00,10.01,5\n"  # line 10: off the cent grid
    text += f"{t + 360},10.00,10.00,10.00,10.00,-1\n"  # line 11: negative volume
    file = tmp_path / "bad.csv"
    file.write_text(text)
    run = import_bars(tmp_path / "data", file, *ACME)
    assert run.code == 1
    assert "nothing imported" in run.err
    for line in (
        "line 5: high is below",
        "line 6: open 'abc' is not a number",
        "line 9: expected 6",
    ):
        assert line in run.err, run.err
    assert "line 6: low" not in run.err  # 'abc' is one problem, not also a broken OHLC rule
    assert "line 7: time is before the previous row's (line 6)" in run.err
    assert "line 10: open is not a multiple of the tick 1/100" in run.err
    assert "line 11: volume is negative" in run.err
    assert "line 8: time is not on a whole minute" in run.err
    assert stored(tmp_path / "data") == []


def test_checks_after_parsing_name_their_lines(tmp_path: Path) -> None:
    rows = minute_rows()[:4]
    text = HEADER
    for i, r in enumerate(rows):
        t = rows[1].time if i == 2 else r.time  # line 4 repeats line 3's time
        text += f"{t},{r.open / 100:.2f},{r.high / 100:.2f},{r.low / 100:.2f},{r.close / 100:.2f},"
        text += f"{r.volume}\n"
    text += f"{rows[-1].time + 60},10.001,10.01,10.00,10.01,5\n"  # line 6: off the grid
    text += f"{rows[-1].time + 90},10.00,10.00,10.00,10.00,-1\n"  # line 7: two problems
    file = tmp_path / "bad.csv"
    file.write_text(text)
    run = import_bars(tmp_path / "data", file, *ACME)
    assert run.code == 1
    assert "line 4: time repeats the previous row's (line 3)" in run.err, run.err
    assert "line 6: open is not a multiple of the tick 1/100" in run.err
    assert "line 7: volume is negative" in run.err
    assert "line 7: time is not on a whole minute" in run.err
    assert stored(tmp_path / "data") == []


def test_bars_outside_the_session_are_refused(tmp_path: Path) -> None:
    r = minute_rows()[0]
    text = HEADER + f"{r.time - 60},10,10,10,10,1\n{r.time},10,10,10,10,1\n"  # 09:29, 09:30
    file = tmp_path / "early.csv"
    file.write_text(text)
    run = import_bars(tmp_path / "data", file, *ACME)
    assert run.code == 1
    assert "line 2: outside the session 0930-1600 (America/New_York)" in run.err
    assert "line 3" not in run.err


def test_the_report_is_capped(tmp_path: Path) -> None:
    t0 = minute_rows()[0].time
    file = tmp_path / "many.csv"
    file.write_text(HEADER + "".join(f"{t0 + 60 * i},10,9,9,9,1\n" for i in range(100)))
    run = import_bars(tmp_path / "data", file, *ACME)
    assert run.code == 1
    listed = [line for line in run.err.splitlines() if line.strip().startswith("line ")]
    assert len(listed) == 20
    assert listed[0].strip().startswith("line 2:")
    assert "... and 80 more problems" in run.err


def test_parquet_problems_name_their_rows(tmp_path: Path) -> None:
    rows = minute_rows()[:3]
    broken = [rows[0], rows[1].__class__(rows[1].time, 100, 90, 95, 96, 1), rows[2]]
    run = import_bars(tmp_path / "data", write_parquet(tmp_path / "b.parquet", broken), *ACME)
    assert run.code == 1
    assert "row 2: high is below open or close" in run.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--symbol", "AAPL"), "AAPL is a synthetic symbol"),
        (("--symbol", "no/slash"), "letters, digits"),
        (("--symbol", "X", "--session", "1700-0900"), "overnight ranges are not supported"),
        (("--symbol", "X", "--timezone", "Mars/Olympus"), "unknown time zone"),
        (("--symbol", "X", "--pricescale", "3"), "a power of ten"),
    ],
)
def test_refused_arguments(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    run = import_bars(tmp_path / "data", write_csv(tmp_path / "m.csv", minute_rows()[:5]), *args)
    assert run.code == 1
    assert message in run.err
    assert stored(tmp_path / "data") == []


async def test_reimport_replaces_its_range_and_keeps_the_rest(tmp_path: Path) -> None:
    rows = minute_rows()
    data = tmp_path / "data"
    assert import_bars(data, write_csv(tmp_path / "all.csv", rows), *ACME).code == 0
    # the second day again, with every other minute only and prices moved up by 1.00
    day2 = list(rows[390:780])[::2]
    moved = [r.__class__(r.time, r.open + 100, r.high + 100, r.low + 100, r.close + 100, 7)
             for r in day2]  # fmt: skip
    run = import_bars(data, write_csv(tmp_path / "day2.csv", moved), "--symbol", "acme")
    assert run.code == 0, run.err
    # the range is first to last bar of the file: 09:30 to 15:58 of the second day
    assert "replaced 389 stored bars of that range, kept 781 outside it" in run.out
    async with Served(data) as served:
        bars = await served.rest_bars("ACME", "1")
        info = await served.get("/api/v1/datafeed/resolve/ACME")
    got = [(b["time"] // 1000, round(b["close"] * 100), b["volume"]) for b in bars]
    expect = (
        [(r.time, r.close, r.volume) for r in rows[:390]]
        + [(r.time, r.close, 7) for r in moved]
        + [(r.time, r.close, r.volume) for r in rows[779:]]
    )
    assert got == expect
    assert info["session"] == SESSION  # the stored metadata stays when not given again


def test_a_refused_reimport_leaves_the_symbol_as_it_was(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert import_bars(data, write_csv(tmp_path / "m.csv", minute_rows()), *ACME).code == 0
    before = stored(data)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "1709908200,10,9,9,9,1\n")
    assert import_bars(data, bad, "--symbol", "ACME").code == 1
    daily = write_csv(tmp_path / "d.csv", daily_rows())
    kinds = import_bars(data, daily, "--symbol", "ACME")
    assert kinds.code == 1
    assert "ACME holds 1-minute bars" in kinds.err
    assert stored(data) == before


def test_parquet_times_finer_than_a_second_are_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = minute_rows()[0].time * 1000
    table = pa.table(
        {
            "time": pa.array([t0, t0 + 60_500], pa.timestamp("ms", "UTC")),
            **{c: [10.0, 10.0] for c in ("open", "high", "low", "close")},
            "volume": [1, 1],
        }
    )
    pq.write_table(table, tmp_path / "sub.parquet")
    run = import_bars(tmp_path / "data", tmp_path / "sub.parquet", *ACME)
    assert run.code == 1
    assert "row 2: time is not a whole second" in run.err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--session", "1000-1600"), "stored bars (the first at 2024-03-08T14:30:00Z) are outside"),
        (("--pricescale", "1000"), "--pricescale 1000 differs from the stored 100"),
    ],
)
def test_a_change_that_the_kept_bars_break_is_refused(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    data = tmp_path / "data"
    rows = minute_rows()
    assert import_bars(data, write_csv(tmp_path / "m.csv", rows), *ACME).code == 0
    before = stored(data)
    late = list(rows[-10:])  # 15:50 onward of the last day: inside the new session too
    run = import_bars(data, write_csv(tmp_path / "late.csv", late), "--symbol", "ACME", *change)
    assert run.code == 1
    assert message in run.err, run.err
    assert stored(data) == before


def test_the_report_lists_as_many_as_asked(tmp_path: Path) -> None:
    t0 = minute_rows()[0].time
    file = tmp_path / "many.csv"
    file.write_text(HEADER + "".join(f"{t0 + 60 * i},10,9,9,9,1\n" for i in range(100)))
    run = import_bars(tmp_path / "data", file, *ACME, "--max-problems", "50")
    listed = [line for line in run.err.splitlines() if line.strip().startswith("line ")]
    assert (run.code, len(listed)) == (1, 50)
    assert "... and 50 more problems" in run.err
    for bad in ("0", "101", "x"):
        refused = import_bars(tmp_path / "data", file, *ACME, "--max-problems", bad)
        assert refused.code == 2, refused.err  # a usage error, before reading the file
        assert "--max-problems" in refused.err
