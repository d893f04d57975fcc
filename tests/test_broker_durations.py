"""Black-box tests of order durations, order messages and the broker configuration route
(broker.md §18, rest.md §12).

Scripted prices, spread 8 bps (around 250.00: bid = lp − 0.10, ask = lp + 0.10), commission
0.001, leverage 10, balance 100000. TEST_NOW is Friday 2025-10-24 12:34:56.25 UTC, 08:34:56 in
New York (EDT, UTC−4): that New York day ends at 2025-10-25 04:00:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient

from tests.brokerkit import (
    B,
    Client,
    MakeClient,
    SoloLoop,
    broker_settings,
    call,
    get,
    limit_order,
    market,
    market_order,
    order,
    place,
    step,
    stop_order,
)
from tests.wsclient import drain, request, updates
from trading.api.broker_config import config_flags
from trading.app import create_app
from trading.broker import migrations, sqlite_file
from trading.broker.durations import DURATIONS
from trading.broker.engine import Engine
from trading.broker.enums import DurationType, MessageType, OrderStatus, OrderType, Side
from trading.broker.requests import Duration, OrderRequest
from trading.broker.service import DB_FILE
from trading.clock import ManualClock
from trading.keys import BROKER
from trading.market.source import Touch
from trading.market.symbols import SymbolCatalog, SymbolSpec
from trading.settings import Settings
from trading.testing import TEST_NOW

NOW_MS = int(TEST_NOW * 1000)
S0 = math.floor(TEST_NOW)
END_OF_DAY = int(dt.datetime(2025, 10, 25, 4, tzinfo=dt.UTC).timestamp())
"""Midnight New York (EDT) after TEST_NOW, in UTC seconds."""


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock)


def resting(**extra: Any) -> dict[str, Any]:
    """A limit buy far under the market (250.00): it works until something ends it."""
    return limit_order(Side.BUY, 1, 200.0, **extra)


async def evaluate_at(c: Client, clock: ManualClock, t: float) -> None:
    clock.set(t)
    await c.app[BROKER].evaluate()


def status(o: dict[str, Any]) -> OrderStatus:
    return OrderStatus(o["status"])


# -- placing each duration -------------------------------------------------------------------


async def test_an_order_without_a_duration_has_no_duration_or_message_fields(
    trading_client: Client,
) -> None:
    oid = await place(trading_client, resting())
    assert await order(trading_client, oid) == {
        "id": oid, "symbol": "AAPL", "type": OrderType.LIMIT, "side": Side.BUY, "qty": 1.0,
        "status": OrderStatus.WORKING, "limitPrice": 200.0, "stopPrice": None,
        "takeProfit": None, "stopLoss": None, "guaranteedStop": None, "trailingStopPips": None,
        "stopType": None, "filledQty": 0.0, "avgPrice": None, "updateTime": NOW_MS,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("given", "echoed"),
    [
        ({"type": "gtc"}, {"type": "gtc"}),
        ({"type": "day"}, {"type": "day"}),
        (
            {"type": "gtd", "datetime": NOW_MS + 60_000},
            {"type": "gtd", "datetime": NOW_MS + 60_000},
        ),
        ({"type": "day", "datetime": NOW_MS + 60_000}, {"type": "day"}),  # only gtd has one
    ],
)
async def test_resting_durations_are_echoed_on_the_working_order(
    trading_client: Client, given: dict[str, Any], echoed: dict[str, Any]
) -> None:
    oid = await place(trading_client, resting(duration=given))
    placed = await order(trading_client, oid)
    assert status(placed) == OrderStatus.WORKING
    assert placed["duration"] == echoed
    assert "message" not in placed


@pytest.mark.parametrize(
    ("duration", "loc", "text"),
    [
        ({"type": "week"}, ["body", "duration", "type"], "Input should be"),
        ({}, ["body", "duration", "type"], "Field required"),
        ({"type": "gtd"}, ["body", "duration", "datetime"], "required for gtd"),
        ({"type": "gtd", "datetime": NOW_MS - 1}, ["body", "duration", "datetime"], "future"),
        ({"type": "gtd", "datetime": NOW_MS}, ["body", "duration", "datetime"], "future"),
        ({"type": "gtd", "datetime": -5}, ["body", "duration", "datetime"], "greater than 0"),
        ({"type": "gtd", "datetime": "soon"}, ["body", "duration", "datetime"], "integer"),
    ],
)
async def test_bad_durations_are_422_naming_the_field_and_place_nothing(
    trading_client: Client, duration: dict[str, Any], loc: list[str], text: str
) -> None:
    c = trading_client
    code, body = await call(c, "POST", "/orders", resting(duration=duration))
    assert code == 422, body
    assert [e["loc"] for e in body["detail"]] == [loc]
    assert text in body["detail"][0]["msg"]
    assert await get(c, "/orders") == []
    # the same rule on a modify, which then changes nothing
    oid = await place(c, resting())
    before = await order(c, oid)
    code, body = await call(c, "PUT", f"/orders/{oid}", resting(duration=duration))
    assert code == 422
    assert [e["loc"] for e in body["detail"]] == [loc]
    assert await order(c, oid) == before


async def test_a_bad_duration_is_reported_with_the_other_bad_fields(trading_client: Client) -> None:
    body = {**resting(duration={"type": "gtd"}), "type": OrderType.LIMIT, "limitPrice": None}
    code, reply = await call(trading_client, "POST", "/orders", body)
    assert code == 422
    assert sorted(e["loc"][-1] for e in reply["detail"]) == ["datetime", "limitPrice"]


# -- day -------------------------------------------------------------------------------------


async def test_a_day_order_expires_at_the_end_of_the_new_york_day(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    oid = await place(c, resting(duration={"type": "day"}))
    await evaluate_at(c, trading_clock, END_OF_DAY - 0.001)  # 23:59:59.999 New York
    assert status(await order(c, oid)) == OrderStatus.WORKING
    await evaluate_at(c, trading_clock, END_OF_DAY)  # 00:00:00 New York: the next day
    expired = await order(c, oid)
    assert status(expired) == OrderStatus.CANCELED
    assert expired["duration"] == {"type": "day"}
    assert expired["message"] == {
        "type": MessageType.INFORMATION,
        "text": "Expired: DAY order, the New York trading day 2025-10-24 ended",
    }
    assert expired["updateTime"] == END_OF_DAY * 1000
    assert await get(c, "/executions/AAPL") == []


@pytest.mark.parametrize(
    ("placed_utc", "expires_utc"),
    [
        # 2025-11-02: New York falls back from EDT to EST at 06:00 UTC (a 25-hour day)
        ("2025-11-02T12:00:00", "2025-11-03T05:00:00"),  # 07:00 EST: ends at midnight EST
        ("2025-11-02T03:00:00", "2025-11-02T04:00:00"),  # 23:00 EDT on Nov 1
        # 2026-03-08: springs forward at 07:00 UTC (a 23-hour day)
        ("2026-03-08T12:00:00", "2026-03-09T04:00:00"),
    ],
)
async def test_day_orders_across_daylight_saving_changes(
    trading_client: Client, trading_clock: ManualClock, placed_utc: str, expires_utc: str
) -> None:
    c = trading_client
    trading_clock.set(dt.datetime.fromisoformat(placed_utc + "+00:00").timestamp())
    expires = dt.datetime.fromisoformat(expires_utc + "+00:00").timestamp()
    oid = await place(c, resting(duration={"type": "day"}))
    await evaluate_at(c, trading_clock, expires - 1)
    assert status(await order(c, oid)) == OrderStatus.WORKING
    await evaluate_at(c, trading_clock, expires)
    assert status(await order(c, oid)) == OrderStatus.CANCELED


async def test_a_day_order_fills_in_its_last_second_not_after(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    near = await place(c, limit_order(Side.BUY, 1, 249.0, duration={"type": "day"}))
    far = await place(c, resting(duration={"type": "day"}))
    await evaluate_at(c, trading_clock, END_OF_DAY - 1.5)  # up to 23:59:58, nothing fills
    market(c).set_price("AAPL", 248.0)  # ask 248.10: fills the 249.00 limit only
    await evaluate_at(c, trading_clock, END_OF_DAY - 0.5)  # 23:59:59
    assert status(await order(c, near)) == OrderStatus.FILLED
    (execution,) = await get(c, "/executions/AAPL")
    assert execution["time"] == (END_OF_DAY - 1) * 1000
    market(c).set_price("AAPL", 199.0)  # ask 199.08 would fill the 200.00 limit
    await evaluate_at(c, trading_clock, END_OF_DAY)  # 00:00:00: the day is over
    assert status(await order(c, far)) == OrderStatus.CANCELED
    assert len(await get(c, "/executions/AAPL")) == 1


# -- gtd -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset_ms", "fills"), [(10_000, False), (10_001, True)])
async def test_gtd_expires_at_its_exact_instant(
    trading_client: Client, trading_clock: ManualClock, offset_ms: int, fills: bool
) -> None:
    """Good till S0+10 s: the second S0+10 starts at the expiry, so the order cannot fill there
    (it is canceled); good till one millisecond later it still fills in that second."""
    c = trading_client
    trading_clock.set(S0)
    until = S0 * 1000 + offset_ms
    oid = await place(c, resting(duration={"type": "gtd", "datetime": until}))
    await evaluate_at(c, trading_clock, S0 + 9.999)
    assert status(await order(c, oid)) == OrderStatus.WORKING
    market(c).set_price("AAPL", 199.0)  # ask 199.08 <= 200.00
    await evaluate_at(c, trading_clock, S0 + 10)
    placed = await order(c, oid)
    if fills:
        assert status(placed) == OrderStatus.FILLED
        assert "message" not in placed
    else:
        assert status(placed) == OrderStatus.CANCELED
        iso = dt.datetime.fromtimestamp(until / 1000, dt.UTC).isoformat(timespec="milliseconds")
        assert placed["message"] == {
            "type": MessageType.INFORMATION, "text": f"Expired: GTD order, good till {iso}"
        }  # fmt: skip
        assert await get(c, "/executions/AAPL") == []


async def test_a_stalled_loop_replays_up_to_the_expiry_and_no_further(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    """The loop misses 30 seconds; the price (scripted for every second) crosses the limit
    only after the expiry: the replay cancels the order instead of filling it late."""
    c = trading_client
    trading_clock.set(S0)
    oid = await place(c, resting(duration={"type": "gtd", "datetime": (S0 + 5) * 1000}))
    await evaluate_at(c, trading_clock, S0 + 0.5)  # the loop has seen S0
    market(c).set_price("AAPL", 199.0)  # every second from now on, past ones included
    trading_clock.set(S0 + 30)
    # replayed S0+1..S0+4 would fill: they precede the expiry, the price is scripted for them
    await c.app[BROKER].evaluate()
    assert status(await order(c, oid)) == OrderStatus.FILLED
    (execution,) = await get(c, "/executions/AAPL")
    assert execution["time"] == (S0 + 1) * 1000


async def test_a_late_replay_after_the_expiry_cancels(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    trading_clock.set(S0)
    oid = await place(c, resting(duration={"type": "gtd", "datetime": (S0 + 5) * 1000}))
    await evaluate_at(c, trading_clock, S0 + 4.5)  # S0+1..S0+4 evaluated, nothing filled
    market(c).set_price("AAPL", 199.0)
    await evaluate_at(c, trading_clock, S0 + 40)  # replays S0+5.. : all at or after expiry
    assert status(await order(c, oid)) == OrderStatus.CANCELED
    assert await get(c, "/executions/AAPL") == []


async def test_expiry_is_pushed_on_the_orders_route(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    async with c.ws_connect("/api/v1/ws") as ws:
        reply, _ = await request(ws, "orders.subscribe", {"accountId": "A"})
        assert reply["payload"]["status"] == "ok"
        oid = await place(c, resting(duration={"type": "gtd", "datetime": NOW_MS + 2000}))
        (working,) = await updates(ws, 1)
        assert working["payload"]["payload"]["duration"]["type"] == DurationType.GTD
        await evaluate_at(c, trading_clock, TEST_NOW + 3)
        (canceled,) = await updates(ws, 1)
        pushed = canceled["payload"]["payload"]
        assert (pushed["id"], pushed["status"]) == (oid, OrderStatus.CANCELED)
        assert pushed["message"]["type"] == MessageType.INFORMATION
        assert pushed == await order(c, oid)
        assert await drain(ws) == []


# -- ioc / fok -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ioc", "fok"])
@pytest.mark.parametrize(
    "body",
    [
        market_order(Side.BUY, 3),
        limit_order(Side.BUY, 3, 251.0),  # ask 250.10 <= 251.00: marketable
        stop_order(Side.BUY, 3, 250.0),  # ask 250.10 >= 250.00: triggers at once
    ],
)
async def test_marketable_immediate_orders_fill_at_placement(
    trading_client: Client, kind: str, body: dict[str, Any]
) -> None:
    c = trading_client
    oid = await place(c, {**body, "duration": {"type": kind}})
    placed = await order(c, oid)
    assert status(placed) == OrderStatus.FILLED
    assert placed["avgPrice"] == 250.1
    assert placed["duration"] == {"type": kind}
    assert "message" not in placed
    assert [p["qty"] for p in await get(c, "/positions")] == [3.0]


@pytest.mark.parametrize("kind", ["ioc", "fok"])
@pytest.mark.parametrize(
    "body",
    [
        limit_order(Side.BUY, 3, 249.0),  # under the ask
        limit_order(Side.SELL, 3, 251.0),  # over the bid
        stop_order(Side.BUY, 3, 260.0),  # not triggered
    ],
)
async def test_immediate_orders_that_cannot_fill_are_canceled_at_once(
    trading_client: Client, trading_clock: ManualClock, kind: str, body: dict[str, Any]
) -> None:
    c = trading_client
    oid = await place(c, {**body, "duration": {"type": kind}})
    placed = await order(c, oid)
    assert status(placed) == OrderStatus.CANCELED
    what = "could not fill" if kind == "ioc" else "could not fill in full"
    assert placed["message"] == {
        "type": MessageType.WARNING,
        "text": f"Canceled: {kind.upper()} order {what} at placement",
    }
    assert placed["updateTime"] == NOW_MS
    # never left working: a later price that would fill it changes nothing
    await step(c, trading_clock, 200.0 if body["side"] == Side.BUY else 300.0)
    await step(c, trading_clock, 270.0)
    assert await order(c, oid) == placed
    assert await get(c, "/positions") == []


# -- modify ----------------------------------------------------------------------------------


async def test_a_modify_keeps_the_duration_unless_it_gives_one(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    oid = await place(c, resting(duration={"type": "day"}))
    assert (await call(c, "PUT", f"/orders/{oid}", limit_order(Side.BUY, 1, 201.0)))[0] == 200
    assert (await order(c, oid))["duration"] == {"type": "day"}
    # still expires at the end of the day it was placed on
    await evaluate_at(c, trading_clock, END_OF_DAY)
    assert status(await order(c, oid)) == OrderStatus.CANCELED

    other = await place(c, resting(duration={"type": "day"}))
    gtc = limit_order(Side.BUY, 1, 202.0, duration={"type": "gtc"})
    assert (await call(c, "PUT", f"/orders/{other}", gtc))[0] == 200
    await evaluate_at(c, trading_clock, END_OF_DAY + 2 * 86_400)
    assert (await order(c, other))["duration"] == {"type": "gtc"}
    assert status(await order(c, other)) == OrderStatus.WORKING


async def test_a_modify_to_ioc_fills_or_cancels_now(trading_client: Client) -> None:
    c = trading_client
    oid = await place(c, resting())
    ioc = limit_order(Side.BUY, 1, 210.0, duration={"type": "ioc"})
    assert (await call(c, "PUT", f"/orders/{oid}", ioc))[0] == 200
    placed = await order(c, oid)
    assert status(placed) == OrderStatus.CANCELED
    assert placed["message"]["text"] == "Canceled: IOC order could not fill at modification"


async def test_an_expired_order_the_loop_has_not_seen_cannot_be_modified(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client(tick_interval_s=60)  # the loop stays out of the way
    oid = await place(c, resting(duration={"type": "gtd", "datetime": NOW_MS + 1000}))
    trading_clock.advance(2)  # no evaluation yet: the order still shows WORKING
    before = await order(c, oid)
    assert status(before) == OrderStatus.WORKING
    code, body = await call(c, "PUT", f"/orders/{oid}", limit_order(Side.BUY, 1, 260.0))
    assert code == 400
    assert body["detail"].startswith(f"Cannot modify order {oid}: it expired at ")
    assert await order(c, oid) == before
    await c.app[BROKER].evaluate()
    assert status(await order(c, oid)) == OrderStatus.CANCELED
    assert await get(c, "/executions/AAPL") == []


async def test_bracket_orders_are_good_till_canceled(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 2, takeProfit=260.0, duration={"type": "day"}))
    child = next(o for o in await get(c, "/orders") if o["limitPrice"] == 260.0)
    assert "duration" not in child
    body = {**limit_order(Side.SELL, 2, 261.0), "duration": {"type": "day"}}
    code, reply = await call(c, "PUT", f"/orders/{child['id']}", body)
    assert (code, reply["detail"]) == (
        400, f"Bracket order {child['id']} is good till canceled: its duration is fixed"
    )  # fmt: skip
    assert await order(c, child["id"]) == child


async def test_preview_shows_the_duration_and_its_errors(trading_client: Client) -> None:
    c = trading_client
    gtd = {"type": "gtd", "datetime": NOW_MS + 3_600_000}
    _, ok = await call(c, "POST", "/orders/preview", resting(duration=gtd))
    rows = {r["title"]: r["value"] for r in ok["sections"][0]["rows"]}
    assert rows["Duration"] == "GTD (2025-10-24T13:34:56.250+00:00)"
    assert ok["errors"] is None
    _, bad = await call(c, "POST", "/orders/preview", resting(duration={"type": "gtd"}))
    assert bad["errors"] == ["duration.datetime is required for gtd orders (epoch milliseconds)"]


# -- messages on fill-time rejections --------------------------------------------------------


async def test_a_fill_time_rejection_carries_an_error_message(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    """Two resting buys that each fit the buying power alone (margin 74 700 of 100 000 at
    leverage 10) but not together: when both fill in one second the second is rejected."""
    c = trading_client
    first = await place(c, limit_order(Side.BUY, 3000, 249.0))
    second = await place(c, limit_order(Side.BUY, 3000, 249.0))
    await step(c, trading_clock, 248.0)  # ask 248.10
    assert status(await order(c, first)) == OrderStatus.FILLED
    rejected = await order(c, second)
    assert status(rejected) == OrderStatus.REJECTED
    assert rejected["message"]["type"] == MessageType.ERROR
    assert rejected["message"]["text"].startswith("Rejected at fill time: ")
    assert "buying power" in rejected["message"]["text"].lower()
    assert "message" not in await order(c, first)


# -- persistence -----------------------------------------------------------------------------


async def test_durations_and_messages_survive_a_restart_and_expire_after_it(
    trading_client: Client,
    aiohttp_client: AiohttpClient,
    trading_settings: Settings,
    trading_clock: ManualClock,
) -> None:
    c = trading_client
    day = await place(c, resting(duration={"type": "day"}))
    gtd = await place(c, resting(duration={"type": "gtd", "datetime": NOW_MS + 86_400_000}))
    ioc = await place(c, resting(duration={"type": "ioc"}))
    before = await get(c, "/orders")
    await c.close()

    c2 = await aiohttp_client(create_app(trading_settings))
    assert await get(c2, "/orders") == before
    await evaluate_at(c2, trading_clock, END_OF_DAY + 10)  # the server was down at midnight
    assert status(await order(c2, day)) == OrderStatus.CANCELED
    assert (await order(c2, day))["message"]["text"].startswith("Expired: DAY order")
    assert status(await order(c2, gtd)) == OrderStatus.WORKING
    assert (await order(c2, ioc))["message"] == next(o for o in before if o["id"] == ioc)["message"]
    after = await get(c2, "/orders")
    await c2.close()
    c3 = await aiohttp_client(create_app(trading_settings))
    assert await get(c3, "/orders") == after


async def test_a_database_from_before_durations_loads_its_orders_as_gtc(
    aiohttp_client: AiohttpClient, trading_settings: Settings
) -> None:
    path = trading_settings.data_dir / DB_FILE
    path.parent.mkdir(parents=True)
    db = sqlite_file.connect(path.resolve().as_uri())
    for statement in migrations.MIGRATIONS[0].split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT INTO account VALUES (1, '100000', '0', '0', 1, 0)")
    db.execute(
        "INSERT INTO orders (id, seq, symbol, type, side, qty, status, limit_price, filled_qty, "
        "update_time) VALUES ('ORDER-1', 1, 'AAPL', 1, 1, '1', 6, '200.00', '0', ?)",
        (NOW_MS,),
    )
    db.execute("PRAGMA user_version = 1")
    db.close()
    c = await aiohttp_client(create_app(trading_settings))
    (old,) = await get(c, "/orders")
    assert "duration" not in old
    assert "message" not in old
    assert old["status"] == OrderStatus.WORKING
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(migrations.MIGRATIONS)


# -- the configuration route -----------------------------------------------------------------


async def test_the_config_route_lists_the_durations_and_order_types(
    trading_client: Client,
) -> None:
    config = await get(trading_client, "/config")
    assert config["orderTypes"] == [t.value for t in OrderType]
    assert config["durations"] == [
        {"name": "GTC", "value": "gtc", "default": True,
         "supportedOrderTypes": [1, 2, 3, 4], "hasDatePicker": False, "hasTimePicker": False},
        {"name": "DAY", "value": "day", "default": False, "supportedOrderTypes": [1, 2, 3, 4],
         "hasDatePicker": False, "hasTimePicker": False},
        {"name": "GTD", "value": "gtd", "default": False,
         "supportedOrderTypes": [1, 2, 3, 4], "hasDatePicker": True, "hasTimePicker": True},
        {"name": "IOC", "value": "ioc", "default": False,
         "supportedOrderTypes": [1, 2, 3, 4], "hasDatePicker": False, "hasTimePicker": False},
        {"name": "FOK", "value": "fok", "default": False,
         "supportedOrderTypes": [1, 2, 3, 4], "hasDatePicker": False, "hasTimePicker": False},
    ]  # fmt: skip
    assert [d["value"] for d in config["durations"]] == [d.type.value for d in DURATIONS]
    assert {d["value"] for d in config["durations"]} == {t.value for t in DurationType}


async def test_every_listed_duration_is_accepted_by_placement(trading_client: Client) -> None:
    c = trading_client
    for meta in (await get(c, "/config"))["durations"]:
        duration: dict[str, Any] = {"type": meta["value"]}
        if meta["hasDatePicker"]:
            duration["datetime"] = NOW_MS + 60_000
        for order_type in meta["supportedOrderTypes"]:
            body = {"symbol": "AAPL", "type": order_type, "side": Side.BUY, "qty": 1,
                    "limitPrice": 200.0, "stopPrice": 300.0, "duration": duration}  # fmt: skip
            assert (await call(c, "POST", "/orders", body))[0] == 200, (meta, order_type)


ROUTE_FLAGS = {
    "supportPositionBrackets": ("put", "/positions/{position_id}/brackets"),
    "supportClosePosition": ("delete", "/positions/{position_id}"),
    "supportExecutions": ("get", "/executions/{symbol}"),
    "supportPlaceOrderPreview": ("post", "/orders/preview"),
    "supportModifyOrderPrice": ("put", "/orders/{order_id}"),
    "supportPositions": ("get", "/positions"),
    "supportLeverage": ("put", "/leverage/set"),
}


async def test_the_flags_say_what_the_server_serves(
    trading_client: Client, openapi_document: dict[str, Any]
) -> None:
    flags = (await get(trading_client, "/config"))["configFlags"]
    paths = openapi_document["paths"]
    for flag, (method, path) in ROUTE_FLAGS.items():
        assert flags[flag] is (method in paths.get(B + path, {})), flag
    for name in ("MarketOrders", "LimitOrders", "StopOrders", "StopLimitOrders"):
        assert flags[f"support{name}"] is True
    assert flags["supportOrderBrackets"] is flags["supportTrailingStop"] is True
    assert flags["supportGuaranteedStop"] is flags["supportModifyDuration"] is True
    assert flags["supportPartialClosePosition"] is True
    # each flag follows its route or feed
    assert flags["supportReversePosition"] is any(p.endswith("/reverse") for p in paths)
    assert flags["supportOrdersHistory"] is (B + "/orders/history" in paths)
    assert flags["supportPLUpdate"] is flags["supportMargin"] is True  # the pl / margin routes
    assert flags["supportMultiposition"] is flags["supportLevel2Data"] is False
    assert flags["supportModifyOrderType"] is False


def test_a_flag_follows_its_route(trading_settings: Settings) -> None:
    """The flags are derived, not written: an app without the leverage routes says so."""
    app = create_app(trading_settings)
    assert config_flags(app).supportLeverage is True
    bare = web.Application()
    assert config_flags(bare).supportLeverage is False
    assert config_flags(bare).supportClosePosition is False


async def test_the_config_route_is_documented_with_its_real_answer(
    trading_client: Client, openapi_document: dict[str, Any]
) -> None:
    get_config = openapi_document["paths"][B + "/config"]["get"]
    assert get_config["operationId"] == "getBrokerConfig"
    schema = openapi_document["components"]["schemas"]["BrokerConfig"]
    # a feature that lands flips its flag: update CONFIG_EXAMPLE (trading/models/broker.py)
    assert schema["examples"] == [await get(trading_client, "/config")]


# -- property: no order fills at or after its expiry -----------------------------------------


class Tape:
    """Scripted last prices (ticks, no spread) per second; the last set one holds after it."""

    def __init__(self, prices: list[int]) -> None:
        self.prices = prices

    def touch(self, spec: SymbolSpec, second: int) -> Touch:
        lp = self.prices[min(max(second - S0, 0), len(self.prices) - 1)]
        return Touch(time=second, lp=lp, bid=lp, ask=lp)


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.integers(9_000, 11_000), min_size=1, max_size=120),
    orders=st.lists(
        st.tuples(
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(9_000, 11_000),  # limit, ticks
            st.integers(0, 60),  # placed at S0 + this
            st.integers(1, 60_000),  # good for this many ms
        ),
        min_size=1,
        max_size=8,
    ),
    jumps=st.lists(st.integers(1, 90), min_size=1, max_size=12),
)
def test_no_order_ever_fills_at_or_after_its_expiry(
    prices: list[int], orders: list[tuple[Side, int, int, int]], jumps: list[int]
) -> None:
    """GTD limit orders placed at various seconds, the fill loop run at irregular instants
    (stalls replay the missed seconds): every execution is in a second that starts before its
    order's expiry, and once the clock is past every expiry no such order still works."""
    engine = Engine(
        SymbolCatalog(), Tape(prices).touch, initial_balance=Decimal(10**9),
        commission_rate=Decimal(0), default_leverage=Decimal(100),
    )  # fmt: skip
    loop = SoloLoop(engine)
    placements = sorted(orders, key=lambda o: o[2])
    now = float(S0)
    schedule = [S0 + sum(jumps[: i + 1]) + 0.5 for i in range(len(jumps))]
    pending = list(placements)
    for t in [*schedule, S0 + 200.0]:
        while pending and S0 + pending[0][2] <= t:
            side, limit, at, good_ms = pending.pop(0)
            now = max(now, S0 + at + 0.25)
            loop.evaluate(now)
            engine.place(
                OrderRequest(
                    symbol="AAPL", type=OrderType.LIMIT, side=side, qty=Decimal(1),
                    limit_price=Decimal(limit) / 100,
                    duration=Duration(DurationType.GTD, int(now * 1000) + good_ms),
                ),
                now,
            )  # fmt: skip
        now = max(now, t)
        loop.evaluate(now)
    for fill in engine.fills:
        expires = engine.orders[fill.order_id].expires_at
        assert expires is not None
        assert fill.time < expires, (fill, expires)
    for o in engine.orders.values():
        assert o.status in (OrderStatus.FILLED, OrderStatus.CANCELED), o
        if o.status is OrderStatus.CANCELED:
            assert o.message is not None
            assert o.message.text.startswith("Expired: GTD order")
