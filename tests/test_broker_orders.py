"""Black-box tests of the broker's order routes (rest.md §7, broker.md §2, §4, §8, §11).

Prices come from a ScriptedMarket (set by hand); the spread is 8 bps, so around 250.00 the
half-spread is exactly 10 ticks: bid = lp − 0.10, ask = lp + 0.10. Commission 0.001, leverage
10, balance 100000. Every expected number below is computed by hand from the contract.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.brokerkit import (
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
from trading.broker.enums import OrderStatus, OrderType, Side, StopType
from trading.clock import ManualClock
from trading.keys import BROKER
from trading.settings import Settings
from trading.testing import TEST_NOW

NOW_MS = int(TEST_NOW * 1000)
S0 = math.floor(TEST_NOW)


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock)


# -- helpers ---------------------------------------------------------------------------------


def errors(body: Any) -> list[tuple[str, list[Any]]]:
    return [(e["type"], e["loc"]) for e in body["detail"]]


# -- every order type ------------------------------------------------------------------------


async def test_market_orders_fill_at_once_at_ask_and_bid(trading_client: Client) -> None:
    c = trading_client
    assert await place(c, market_order(Side.BUY, 10)) == "ORDER-1"
    o = await order(c, "ORDER-1")
    assert o == {
        "id": "ORDER-1", "symbol": "AAPL", "type": OrderType.MARKET, "side": Side.BUY, "qty": 10.0,
        "status": OrderStatus.FILLED,
        "limitPrice": None, "stopPrice": None, "takeProfit": None, "stopLoss": None,
        "guaranteedStop": None, "trailingStopPips": None, "stopType": None,
        "filledQty": 10.0, "avgPrice": 250.1, "updateTime": NOW_MS,
    }  # fmt: skip
    assert await get(c, "/executions/AAPL") == [
        {"symbol": "AAPL", "price": 250.1, "qty": 10.0, "side": Side.BUY, "time": NOW_MS,
         # issue 13: TradingView's optional execution fields; 2501.00 · 0.001 = 2.50
         "id": "EXEC-1", "orderId": "ORDER-1", "commission": 2.5, "netAmount": -2503.5}
    ]  # fmt: skip
    assert await get(c, "/positions") == [
        {"id": "AAPL", "symbol": "AAPL", "qty": 10.0, "side": Side.BUY, "avgPrice": 250.1}
    ]
    await place(c, market_order(Side.SELL, 4))
    assert (await order(c, "ORDER-2"))["avgPrice"] == 249.9  # the bid
    # realized 4·(249.90 − 250.10) = −0.80; commissions 2.501 → 2.50 and 0.9996 → 1.00
    # unrealized (250.00 − 250.10)·6 = −0.60
    assert await get(c, "/equity") == {
        "equity": 99995.1,
        "balance": 99995.7,
        "unrealizedPL": -0.6,
        "realizedPL": -0.8,
    }
    assert (await get(c, "/positions"))[0]["qty"] == 6.0


async def test_buy_limit_fills_when_ask_reaches_the_limit_at_the_ask(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 10, 249.0))
    assert (await order(c, "ORDER-1"))["status"] == OrderStatus.WORKING
    await step(c, trading_clock, 249.0)  # ask 249.10 > 249.00
    assert (await order(c, "ORDER-1"))["status"] == OrderStatus.WORKING
    await step(c, trading_clock, 248.5)  # ask 248.60 <= 249.00: filled at the ask (better)
    o = await order(c, "ORDER-1")
    assert (o["status"], o["filledQty"], o["avgPrice"]) == (OrderStatus.FILLED, 10.0, 248.6)
    assert o["updateTime"] == int(trading_clock.now() * 1000)
    assert await get(c, "/executions/AAPL") == [
        {"symbol": "AAPL", "price": 248.6, "qty": 10.0, "side": Side.BUY, "time": (S0 + 2) * 1000,
         # issue 13: 2486.00 · 0.001 = 2.486 → 2.49; netAmount −2486.00 − 2.49
         "id": "EXEC-1", "orderId": "ORDER-1", "commission": 2.49, "netAmount": -2488.49}
    ]  # fmt: skip


async def test_buy_limit_fills_exactly_at_the_limit(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 1, 249.0))
    await step(c, trading_clock, 248.9)  # ask 249.00 == limit
    assert (await order(c, "ORDER-1"))["avgPrice"] == 249.0


async def test_sell_limit_fills_when_bid_reaches_the_limit(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, limit_order(Side.SELL, 10, 251.0))
    await step(c, trading_clock, 251.0)  # bid 250.90 < 251.00
    assert (await order(c, "ORDER-1"))["status"] == OrderStatus.WORKING
    await step(c, trading_clock, 251.2)  # bid 251.10 >= 251.00
    o = await order(c, "ORDER-1")
    assert (o["status"], o["avgPrice"]) == (OrderStatus.FILLED, 251.1)
    assert await get(c, "/positions") == [
        {"id": "AAPL", "symbol": "AAPL", "qty": 10.0, "side": Side.SELL, "avgPrice": 251.1}
    ]


async def test_stop_orders_trigger_on_the_touch_and_fill_at_that_seconds_price(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, stop_order(Side.BUY, 5, 252.0))
    await place(c, stop_order(Side.SELL, 5, 248.0, symbol="MSFT"))  # far: never
    await step(c, trading_clock, 251.8)  # ask 251.90 < 252
    assert (await order(c, "ORDER-1"))["status"] == OrderStatus.WORKING
    await step(c, trading_clock, 252.5)  # ask 252.60 >= 252: fills at the ask (slippage)
    o = await order(c, "ORDER-1")
    assert (o["status"], o["avgPrice"], o["stopPrice"], o["limitPrice"]) == (
        OrderStatus.FILLED, 252.6, 252.0, None
    )  # fmt: skip
    await place(c, stop_order(Side.SELL, 5, 248.0))
    await step(c, trading_clock, 248.1)  # bid 248.00 <= 248: triggers
    assert (await order(c, "ORDER-3"))["avgPrice"] == 248.0
    await step(c, trading_clock, 240.0)
    assert (await order(c, "ORDER-2"))["status"] == OrderStatus.WORKING  # MSFT never moved


async def test_a_clients_own_stop_is_never_guaranteed_nor_trailing(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    """broker.md §4: only bracket children made from guaranteedStop fill at their price, and
    only bracket children trail; on a client's order these fields act when it fills (§3)."""
    c = trading_client
    await place(c, stop_order(Side.SELL, 5, 248.0, stopType=StopType.GUARANTEED_STOP))
    await place(
        c, stop_order(Side.BUY, 2, 185.0, stopType=StopType.TRAILING_STOP, trailingStopPips=100,
                      symbol="GOOGL")
    )  # fmt: skip
    await step(c, trading_clock, 240.0)  # a gap through 248: fills at the bid, 239.90
    o = await order(c, "ORDER-1")
    assert (o["status"], o["avgPrice"], o["stopType"]) == (
        OrderStatus.FILLED, 239.9, StopType.GUARANTEED_STOP
    )  # fmt: skip
    await step(c, trading_clock, 183.0, symbol="GOOGL")
    assert (await order(c, "ORDER-2"))["stopPrice"] == 185.0  # does not trail
    await step(c, trading_clock, 186.0, symbol="GOOGL")  # half-spread 7 ticks: ask 186.07
    o = await order(c, "ORDER-2")
    assert (o["status"], o["avgPrice"], o["stopType"], o["trailingStopPips"]) == (
        OrderStatus.FILLED, 186.07, StopType.TRAILING_STOP, 100.0
    )  # fmt: skip
    child = await order(c, "ORDER-3")  # the long it opened gets a trailing stop: bid − 1.00
    assert (child["side"], child["stopPrice"], child["stopType"], child["status"]) == (
        Side.SELL, 184.93, StopType.TRAILING_STOP, OrderStatus.WORKING
    )  # fmt: skip


