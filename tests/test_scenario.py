"""Scenario control over the wire (issue 17, docs/scenarios.md): ``TRADING_CLOCK=manual``, the
debug routes that move the clock, script prices and evaluate orders, what the WebSocket pushes
when they do, who may call them, and that the default server is unchanged.

Black box: the real app through aiohttp's test client (its responses are checked against the
OpenAPI document by tests/conftest.py) and real server processes for the environment, the
start-up refusals and a non-loopback peer.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.brokerkit import Client, MakeClient, get, place
from tests.serverproc import REPO, Server, free_port, server_env
from trading.app import create_app
from trading.broker.enums import OrderStatus, OrderType, Side
from trading.clock import ManualClock, SystemClock
from trading.keys import BROKER, MARKET, SCENARIO, SETTINGS
from trading.market.scenario import LATEST_MS, ClockBackwards, Scenario
from trading.market.scripted import ScriptedMarket
from trading.market.series import SyntheticMarket
from trading.settings import Settings, SettingsError
from trading.testing import TEST_NOW, next_update, subscribe

D = "/api/v1/debug"
JSON = {"Content-Type": "application/json"}
NOW_MS = round(TEST_NOW * 1000)
ADMIN = "admin-" + "k" * 40


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    """A manual-clock server (the code-level way: the fixture's ManualClock), fast ticks."""
    return Settings(
        data_dir=tmp_path / "data",
        clock=trading_clock,
        clock_mode="manual",
        tick_interval_s=0.02,
        market_spread_bps=8,  # around 250: bid = lp - 0.10, ask = lp + 0.10
    )


async def post(client: Client, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    resp = await client.post(D + path, json=body, headers={**JSON, **headers})
    return resp.status, await resp.json()


def stop_buy(price: float, qty: float = 10) -> dict[str, Any]:
    return {"symbol": "AAPL", "type": OrderType.STOP, "side": Side.BUY, "qty": qty,
            "stopPrice": price}  # fmt: skip


async def quote_lp(client: Client, symbol: str = "AAPL") -> float:
    resp = await client.post("/api/v1/datafeed/quotes", json={"symbols": [symbol]})
    body = await resp.json()
    lp: float = body[0]["v"]["lp"]
    return lp


# -- settings and start-up -------------------------------------------------------------------


def test_the_environment_builds_one_manual_clock_for_market_and_broker(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"TRADING_CLOCK": "Manual", "TRADING_CLOCK_START": "2024-06-03T16:00:00Z",
         "TRADING_DATA_DIR": str(tmp_path / "data")}
    )  # fmt: skip
    assert settings.clock_mode == "manual"
    assert isinstance(settings.clock, ManualClock)
    assert settings.clock.now() == 1_717_430_400.0
    assert settings.replace(port=9000).clock is settings.clock  # a copy keeps the one clock
    app = create_app(settings)
    assert app[SCENARIO].clock is settings.clock
    assert isinstance(app[MARKET], ScriptedMarket)
    assert app[BROKER].clock is settings.clock
    assert app[MARKET].now() == 1_717_430_400.0
    epoch = Settings.from_env({"TRADING_CLOCK": "manual", "TRADING_CLOCK_START": "1717430400"})
    assert epoch.clock.now() == 1_717_430_400.0


def test_without_a_start_the_manual_clock_starts_at_the_wall_time() -> None:
    import time

    before = time.time()
    clock = Settings.from_env({"TRADING_CLOCK": "manual"}).clock
    assert before <= clock.now() <= time.time()


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"TRADING_CLOCK": "manul"}, ["TRADING_CLOCK='manul'", "'system' or 'manual'"]),
        ({"TRADING_CLOCK_START": "2024-06-03T16:00:00Z"}, ["TRADING_CLOCK_START needs",
                                                          "TRADING_CLOCK=manual"]),
        ({"TRADING_CLOCK": "manual", "TRADING_CLOCK_START": "2024-06-03T16:00:00"},
         ["TRADING_CLOCK_START=", "timezone"]),
        ({"TRADING_CLOCK": "manual", "TRADING_CLOCK_START": "2017-12-31T00:00:00Z"},
         ["TRADING_CLOCK_START=", "TRADING_HISTORY_START"]),
        ({"TRADING_CLOCK": "manual", "TRADING_CLOCK_START": "2100-01-02T00:00:00Z"},
         ["TRADING_CLOCK_START=", "2100-01-01"]),
        ({"TRADING_CLOCK": "manual", "TRADING_WORKERS": "2", "TRADING_REDIS_URL": "redis://h"},
         ["TRADING_CLOCK=manual runs in one process only", "TRADING_WORKERS=2"]),
        ({"TRADING_CLOCK": "manual", "TRADING_DATABASE_URL": "postgresql://u@h/db"},
         ["TRADING_CLOCK=manual runs in one process only", "TRADING_DATABASE_URL"]),
        ({"TRADING_SCENARIO_MAX_STEPS": "0"}, ["TRADING_SCENARIO_MAX_STEPS='0'"]),
    ],
)  # fmt: skip
def test_bad_clock_settings_are_refused_naming_them(env: dict[str, str], words: list[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_manual_mode_in_code_needs_a_manual_clock() -> None:
    with pytest.raises(SettingsError, match="needs a ManualClock, not a SystemClock"):
        Settings(clock_mode="manual", clock=SystemClock())
    switched = Settings().replace(clock_mode="manual", clock_start="2024-06-03T16:00:00Z")
    assert isinstance(switched.clock, ManualClock)
    assert switched.clock.now() == 1_717_430_400.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(-(10**7), 10**7)), max_size=20))
