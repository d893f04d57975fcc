"""Black-box tests of the desk operations (rest.md §13, broker.md §19, websocket.md §13):
instrument info, margin, reverse, cancel-all, flatten, and the ``pl`` and ``margin`` routes.

Scripted prices, spread 8 bps (around 250.00: bid = lp − 0.10, ask = lp + 0.10), commission
0.001, leverage 10, balance 100000.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
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
)
from tests.wsclient import WS, Frame, drain, request, updates
from trading.broker.enums import DurationType, OrderStatus, OrderType, Side
from trading.broker.rules import QTY_MAX, QTY_STEP
from trading.clock import ManualClock
from trading.keys import BROKER
from trading.settings import Settings

Socket = aiohttp.ClientWebSocketResponse


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock, equity_interval_s=0.05)


def commits(client: Client) -> list[float]:
    """The durations of every commit from now on (one entry per SQLite transaction)."""
    seen: list[float] = []
    client.app[BROKER].commit_observers.append(seen.append)
    return seen


async def sub(ws: Socket, route: str, snapshot: int) -> list[Any]:
    reply, early = await request(ws, f"{route}.subscribe", {"accountId": "A"})
    assert early == [], early
    assert reply["payload"]["status"] == "ok", reply
    return [inner(f) for f in await updates(ws, snapshot)] if snapshot else []


def inner(frame: Frame) -> Any:
    return frame["payload"]["payload"]


# -- instrument info -------------------------------------------------------------------------


async def test_instrument_info_is_what_the_broker_enforces(trading_client: Client) -> None:
    c = trading_client
    status, info = await call(c, "GET", "/instruments/aapl")
    assert status == 200
    assert info == {
        "symbol": "AAPL", "description": "Apple Inc.",
        "qty": {"min": float(QTY_STEP), "max": float(QTY_MAX), "step": float(QTY_STEP),
                "default": float(QTY_STEP)},
        "minTick": 0.01, "pipSize": 0.01, "pipValue": 0.01, "leverage": 10.0,
        "marginRate": 0.1, "currency": "USD",
        "allowedOrderTypes": [t.value for t in OrderType],
        "allowedDurations": [d.value for d in DurationType],
    }  # fmt: skip
    # the limits are the placement's: one step past max or off the step is refused
    qty = info["qty"]
    for bad in (qty["max"] + qty["step"], qty["min"] + qty["step"] / 2):
        status, body = await call(c, "POST", "/orders", limit_order(Side.BUY, bad, 1.0))
        assert status == 422, (bad, body)
        assert body["detail"][0]["loc"] == ["body", "qty"], (bad, body)
    assert (await call(c, "POST", "/orders", limit_order(Side.BUY, qty["max"], 0.01)))[0] == 200
    # minTick: a price is rounded to it
    order_id = await place(c, limit_order(Side.BUY, qty["min"], 100.004))
    assert (await order(c, order_id))["limitPrice"] == 100.0


async def test_instrument_margin_rate_follows_the_leverage(trading_client: Client) -> None:
    c = trading_client
    body = {"symbol": "MSFT", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": 4}
    assert (await call(c, "PUT", "/leverage/set", body))[0] == 200
    info = await get(c, "/instruments/MSFT")
    assert (info["leverage"], info["marginRate"]) == (4.0, 0.25)
    assert (await get(c, "/instruments/AAPL"))["marginRate"] == 0.1


async def test_instrument_of_an_unknown_symbol_is_404(trading_client: Client) -> None:
    assert await call(trading_client, "GET", "/instruments/NOPE") == (
        404, {"detail": "Symbol NOPE not found"}
    )  # fmt: skip


# -- margin ----------------------------------------------------------------------------------


async def test_margin_used_available_and_buying_power(trading_client: Client) -> None:
    c = trading_client
    empty = await get(c, "/margin")
    assert empty == {"marginUsed": 0.0, "marginAvailable": 100000.0, "buyingPower": 1000000.0,
                     "leverage": 10.0}  # fmt: skip
    await place(c, market_order(Side.BUY, 10))  # @250.10, commission 2.50, unrealized −1.00
    # used = 10·250/10 = 250.00; equity 99996.50; available 99746.50; power at 10x
    assert await get(c, "/margin") == {
        "marginUsed": 250.0, "marginAvailable": 99746.5, "buyingPower": 997465.0,
        "leverage": 10.0,
    }  # fmt: skip
    body = {"symbol": "MSFT", "orderType": OrderType.MARKET, "side": Side.BUY, "leverage": 20}
    assert (await call(c, "PUT", "/leverage/set", body))[0] == 200
    at_msft = await get(c, "/margin?symbol=msft")
    assert (at_msft["buyingPower"], at_msft["leverage"]) == (1994930.0, 20.0)
    assert await call(c, "GET", "/margin?symbol=NOPE") == (400, {"detail": "Symbol NOPE not found"})


async def test_buying_power_is_what_an_order_may_add(
    make_client: MakeClient,
) -> None:
    c = await make_client(initial_balance=1000, commission_rate=0)
    power = (await get(c, "/margin"))["buyingPower"]  # 10000 at 10x
    ask = 250.10
    fits = int(power // ask)  # 39 · 250.10 = 9753.90 of notional
    status, body = await call(c, "POST", "/orders", market_order(Side.BUY, fits + 1))
    assert status == 400
    assert "Insufficient buying power" in body["detail"]
    await place(c, market_order(Side.BUY, fits))


# -- reverse ---------------------------------------------------------------------------------


async def test_reverse_is_one_execution_booking_what_a_close_books(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    reversed_, closed = await make_client(), await make_client()
    for c in (reversed_, closed):
        await place(c, market_order(Side.BUY, 10, stopLoss=240.0))  # long 10 @250.10, child 2
        market(c).set_price("AAPL", 252.0)  # bid 251.90
    status, body = await call(reversed_, "POST", "/positions/AAPL/reverse", {})
    assert status == 200
    assert (await order(reversed_, body["orderId"]))["qty"] == 20
    assert (await call(closed, "DELETE", "/positions/AAPL"))[0] == 200
    executions = await get(reversed_, "/executions/AAPL")
    assert [(e["side"], e["qty"], e["price"]) for e in executions[1:]] == [(Side.SELL, 20, 251.9)]
    assert await get(reversed_, "/positions") == [
        {"id": "AAPL", "symbol": "AAPL", "qty": 10.0, "side": Side.SELL, "avgPrice": 251.9}
    ]
    # realized P&L: 10·(251.90 − 250.10) = 18.00 either way
    realized = [(await get(c, "/equity"))["realizedPL"] for c in (reversed_, closed)]
    assert realized == [18.0, 18.0]
    assert (await order(reversed_, "ORDER-2"))["status"] == OrderStatus.CANCELED


async def test_reverse_needs_the_buying_power_of_the_new_side(make_client: MakeClient) -> None:
    c = await make_client(initial_balance=1000, commission_rate=0)
    await place(c, market_order(Side.BUY, 30))  # margin 750 of 1000
    before = await get(c, "/orders"), await get(c, "/positions"), await get(c, "/equity")
    status, body = await call(c, "POST", "/positions/AAPL/reverse", {})
    assert status == 400, body
    assert "Insufficient buying power" in body["detail"], body
    assert (await get(c, "/orders"), await get(c, "/positions"), await get(c, "/equity")) == before


async def test_reverse_of_an_unknown_position_is_404(trading_client: Client) -> None:
    assert await call(trading_client, "POST", "/positions/AAPL/reverse", {}) == (
        404, {"detail": "Position AAPL not found"}
    )  # fmt: skip


# -- cancel all ------------------------------------------------------------------------------


async def test_cancel_all_filters_by_symbol_and_side(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 5, stopLoss=240.0))  # 1 filled, 2 child SELL AAPL
    await place(c, limit_order(Side.BUY, 1, 240.0))  # 3 AAPL buy
    await place(c, limit_order(Side.SELL, 1, 260.0))  # 4 AAPL sell
    await place(c, limit_order(Side.BUY, 1, 400.0, symbol="MSFT"))  # 5 MSFT buy
    seen = commits(c)
    assert await call(c, "DELETE", f"/orders?symbol=aapl&side={Side.SELL.value}") == (
        200, {"canceled": ["ORDER-2", "ORDER-4"]}
    )  # fmt: skip
    assert len(seen) == 1, "one commit for the whole cancel"
    assert await call(c, "DELETE", f"/orders?side={Side.BUY.value}") == (
        200, {"canceled": ["ORDER-3", "ORDER-5"]}
    )  # fmt: skip
    statuses = {o["id"]: o["status"] for o in await get(c, "/orders")}
    assert statuses == {"ORDER-1": OrderStatus.FILLED, **{
        f"ORDER-{n}": OrderStatus.CANCELED for n in (2, 3, 4, 5)}}  # fmt: skip
    assert await call(c, "DELETE", "/orders") == (200, {"canceled": []})
    assert len(seen) == 2, "nothing to cancel, nothing committed"


async def test_cancel_all_without_filters_and_refusals(trading_client: Client) -> None:
    c = trading_client
    for price in (240.0, 241.0):
        await place(c, limit_order(Side.BUY, 1, price))
    await place(c, limit_order(Side.SELL, 1, 400.0, symbol="GOOGL"))
    status, body = await call(c, "DELETE", "/orders?symbol=NOPE")
    assert (status, body) == (400, {"detail": "Symbol NOPE not found"})
    status, body = await call(c, "DELETE", "/orders?side=2")
    assert status == 422
    assert body["detail"][0]["loc"] == ["query", "side"]
    assert [o["status"] for o in await get(c, "/orders")] == [OrderStatus.WORKING] * 3
    assert await call(c, "DELETE", "/orders") == (
        200, {"canceled": ["ORDER-1", "ORDER-2", "ORDER-3"]}
    )  # fmt: skip


# -- flatten ---------------------------------------------------------------------------------


async def test_flatten_leaves_no_position_and_equity_equal_to_balance(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, market_order(Side.SELL, 3, symbol="MSFT"))
    await place(c, market_order(Side.BUY, 10, takeProfit=300.0))  # child ORDER-3
    await place(c, limit_order(Side.BUY, 1, 150.0, symbol="GOOGL"))  # stays working
    await step(c, trading_clock, 255.0)
    seen = commits(c)
    async with c.ws_connect(WS) as ws:
        await sub(ws, "positions", 2)
        assert await call(c, "DELETE", "/positions") == (200, {"closed": ["MSFT", "AAPL"]})
        frames = await drain(ws)
    assert len(seen) == 1
    closes = [inner(f) for f in frames if f["type"] == "positions.update"]
    assert [(p["id"], p["qty"]) for p in closes] == [("MSFT", 0.0), ("AAPL", 0.0)]
    assert await get(c, "/positions") == []
    equity = await get(c, "/equity")
    assert equity["equity"] == equity["balance"]
    assert equity["unrealizedPL"] == 0.0
    statuses = {o["id"]: o["status"] for o in await get(c, "/orders")}
    assert statuses["ORDER-3"] == OrderStatus.CANCELED
    assert statuses["ORDER-4"] == OrderStatus.WORKING, "flatten closes positions only"
    assert await call(c, "DELETE", "/positions") == (200, {"closed": []})


# -- the pl and margin routes ----------------------------------------------------------------


async def test_pl_and_margin_snapshots_and_pushes(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10))  # long 10 @250.10
    async with c.ws_connect(WS) as ws:
        assert await sub(ws, "pl", 1) == [{"id": "AAPL", "pl": -1.0}]
        assert await sub(ws, "margin", 1) == [await get(c, "/margin")]
        market(c).set_price("AAPL", 252.0)  # pl (252 − 250.10)·10 = 19.00, used 252.00
        frames = await updates(ws, 2)
        by_route = {f["type"]: inner(f) for f in frames}
        assert by_route["pl.update"] == {"id": "AAPL", "pl": 19.0}
        assert by_route["margin.update"] == await get(c, "/margin")
        assert by_route["margin.update"]["marginUsed"] == 252.0
        await place(c, market_order(Side.SELL, 2, symbol="MSFT"))  # a fill: pushed at once
        frames = await updates(ws, 2)
        assert {f["type"] for f in frames} == {"pl.update", "margin.update"}
        assert [inner(f) for f in frames if f["type"] == "pl.update"] == [
            {"id": "MSFT", "pl": -0.34}  # short 2 @419.83 (bid), lp 420
        ]
        assert await drain(ws, quiet=0.2) == [], "AAPL's P&L did not move: not pushed again"


async def test_pl_and_margin_price_pushes_share_the_equity_rate_limit(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client(equity_interval_s=30)
    await place(c, market_order(Side.BUY, 10))
    async with c.ws_connect(WS) as ws:
        for route in ("pl", "margin", "equity"):
            await sub(ws, route, 1)
        market(c).set_price("AAPL", 252.0)
        frames = await updates(ws, 3)
        assert sorted(f["type"] for f in frames) == ["equity.update", "margin.update", "pl.update"]
        market(c).set_price("AAPL", 253.0)  # within the interval: none of the three
        trading_clock.advance(1)
        assert await drain(ws, quiet=0.2) == []
        assert await get(c, "/margin") != inner(next(f for f in frames if f["type"] ==
                                                    "margin.update"))  # fmt: skip
        assert await call(c, "DELETE", "/positions") == (200, {"closed": ["AAPL"]})
        frames = await drain(ws)
        assert "margin.update" in {f["type"] for f in frames}, "a close pushes at once"
        assert inner([f for f in frames if f["type"] == "margin.update"][-1])["marginUsed"] == 0


async def test_pl_and_margin_refuse_an_empty_account(trading_client: Client) -> None:
    async with trading_client.ws_connect(WS) as ws:
        for route in ("pl", "margin"):
            reply, _ = await request(ws, f"{route}.subscribe", {"accountId": ""})
            assert reply["payload"] == {"status": "error",
                                        "message": "accountId must not be empty",
                                        "topic": f'{route}:{{"accountId":""}}'}  # fmt: skip
