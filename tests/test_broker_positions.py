"""Black-box tests of positions, money, brackets, leverage and persistence (broker.md §3, §5-§7,
§9, §12, §13) through REST.

Spread 0 (every fill happens at ``lp``), commission 0.001, leverage 10, balance 100000, prices
scripted by hand. Every expected number is computed by hand from the contract.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pytest_aiohttp import AiohttpClient

from tests.brokerkit import (
    PRICES,
    Client,
    MakeClient,
    broker_settings,
    call,
    get,
    limit_order,
    market,
    market_order,
    order,
    place,
    step,
    stop_limit_order,
    stop_order,
)
from trading.app import create_app, reset_broker
from trading.broker.enums import OrderStatus, OrderType, Side, StopType
from trading.clock import ManualClock
from trading.market.scripted import ScriptedMarket
from trading.settings import Settings


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock, market_spread_bps=0)


# -- helpers ---------------------------------------------------------------------------------


class Working(NamedTuple):
    """A WORKING order as these tests compare it (a tuple: every field is compared)."""

    id: str
    type: int  # an OrderType
    side: int  # a Side
    qty: float
    limitPrice: float | None = None
    stopPrice: float | None = None


class Held(NamedTuple):
    """A position as these tests compare it."""

    qty: float
    side: int  # a Side
    avgPrice: float


class Equity(NamedTuple):
    """GET /equity as these tests compare it."""

    equity: float
    balance: float
    unrealizedPL: float
    realizedPL: float


async def working(client: Client) -> list[Working]:
    """Every WORKING order, in creation order."""
    return [
        Working(o["id"], o["type"], o["side"], o["qty"], o["limitPrice"], o["stopPrice"])
        for o in await get(client, "/orders")
        if o["status"] == OrderStatus.WORKING
    ]


async def position(client: Client, symbol: str = "AAPL") -> Held | None:
    for p in await get(client, "/positions"):
        if p["id"] == symbol:
            return Held(p["qty"], p["side"], p["avgPrice"])
    return None


async def equity(client: Client) -> Equity:
    e = await get(client, "/equity")
    return Equity(e["equity"], e["balance"], e["unrealizedPL"], e["realizedPL"])


async def available(client: Client) -> str:
    """``available`` as the buying-power refusal writes it (a far too large order)."""
    status, body = await call(
        client, "POST", "/orders", market_order(Side.BUY, 1_000_000, symbol="GOOGL")
    )
    assert status == 400
    text: str = body["detail"]
    return text.rpartition("available ")[2]


# -- the worked examples of broker.md §13 ----------------------------------------------------


async def test_worked_example_table(trading_client: Client) -> None:
    c = trading_client
    # 1: BUY 10 MARKET @250.00; commission 2.50
    await place(c, market_order(Side.BUY, 10))
    assert await position(c) == (10.0, Side.BUY, 250.0)
    assert await equity(c) == (99997.5, 99997.5, 0.0, 0.0)
    # 2: the price moves to 252.00: unrealized (252 − 250)·10 = 20.00
    market(c).set_price("AAPL", 252.0)
    assert await equity(c) == (100017.5, 99997.5, 20.0, 0.0)
    # 3: BUY 5 MARKET @251.00; commission 1.255 → 1.26; A = 3755/15
    market(c).set_price("AAPL", 251.0)
    await place(c, market_order(Side.BUY, 5))
    assert await position(c) == (15.0, Side.BUY, 250.33333333)
    assert await equity(c) == (100006.24, 99996.24, 10.0, 0.0)
    # 4: SELL 20 MARKET @253.00: closes 15 (15·(253 − 250.333…) = 40.00), opens 5 short
    market(c).set_price("AAPL", 253.0)
    await place(c, market_order(Side.SELL, 20))
    assert await position(c) == (5.0, Side.SELL, 253.0)
    assert await equity(c) == (100031.18, 100031.18, 0.0, 40.0)
    # 5: the price moves to 252.50: unrealized (252.50 − 253)·(−5) = 2.50
    market(c).set_price("AAPL", 252.5)
    assert await equity(c) == (100033.68, 100031.18, 2.5, 40.0)
    # margin used 5·252.50/10 = 126.25; available 100033.68 − 126.25
    assert await available(c) == "99907.43"
    assert [(e["side"], e["qty"], e["price"]) for e in await get(c, "/executions/AAPL")] == [
        (Side.BUY, 10.0, 250.0), (Side.BUY, 5.0, 251.0), (Side.SELL, 20.0, 253.0)
    ]  # fmt: skip


async def test_reference_check_long_3_sell_5(trading_client: Client) -> None:
    c = trading_client
    market(c).set_price("AAPL", 100.0)
    await place(c, market_order(Side.BUY, 3))
    market(c).set_price("AAPL", 110.0)
    await place(c, market_order(Side.SELL, 5))
    assert await position(c) == (2.0, Side.SELL, 110.0)
    # realized 3·(110 − 100) = 30.00; commissions 0.30 + 0.55
    assert await equity(c) == (100029.15, 100029.15, 0.0, 30.0)


async def test_round_trip_identity_with_per_execution_rounding(trading_client: Client) -> None:
    """broker.md §6: buy 100.00 and 100.01, sell twice at 100.00 → booked −0.02."""
    c = trading_client
    market(c).set_price("AAPL", 100.0)
    await place(c, market_order(Side.BUY, 1))
    market(c).set_price("AAPL", 100.01)
    await place(c, market_order(Side.BUY, 1))
    assert await position(c) == (2.0, Side.BUY, 100.005)
    market(c).set_price("AAPL", 100.0)
    await place(c, market_order(Side.SELL, 1))
    await place(c, market_order(Side.SELL, 1))
    assert await position(c) is None
    # commissions 0.10 + 0.10 + 0.10 + 0.10; realized −0.005 → −0.01 twice
    assert (await equity(c)).realizedPL == -0.02
    assert await equity(c) == (99999.58, 99999.58, 0.0, -0.02)


async def test_reduce_keeps_the_average_and_close_removes_the_position(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, market_order(Side.SELL, 10))  # short 10 @250
    market(c).set_price("AAPL", 240.0)
    await place(c, market_order(Side.BUY, 4))  # realized 4·(240 − 250)·(−1) = 40
    assert await position(c) == (6.0, Side.SELL, 250.0)
    # unrealized (240 − 250)·(−6) = 60; commissions 2.50 + 0.96
    assert await equity(c) == (100096.54, 100036.54, 60.0, 40.0)
    await place(c, market_order(Side.BUY, 6))
    assert await get(c, "/positions") == []
    assert await equity(c) == (100095.1, 100095.1, 0.0, 100.0)  # − 1.44 commission


# -- close position --------------------------------------------------------------------------


async def test_close_position_partial_then_full(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 100))
    market(c).set_price("AAPL", 251.0)
    assert await call(c, "DELETE", "/positions/AAPL", params={"amount": "50"}) == (
        200, {"success": True, "message": "Partially closed position AAPL (50.0 units)"}
    )  # fmt: skip
    assert await position(c) == (50.0, Side.BUY, 250.0)
    assert await call(c, "DELETE", "/positions/AAPL") == (
        200, {"success": True, "message": "Closed position AAPL"}
    )  # fmt: skip
    assert await get(c, "/positions") == []
    closing = [o for o in await get(c, "/orders") if o["id"] != "ORDER-1"]
    assert [(o["id"], o["type"], o["side"], o["qty"], o["status"], o["avgPrice"])
            for o in closing] == [
        ("ORDER-2", OrderType.MARKET, Side.SELL, 50.0, OrderStatus.FILLED, 251.0),
        ("ORDER-3", OrderType.MARKET, Side.SELL, 50.0, OrderStatus.FILLED, 251.0),
    ]  # fmt: skip
    assert len(await get(c, "/executions/AAPL")) == 3
    # realized 100·1 = 100; commissions 25.00 + 12.55 + 12.55
    assert await equity(c) == (100049.9, 100049.9, 0.0, 100.0)
    assert (await call(c, "DELETE", "/positions/AAPL"))[0] == 404


async def test_close_short_position_buys(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.SELL, 10))
    status, _ = await call(c, "DELETE", "/positions/AAPL", params={"amount": "4.0"})
    assert status == 200
    assert await position(c) == (6.0, Side.SELL, 250.0)
    assert (await order(c, "ORDER-2"))["side"] == Side.BUY


async def test_close_position_errors(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10))
    for spelling in ("aapl", "NASDAQ:AAPL", "MSFT", "NOPE"):
        assert await call(c, "DELETE", f"/positions/{spelling}") == (
            404, {"detail": f"Position {spelling} not found"}
        )  # fmt: skip
    for amount, kind in (("0", "greater_than"), ("-1", "greater_than"), ("abc", "float_parsing"),
                         ("2.5", "value_error")):  # fmt: skip
        status, body = await call(c, "DELETE", "/positions/AAPL", params={"amount": amount})
        assert status == 422, amount
        assert [(e["type"], e["loc"]) for e in body["detail"]] == [(kind, ["query", "amount"])]
    assert await call(c, "DELETE", "/positions/AAPL", params={"amount": "20"}) == (
        400, {"detail": "Amount 20.0 exceeds position quantity 10.0"}
    )  # fmt: skip
    assert await position(c) == (10.0, Side.BUY, 250.0)
    assert len(await get(c, "/orders")) == 1  # refusals placed nothing


# -- brackets --------------------------------------------------------------------------------


async def test_bracket_children_on_fill_and_one_cancels_other(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0, stopLoss=240.0))
    parent = await order(c, "ORDER-1")
    assert (parent["status"], parent["takeProfit"], parent["stopLoss"]) == (
        OrderStatus.FILLED, 260.0, 240.0
    )  # fmt: skip
    assert await working(c) == [
        Working("ORDER-2", OrderType.LIMIT, Side.SELL, 10.0, limitPrice=260.0),
        Working("ORDER-3", OrderType.STOP, Side.SELL, 10.0, stopPrice=240.0),
    ]
    assert (await order(c, "ORDER-3"))["stopType"] == StopType.STOP_LOSS
    await step(c, trading_clock, 259.99)
    assert len(await working(c)) == 2
    await step(c, trading_clock, 260.5)  # bid 260.50 >= 260: take profit fills at the bid
    tp, sl = await order(c, "ORDER-2"), await order(c, "ORDER-3")
    assert (tp["status"], tp["avgPrice"], sl["status"]) == (
        OrderStatus.FILLED, 260.5, OrderStatus.CANCELED
    )  # fmt: skip
    assert await get(c, "/positions") == []
    # realized 10·10.50 = 105; commissions 2.50 + 2.605 → 2.61 (half-up)
    assert await equity(c) == (100099.89, 100099.89, 0.0, 105.0)


async def test_stop_loss_child_fills_with_slippage(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, stopLoss=245.0))
    assert await working(c) == [
        Working("ORDER-2", OrderType.STOP, Side.SELL, 10.0, stopPrice=245.0)
    ]
    await step(c, trading_clock, 240.0)  # a gap: the stop fills at the bid of that second
    assert (await order(c, "ORDER-2"))["avgPrice"] == 240.0
    assert (await equity(c)).realizedPL == -100.0


async def test_guaranteed_stop_fills_at_exactly_its_price(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, guaranteedStop=245.0))
    child = await order(c, "ORDER-2")
    fields = ("type", "side", "qty", "stopPrice", "guaranteedStop", "stopType")
    assert tuple(child[f] for f in fields) == (
        OrderType.STOP, Side.SELL, 10.0, 245.0, 245.0, StopType.GUARANTEED_STOP
    )  # fmt: skip
    await step(c, trading_clock, 240.0)  # gap below the guaranteed stop
    child = await order(c, "ORDER-2")
    assert (child["status"], child["avgPrice"]) == (OrderStatus.FILLED, 245.0)
    assert (await get(c, "/executions/AAPL"))[-1]["price"] == 245.0
    # realized 10·(245 − 250) = −50; commissions 2.50 + 2.45
    assert await equity(c) == (99945.05, 99945.05, 0.0, -50.0)


async def test_trailing_stop_follows_the_market_and_never_back(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, trailingStopPips=100))  # d = 100 ticks = 1.00
    child = await order(c, "ORDER-2")
    assert (child["type"], child["side"], child["stopPrice"], child["stopType"],
            child["trailingStopPips"]) == (
        OrderType.STOP, Side.SELL, 249.0, StopType.TRAILING_STOP, 100.0
    )  # fmt: skip
    await step(c, trading_clock, 252.0)
    assert (await order(c, "ORDER-2"))["stopPrice"] == 251.0
    await step(c, trading_clock, 251.5)  # moving back down never lowers the stop
    assert (await order(c, "ORDER-2"))["stopPrice"] == 251.0
    await step(c, trading_clock, 253.25)
    assert (await order(c, "ORDER-2"))["stopPrice"] == 252.25
    await step(c, trading_clock, 252.0)  # bid 252.00 <= 252.25: fills at the bid
    child = await order(c, "ORDER-2")
    assert (child["status"], child["avgPrice"]) == (OrderStatus.FILLED, 252.0)
    assert await get(c, "/positions") == []


async def test_trailing_stop_starts_at_stop_loss_pulled_to_the_distance(
    trading_client: Client,
) -> None:
    c = trading_client
    # stopLoss 240 is further than d = 1.00: pulled up to 249.00 at once
    await place(c, market_order(Side.BUY, 1, stopLoss=240.0, trailingStopPips=100))
    assert (await order(c, "ORDER-2"))["stopPrice"] == 249.0
    # a stopLoss closer than d stays where it is
    await place(c, market_order(Side.SELL, 1, stopLoss=420.5, trailingStopPips=100, symbol="MSFT"))
    child = await order(c, "ORDER-4")
    assert (child["side"], child["stopPrice"], child["stopType"]) == (
        Side.BUY, 420.5, StopType.TRAILING_STOP
    )  # fmt: skip


async def test_short_trailing_stop(trading_client: Client, trading_clock: ManualClock) -> None:
    c = trading_client
    await place(c, market_order(Side.SELL, 5, trailingStopPips=50))  # ask + 0.50
    assert (await order(c, "ORDER-2"))["stopPrice"] == 250.5
    await step(c, trading_clock, 248.0)
    assert (await order(c, "ORDER-2"))["stopPrice"] == 248.5
    await step(c, trading_clock, 248.4)
    assert (await order(c, "ORDER-2"))["stopPrice"] == 248.5
    await step(c, trading_clock, 248.6)
    assert (await order(c, "ORDER-2"))["avgPrice"] == 248.6


async def test_children_resize_with_the_position(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0, stopLoss=240.0))
    await place(c, market_order(Side.BUY, 5))  # no brackets: the children grow
    assert await working(c) == [
        Working("ORDER-2", OrderType.LIMIT, Side.SELL, 15.0, limitPrice=260.0),
        Working("ORDER-3", OrderType.STOP, Side.SELL, 15.0, stopPrice=240.0),
    ]
    # a reducing order's own brackets are dropped; children shrink
    await place(c, market_order(Side.SELL, 3, takeProfit=200.0, stopLoss=300.0))
    assert await working(c) == [
        Working("ORDER-2", OrderType.LIMIT, Side.SELL, 12.0, limitPrice=260.0),
        Working("ORDER-3", OrderType.STOP, Side.SELL, 12.0, stopPrice=240.0),
    ]
    status, _ = await call(c, "DELETE", "/positions/AAPL", params={"amount": 2})
    assert status == 200
    assert [w.qty for w in await working(c)] == [10.0, 10.0]
    assert await call(c, "DELETE", "/positions/AAPL") == (
        200, {"success": True, "message": "Closed position AAPL"}
    )  # fmt: skip
    assert await working(c) == []
    assert [(await order(c, i))["status"] for i in ("ORDER-2", "ORDER-3")] == [
        OrderStatus.CANCELED
    ] * 2


async def test_adding_with_brackets_replaces_them(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0, stopLoss=240.0))
    await place(c, market_order(Side.BUY, 5, takeProfit=270.0))
    assert [(await order(c, i))["status"] for i in ("ORDER-2", "ORDER-3")] == [
        OrderStatus.CANCELED
    ] * 2
    assert await working(c) == [
        Working("ORDER-5", OrderType.LIMIT, Side.SELL, 15.0, limitPrice=270.0)
    ]


async def test_flip_cancels_brackets_and_the_flipping_order_protects_the_new_side(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0, stopLoss=240.0))
    await place(c, market_order(Side.SELL, 15))  # flips to short 5, no brackets
    assert await position(c) == (5.0, Side.SELL, 250.0)
    assert await working(c) == []
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0, guaranteedStop=245.0))  # long 5
    assert await working(c) == [
        Working("ORDER-6", OrderType.LIMIT, Side.SELL, 5.0, limitPrice=260.0),
        Working("ORDER-7", OrderType.STOP, Side.SELL, 5.0, stopPrice=245.0),
    ]
    await place(c, market_order(Side.SELL, 8, takeProfit=240.0, stopLoss=255.0))  # short 3
    assert [(await order(c, i))["status"] for i in ("ORDER-6", "ORDER-7")] == [
        OrderStatus.CANCELED
    ] * 2
    assert await working(c) == [
        Working("ORDER-9", OrderType.LIMIT, Side.BUY, 3.0, limitPrice=240.0),
        Working("ORDER-10", OrderType.STOP, Side.BUY, 3.0, stopPrice=255.0),
    ]


async def test_brackets_of_a_resting_order_act_when_it_fills(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 4, 245.0, takeProfit=255.0, stopLoss=240.0))
    assert await working(c) == [
        Working("ORDER-1", OrderType.LIMIT, Side.BUY, 4.0, limitPrice=245.0)
    ]
    await step(c, trading_clock, 244.0)
    assert await working(c) == [
        Working("ORDER-2", OrderType.LIMIT, Side.SELL, 4.0, limitPrice=255.0),
        Working("ORDER-3", OrderType.STOP, Side.SELL, 4.0, stopPrice=240.0),
    ]


async def test_orders_of_one_second_fill_in_creation_order(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    """broker.md §4: creation order, each fill applied before the next order is looked at."""
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0))  # 1, child 2
    await place(c, limit_order(Side.SELL, 10, 259.0))  # 3, created after the child
    await step(c, trading_clock, 261.0)  # both marketable in the same second
    # the take profit (older) closes the long; then ORDER-3 opens a short
    assert [(await order(c, i))["status"] for i in ("ORDER-2", "ORDER-3")] == [
        OrderStatus.FILLED
    ] * 2
    assert await position(c) == (10.0, Side.SELL, 261.0)


async def test_guaranteed_child_modified_keeps_its_guarantee(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 4, guaranteedStop=240.0))
    body = stop_order(Side.SELL, 4, 246.0)
    assert (await call(c, "PUT", "/orders/ORDER-2", body))[0] == 200
    child = await order(c, "ORDER-2")
    assert (child["stopPrice"], child["guaranteedStop"], child["stopType"]) == (
        246.0, 246.0, StopType.GUARANTEED_STOP
    )  # fmt: skip
    await step(c, trading_clock, 230.0)
    assert (await order(c, "ORDER-2"))["avgPrice"] == 246.0


async def test_edit_position_brackets_touches_only_that_position(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0, stopLoss=240.0))  # 1, 2, 3
    await place(c, limit_order(Side.BUY, 1, 200.0))  # 4: unrelated, same symbol
    await place(c, limit_order(Side.SELL, 1, 300.0))  # 5: unrelated, opposite side
    await place(c, market_order(Side.SELL, 2, stopLoss=430.0, symbol="MSFT"))  # 6, 7
    body = {"brackets": {"takeProfit": 265.0, "stopLoss": 245.0}, "customFields": {"x": 1}}
    assert await call(c, "PUT", "/positions/AAPL/brackets", body) == (
        200, {"success": True, "message": "Updated brackets for position AAPL"}
    )  # fmt: skip
    assert [(await order(c, i))["status"] for i in ("ORDER-2", "ORDER-3")] == [
        OrderStatus.CANCELED
    ] * 2
    assert await working(c) == [
        Working("ORDER-4", OrderType.LIMIT, Side.BUY, 1.0, limitPrice=200.0),
        Working("ORDER-5", OrderType.LIMIT, Side.SELL, 1.0, limitPrice=300.0),
        Working("ORDER-7", OrderType.STOP, Side.BUY, 2.0, stopPrice=430.0),
        Working("ORDER-8", OrderType.LIMIT, Side.SELL, 10.0, limitPrice=265.0),
        Working("ORDER-9", OrderType.STOP, Side.SELL, 10.0, stopPrice=245.0),
    ]
    # guaranteed stop, then a trailing stop, then nothing
    body = {"brackets": {"guaranteedStop": 246.0}}
    assert (await call(c, "PUT", "/positions/AAPL/brackets", body))[0] == 200
    gs = await order(c, "ORDER-10")
    assert (gs["stopPrice"], gs["guaranteedStop"], gs["stopType"]) == (
        246.0, 246.0, StopType.GUARANTEED_STOP
    )  # fmt: skip
    body = {"brackets": {"trailingStopPips": 50}}
    assert (await call(c, "PUT", "/positions/AAPL/brackets", body))[0] == 200
    ts = await order(c, "ORDER-11")
    assert (ts["stopPrice"], ts["stopType"], ts["trailingStopPips"]) == (
        249.5, StopType.TRAILING_STOP, 50.0
    )  # fmt: skip
    body = {"brackets": {"takeProfit": None, "stopLoss": None}}
    assert (await call(c, "PUT", "/positions/AAPL/brackets", body))[0] == 200
    assert await working(c) == [
        Working("ORDER-4", OrderType.LIMIT, Side.BUY, 1.0, limitPrice=200.0),
        Working("ORDER-5", OrderType.LIMIT, Side.SELL, 1.0, limitPrice=300.0),
        Working("ORDER-7", OrderType.STOP, Side.BUY, 2.0, stopPrice=430.0),
    ]


@pytest.mark.parametrize(
    ("symbol", "brackets", "expected"),
    [
        ("AAPL", {"takeProfit": 250.0}, [("value_error", "takeProfit")]),
        (
            "AAPL",
            {"stopLoss": 250.0, "takeProfit": 249.0},
            [("value_error", "stopLoss"), ("value_error", "takeProfit")],
        ),
        ("AAPL", {"guaranteedStop": 251.0}, [("value_error", "guaranteedStop")]),
        ("AAPL", {"stopLoss": 240.0, "guaranteedStop": 241.0}, [("value_error", "guaranteedStop")]),
        (
            "AAPL",
            {"guaranteedStop": 241.0, "trailingStopPips": 5},
            [("value_error", "trailingStopPips")],
        ),
        ("AAPL", {"trailingStopPips": 0}, [("greater_than", "trailingStopPips")]),
        ("AAPL", {"takeProfit": -1}, [("greater_than", "takeProfit")]),
        (
            "MSFT",
            {"takeProfit": 421.0, "stopLoss": 419.0},  # short at ask 420
            [("value_error", "stopLoss"), ("value_error", "takeProfit")],
        ),
    ],
)
async def test_edit_brackets_rules_are_422(
    trading_client: Client,
    symbol: str,
    brackets: dict[str, Any],
    expected: list[tuple[str, str]],
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 1, takeProfit=260.0))
    await place(c, market_order(Side.SELL, 1, symbol="MSFT"))
    status, body = await call(c, "PUT", f"/positions/{symbol}/brackets", {"brackets": brackets})
    assert status == 422, body
    assert sorted((e["type"], e["loc"]) for e in body["detail"]) == sorted(
        (t, ["body", "brackets", f]) for t, f in expected
    )
    # nothing changed
    assert await working(c) == [
        Working("ORDER-2", OrderType.LIMIT, Side.SELL, 1.0, limitPrice=260.0)
    ]


async def test_edit_brackets_shape_and_unknown_position(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 1))
    status, body = await call(c, "PUT", "/positions/AAPL/brackets", {"takeProfit": 260.0})
    assert status == 422
    assert [(e["type"], e["loc"]) for e in body["detail"]] == [("missing", ["body", "brackets"])]
    for spelling in ("aapl", "NASDAQ:AAPL", "MSFT"):
        body = {"brackets": {"takeProfit": 500.0}}
        assert await call(c, "PUT", f"/positions/{spelling}/brackets", body) == (
            404, {"detail": f"Position {spelling} not found"}
        )  # fmt: skip


async def test_edit_brackets_with_non_finite_numbers_is_422(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 1))
    for brackets, kind, field in (
        ({"takeProfit": "inf"}, "finite_number", "takeProfit"),
        ({"stopLoss": 1.0, "trailingStopPips": "1e400"}, "finite_number", "trailingStopPips"),
        ({"guaranteedStop": "nan"}, "finite_number", "guaranteedStop"),
    ):
        status, body = await call(c, "PUT", "/positions/AAPL/brackets", {"brackets": brackets})
        assert status == 422, body
        assert [(e["type"], e["loc"]) for e in body["detail"]] == [
            (kind, ["body", "brackets", field])
        ]
    assert await working(c) == []


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("inf", (422, "finite_number")),
        ("1e400", (422, "finite_number")),
        ("nan", (422, "finite_number")),
        ("1e300", (400, "Amount 1e+300 exceeds position quantity 1.0")),
    ],
)
async def test_close_position_with_non_finite_or_huge_amount(
    trading_client: Client, amount: str, expected: tuple[int, str]
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 1))
    status, body = await call(c, "DELETE", "/positions/AAPL", params={"amount": amount})
    detail = body["detail"] if status == 400 else body["detail"][0]["type"]
    assert (status, detail) == expected
    assert await position(c) == (1.0, Side.BUY, 250.0)


async def test_bracket_child_modify_and_cancel(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0, stopLoss=240.0))
    tp = limit_order(Side.SELL, 10, 262.0)
    assert (await call(c, "PUT", "/orders/ORDER-2", tp))[0] == 200
    assert (await order(c, "ORDER-2"))["limitPrice"] == 262.0
    assert await call(c, "PUT", "/orders/ORDER-2", {**tp, "qty": 5}) == (
        400, {"detail": "Cannot change the quantity of bracket order ORDER-2"}
    )  # fmt: skip
    status, body = await call(c, "PUT", "/orders/ORDER-2", {**tp, "limitPrice": 249.0})
    assert (status, [e["loc"] for e in body["detail"]]) == (422, [["body", "limitPrice"]])
    sl = stop_order(Side.SELL, 10, 251.0)
    status, body = await call(c, "PUT", "/orders/ORDER-3", sl)
    assert (status, [e["loc"] for e in body["detail"]]) == (422, [["body", "stopPrice"]])
    # canceling one child removes that bracket only
    assert (await call(c, "DELETE", "/orders/ORDER-3"))[0] == 200
    assert await working(c) == [
        Working("ORDER-2", OrderType.LIMIT, Side.SELL, 10.0, limitPrice=262.0)
    ]
    await place(c, market_order(Side.BUY, 2))  # the remaining child still follows the position
    assert await working(c) == [
        Working("ORDER-2", OrderType.LIMIT, Side.SELL, 12.0, limitPrice=262.0)
    ]
    await step(c, trading_clock, 262.0)
    assert await get(c, "/positions") == []


# -- leverage --------------------------------------------------------------------------------


async def test_leverage_info_and_set(trading_client: Client) -> None:
    c = trading_client
    params = {"symbol": "nasdaq:aapl", "orderType": OrderType.MARKET, "side": Side.BUY}
    assert await call(c, "GET", "/leverage/info", params=params) == (
        200, {"title": "Leverage for AAPL", "leverage": 10.0, "min": 1.0, "max": 100.0, "step": 1.0}
    )  # fmt: skip
    body = {"symbol": "AAPL", "orderType": OrderType.LIMIT, "side": Side.SELL, "leverage": 25}
    assert await call(c, "PUT", "/leverage/set", body) == (200, {"leverage": 25.0})
    # one setting per symbol: side and order type do not matter
    _, info = await call(c, "GET", "/leverage/info", params={**params, "side": Side.SELL})
    assert info["leverage"] == 25.0
    _, info = await call(c, "GET", "/leverage/info", params={**params, "symbol": "MSFT"})
    assert (info["title"], info["leverage"]) == ("Leverage for MSFT", 10.0)
    assert await call(c, "GET", "/leverage/info", params={**params, "symbol": "NOPE"}) == (
        400, {"detail": "Symbol NOPE not found"}
    )  # fmt: skip
    status, body = await call(c, "GET", "/leverage/info", params={"symbol": "AAPL"})
    assert status == 422
    assert sorted(e["loc"][1] for e in body["detail"]) == ["orderType", "side"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.5, "Leverage must be at least 1.0"),
        (101, "Leverage cannot exceed 100.0"),
        (2.5, "Leverage must be a multiple of 1.0"),
    ],
)
async def test_leverage_set_refusals(trading_client: Client, value: float, message: str) -> None:
    body = {"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": value}
    assert await call(trading_client, "PUT", "/leverage/set", body) == (400, {"detail": message})
    status, preview = await call(trading_client, "POST", "/leverage/preview", body)
    assert (status, preview) == (200, {"infos": None, "warnings": None, "errors": [message]})


async def test_leverage_set_unknown_symbol_and_bad_body(trading_client: Client) -> None:
    body = {"symbol": "NOPE", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": 5}
    assert await call(trading_client, "PUT", "/leverage/set", body) == (
        400, {"detail": "Symbol NOPE not found"}
    )  # fmt: skip
    status, _ = await call(trading_client, "PUT", "/leverage/set", {"symbol": "AAPL"})
    assert status == 422
    status, _ = await call(trading_client, "POST", "/leverage/preview", {"leverage": 5})
    assert status == 422


@pytest.mark.parametrize(
    ("value", "infos", "warnings"),
    [
        (1, ["Margin requirement: 100.00%", "No leverage applied (1:1 ratio)"], None),
        (3, ["Margin requirement: 33.33%",
             "With 3.0x leverage, a $1,000 investment controls $3,000.00 in assets"], None),
        (20, ["Margin requirement: 5.00%",
              "With 20.0x leverage, a $1,000 investment controls $20,000.00 in assets"], None),
        (21, ["Margin requirement: 4.76%",
              "With 21.0x leverage, a $1,000 investment controls $21,000.00 in assets"],
         ["Moderate leverage (21.0x) increases risk. Ensure adequate risk management."]),
        (50, ["Margin requirement: 2.00%",
              "With 50.0x leverage, a $1,000 investment controls $50,000.00 in assets"],
         ["Moderate leverage (50.0x) increases risk. Ensure adequate risk management."]),
        (51, ["Margin requirement: 1.96%",
              "With 51.0x leverage, a $1,000 investment controls $51,000.00 in assets"],
         ["High leverage (51.0x) significantly increases risk. "
          "You may lose more than your initial investment."]),
        (100, ["Margin requirement: 1.00%",
               "With 100.0x leverage, a $1,000 investment controls $100,000.00 in assets"],
         ["High leverage (100.0x) significantly increases risk. "
          "You may lose more than your initial investment."]),
    ],
)  # fmt: skip
async def test_leverage_preview_texts(
    trading_client: Client, value: float, infos: list[str], warnings: list[str] | None
) -> None:
    body = {"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": value}
    assert await call(trading_client, "POST", "/leverage/preview", body) == (
        200, {"infos": infos, "warnings": warnings, "errors": None}
    )  # fmt: skip


async def test_leverage_drives_margin_and_buying_power(make_client: MakeClient) -> None:
    c = await make_client(initial_balance=1000.0)
    body = market_order(Side.BUY, 50)
    assert await call(c, "POST", "/orders", body) == (
        400, {"detail": "Insufficient buying power: required 1250.00, available 1000.00"}
    )  # fmt: skip
    lev = {"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": 20}
    assert (await call(c, "PUT", "/leverage/set", lev))[0] == 200
    assert (await call(c, "POST", "/orders", body))[0] == 200  # 625.00 now
    # equity 1000 − 12.50 = 987.50, margin 50·250/20 = 625.00
    assert await available(c) == "362.50"
    # margin recomputed with a lower leverage must stay within equity
    for value, margin_ok in ((1, False), (12, False), (13, True)):
        lev = {"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": value}
        status, reply = await call(c, "PUT", "/leverage/set", lev)
        if margin_ok:  # 50·250/13 = 961.54 <= 987.50
            assert (status, reply) == (200, {"leverage": float(value)})
        else:  # 12 → 1041.67 > 987.50
            assert (status, reply) == (
                400, {"detail": f"Insufficient equity for leverage {float(value)}"}
            )  # fmt: skip
    assert await available(c) == "25.96"  # 987.50 − 961.54
    # another symbol's leverage does not change AAPL's margin
    lev = {"symbol": "MSFT", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": 1}
    assert (await call(c, "PUT", "/leverage/set", lev))[0] == 200


# -- concurrency -----------------------------------------------------------------------------


async def test_fifty_concurrent_orders(trading_client: Client) -> None:
    c = trading_client
    body = market_order(Side.BUY, 1)
    replies = await asyncio.gather(*(call(c, "POST", "/orders", body) for _ in range(50)))
    ids = sorted(int(r[1]["orderId"].split("-")[1]) for r in replies)
    assert {r[0] for r in replies} == {200}
    assert ids == list(range(1, 51))
    assert [o["id"] for o in await get(c, "/orders")] == [f"ORDER-{n}" for n in range(1, 51)]
    assert await position(c) == (50.0, Side.BUY, 250.0)
    assert len(await get(c, "/executions/AAPL")) == 50
    # 50 commissions of 0.25
    assert await equity(c) == (99987.5, 99987.5, 0.0, 0.0)


async def test_concurrent_closes_cannot_over_close(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10))
    replies = await asyncio.gather(
        *(call(c, "DELETE", "/positions/AAPL", params={"amount": "3"}) for _ in range(5))
    )
    statuses = sorted(r[0] for r in replies)
    assert statuses == [200, 200, 200, 400, 400]
    assert await position(c) == (1.0, Side.BUY, 250.0)


# -- persistence and reset -------------------------------------------------------------------


async def snapshot(c: Client) -> list[Any]:
    return [
        await get(c, "/orders"),
        await get(c, "/positions"),
        await get(c, "/executions/AAPL"),
        await get(c, "/executions/MSFT"),
        await get(c, "/equity"),
        await call(c, "GET", "/leverage/info",
                   params={"symbol": "MSFT", "orderType": OrderType.LIMIT, "side": Side.BUY}),
    ]  # fmt: skip


async def test_state_survives_a_restart(
    trading_client: Client,
    aiohttp_client: AiohttpClient,
    trading_settings: Settings,
    trading_clock: ManualClock,
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0, trailingStopPips=100))  # 1, 2, 3
    await place(c, limit_order(Side.BUY, 5, 240.0))  # 4: working
    await place(c, stop_limit_order(Side.BUY, 2, stop=425.0, limit=424.0, symbol="MSFT"))  # 5
    lev = {"symbol": "MSFT", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": 4}
    assert (await call(c, "PUT", "/leverage/set", lev))[0] == 200
    await step(c, trading_clock, 252.0)  # trailing stop moves to 251.00
    await step(c, trading_clock, 426.0, symbol="MSFT")  # stop-limit triggered, not filled
    await place(c, market_order(Side.SELL, 4))  # 6: reduces, children resize to 6
    before = await snapshot(c)
    assert before[1] == [{"id": "AAPL", "symbol": "AAPL", "qty": 6.0, "side": Side.BUY,
                          "avgPrice": 250.0}]  # fmt: skip
    await c.close()
    trading_clock.advance(100)  # downtime

    moved = {**PRICES, "AAPL": 252.0, "MSFT": 426.0}  # as they were: no fill at start-up
    c2 = await aiohttp_client(
        create_app(trading_settings.replace(market_factory=lambda s: ScriptedMarket(s, moved)))
    )
    assert await snapshot(c2) == before
    assert await place(c2, limit_order(Side.BUY, 1, 200.0)) == "ORDER-7"
    # working orders resume: the trailing stop state and the stop-limit trigger were kept
    await step(c2, trading_clock, 424.0, symbol="MSFT")  # under the stop, at the limit
    assert (await order(c2, "ORDER-5"))["status"] == OrderStatus.FILLED
    # the downtime is not replayed: the fill is at the first evaluated second
    (execution,) = await get(c2, "/executions/MSFT")
    assert execution["time"] == math.floor(trading_clock.now()) * 1000
    await step(c2, trading_clock, 251.0)  # the trailing stop (251.00) fills
    assert (await order(c2, "ORDER-3"))["status"] == OrderStatus.FILLED
    assert (await order(c2, "ORDER-2"))["status"] == OrderStatus.CANCELED


async def test_positions_keep_their_opening_order_across_a_restart(
    trading_client: Client, aiohttp_client: AiohttpClient, trading_settings: Settings
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 1, symbol="MSFT"))
    await place(c, market_order(Side.BUY, 1))
    await place(c, market_order(Side.BUY, 1, symbol="MSFT"))  # adds: MSFT stays first
    await place(c, market_order(Side.SELL, 1, symbol="GOOGL"))
    await place(c, market_order(Side.BUY, 2))  # adds to AAPL
    before = await get(c, "/positions")
    assert [p["id"] for p in before] == ["MSFT", "AAPL", "GOOGL"]
    await c.close()
    c2 = await aiohttp_client(create_app(trading_settings))
    assert await get(c2, "/positions") == before


async def test_reset_wipes_everything(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, stopLoss=240.0))
    await place(c, limit_order(Side.BUY, 1, 200.0))
    lev = {"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": 50}
    assert (await call(c, "PUT", "/leverage/set", lev))[0] == 200
    assert await call(c, "POST", "/debug/reset", {}) == (
        200, {"success": True, "message": "Broker service state reset successfully"}
    )  # fmt: skip
    assert await get(c, "/orders") == []
    assert await get(c, "/positions") == []
    assert await get(c, "/executions/AAPL") == []
    assert await equity(c) == (100000.0, 100000.0, 0.0, 0.0)
    params = {"symbol": "AAPL", "orderType": OrderType.LIMIT, "side": Side.BUY}
    _, info = await call(c, "GET", "/leverage/info", params=params)
    assert info["leverage"] == 10.0
    assert await place(c, market_order(Side.BUY, 1)) == "ORDER-1"


async def test_reset_is_persisted(
    trading_client: Client, aiohttp_client: AiohttpClient, trading_settings: Settings
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10))
    assert (await call(c, "POST", "/debug/reset", {}))[0] == 200
    await c.close()
    c2 = await aiohttp_client(create_app(trading_settings))
    assert await get(c2, "/orders") == []
    assert await equity(c2) == (100000.0, 100000.0, 0.0, 0.0)
    assert await place(c2, market_order(Side.BUY, 1)) == "ORDER-1"


@pytest.mark.parametrize(("mode", "status"), [("off", 404), ("on", 200), ("loopback", 200)])
async def test_debug_routes_setting(make_client: MakeClient, mode: str, status: int) -> None:
    c = await make_client(debug_routes=mode)
    await place(c, market_order(Side.BUY, 1))
    reply = await call(c, "POST", "/debug/reset", {})
    assert reply[0] == status
    if status == 404:
        assert reply[1] == {"detail": "Not Found"}
        assert len(await get(c, "/orders")) == 1


async def test_reset_broker_command_wipes_a_stopped_servers_account(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    client = await make_client()
    await place(client, market_order(Side.BUY, 2))
    await place(client, limit_order(Side.BUY, 1, 200.0))
    await client.close()
    await reset_broker(trading_settings)
    client = await make_client()
    assert await get(client, "/orders") == []
    assert await get(client, "/positions") == []
    assert (await get(client, "/equity"))["balance"] == 100000.0
    assert await place(client, market_order(Side.BUY, 1)) == "ORDER-1"