def test_the_clock_never_goes_back_and_a_refusal_changes_nothing(
    moves: list[tuple[bool, int]],
) -> None:
    """Any sequence of sets and advances: the time shown never decreases, an accepted move
    shows what it asked for, a refused one (back in time) leaves the clock where it was."""
    scenario = Scenario(ManualClock(TEST_NOW), None)
    for is_set, value in moves:
        before = scenario.now_ms()
        target = before + value if is_set else value
        try:
            shown = scenario.set_time(target) if is_set else scenario.advance(value)
        except ClockBackwards:
            assert scenario.now_ms() == before
            assert value < 0
            continue
        assert shown == scenario.now_ms() == (target if is_set else before + value) >= before


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trading", "serve", *args],
        cwd=REPO,
        env=server_env(tmp_path / "data", free_port(), **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_a_manual_clock_with_several_workers(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--workers", "2", TRADING_CLOCK="manual",
                  TRADING_REDIS_URL="redis://127.0.0.1:1")  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "TRADING_CLOCK=manual runs in one process only" in done.stderr
    assert "TRADING_WORKERS=2" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was loaded


def test_serve_refuses_a_manual_clock_in_shared_mode(tmp_path: Path) -> None:
    done = _serve(tmp_path, TRADING_CLOCK="manual", TRADING_DATABASE_URL="postgresql://u@h/db")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "TRADING_CLOCK=manual runs in one process only" in done.stderr
    assert "TRADING_DATABASE_URL" in done.stderr


# -- the default server is unchanged ----------------------------------------------------------


async def test_the_default_server_has_no_scenario_and_answers_409(make_client: MakeClient) -> None:
    client = await make_client(clock_mode="system")
    app = client.app
    assert SCENARIO not in app
    assert type(app[MARKET]) is SyntheticMarket
    assert app[BROKER].fill_loop
    for method, path, body in [
        ("GET", "/clock", None),
        ("POST", "/clock", {"advanceMs": 1000}),
        ("POST", "/prices", {"symbol": "AAPL", "price": 250}),
        ("POST", "/evaluate", None),
    ]:
        resp = await client.request(method, D + path, json=body, headers=JSON)
        assert resp.status == 409, (path, await resp.text())
        assert "TRADING_CLOCK=manual" in (await resp.json())["detail"]
    ready = await (await client.get("/api/v1/ready")).json()
    assert ready["checks"]["fills"]["detail"] == "evaluating"


async def test_the_default_fill_loop_still_fills_by_itself(make_client: MakeClient) -> None:
    """Only TRADING_CLOCK=manual stops the loop: a ManualClock passed in code (the broker
    tests' way) keeps it, and it fills a marketable limit order without being asked."""
    client = await make_client(clock_mode="system", market_factory=lambda c: ScriptedMarket(
        c, {"AAPL": 250.0}))  # fmt: skip
    order_id = await place(client, {"symbol": "AAPL", "type": OrderType.STOP, "side": Side.BUY,
                                    "qty": 1, "stopPrice": 251})  # fmt: skip
    market = client.app[MARKET]
    assert isinstance(market, ScriptedMarket)
    market.set_price("AAPL", 252.0)
    clock = client.app[BROKER].clock
    assert isinstance(clock, ManualClock)
    clock.advance(1)
    async with asyncio.timeout(5):
        while True:
            [order] = [o for o in await get(client, "/orders") if o["id"] == order_id]
            if order["status"] == OrderStatus.FILLED:
                break
            await asyncio.sleep(0.02)


# -- the clock -----------------------------------------------------------------------------


async def test_readiness_waits_for_no_fill_loop(make_client: MakeClient) -> None:
    """No loop runs, so none can stall: ready however long the clock stands still."""
    client = await make_client(ready_stall_s=0.05)
    await asyncio.sleep(0.3)  # six stall limits without an evaluation
    resp = await client.get("/api/v1/ready")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["checks"]["fills"] == {"ok": True, "detail": "on request (TRADING_CLOCK=manual)"}
    assert body["timestamp"] == "2025-10-24T12:34:56.250Z"  # the manual clock's time


async def test_advance_set_and_read_the_clock(trading_client: Client) -> None:
    assert await post(trading_client, "/clock", {"advanceMs": 1500}) == (
        200, {"time": NOW_MS + 1500, "iso": "2025-10-24T12:34:57.750Z"},
    )  # fmt: skip
    assert trading_client.app[MARKET].now() == (NOW_MS + 1500) / 1000
    status, body = await post(trading_client, "/clock", {"time": NOW_MS + 60_000})
    assert (status, body["time"]) == (200, NOW_MS + 60_000)
    assert (await post(trading_client, "/clock", {"advanceMs": 0}))[1]["time"] == NOW_MS + 60_000
    resp = await trading_client.get(f"{D}/clock")
    assert (resp.status, (await resp.json())["time"]) == (200, NOW_MS + 60_000)
    assert (await (await trading_client.get("/api/v1/udf/time")).text()) == str(
        (NOW_MS + 60_000) // 1000
    )  # the whole API reads the same clock


async def test_the_clock_never_moves_back(trading_client: Client) -> None:
    await post(trading_client, "/clock", {"advanceMs": 5000})
    status, body = await post(trading_client, "/clock", {"time": NOW_MS})
    assert status == 409
    assert body["detail"] == (
        f"the manual clock only moves forward: {NOW_MS} is before its time {NOW_MS + 5000}"
    )
    assert trading_client.app[MARKET].now() == (NOW_MS + 5000) / 1000  # unchanged


@pytest.mark.parametrize(
    ("body", "locs"),
    [
        ({}, [["body"]]),
        ({"time": NOW_MS + 1, "advanceMs": 1}, [["body"]]),
        ({"advanceMs": -1}, [["body", "advanceMs"]]),
        ({"advanceMs": 1.5}, [["body", "advanceMs"]]),
        ({"advanceMs": 366 * 86_400_000 + 1}, [["body", "advanceMs"]]),
        ({"time": "soon"}, [["body", "time"]]),
        ({"time": LATEST_MS + 1}, [["body", "time"]]),
        ({"time": True}, [["body", "time"]]),
        ([1], [["body"]]),
    ],
)
async def test_bad_clock_bodies_are_422_listing_the_fields(
    trading_client: Client, body: Any, locs: list[list[str]]
) -> None:
    status, answer = await post(trading_client, "/clock", body)
    assert status == 422, answer
    assert [item["loc"] for item in answer["detail"]] == locs
    assert trading_client.app[MARKET].now() == TEST_NOW


async def test_malformed_json_is_422(trading_client: Client) -> None:
    resp = await trading_client.post(f"{D}/clock", data=b"{nope", headers=JSON)
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["type"] == "json_invalid"


# -- prices ----------------------------------------------------------------------------------


async def test_pin_script_and_clear_a_price(trading_client: Client) -> None:
    synthetic = await quote_lp(trading_client)
    status, body = await post(trading_client, "/prices", {"symbol": "aapl", "price": 250})
    assert (status, body) == (200, {
        "symbol": "AAPL", "time": NOW_MS, "lp": 250.0, "bid": 249.9, "ask": 250.1,
        "steps": [{"time": None, "price": 250.0}],
    })  # fmt: skip
    assert await quote_lp(trading_client) == 250.0
    # a path: synthetic until its first step, then each step until the next
    s0 = math.floor(TEST_NOW) * 1000
    # the second step falls inside a second: it holds from the next whole one
    path = [{"time": s0 + 2000, "price": 260.5}, {"time": NOW_MS + 4500, "price": 255}]
    status, body = await post(trading_client, "/prices", {"symbol": "NASDAQ:AAPL", "path": path})
    assert status == 200, body
    assert body["steps"] == [{"time": s0 + 2000, "price": 260.5},
                             {"time": s0 + 5000, "price": 255.0}]  # fmt: skip
    assert body["lp"] == synthetic
    expected = {1: None, 2: 260.5, 4: 260.5, 5: 255.0, 3600: 255.0}
    moved_to = 0
    for seconds, lp in expected.items():
        await post(trading_client, "/clock", {"advanceMs": (seconds - moved_to) * 1000})
        moved_to = seconds
        if lp is not None:
            assert await quote_lp(trading_client) == lp, seconds
    status, body = await post(trading_client, "/prices", {"symbol": "AAPL", "clear": True})
    assert (status, body["steps"]) == (200, [])
    reference = SyntheticMarket(trading_client.app[SETTINGS].market_config())
    spec = reference.catalog.lookup("AAPL")
    assert spec is not None
    assert body["lp"] == reference.quote(spec).lp


async def test_prices_of_an_unknown_symbol_are_422_naming_it(trading_client: Client) -> None:
    status, body = await post(trading_client, "/prices", {"symbol": "NOPE", "price": 1})
    assert status == 422
    assert body["detail"] == [{"type": "value_error", "loc": ["body", "symbol"],
                               "msg": "Symbol NOPE not found", "input": "NOPE"}]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"price": 250}, ["body", "symbol"]),
        ({"symbol": "AAPL"}, ["body"]),
        ({"symbol": "AAPL", "price": 250, "clear": True}, ["body"]),
        ({"symbol": "AAPL", "price": 0}, ["body", "price"]),
        ({"symbol": "AAPL", "price": -3}, ["body", "price"]),
        ({"symbol": "AAPL", "price": 2e9}, ["body", "price"]),
        ({"symbol": "AAPL", "price": "NaN"}, ["body", "price"]),
        ({"symbol": "AAPL", "price": 0.001}, ["body", "price"]),  # below one tick (0.01)
        ({"symbol": "AAPL", "clear": False}, ["body", "clear"]),
        ({"symbol": "AAPL", "path": []}, ["body", "path"]),
        ({"symbol": "AAPL", "path": [{"time": NOW_MS}]}, ["body", "path", 0, "price"]),
        ({"symbol": "AAPL", "path": [{"time": NOW_MS + 2000, "price": 1},
                                     {"time": NOW_MS + 1000, "price": 2}]}, ["body", "path"]),
        ({"symbol": "AAPL", "path": [{"time": NOW_MS + 800, "price": 1},  # the same second
                                     {"time": NOW_MS + 1700, "price": 2}]}, ["body", "path"]),
        ({"symbol": "AAPL", "path": [{"time": t, "price": 1} for t in range(4)]}, ["body", "path"]),
    ],
)  # fmt: skip
async def test_bad_price_bodies_are_422_and_change_nothing(
    make_client: MakeClient, body: Any, loc: list[Any]
) -> None:
    trading_client = await make_client(scenario_max_steps=3)
    await post(trading_client, "/prices", {"symbol": "AAPL", "price": 250})
    status, answer = await post(trading_client, "/prices", body)
    assert status == 422, answer
    assert loc in [item["loc"] for item in answer["detail"]], answer
    assert await quote_lp(trading_client) == 250.0