async def test_stop_limit_triggers_then_waits_as_a_limit(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    # not triggered yet: ask 250.10 is under the limit but the stop (252) was not reached
    await place(c, stop_limit_order(Side.BUY, 3, stop=252.0, limit=252.5))
    assert (await order(c, "ORDER-1"))["status"] == OrderStatus.WORKING
    await step(c, trading_clock, 253.0)  # ask 253.10 >= stop: triggered, but > limit
    o = await order(c, "ORDER-1")
    assert (o["type"], o["status"], o["stopPrice"], o["limitPrice"]) == (
        OrderType.STOP_LIMIT, OrderStatus.WORKING, 252.0, 252.5
    )  # fmt: skip
    # back under the stop: the trigger is remembered, so it now fills as a limit
    await step(c, trading_clock, 251.0)  # ask 251.10 <= 252.50
    o = await order(c, "ORDER-1")
    assert (o["type"], o["status"], o["avgPrice"]) == (
        OrderType.STOP_LIMIT, OrderStatus.FILLED, 251.1
    )  # fmt: skip


async def test_sell_stop_limit(trading_client: Client, trading_clock: ManualClock) -> None:
    c = trading_client
    await place(c, stop_limit_order(Side.SELL, 2, stop=248.0, limit=247.5))
    await step(c, trading_clock, 247.0)  # bid 246.90 <= stop, but < limit 247.50
    assert (await order(c, "ORDER-1"))["status"] == OrderStatus.WORKING
    await step(c, trading_clock, 247.7)  # bid 247.60 >= 247.50
    assert (await order(c, "ORDER-1"))["avgPrice"] == 247.6


async def test_marketable_limits_and_crossed_stops_fill_before_the_response(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 1, 251.0))  # ask 250.10 <= 251
    await place(c, limit_order(Side.SELL, 1, 249.0))  # bid 249.90 >= 249
    await place(c, stop_order(Side.BUY, 1, 249.0))  # ask 250.10 >= 249
    await place(c, stop_order(Side.SELL, 1, 251.0))  # bid 249.90 <= 251
    await place(c, stop_limit_order(Side.BUY, 1, stop=249.0, limit=251.0))
    orders = await get(c, "/orders")
    filled = OrderStatus.FILLED
    assert [(o["status"], o["avgPrice"]) for o in orders] == [
        (filled, 250.1), (filled, 249.9), (filled, 250.1), (filled, 249.9), (filled, 250.1)
    ]  # fmt: skip
    executions = await get(c, "/executions/AAPL")
    assert [e["time"] for e in executions] == [NOW_MS] * 5  # the acceptance instant


