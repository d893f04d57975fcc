"""Imported history served like the synthetic symbols (docs/history.md §4-§5): every
resolution over REST and UDF with hand-computed aggregates, search, resolve, quotes, streams,
and what a running server does about a later import."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.history_sample import NEW_YORK, daily_rows, write_csv
from tests.historykit import Served, import_bars, spec_checked_clients  # noqa: F401
from tests.wsclient import WS, drain, subscribe
from trading.app import create_app
from trading.broker.enums import OrderStatus, OrderType, Side
from trading.clock import ManualClock
from trading.market import aggregate
from trading.market.resolution import Resolution
from trading.market.sessions import local_ordinals, parse_session, session_ranges
from trading.settings import Settings
from trading.testing import TEST_NOW

# Two trading days on a 09:30-16:00 New York session, either side of the switch to daylight
# saving (Friday 2024-03-08 is UTC-5, Monday 2024-03-11 UTC-4). Prices in dollars.
ROWS = [
    ("2024-03-08T09:30:00", "10.00", "10.05", "9.98", "10.02", 100),
    ("2024-03-08T09:31:00", "10.02", "10.10", "10.01", "10.08", 200),
    ("2024-03-11T09:30:00", "10.50", "10.60", "10.40", "10.45", 300),
    ("2024-03-11T09:31:00", "10.45", "10.47", "10.30", "10.35", 400),
    ("2024-03-11T09:32:00", "10.35", "10.36", "10.20", "10.25", 500),
    ("2024-03-11T09:33:00", "10.25", "10.70", "10.25", "10.65", 600),
    ("2024-03-11T09:34:00", "10.65", "10.66", "10.60", "10.61", 700),
    ("2024-03-11T09:35:00", "10.61", "10.62", "10.55", "10.56", 800),
    ("2024-03-11T15:59:00", "10.80", "10.90", "10.75", "10.85", 900),
]


def utc(text: str) -> int:
    """Seconds of a UTC ISO time."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


FRI_0930 = utc("2024-03-08T14:30:00")  # 09:30 EST
MON_0930 = utc("2024-03-11T13:30:00")  # 09:30 EDT
Bar = tuple[int, float, float, float, float, int]

# Hand-computed from ROWS: first open, max high, min low, last close, summed volume.
FRI = (10.00, 10.10, 9.98, 10.08, 300)
MON_FIRST_5 = (10.50, 10.70, 10.20, 10.61, 2500)  # 09:30-09:34
MON_0935 = (10.61, 10.62, 10.55, 10.56, 800)
MON_1559 = (10.80, 10.90, 10.75, 10.85, 900)
MON_FIRST_HALF_HOUR = (10.50, 10.70, 10.20, 10.56, 3300)  # 09:30-09:59
MON = (10.50, 10.90, 10.20, 10.85, 4200)
EXPECTED: dict[str, list[Bar]] = {
    "5": [(FRI_0930, *FRI), (MON_0930, *MON_FIRST_5), (MON_0930 + 300, *MON_0935),
          (utc("2024-03-11T19:55:00"), *MON_1559)],
    "15": [(FRI_0930, *FRI), (MON_0930, *MON_FIRST_HALF_HOUR),
           (utc("2024-03-11T19:45:00"), *MON_1559)],
    "30": [(FRI_0930, *FRI), (MON_0930, *MON_FIRST_HALF_HOUR),
           (utc("2024-03-11T19:30:00"), *MON_1559)],
    # session-aligned hours: 09:30-10:29 New York, not the epoch's 09:00 or 10:00
    "60": [(FRI_0930, *FRI), (MON_0930, *MON_FIRST_HALF_HOUR),
           (utc("2024-03-11T19:30:00"), *MON_1559)],
    "1D": [(utc("2024-03-08T00:00:00"), *FRI), (utc("2024-03-11T00:00:00"), *MON)],
    "1W": [(utc("2024-03-04T00:00:00"), *FRI), (utc("2024-03-11T00:00:00"), *MON)],
    "1M": [(utc("2024-03-01T00:00:00"), 10.00, 10.90, 9.98, 10.85, 4500)],
}  # fmt: skip
EXPECTED["1"] = [
    (int(dt.datetime.fromisoformat(t).replace(tzinfo=NEW_YORK).timestamp()), float(o), float(h),
     float(lo), float(c), v)
    for t, o, h, lo, c, v in ROWS
]  # fmt: skip