async def test_the_step_limit_is_named(make_client: MakeClient) -> None:
    trading_client = await make_client(scenario_max_steps=3)
    path = [{"time": NOW_MS + 1000 * i, "price": 100 + i} for i in range(4)]
    status, body = await post(trading_client, "/prices", {"symbol": "AAPL", "path": path})
    assert status == 422
    assert "TRADING_SCENARIO_MAX_STEPS" in body["detail"][0]["msg"]
    path.pop()
    assert (await post(trading_client, "/prices", {"symbol": "AAPL", "path": path}))[0] == 200


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(1, 100_000)), min_size=1, max_size=6,
        unique_by=lambda step: step[0],
    ),
    st.integers(0, 40),
)  # fmt: skip
def test_a_path_holds_each_step_until_the_next(steps: list[tuple[int, int]], at: int) -> None:
    """For every path and every second: the price is the last step at or before it, and
    the synthetic series before the first (the market itself, no server)."""
    clock = ManualClock(TEST_NOW)
    config = Settings(clock=clock).market_config()
    market, synthetic = ScriptedMarket(config), SyntheticMarket(config)
    spec = market.catalog.lookup("MSFT")
    assert spec is not None
    steps.sort()
    start = math.ceil(TEST_NOW)
    market.set_path("MSFT", [(start + s, cents / 100) for s, cents in steps])
    earlier = [cents for s, cents in steps if s <= at]
    got = market.touch(spec, start + at).lp
    assert got == (earlier[-1] if earlier else synthetic.touch(spec, start + at).lp)