async def test_the_fill_loop_fills_without_an_explicit_evaluation(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 1, 249.0))
    market(c).set_price("AAPL", 248.0)
    trading_clock.advance(1)
    for _ in range(150):  # poll for at most 3 s
        if (await order(c, "ORDER-1"))["status"] == OrderStatus.FILLED:
            break
        await asyncio.sleep(0.02)
    assert (await order(c, "ORDER-1"))["avgPrice"] == 248.1


async def test_missed_seconds_are_caught_up_in_order(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    """Seconds are evaluated in time order: the first crossing second sets the fill."""
    c = trading_client
    await place(c, limit_order(Side.BUY, 1, 249.0))
    await c.app[BROKER].evaluate()
    market(c).set_price("AAPL", 248.0)
    trading_clock.advance(5)  # a stall of five seconds
    await c.app[BROKER].evaluate()
    (execution,) = await get(c, "/executions/AAPL")
    assert execution["time"] == (S0 + 1) * 1000


async def test_a_new_order_is_not_evaluated_against_seconds_before_it_existed(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    """An order placed after a quiet period must not fill at an earlier second's price."""
    c = trading_client
    await place(c, limit_order(Side.BUY, 1, 249.0))
    await c.app[BROKER].evaluate()  # second S0 evaluated for AAPL
    assert (await call(c, "DELETE", "/orders/ORDER-1"))[0] == 200
    trading_clock.advance(10)  # ten seconds with no working AAPL order
    await c.app[BROKER].evaluate()
    await place(c, limit_order(Side.BUY, 1, 249.0))  # at S0 + 10, not marketable
    await step(c, trading_clock, 248.0)
    (execution,) = await get(c, "/executions/AAPL")
    assert execution["time"] >= (S0 + 10) * 1000, "filled at a second before it was placed"


async def test_unused_prices_are_dropped_and_prices_rounded_to_the_tick(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 1, 200.004, stopPrice=199.0))
    await place(c, stop_order(Side.BUY, 1, 300.006, limitPrice=301.0))
    await place(
        c, market_order(Side.BUY, 1, limitPrice=1.0, stopPrice=2.0, stopType=StopType.STOP_LOSS)
    )
    a, b, m = await get(c, "/orders")
    assert (a["limitPrice"], a["stopPrice"]) == (200.0, None)
    assert (b["limitPrice"], b["stopPrice"]) == (None, 300.01)
    assert (m["limitPrice"], m["stopPrice"], m["stopType"]) == (None, None, StopType.STOP_LOSS)


async def test_working_order_shape_as_in_the_rest_example(trading_client: Client) -> None:
    c = trading_client
    body = limit_order(Side.BUY, 100, 150.0)
    status, body = await call(c, "POST", "/orders", body)
    assert (status, body) == (200, {"orderId": "ORDER-1"})
    assert await get(c, "/orders") == [
        {"id": "ORDER-1", "symbol": "AAPL", "type": OrderType.LIMIT, "side": Side.BUY,
         "qty": 100.0, "status": OrderStatus.WORKING,
         "limitPrice": 150.0, "stopPrice": None, "takeProfit": None, "stopLoss": None,
         "guaranteedStop": None, "trailingStopPips": None, "stopType": None,
         "filledQty": 0.0, "avgPrice": None, "updateTime": NOW_MS}
    ]  # fmt: skip
    assert await call(c, "DELETE", "/orders/ORDER-1") == (
        200, {"success": True, "message": "Operation completed successfully"}
    )  # fmt: skip
    assert await call(c, "DELETE", "/orders/ORDER-1") == (
        400, {"detail": "Cannot cancel order ORDER-1 with status 1"}
    )  # fmt: skip
    assert (await order(c, "ORDER-1"))["status"] == OrderStatus.CANCELED


async def test_symbol_lookup_stores_the_canonical_name(trading_client: Client) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 1, 200.0, symbol="nasdaq:aapl"))
    await place(c, limit_order(Side.BUY, 1, 400.0, symbol="msft"))
    assert [o["symbol"] for o in await get(c, "/orders")] == ["AAPL", "MSFT"]
    assert await get(c, "/executions/nasdaq:aapl") == []
    assert await get(c, "/executions/NOPE") == []


# -- modify and cancel -----------------------------------------------------------------------


async def test_modify_replaces_fields_and_null_clears(trading_client: Client) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 10, 240.0, takeProfit=260.0, stopLoss=230.0))
    body = limit_order(Side.BUY, 20, 241.123, takeProfit=270.0, stopLoss=None)
    assert await call(c, "PUT", "/orders/ORDER-1", body) == (
        200, {"success": True, "message": "Operation completed successfully"}
    )  # fmt: skip
    o = await order(c, "ORDER-1")
    assert (o["qty"], o["limitPrice"], o["takeProfit"], o["stopLoss"], o["status"]) == (
        20.0, 241.12, 270.0, None, OrderStatus.WORKING
    )  # fmt: skip