def write_rows(path: Path, rows: list[tuple[str, str, str, str, str, int]]) -> Path:
    lines = ["time,open,high,low,close,volume"]
    lines += [",".join(str(x) for x in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    file = write_rows(root / "acme.csv", ROWS)
    run = import_bars(
        root / "data", file, "--symbol", "ACME", "--session", "0930-1600",
        "--timezone", "America/New_York", "--exchange", "NYSE", "--description", "Acme Corp.",
    )  # fmt: skip
    assert run.code == 0, run.err
    return root / "data"


def as_tuples(bars: list[dict[str, Any]]) -> list[Bar]:
    return [
        (b["time"] // 1000, b["open"], b["high"], b["low"], b["close"], b["volume"]) for b in bars
    ]


@pytest.mark.parametrize("resolution", ["1", "5", "15", "30", "60", "1D", "1W", "1M"])
async def test_every_resolution_is_the_exact_aggregate(data_dir: Path, resolution: str) -> None:
    async with Served(data_dir) as served:
        rest = as_tuples(await served.rest_bars("ACME", resolution))
        udf = await served.udf_history("ACME", resolution)
    assert rest == EXPECTED[resolution]
    assert udf["s"] == "ok"
    columns = list(zip(udf["t"], udf["o"], udf["h"], udf["l"], udf["c"], udf["v"], strict=True))
    assert columns == EXPECTED[resolution]


async def test_ranges_count_back_and_no_data(data_dir: Path) -> None:
    async with Served(data_dir) as served:
        # to is exclusive, count_back wins over from (market.md §6)
        last_two = await served.rest_bars(
            "ACME", "5", to_time=(MON_0930 + 600) * 1000, count_back=2
        )
        before = await served.get(
            "/api/v1/datafeed/bars", symbol="ACME", resolution="1D", from_time=0, to_time=1000
        )
        gap = await served.udf_history("ACME", "1", **{"from": FRI_0930 + 3600, "to": MON_0930})
    assert as_tuples(last_two) == EXPECTED["5"][1:3]
    assert before == {"bars": [], "no_data": True}
    # UDF sends the chart to the last bar before the empty range (the weekend)
    assert gap == {"s": "no_data", "nextTime": FRI_0930 + 60}


async def test_search_and_resolve_list_the_imported_symbol(data_dir: Path) -> None:
    async with Served(data_dir) as served:
        found = await served.get("/api/v1/datafeed/search", user_input="acme")
        by_exchange = await served.get("/api/v1/datafeed/search", user_input="", exchange="NYSE")
        info = await served.get("/api/v1/datafeed/resolve/NYSE:ACME")
        udf_info = await served.get("/api/v1/udf/symbols", symbol="acme")
        udf_search = await served.get("/api/v1/udf/search", query="Acme", limit=5)
        config = await served.get("/api/v1/datafeed/config")
        synthetic = await served.get("/api/v1/datafeed/resolve/AAPL")
    assert [r["symbol"] for r in found] == ["ACME"]
    assert "ACME" in [r["symbol"] for r in by_exchange]
    assert "IBM" in [r["symbol"] for r in by_exchange]
    assert info["name"] == "ACME"
    assert info["description"] == "Acme Corp."
    assert info["session"] == "0930-1600"
    assert info["timezone"] == "America/New_York"
    assert info["data_status"] == "endofday"
    assert info["has_intraday"] is True
    assert info["supported_resolutions"] == ["1", "5", "15", "30", "60", "1D", "1W", "1M"]
    assert udf_info["name"] == "ACME"
    assert udf_info["intraday_multipliers"][0] == "1"
    assert [r["symbol"] for r in udf_search] == ["ACME"]
    assert "NYSE" in [e["value"] for e in config["exchanges"]]
    assert synthetic["data_status"] == "streaming"  # the synthetic symbols are unchanged


async def test_quotes_come_from_the_last_bar(data_dir: Path) -> None:
    async with Served(data_dir) as served:
        response = await served.client.post("/api/v1/datafeed/quotes", json={"symbols": ["ACME"]})
        rest = await response.json()
        udf = await served.get("/api/v1/udf/quotes", symbols="NYSE:ACME")
    values = rest[0]["v"]
    assert rest[0]["s"] == "ok"
    assert values["lp"] == 10.85
    assert (values["open_price"], values["high_price"], values["low_price"]) == (10.5, 10.9, 10.2)
    assert values["volume"] == 4200
    assert values["prev_close_price"] == 10.08  # the previous trading day's close
    assert (values["ch"], values["chp"]) == (0.77, 7.64)
    # 5 bps of 10.85 is half a tick each side: at least one tick (market.md §5)
    assert (values["bid"], values["ask"]) == (10.84, 10.86)
    assert udf["d"][0]["v"]["lp"] == 10.85


async def test_a_clock_inside_the_history_sees_no_later_bar(data_dir: Path) -> None:
    async with Served(data_dir, now=MON_0930 + 150) as served:  # 09:32:30 on Monday
        minutes = await served.rest_bars("ACME", "1")
        days = await served.rest_bars("ACME", "1D")
        response = await served.client.post("/api/v1/datafeed/quotes", json={"symbols": ["ACME"]})
        quote = (await response.json())[0]["v"]
    assert [b["time"] // 1000 for b in minutes][-3:] == [MON_0930, MON_0930 + 60, MON_0930 + 120]
    # the bar that started (09:32) is listed; the price is the last bar *over* (09:31's close)
    assert quote["lp"] == 10.35
    assert (quote["open_price"], quote["high_price"], quote["volume"]) == (10.5, 10.6, 700)
    assert len(days) == 2


async def test_a_running_server_keeps_its_snapshot(data_dir: Path, tmp_path: Path) -> None:
    """A later import is served after a restart; the running server keeps what it loaded."""
    async with Served(data_dir) as served:
        changed = [("2024-03-11T15:59:00", "11.00", "11.00", "11.00", "11.00", 1)]
        run = import_bars(data_dir, write_rows(tmp_path / "fix.csv", changed), "--symbol", "acme")
        assert run.code == 0, run.err
        assert "replaced 1 stored bars" in run.out
        old = as_tuples(await served.rest_bars("ACME", "1"))
    async with Served(data_dir) as restarted:
        new = as_tuples(await restarted.rest_bars("ACME", "1"))
    restore = write_rows(tmp_path / "restore.csv", [ROWS[-1]])
    assert import_bars(data_dir, restore, "--symbol", "ACME").code == 0
    assert old == EXPECTED["1"]
    assert new[:-1] == EXPECTED["1"][:-1]
    assert new[-1][1:] == (11.0, 11.0, 11.0, 11.0, 1)


async def test_streams_send_the_last_bar_and_quote_then_nothing(data_dir: Path) -> None:
    """Imported history does not continue in real time: the snapshot and no push after it;
    a daily import's intraday stream is refused like an unknown resolution."""
    async with Served(data_dir) as served, served.client.ws_connect(WS) as ws:
        _, bars = await subscribe(ws, "bars", {"symbol": "ACME", "resolution": "1D"})
        _, quotes = await subscribe(ws, "quotes", {"symbols": [], "fast_symbols": ["ACME"]})
        later = await drain(ws, quiet=2.5)  # two ticks of the market stream
    assert [f["payload"]["payload"] for f in bars] == [
        {"time": utc("2024-03-11T00:00:00") * 1000, "open": 10.5, "high": 10.9, "low": 10.2,
         "close": 10.85, "volume": 4200}
    ]  # fmt: skip
    assert [f["payload"]["payload"]["v"]["lp"] for f in quotes] == [10.85]
    assert later == []


# --- the aggregation rule for every input ------------------------------------------------


minute_tables = st.lists(
    st.tuples(
        st.integers(1, 3000),  # minutes after the previous bar
        st.integers(1000, 2000), st.integers(0, 50), st.integers(0, 50), st.integers(0, 50),
        st.integers(0, 10_000),
    ),
    min_size=1, max_size=300,
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=minute_tables, session_text=st.sampled_from(["24x7", "0930-1600", "0000-2400:1234567"]))
def test_aggregates_are_first_max_min_last_sum_of_their_parts(
    rows: list[tuple[int, int, int, int, int, int]], session_text: str
) -> None:
    session = parse_session(session_text)
    ranges_all = session_ranges(session, NEW_YORK, 738_900, 738_960)
    # bars only inside the session: minute offsets walked from the first range's opening
    inside = [int(t) for a, b in zip(ranges_all.starts, ranges_all.ends, strict=True)
              for t in range(int(a), int(b), 60)]  # fmt: skip
    pos, picked = 0, []
    for gap, o, up, down, move, v in rows:
        pos += gap
        if pos >= len(inside):
            break
        c = o + move - 25
        picked.append((inside[pos], o, max(o, c) + up, min(o, c) - down, c, v))
    if not picked:
        return
    table = np.asarray(picked, dtype=np.int64).T.copy()
    times = table[0]
    ordinals = local_ordinals(times, NEW_YORK)
    ranges = session_ranges(session, NEW_YORK, int(ordinals.min()) - 1, int(ordinals.max()) + 1)
    idx = ranges.locate(times, 60)
    assert (idx >= 0).all()
    tables = aggregate.from_minutes(
        table, ranges.starts[idx], aggregate.ordinal_labels(ranges.ordinals[idx])
    )
    day_of = aggregate.ordinal_labels(ranges.ordinals[idx])

    def member(resolution: Resolution) -> Callable[[int], int]:
        if resolution.is_intraday:
            step = resolution.seconds
            return lambda i: int(
                ranges.starts[idx[i]] + (times[i] - ranges.starts[idx[i]]) // step * step
            )
        ordinal = ranges.ordinals[idx]
        if resolution is Resolution.D1:
            return lambda i: int(day_of[i])
        starts = (
            aggregate.week_starts(ordinal)
            if resolution is Resolution.W1
            else aggregate.month_starts(ordinal)
        )
        labels = aggregate.ordinal_labels(starts)
        return lambda i: int(labels[i])

    for resolution, coarse in tables.items():
        key = member(resolution)
        groups: dict[int, list[int]] = {}
        for i in range(len(times)):
            groups.setdefault(key(i), []).append(i)
        expect = [
            (label, int(table[1, g[0]]), int(table[2, g].max()), int(table[3, g].min()),
             int(table[4, g[-1]]), int(table[5, g].sum()))
            for label, g in sorted(groups.items())
        ]  # fmt: skip
        assert [tuple(int(x) for x in col) for col in coarse.T] == expect, resolution


async def test_the_broker_trades_an_imported_symbol_at_its_last_price(data_dir: Path) -> None:
    async with Served(data_dir) as served:
        response = await served.client.post(
            "/api/v1/broker/orders",
            json={"symbol": "ACME", "type": OrderType.MARKET, "side": Side.BUY, "qty": 10},
        )
        placed = await response.json()
        assert response.status == 200, placed
        positions = await served.get("/api/v1/broker/positions")
    # a buy at the ask of the last close (10.85 + one tick), and nothing moves after it
    assert [(p["symbol"], p["qty"], p["avgPrice"]) for p in positions] == [("ACME", 10, 10.86)]


async def test_resting_orders_fill_along_the_bar_path(data_dir: Path, tmp_path: Path) -> None:
    """With TRADING_CLOCK=manual inside the history: Monday's 09:31 bar falls (10.45, high
    10.47, low 10.30, close 10.35), so its path is open → high (second 20) → low (second 40)
    → close (second 59), nearest tick, halves up (docs/history.md §6). Bid and ask are one
    tick either side (5 bps of 10.4 is under a tick). A SELL limit at 10.46 needs a bid of
    10.46, a last price of 10.47: 10.45 + 2·15/20 = 10.465 → 10.47 at 09:31:15, its first
    second there. A BUY limit at 10.38 needs a last price of 10.37: 10.47 - 0.17·12/20 =
    10.368 → 10.37 at 09:31:32 (09:31:31 is 10.3765 → 10.38). The quote stays at the last
    finished bar's close (09:30's 10.45) all the while."""
    data = tmp_path / "data"
    shutil.copytree(data_dir / "history", data / "history")  # a broker of its own
    start = MON_0930 + 60
    async with Served(data, now=start, clock_mode="manual") as served:
        c = served.client

        async def post(path: str, body: Any = None) -> Any:
            response = await c.post(path, json=body, headers={"Content-Type": "application/json"})
            assert response.status in (200, 201), await response.text()
            return await response.json()

        async def limit(side: Side, price: float, qty: int) -> str:
            order = {"symbol": "ACME", "type": OrderType.LIMIT, "side": side, "qty": qty,
                     "limitPrice": price}  # fmt: skip
            placed: str = (await post("/api/v1/broker/orders", order))["orderId"]
            return placed

        async def executions() -> list[tuple[str, int, float, int]]:
            body = await post("/api/v1/debug/evaluate")
            return [(e["orderId"], e["side"], e["price"], e["time"] // 1000 - start)
                    for a in body["accounts"] for e in a["executions"]]  # fmt: skip

        async def quote_lp() -> float:
            quotes = await post("/api/v1/datafeed/quotes", {"symbols": ["ACME"]})
            lp: float = quotes[0]["v"]["lp"]
            return lp

        sell = await limit(Side.SELL, 10.46, 5)
        buy = await limit(Side.BUY, 10.38, 10)
        assert [o["status"] for o in await served.get("/api/v1/broker/orders")] == [
            OrderStatus.WORKING, OrderStatus.WORKING
        ]  # fmt: skip
        await post("/api/v1/debug/clock", {"advanceMs": 31_000})  # 09:31:31
        assert await executions() == [(sell, Side.SELL, 10.46, 15)]
        assert await quote_lp() == 10.45
        await post("/api/v1/debug/clock", {"advanceMs": 29_000})  # 09:32:00, the bar is over
        assert await executions() == [(buy, Side.BUY, 10.38, 32)]
        assert await quote_lp() == 10.35
        positions = await served.get("/api/v1/broker/positions")
    assert [(p["symbol"], p["qty"], p["side"]) for p in positions] == [("ACME", 5, Side.BUY)]


async def test_a_daily_bar_fills_along_its_session_path(tmp_path: Path) -> None:
    """A daily import (09:30-16:00 New York): Thursday 2024-01-04 falls (101.21, high 101.81,
    low 99.44, close 99.77), its 23 400 session seconds go open → high (11:40) → low (13:50)
    → close (15:59:59). A BUY limit at 99.50 needs an ask of 99.50: a last price of 99.48
    (half spread 2 ticks below 100, 5 bps), reached 7652 s past the high, at 13:47:32:
    101.81 - 2.37·7652/7800 = 99.48497 → 99.48 (13:47:31: 99.48527 → 99.49)."""
    file = write_csv(tmp_path / "days.csv", daily_rows(), fmt="date")
    run = import_bars(tmp_path / "data", file, "--symbol", "DAYS", "--session", "0930-1600",
                      "--timezone", "America/New_York")  # fmt: skip
    assert run.code == 0, run.err
    opening = int(dt.datetime(2024, 1, 4, 9, 30, tzinfo=NEW_YORK).timestamp())
    async with Served(tmp_path / "data", now=opening, clock_mode="manual") as served:
        c = served.client
        headers = {"Content-Type": "application/json"}

        async def post(path: str, body: Any = None) -> Any:
            response = await c.post(path, json=body, headers=headers)
            assert response.status == 200, await response.text()
            return await response.json()

        order = {"symbol": "DAYS", "type": OrderType.LIMIT, "side": Side.BUY, "qty": 10,
                 "limitPrice": 99.5}  # fmt: skip
        placed = (await post("/api/v1/broker/orders", order))["orderId"]
        fills = []
        for advance in (15_451, 1):  # to 13:47:31, then 13:47:32
            await post("/api/v1/debug/clock", {"advanceMs": advance * 1000})
            body = await post("/api/v1/debug/evaluate")
            fills.append([(e["orderId"], e["price"], e["time"] // 1000 - opening)
                          for a in body["accounts"] for e in a["executions"]])  # fmt: skip
        quote = await post("/api/v1/datafeed/quotes", {"symbols": ["DAYS"]})
    assert fills == [[], [(placed, 99.5, 15_452)]]
    assert quote[0]["v"]["lp"] == 101.13  # Wednesday's close: Thursday is not over


async def test_a_damaged_symbol_is_left_out_and_the_rest_served(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for name in ("GOOD", "BROKEN"):
        file = write_rows(tmp_path / f"{name}.csv", ROWS[:2])
        assert import_bars(data, file, "--symbol", name, "--session", "0930-1600").code == 0
    generation = next(p for p in (data / "history" / "BROKEN").iterdir() if p.is_dir())
    (generation / "meta.json").unlink()
    async with Served(data) as served:
        found = await served.get("/api/v1/datafeed/search", user_input="", exchange="IMPORTED")
    assert [r["symbol"] for r in found] == ["GOOD"]


async def test_scenario_control_refuses_to_script_an_imported_symbol(data_dir: Path) -> None:
    """With TRADING_CLOCK=manual the synthetic symbols can be pinned (docs/scenarios.md); an
    imported one follows its bars: a 422 that says so, not "not found", and nothing moves."""
    app = create_app(Settings(data_dir=data_dir, clock=ManualClock(TEST_NOW), clock_mode="manual"))
    async with TestClient(TestServer(app)) as client:
        refused = await client.post("/api/v1/debug/prices", json={"symbol": "ACME", "price": 5})
        body = await refused.json()
        assert refused.status == 422, body
        assert body["detail"][0]["loc"] == ["body", "symbol"]
        assert "imported history" in body["detail"][0]["msg"]
        unknown = await client.post("/api/v1/debug/prices", json={"symbol": "NOPE", "price": 5})
        assert (await unknown.json())["detail"][0]["msg"] == "Symbol NOPE not found"
        pinned = await client.post("/api/v1/debug/prices", json={"symbol": "AAPL", "price": 250})
        assert pinned.status == 200
        quotes = await client.post("/api/v1/datafeed/quotes", json={"symbols": ["ACME", "AAPL"]})
        acme, aapl = await quotes.json()
        assert acme["v"]["lp"] == 10.85  # its last bar, as without a scenario
        assert aapl["v"]["lp"] == 250