# -- evaluation and the end-to-end scenario over REST -------------------------------------------


async def test_price_goes_to_256_then_the_stop_fills(trading_client: Client) -> None:
    c = trading_client
    await post(c, "/prices", {"symbol": "AAPL", "price": 250})
    order_id = await place(c, stop_buy(255))
    await post(c, "/clock", {"advanceMs": 1000})
    assert await post(c, "/evaluate") == (200, {"time": NOW_MS + 1000, "accounts": []})
    await post(c, "/prices", {"symbol": "AAPL", "price": 256})
    await post(c, "/clock", {"advanceMs": 1000})
    # no fill loop with a manual clock: nothing fills until asked (wall time passes here)
    await asyncio.sleep(0.2)
    [order] = await get(c, "/orders")
    assert order["status"] == OrderStatus.WORKING
    status, body = await post(c, "/evaluate")
    assert status == 200
    [account] = body["accounts"]
    assert account["accountId"] == "DEMO-ACCOUNT"
    [filled] = account["orders"]
    assert (filled["id"], filled["status"], filled["avgPrice"]) == (order_id, OrderStatus.FILLED,
                                                                   256.1)  # fmt: skip
    assert filled["updateTime"] == NOW_MS + 2000
    [execution] = account["executions"]
    assert (execution["price"], execution["qty"], execution["orderId"]) == (256.1, 10.0, order_id)
    assert account["positions"] == [{"id": "AAPL", "symbol": "AAPL", "qty": 10.0, "side": 1,
                                     "avgPrice": 256.1}]  # fmt: skip
    assert await get(c, "/positions") == account["positions"]
    assert (await post(c, "/evaluate"))[1]["accounts"] == []  # each second once