async def test_modify_can_fill_at_once(trading_client: Client) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 10, 240.0))
    body = limit_order(Side.BUY, 10, 251.0)
    status, _ = await call(c, "PUT", "/orders/ORDER-1", body)
    assert status == 200
    o = await order(c, "ORDER-1")
    assert (o["status"], o["avgPrice"]) == (OrderStatus.FILLED, 250.1)
    assert len(await get(c, "/executions/AAPL")) == 1


async def test_modify_and_cancel_refusals(trading_client: Client) -> None:
    c = trading_client
    limit = limit_order(Side.BUY, 1, 240.0)
    await place(c, market_order(Side.BUY, 1))  # ORDER-1 FILLED
    await place(c, limit)  # ORDER-2 WORKING
    await place(c, limit)  # ORDER-3 canceled below
    assert (await call(c, "DELETE", "/orders/ORDER-3"))[0] == 200

    assert await call(c, "PUT", "/orders/ORDER-99", limit) == (
        400, {"detail": "Order ORDER-99 not found"}
    )  # fmt: skip
    assert await call(c, "DELETE", "/orders/ORDER-99") == (
        400, {"detail": "Order ORDER-99 not found"}
    )  # fmt: skip
    market_body = market_order(Side.BUY, 1)
    assert await call(c, "PUT", "/orders/ORDER-1", market_body) == (
        400, {"detail": "Cannot modify order ORDER-1 with status 2"}
    )  # fmt: skip
    assert await call(c, "DELETE", "/orders/ORDER-1") == (
        400, {"detail": "Cannot cancel order ORDER-1 with status 2"}
    )  # fmt: skip
    assert await call(c, "PUT", "/orders/ORDER-3", limit) == (
        400, {"detail": "Cannot modify order ORDER-3 with status 1"}
    )  # fmt: skip
    for change in (
        {"side": Side.SELL}, {"symbol": "MSFT"}, {"type": OrderType.STOP_LIMIT, "stopPrice": 239.0}
    ):  # fmt: skip
        assert await call(c, "PUT", "/orders/ORDER-2", {**limit, **change}) == (
            400, {"detail": "Cannot change symbol, type or side of order ORDER-2"}
        ), change  # fmt: skip
    # a refused modify changed nothing
    assert (await order(c, "ORDER-2"))["limitPrice"] == 240.0
    # modify runs the 422 rules too
    status, body = await call(c, "PUT", "/orders/ORDER-2", {**limit, "qty": 1.5})
    assert (status, errors(body)) == (422, [("value_error", ["body", "qty"])])
    status, body = await call(c, "PUT", "/orders/ORDER-2", {**limit, "limitPrice": None})
    assert (status, errors(body)) == (422, [("value_error", ["body", "limitPrice"])])


async def test_modify_checks_buying_power(make_client: MakeClient) -> None:
    c = await make_client(initial_balance=1000.0)
    await place(c, limit_order(Side.BUY, 10, 200.0))  # needs 200.00
    body = limit_order(Side.BUY, 60, 200.0)
    assert await call(c, "PUT", "/orders/ORDER-1", body) == (
        400, {"detail": "Insufficient buying power: required 1200.00, available 1000.00"}
    )  # fmt: skip
    assert (await order(c, "ORDER-1"))["qty"] == 10.0