async def test_a_scripted_path_fills_at_the_second_it_reaches(trading_client: Client) -> None:
    """One evaluation covers every second since the previous one: the path reaches the stop
    at +3 s and falls back at +5 s, the clock jumps to +10 s, the fill is at +3 s's price."""
    c = trading_client
    await post(c, "/prices", {"symbol": "AAPL", "path": [
        {"time": math.floor(TEST_NOW) * 1000, "price": 250}, {"time": NOW_MS + 3000, "price": 257},
        {"time": NOW_MS + 5000, "price": 249},
    ]})  # fmt: skip
    await place(c, stop_buy(255, qty=1))
    await post(c, "/clock", {"advanceMs": 10_000})
    status, body = await post(c, "/evaluate")
    assert status == 200
    [execution] = body["accounts"][0]["executions"]
    assert execution["price"] == 257.1
    assert execution["time"] == math.ceil(TEST_NOW + 3) * 1000


# -- the streams follow the clock ---------------------------------------------------------------


async def test_bars_and_quotes_are_pushed_when_the_clock_moves(trading_client: Client) -> None:
    c = trading_client
    await post(c, "/prices", {"symbol": "AAPL", "price": 250})
    async with c.ws_connect("/api/v1/ws") as ws:
        bars = await subscribe(ws, "bars", {"symbol": "MSFT", "resolution": "1"})
        first = await next_update(ws, "bars", topic=bars)
        assert first["time"] == (math.floor(TEST_NOW) // 60) * 60_000
        quotes = await subscribe(ws, "quotes", {"symbols": ["AAPL"], "fast_symbols": ["AAPL"]})
        assert (await next_update(ws, "quotes", topic=quotes))["v"]["lp"] == 250.0
        # the answer to the clock comes after the new minute's bars were queued
        await post(c, "/clock", {"advanceMs": 60_000})
        final = await next_update(ws, "bars", topic=bars, timeout=0.5)
        assert final["time"] == first["time"]
        forming = await next_update(ws, "bars", topic=bars, timeout=0.5)
        assert forming["time"] == first["time"] + 60_000
        await post(c, "/prices", {"symbol": "AAPL", "price": 251.5})
        await next_update(ws, "quotes", lambda q: q["v"]["lp"] == 251.5, topic=quotes,
                          timeout=0.5)  # fmt: skip


async def test_slow_quotes_are_spaced_in_scenario_time(trading_client: Client) -> None:
    """A non-fast symbol is pushed at most every TRADING_QUOTES_SLOW_INTERVAL_S (10) of the
    manual clock: a 10 s advance pushes it at once, wall time alone never does."""
    c = trading_client
    async with c.ws_connect("/api/v1/ws") as ws:
        topic = await subscribe(ws, "quotes", {"symbols": ["MSFT"]})
        await next_update(ws, "quotes", topic=topic)  # the snapshot
        await post(c, "/clock", {"advanceMs": 1000})
        with pytest.raises(TimeoutError):
            await next_update(ws, "quotes", topic=topic, timeout=0.3)
        await post(c, "/clock", {"advanceMs": 9000})
        await next_update(ws, "quotes", topic=topic, timeout=0.5)


async def test_the_fill_of_an_evaluation_is_pushed(trading_client: Client) -> None:
    c = trading_client
    await post(c, "/prices", {"symbol": "AAPL", "price": 250})
    order_id = await place(c, stop_buy(255))
    async with c.ws_connect("/api/v1/ws") as ws:
        account = {"accountId": "DEMO-ACCOUNT"}
        orders = await subscribe(ws, "orders", account)
        positions = await subscribe(ws, "positions", account)
        executions = await subscribe(ws, "executions", account)
        await next_update(ws, "orders", topic=orders)  # the working order's snapshot
        await post(c, "/prices", {"symbol": "AAPL", "price": 256})
        await post(c, "/clock", {"advanceMs": 1000})
        status, _ = await post(c, "/evaluate")
        assert status == 200
        order = await next_update(ws, "orders", topic=orders, timeout=0.5)
        assert (order["id"], order["status"]) == (order_id, OrderStatus.FILLED)
        position = await next_update(ws, "positions", topic=positions, timeout=0.5)
        assert (position["qty"], position["avgPrice"]) == (10.0, 256.1)
        fill = await next_update(ws, "executions", topic=executions, timeout=0.5)
        assert fill["orderId"] == order_id


# -- who may call them ----------------------------------------------------------------------------

ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/clock", None),
    ("POST", "/clock", {"advanceMs": 1000}),
    ("POST", "/prices", {"symbol": "AAPL", "price": 250}),
    ("POST", "/evaluate", None),
]


@pytest.mark.parametrize(
    "proxy",
    [
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
        {"X-Real-IP": "1.2.3.4"},
    ],
)
async def test_through_a_proxy_the_routes_do_not_exist(
    make_client: MakeClient, proxy: dict[str, str]
) -> None:
    client = await make_client()
    for method, path, body in ROUTES:
        resp = await client.request(method, D + path, json=body, headers={**JSON, **proxy})
        assert resp.status == 404, path
    assert client.app[MARKET].now() == TEST_NOW
    forced = await make_client(debug_routes="on")
    resp = await forced.post(f"{D}/clock", json={"advanceMs": 1}, headers={**JSON, **proxy})
    assert resp.status == 200


async def test_off_means_off_even_from_loopback(make_client: MakeClient) -> None:
    client = await make_client(debug_routes="off")
    for method, path, body in ROUTES:
        resp = await client.request(method, D + path, json=body, headers=JSON)
        assert resp.status == 404, path


async def test_writes_need_json_like_every_write(trading_client: Client) -> None:
    resp = await trading_client.post(
        f"{D}/clock", data='{"advanceMs": 1}', headers={"Content-Type": "text/plain"}
    )
    assert resp.status == 415
    resp = await trading_client.post(
        f"{D}/clock", json={"advanceMs": 1}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status == 403
    assert trading_client.app[MARKET].now() == TEST_NOW


async def test_keys_mode_needs_the_admin_key(make_client: MakeClient) -> None:
    without = await make_client(auth="keys")
    resp = await without.post(f"{D}/clock", json={"advanceMs": 1}, headers=JSON)
    assert resp.status == 404  # no admin API configured: as if absent
    client = await make_client(auth="keys", admin_key=ADMIN)
    for headers in ({}, {"Authorization": f"Bearer {ADMIN}x"}, {"Authorization": "Basic x"}):
        for method, path, body in ROUTES:
            resp = await client.request(method, D + path, json=body, headers={**JSON, **headers})
            assert resp.status == 401, (path, headers)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.app[MARKET].now() == TEST_NOW
    status, body = await post(
        client, "/clock", {"advanceMs": 1000}, Authorization=f"Bearer {ADMIN}"
    )
    assert (status, body["time"]) == (200, NOW_MS + 1000)
    status, _ = await post(client, "/evaluate", None, Authorization=f"Bearer {ADMIN}")
    assert status == 200


# -- a real server, configured by its environment -------------------------------------------------


def _http(url: str, body: Any = None, method: str = "POST") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=JSON)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def manual_server(tmp_path: Path) -> Any:
    server = Server(tmp_path / "data", tmp_path / "server.log", TRADING_CLOCK="manual",
                    TRADING_CLOCK_START="2024-06-03T16:00:00Z", TRADING_HOST="0.0.0.0")  # fmt: skip
    server.start()
    yield server
    assert server.stop() == 0