async def test_cancel_rejected_order_is_refused(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client(initial_balance=1000.0)
    await place(c, limit_order(Side.BUY, 30, 240.0))  # 720.00 of 1000.00: accepted
    lev = {"symbol": "AAPL", "orderType": OrderType.LIMIT, "side": Side.BUY, "leverage": 1}
    assert await call(c, "PUT", "/leverage/set", lev) == (200, {"leverage": 1.0})
    await step(c, trading_clock, 239.0)  # ask 239.10: needs 30·239.10/1 = 7173 > 1000
    o = await order(c, "ORDER-1")
    assert (o["status"], o["filledQty"], o["avgPrice"]) == (OrderStatus.REJECTED, 0.0, None)
    assert await get(c, "/executions/AAPL") == []
    assert await get(c, "/positions") == []
    assert await call(c, "DELETE", "/orders/ORDER-1") == (
        400, {"detail": "Cannot cancel order ORDER-1 with status 5"}
    )  # fmt: skip


async def test_rejected_when_equity_dropped_before_the_fill(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client(initial_balance=1000.0)
    await place(c, market_order(Side.BUY, 30))  # long 30 @250.10, margin 750
    await place(c, limit_order(Side.BUY, 5, 410.0, symbol="MSFT"))  # needs 205.00
    # AAPL falls: equity = 1000 − 7.50 + (235 − 250.10)·30 = 539.50, margin 30·235/10 = 705
    market(c).set_price("AAPL", 235.0)
    await step(c, trading_clock, 409.0, symbol="MSFT")
    assert (await order(c, "ORDER-2"))["status"] == OrderStatus.REJECTED
    assert await get(c, "/executions/MSFT") == []


# -- rejections ------------------------------------------------------------------------------


async def test_422_lists_every_failing_rule(trading_client: Client) -> None:
    c = trading_client
    no_limit_price = {"symbol": "AAPL", "type": OrderType.LIMIT, "side": Side.BUY, "qty": 0}
    status, body = await call(c, "POST", "/orders", no_limit_price)
    assert status == 422
    assert body["detail"][0] | {"msg": ""} == {
        "type": "greater_than", "loc": ["body", "qty"], "msg": "", "input": 0, "ctx": {"gt": 0.0}
    }  # fmt: skip
    assert body["detail"][1] | {"msg": ""} == {
        "type": "value_error", "loc": ["body", "limitPrice"], "msg": "", "input": None
    }  # fmt: skip
    assert len(body["detail"]) == 2

    status, body = await call(
        c, "POST", "/orders",
        {"symbol": "AAPL", "type": OrderType.STOP_LIMIT, "side": Side.BUY, "qty": 1.5,
         "stopLoss": 1.0, "guaranteedStop": 2.0, "trailingStopPips": 10},
    )  # fmt: skip
    assert status == 422
    assert sorted(errors(body)) == sorted([
        ("value_error", ["body", "limitPrice"]),
        ("value_error", ["body", "stopPrice"]),
        ("value_error", ["body", "qty"]),
        ("value_error", ["body", "guaranteedStop"]),
        ("value_error", ["body", "trailingStopPips"]),
    ])  # fmt: skip
    assert await get(c, "/orders") == []  # nothing stored
    assert await place(c, market_order(Side.BUY, 1)) == "ORDER-1"  # no id consumed


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"qty": 1_000_001}, [("value_error", ["body", "qty"])]),
        ({"qty": 2.5}, [("value_error", ["body", "qty"])]),
        ({"qty": -1}, [("greater_than", ["body", "qty"])]),
        ({"qty": "x"}, [("float_parsing", ["body", "qty"])]),
        ({"type": 2.5}, [("enum", ["body", "type"])]),
        ({"type": 7}, [("enum", ["body", "type"])]),
        ({"side": 0}, [("enum", ["body", "side"])]),
        ({"symbol": 5}, [("string_type", ["body", "symbol"])]),
        ({"takeProfit": 0}, [("greater_than", ["body", "takeProfit"])]),
        ({"stopLoss": -1}, [("greater_than", ["body", "stopLoss"])]),
        ({"guaranteedStop": 0}, [("greater_than", ["body", "guaranteedStop"])]),
        ({"trailingStopPips": 0}, [("greater_than", ["body", "trailingStopPips"])]),
        (
            {"stopLoss": 240.0, "guaranteedStop": 239.0},
            [("value_error", ["body", "guaranteedStop"])],
        ),
        (
            {"guaranteedStop": 240.0, "trailingStopPips": 5},
            [("value_error", ["body", "trailingStopPips"])],
        ),
        # BUY at ask 250.10: take profit must be above, stops below
        (
            {"takeProfit": 250.1, "stopLoss": 250.1},
            [("value_error", ["body", "takeProfit"]), ("value_error", ["body", "stopLoss"])],
        ),
        ({"guaranteedStop": 251.0}, [("value_error", ["body", "guaranteedStop"])]),
        (
            {"side": Side.SELL, "takeProfit": 251.0, "stopLoss": 249.0},  # SELL at bid 249.90
            [("value_error", ["body", "takeProfit"]), ("value_error", ["body", "stopLoss"])],
        ),
        ({"type": OrderType.LIMIT, "limitPrice": 0}, [("greater_than", ["body", "limitPrice"])]),
        ({"type": OrderType.STOP}, [("value_error", ["body", "stopPrice"])]),
        (
            {"type": OrderType.STOP, "stopPrice": 255.0, "takeProfit": 254.0},  # E = the stop price
            [("value_error", ["body", "takeProfit"])],
        ),
        (
            {"type": OrderType.LIMIT, "limitPrice": 240.0, "stopLoss": 245.0},  # E = the limit
            [("value_error", ["body", "stopLoss"])],
        ),
        (
            {"symbol": None, "qty": None},
            [("string_type", ["body", "symbol"]), ("float_type", ["body", "qty"])],
        ),
    ],
)
async def test_rejected_orders_422(
    trading_client: Client, change: dict[str, Any], expected: list[tuple[str, list[Any]]]
) -> None:
    body = {**market_order(Side.BUY, 1), **change}
    status, reply = await call(trading_client, "POST", "/orders", body)
    assert status == 422, reply
    assert sorted(errors(reply)) == sorted(expected)
    assert await get(trading_client, "/orders") == []


async def test_missing_fields_are_422(trading_client: Client) -> None:
    status, reply = await call(trading_client, "POST", "/orders", {"qty": 1})
    assert status == 422
    assert sorted(errors(reply)) == [
        ("missing", ["body", "side"]), ("missing", ["body", "symbol"]),
        ("missing", ["body", "type"]),
    ]  # fmt: skip
    json_type = {"Content-Type": "application/json"}  # without it: 415 (test_security.py)
    status, reply = await call(trading_client, "POST", "/orders", data=b"{nope", headers=json_type)
    assert status == 422
    assert reply["detail"][0]["type"] == "json_invalid"


async def test_lax_coercion(trading_client: Client) -> None:
    c = trading_client
    body = {"symbol": "AAPL", "type": "2", "side": "-1", "qty": "3", "unknown": 1}
    assert await call(c, "POST", "/orders", body) == (200, {"orderId": "ORDER-1"})
    body = {"symbol": "AAPL", "type": 2.0, "side": 1.0, "qty": 3.0}
    assert await call(c, "POST", "/orders", body) == (200, {"orderId": "ORDER-2"})
    assert [(o["type"], o["side"], o["qty"]) for o in await get(c, "/orders")] == [
        (OrderType.MARKET, Side.SELL, 3.0), (OrderType.MARKET, Side.BUY, 3.0)
    ]  # fmt: skip


async def test_unknown_symbol_is_400(trading_client: Client) -> None:
    body = market_order(Side.BUY, 1, symbol="NOPE")
    assert await call(trading_client, "POST", "/orders", body) == (
        400, {"detail": "Symbol NOPE not found"}
    )  # fmt: skip
    # 422 rules win: the 400 checks only run on a body that passed them
    status, _ = await call(trading_client, "POST", "/orders", {**body, "qty": 1.5})
    assert status == 422


async def test_insufficient_buying_power(make_client: MakeClient) -> None:
    c = await make_client(initial_balance=1000.0)
    # 50·250.10/10 = 1250.50 > 1000.00
    body = market_order(Side.BUY, 50)
    assert await call(c, "POST", "/orders", body) == (
        400, {"detail": "Insufficient buying power: required 1250.50, available 1000.00"}
    )  # fmt: skip
    # a limit order needs qty · limitPrice / leverage: 100·200/10
    body = limit_order(Side.BUY, 100, 200.0)
    assert await call(c, "POST", "/orders", body) == (
        400, {"detail": "Insufficient buying power: required 2000.00, available 1000.00"}
    )  # fmt: skip
    assert await get(c, "/orders") == []
    # long 30 @250.10: commission 7.50, equity 1000 − 7.50 − 3.00 = 989.50, margin 750.00
    await place(c, market_order(Side.BUY, 30))
    # SELL 70 = 30 reducing + 40 increasing at bid 249.90: 40·249.90/10 = 999.60
    body = market_order(Side.SELL, 70)
    assert await call(c, "POST", "/orders", body) == (
        400, {"detail": "Insufficient buying power: required 999.60, available 239.50"}
    )  # fmt: skip
    # reducing orders need nothing, even with little available
    body = limit_order(Side.SELL, 30, 300.0)
    assert await call(c, "POST", "/orders", body) == (200, {"orderId": "ORDER-2"})
    # working orders reserve nothing: a second one is accepted too
    assert await call(c, "POST", "/orders", body) == (200, {"orderId": "ORDER-3"})


async def test_max_quantity_passes_rules_then_needs_buying_power(trading_client: Client) -> None:
    body = market_order(Side.BUY, 1_000_000)
    status, reply = await call(trading_client, "POST", "/orders", body)
    assert (status, reply["detail"]) == (
        400, "Insufficient buying power: required 25010000.00, available 100000.00"
    )  # fmt: skip


# -- order preview ---------------------------------------------------------------------------


def rows(section: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["title"], r["value"]) for r in section["rows"]]


async def preview(client: Client, order: dict[str, Any]) -> Any:
    status, body = await call(client, "POST", "/orders/preview", order)
    assert status == 200, body
    uuid.UUID(body["confirmId"], version=4)
    return body


async def test_preview_market_order(trading_client: Client) -> None:
    body = await preview(trading_client, market_order(Side.BUY, 100))
    # E = ask 250.10; value 25010.00; commission 25.01; margin 2501.00; total 25035.01
    assert [s["header"] for s in body["sections"]] == ["Order Details", "Cost Analysis"]
    assert rows(body["sections"][0]) == [
        ("Symbol", "AAPL"), ("Side", "Buy"), ("Quantity", "100.00"), ("Order Type", "Market"),
    ]  # fmt: skip
    assert rows(body["sections"][1]) == [
        ("Estimated Price", "$250.10"), ("Order Value", "$25010.00"), ("Commission", "$25.01"),
        ("Margin Required", "$2501.00"), ("Total Cost", "$25035.01"),
    ]  # fmt: skip
    assert body["warnings"] == ["Market orders execute immediately at current market price"]
    assert body["errors"] is None
    again = await preview(trading_client, market_order(Side.BUY, 100))
    assert again["confirmId"] != body["confirmId"]
    assert await get(trading_client, "/orders") == []  # nothing stored
    lev = {"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": 20}
    assert (await call(trading_client, "PUT", "/leverage/set", lev))[0] == 200
    body = await preview(trading_client, market_order(Side.SELL, 100))  # E = bid 249.90
    assert rows(body["sections"][1]) == [
        ("Estimated Price", "$249.90"), ("Order Value", "$24990.00"), ("Commission", "$24.99"),
        ("Margin Required", "$1249.50"), ("Total Cost", "$25014.99"),
    ]  # fmt: skip