async def test_the_scenario_against_a_real_server(manual_server: Server) -> None:
    """The curl example of docs/scenarios.md §8, over a socket, with the push of the fill."""
    api = f"{manual_server.origin}/api/v1"
    start = 1_717_430_400_000
    assert _http(f"{api}/debug/prices", {"symbol": "AAPL", "price": 250})[1]["lp"] == 250.0
    status, placed = _http(f"{api}/broker/orders", stop_buy(255))
    assert status == 200, placed
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{api}/ws") as ws:
        orders = await subscribe(ws, "orders", {"accountId": "DEMO-ACCOUNT"})
        await next_update(ws, "orders", topic=orders)
        assert _http(f"{api}/debug/clock", {"advanceMs": 1000}) == (
            200, {"time": start + 1000, "iso": "2024-06-03T16:00:01.000Z"},
        )  # fmt: skip
        assert _http(f"{api}/debug/evaluate") == (200, {"time": start + 1000, "accounts": []})
        _http(f"{api}/debug/prices", {"symbol": "AAPL", "price": 256})
        _http(f"{api}/debug/clock", {"advanceMs": 1000})
        status, body = _http(f"{api}/debug/evaluate")
        assert status == 200
        assert body["accounts"][0]["orders"][0]["status"] == OrderStatus.FILLED
        pushed = await next_update(ws, "orders", topic=orders, timeout=2)
        assert (pushed["id"], pushed["status"]) == (placed["orderId"], OrderStatus.FILLED)
    assert _http(f"{api}/debug/clock", {"time": start}, "POST")[0] == 409


def _non_loopback_address() -> str | None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # no packet is sent: picks the outgoing address
        except OSError:
            return None
        address: str = sock.getsockname()[0]
    return None if address.startswith("127.") else address


def test_a_remote_peer_finds_no_debug_routes(manual_server: Server) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to call from")
    remote = f"http://{address}:{manual_server.port}/api/v1"
    assert _http(f"{remote}/debug/clock", {"advanceMs": 1000})[0] == 404
    assert _http(f"{remote}/debug/evaluate")[0] == 404
    assert _http(f"{remote}/health", method="GET")[0] == 200  # the server does answer it
    local = f"{manual_server.origin}/api/v1/debug/clock"
    assert _http(local, method="GET")[1]["time"] == 1_717_430_400_000  # unmoved