async def test_preview_limit_with_risk_rows_and_large_size(trading_client: Client) -> None:
    body = await preview(
        trading_client,
        limit_order(Side.SELL, 2000, 260.0, takeProfit=250.0, stopLoss=265.0, symbol="nasdaq:aapl"),
    )
    details, costs, risk = body["sections"]
    assert rows(details) == [
        ("Symbol", "AAPL"), ("Side", "Sell"), ("Quantity", "2000.00"), ("Order Type", "Limit"),
        ("Limit Price", "$260.00"),
    ]  # fmt: skip
    # value 520000.00, commission 520.00, margin 52000.00
    assert rows(costs) == [
        ("Estimated Price", "$260.00"), ("Order Value", "$520000.00"), ("Commission", "$520.00"),
        ("Margin Required", "$52000.00"), ("Total Cost", "$520520.00"),
    ]  # fmt: skip
    assert risk["header"] == "Risk Management"
    assert rows(risk) == [("Take Profit", "$250.00 (+$20000.00)"),
                          ("Stop Loss", "$265.00 (-$10000.00)")]  # fmt: skip
    assert body["warnings"] == ["Large order size may experience slippage"]
    assert body["errors"] is None


async def test_preview_stop_limit_guaranteed_and_trailing_rows(trading_client: Client) -> None:
    body = await preview(
        trading_client, stop_limit_order(Side.BUY, 2, stop=255.0, limit=256.0, guaranteedStop=250.0)
    )
    assert rows(body["sections"][0])[3:] == [
        ("Order Type", "Stop Limit"),
        ("Limit Price", "$256.00"),
        ("Stop Price", "$255.00"),
    ]
    assert rows(body["sections"][1])[0] == ("Estimated Price", "$256.00")
    assert rows(body["sections"][2]) == [("Guaranteed Stop", "$250.00")]
    assert body["warnings"] is None
    body = await preview(trading_client, stop_order(Side.BUY, 1, 255.0, trailingStopPips=25))
    assert rows(body["sections"][0])[3:] == [("Order Type", "Stop"), ("Stop Price", "$255.00")]
    assert rows(body["sections"][2]) == [("Trailing Stop", "25.0 pips")]


async def test_preview_warns_when_the_stop_is_already_reached(trading_client: Client) -> None:
    """A buy stop at or below the ask (a sell stop at or above the bid) does not wait: the
    preview says so (issue 11); placement still accepts it and fills it at once (see
    test_marketable_limits_and_crossed_stops_fill_before_the_response)."""
    c = trading_client  # bid 249.90, ask 250.10
    body = await preview(c, stop_order(Side.BUY, 1, 240.0))
    assert body["warnings"] == [
        "Stop price $240.00 is at or below the ask $250.10: the stop is already reached"
        " and the order fills at once at the market price"
    ]
    assert body["errors"] is None
    body = await preview(c, stop_order(Side.BUY, 1, 250.10))  # ask >= stop: reached
    assert len(body["warnings"]) == 1
    body = await preview(c, stop_order(Side.SELL, 1, 260.0))
    assert body["warnings"] == [
        "Stop price $260.00 is at or above the bid $249.90: the stop is already reached"
        " and the order fills at once at the market price"
    ]
    body = await preview(c, stop_limit_order(Side.BUY, 1, stop=240.0, limit=245.0))
    assert body["warnings"] == [
        "Stop price $240.00 is at or below the ask $250.10: the stop is already reached"
        " and the order works at once as a limit at $245.00"
    ]
    for side, stop in ((Side.BUY, 250.20), (Side.SELL, 249.80)):  # not reached yet: no warning
        assert (await preview(c, stop_order(side, 1, stop)))["warnings"] is None
    assert (await preview(c, limit_order(Side.BUY, 1, 260.0)))["warnings"] is None


async def test_preview_errors_are_200(trading_client: Client) -> None:
    c = trading_client
    body = await preview(c, market_order(Side.BUY, 1, symbol="NOPE"))
    assert body["errors"] == ["Symbol NOPE not found"]
    assert rows(body["sections"][0])[0] == ("Symbol", "NOPE")
    assert [v for _, v in rows(body["sections"][1])] == ["n/a"] * 5

    body = await preview(c, {"symbol": "AAPL", "type": OrderType.LIMIT, "side": Side.BUY, "qty": 1})
    assert len(body["errors"]) == 1
    assert "limitPrice" in body["errors"][0]

    body = await preview(c, market_order(Side.BUY, 1, takeProfit=240.0))
    assert len(body["errors"]) == 1
    assert "takeProfit" in body["errors"][0]

    body = await preview(c, market_order(Side.BUY, 1.5))
    assert len(body["errors"]) == 1
    assert "qty" in body["errors"][0]

    body = await preview(c, market_order(Side.BUY, 4000))  # 4000·250.10/10 = 100040.00
    assert body["errors"] == ["Insufficient buying power: required 100040.00, available 100000.00"]
    assert body["warnings"] == [
        "Market orders execute immediately at current market price",
        "Large order size may experience slippage",
    ]


async def test_preview_schema_problems_are_422(trading_client: Client) -> None:
    c = trading_client
    for bad, loc in (
        ({"qty": 0}, ["body", "qty"]),
        ({"symbol": 5}, ["body", "symbol"]),
        ({"type": 9}, ["body", "type"]),
        ({"side": None}, ["body", "side"]),
    ):
        body = {**market_order(Side.BUY, 1), **bad}
        status, reply = await call(c, "POST", "/orders/preview", body)
        assert status == 422, bad
        assert [e["loc"] for e in reply["detail"]] == [loc]


# -- account ---------------------------------------------------------------------------------


async def test_account_and_initial_equity(trading_client: Client) -> None:
    assert await get(trading_client, "/account") == {
        "id": "DEMO-ACCOUNT", "name": "Demo Trading Account"
    }  # fmt: skip
    assert await get(trading_client, "/equity") == {
        "equity": 100000.0, "balance": 100000.0, "unrealizedPL": 0.0, "realizedPL": 0.0
    }  # fmt: skip
    assert await get(trading_client, "/orders") == []
    assert await get(trading_client, "/positions") == []


# -- numbers outside the decimal range (lax input accepts "inf", "nan", 1e400) ---------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"qty": "inf"}, [("finite_number", ["body", "qty"])]),
        ({"qty": "1e400"}, [("finite_number", ["body", "qty"])]),
        ({"qty": "nan"}, [("finite_number", ["body", "qty"])]),
        ({"qty": 1e300}, [("value_error", ["body", "qty"])]),
        ({"type": OrderType.LIMIT, "limitPrice": "inf"},
         [("finite_number", ["body", "limitPrice"])]),
        ({"type": OrderType.LIMIT, "limitPrice": "nan", "takeProfit": 300.0},
         [("finite_number", ["body", "limitPrice"])]),
        ({"type": OrderType.STOP, "stopPrice": "-inf"}, [("finite_number", ["body", "stopPrice"])]),
        ({"takeProfit": "inf"}, [("finite_number", ["body", "takeProfit"])]),
        ({"stopLoss": "1e400"}, [("finite_number", ["body", "stopLoss"])]),
        ({"trailingStopPips": "inf"}, [("finite_number", ["body", "trailingStopPips"])]),
    ],
)  # fmt: skip
async def test_non_finite_numbers_are_422_not_500(
    trading_client: Client, change: dict[str, Any], expected: list[tuple[str, list[Any]]]
) -> None:
    body = {**market_order(Side.BUY, 1), **change}
    status, reply = await call(trading_client, "POST", "/orders", body)
    assert (status, sorted(errors(reply))) == (422, sorted(expected))
    await place(trading_client, limit_order(Side.BUY, 1, 200.0))
    status, reply = await call(trading_client, "PUT", "/orders/ORDER-1", body)
    assert (status, sorted(errors(reply))) == (422, sorted(expected))


async def test_non_finite_numbers_are_schema_errors_everywhere(trading_client: Client) -> None:
    """inf/nan are not numbers of the schema: 422 finite_number, in previews too."""
    c = trading_client
    for path, body, field in (
        ("/orders/preview", {"symbol": "AAPL", "type": OrderType.LIMIT, "side": Side.BUY,
                             "qty": 1, "limitPrice": "inf"}, "limitPrice"),
        ("/orders/preview", {"symbol": "AAPL", "type": OrderType.MARKET, "side": Side.BUY,
                             "qty": "1e400"}, "qty"),
        ("/leverage/preview", {"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY,
                               "leverage": "nan"}, "leverage"),
    ):  # fmt: skip
        status, reply = await call(c, "POST", path, body)
        assert (status, errors(reply)) == (422, [("finite_number", ["body", field])])
    lev = {"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": "inf"}
    status, reply = await call(c, "PUT", "/leverage/set", lev)
    assert (status, errors(reply)) == (422, [("finite_number", ["body", "leverage"])])


async def test_huge_prices_are_refused_by_buying_power_not_500(trading_client: Client) -> None:
    c = trading_client
    big = "100000000000000000000000000000.00"  # 1e30 · 1 / 10
    for side in (Side.BUY, Side.SELL):
        body = limit_order(side, 1, 1e30)
        assert await call(c, "POST", "/orders", body) == (
            400, {"detail": f"Insufficient buying power: required {big}, available 100000.00"}
        )  # fmt: skip
    body = await preview(c, limit_order(Side.SELL, 1, 1e30))
    assert rows(body["sections"][1])[1] == ("Order Value", "$1" + "0" * 30 + ".00")
    # a far but possible price is simply stored
    await place(c, limit_order(Side.SELL, 1, 1e4))
    assert (await order(c, "ORDER-1"))["limitPrice"] == 10000.0


async def test_prices_that_round_to_zero_are_refused(trading_client: Client) -> None:
    body = limit_order(Side.BUY, 1, 0.004)
    status, reply = await call(trading_client, "POST", "/orders", body)
    assert (status, errors(reply)) == (422, [("value_error", ["body", "limitPrice"])])
    assert reply["detail"][0]["msg"] == "limitPrice must be at least one tick (0.01)"
