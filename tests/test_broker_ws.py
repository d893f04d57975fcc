"""Black-box tests of the broker routes of /api/v1/ws (websocket.md §3, §12; broker.md §10).

Scripted prices, spread 8 bps (around 250.00: bid = lp − 0.10, ask = lp + 0.10), commission
0.001, leverage 10, balance 100000; equity pushes at most every 0.05 s.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from tests.brokerkit import (
    B,
    Client,
    broker_settings,
    call,
    hold_commits,
    limit_order,
    market,
    market_order,
    place,
    step,
)
from tests.wsclient import WS, Frame, drain, recv, request, updates
from trading.app import create_app
from trading.broker.enums import OrderStatus, OrderType, ParentType, Side, StopType
from trading.clock import ManualClock
from trading.keys import BROKER
from trading.settings import Settings
from trading.testing import TEST_NOW

Socket = aiohttp.ClientWebSocketResponse
NOW_MS = int(TEST_NOW * 1000)
S0 = math.floor(TEST_NOW)
BROKER_ROUTES = ("orders", "positions", "executions", "equity")


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock, equity_interval_s=0.05)


# -- helpers ---------------------------------------------------------------------------------


async def sub(ws: Socket, route: str, payload: dict[str, Any], snapshot: int) -> list[Frame]:
    """Subscribe; check the ok reply and return exactly ``snapshot`` snapshot frames."""
    reply, early = await request(ws, f"{route}.subscribe", payload)
    assert early == [], "no update may precede the reply"
    assert reply["payload"]["status"] == "ok", reply
    return await updates(ws, snapshot) if snapshot else []


async def sub_all(ws: Socket, account: str = "A") -> None:
    """Subscribe the four broker routes of an empty account (equity has one snapshot)."""
    for route in BROKER_ROUTES:
        await sub(ws, route, {"accountId": account}, 1 if route == "equity" else 0)


def kinds(frames: list[Frame]) -> list[str]:
    return [f["type"].removesuffix(".update") for f in frames]


def inner(frame: Frame) -> Any:
    return frame["payload"]["payload"]


def topic(route: str, account: str = "A") -> str:
    return f'{route}:{{"accountId":"{account}"}}'


# -- snapshots -------------------------------------------------------------------------------


async def test_snapshots_on_subscribe(trading_client: Client) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 1, 240.0))  # 1 working
    await place(c, market_order(Side.SELL, 2, symbol="MSFT"))  # 2 filled: short MSFT first
    await place(c, market_order(Side.BUY, 3, stopLoss=245.0))  # 3 filled, 4 working child
    await place(c, limit_order(Side.BUY, 1, 241.0))  # 5 canceled
    assert (await call(c, "DELETE", "/orders/ORDER-5"))[0] == 200
    _, rest_orders = await call(c, "GET", "/orders")
    _, rest_positions = await call(c, "GET", "/positions")
    _, rest_equity = await call(c, "GET", "/equity")
    async with c.ws_connect(WS) as ws:
        frames = await sub(ws, "orders", {"accountId": "ACCOUNT-x1"}, 2)
        assert [f["payload"]["topic"] for f in frames] == [topic("orders", "ACCOUNT-x1")] * 2
        working = [o for o in rest_orders if o["status"] == OrderStatus.WORKING]
        assert [inner(f) for f in frames] == working
        assert [inner(f)["id"] for f in frames] == ["ORDER-1", "ORDER-4"]
        frames = await sub(ws, "positions", {"accountId": "A"}, 2)
        assert [inner(f) for f in frames] == rest_positions
        assert [inner(f)["id"] for f in frames] == ["MSFT", "AAPL"]
        (frame,) = await sub(ws, "equity", {"accountId": "A"}, 1)
        assert inner(frame) == rest_equity
        await sub(ws, "executions", {"accountId": "A"}, 0)
        assert await drain(ws) == [], "no more snapshot frames, no executions replay"


# -- event order -----------------------------------------------------------------------------


async def test_market_fill_event_order(trading_client: Client) -> None:
    c = trading_client
    async with c.ws_connect(WS) as ws, c.ws_connect(WS) as other:
        await sub_all(ws)
        await sub(other, "orders", {"accountId": "B"}, 0)
        await place(c, market_order(Side.BUY, 10))
        frames = await updates(ws, 5)
        assert kinds(frames) == ["orders", "executions", "positions", "orders", "equity"]
        assert [f["payload"]["topic"] for f in frames] == [
            topic(r) for r in ("orders", "executions", "positions", "orders", "equity")
        ]
        working, execution, position, filled, equity = (inner(f) for f in frames)
        assert (working["id"], working["status"], working["filledQty"], working["avgPrice"]) == (
            "ORDER-1", OrderStatus.WORKING, 0.0, None
        )  # fmt: skip
        assert execution == {"symbol": "AAPL", "price": 250.1, "qty": 10.0, "side": Side.BUY,
                             "time": NOW_MS, "id": "EXEC-1", "orderId": "ORDER-1",
                             "commission": 2.5, "netAmount": -2503.5}  # fmt: skip
        assert position == {"id": "AAPL", "symbol": "AAPL", "qty": 10.0, "side": Side.BUY,
                            "avgPrice": 250.1}  # fmt: skip
        _, rest_orders = await call(c, "GET", "/orders")
        assert filled == rest_orders[0]
        assert (filled["status"], filled["filledQty"], filled["avgPrice"]) == (
            OrderStatus.FILLED, 10.0, 250.1
        )  # fmt: skip
        # commission 2.501 → 2.50; unrealized (250.00 − 250.10)·10 = −1.00
        assert equity == {"equity": 99996.5, "balance": 99997.5, "unrealizedPL": -1.0,
                          "realizedPL": 0.0}  # fmt: skip
        # any accountId gets the same account's events
        assert [inner(f)["status"] for f in await updates(other, 2)] == [
            OrderStatus.WORKING, OrderStatus.FILLED
        ]  # fmt: skip
        assert await drain(ws) == []


async def test_bracket_events_follow_the_fill(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    async with c.ws_connect(WS) as ws:
        await sub_all(ws)
        await place(c, market_order(Side.BUY, 10, takeProfit=260.0, stopLoss=240.0))
        frames = await updates(ws, 9)
        # broker.md §14: the children exist (INACTIVE, linked to the entry) right after the
        # entry's own update, and become the position's once it has filled
        assert kinds(frames) == [
            "orders", "orders", "orders", "executions", "positions", "orders", "equity",
            "orders", "orders",
        ]  # fmt: skip
        pushed = [inner(f) for f in frames if f["type"] == "orders.update"]
        links = [(o["id"], o["status"], o.get("parentType"), o.get("parentId")) for o in pushed]
        assert links == [
            ("ORDER-1", OrderStatus.WORKING, None, None),
            ("ORDER-2", OrderStatus.INACTIVE, ParentType.ORDER, "ORDER-1"),
            ("ORDER-3", OrderStatus.INACTIVE, ParentType.ORDER, "ORDER-1"),
            ("ORDER-1", OrderStatus.FILLED, None, None),
            ("ORDER-2", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
            ("ORDER-3", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
        ]
        tp, sl = inner(frames[7]), inner(frames[8])
        assert (tp["id"], tp["type"], tp["side"], tp["qty"], tp["limitPrice"], tp["status"]) == (
            "ORDER-2", OrderType.LIMIT, Side.SELL, 10.0, 260.0, OrderStatus.WORKING
        )  # fmt: skip
        assert (sl["id"], sl["type"], sl["stopPrice"], sl["stopType"]) == (
            "ORDER-3", OrderType.STOP, 240.0, StopType.STOP_LOSS
        )  # fmt: skip

        # the take profit fills (bid 260.10): the position closes, the stop is canceled
        await step(c, trading_clock, 260.2)
        frames = await updates(ws, 5)
        assert kinds(frames) == ["executions", "positions", "orders", "equity", "orders"]
        assert inner(frames[0]) == {"symbol": "AAPL", "price": 260.1, "qty": 10.0,
                                    "side": Side.SELL, "time": (S0 + 1) * 1000,
                                    "id": "EXEC-2", "orderId": "ORDER-2", "commission": 2.6,
                                    "netAmount": 2598.4}  # fmt: skip
        assert inner(frames[1]) == {"id": "AAPL", "symbol": "AAPL", "qty": 0.0, "side": Side.BUY,
                                    "avgPrice": 250.1}  # fmt: skip
        assert (inner(frames[2])["id"], inner(frames[2])["status"]) == (
            "ORDER-2", OrderStatus.FILLED
        )  # fmt: skip
        # realized 10·10.00 = 100; commissions 2.50 + 2.601 → 2.60
        assert inner(frames[3]) == {"equity": 100094.9, "balance": 100094.9, "unrealizedPL": 0.0,
                                    "realizedPL": 100.0}  # fmt: skip
        assert (inner(frames[4])["id"], inner(frames[4])["status"]) == (
            "ORDER-3", OrderStatus.CANCELED
        )  # fmt: skip
        assert await drain(ws) == []


async def test_resize_events_after_the_fill(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0, stopLoss=240.0))
    async with c.ws_connect(WS) as ws:
        await sub(ws, "orders", {"accountId": "A"}, 2)
        await sub(ws, "equity", {"accountId": "A"}, 1)
        await place(c, market_order(Side.BUY, 5))
        frames = await updates(ws, 5)
        assert kinds(frames) == ["orders", "orders", "equity", "orders", "orders"]
        assert [(inner(f)["id"], inner(f)["qty"], inner(f)["status"])
                for f in frames if f["type"] == "orders.update"] == [
            ("ORDER-4", 5.0, OrderStatus.WORKING), ("ORDER-4", 5.0, OrderStatus.FILLED),
            ("ORDER-2", 15.0, OrderStatus.WORKING), ("ORDER-3", 15.0, OrderStatus.WORKING),
        ]  # fmt: skip


async def test_close_of_a_short_position_is_pushed_with_its_side(trading_client: Client) -> None:
    """broker.md §5: a closed position is pushed once with qty 0, its last side and avgPrice."""
    c = trading_client
    await place(c, market_order(Side.SELL, 10))  # short 10 @249.90
    async with c.ws_connect(WS) as ws:
        await sub(ws, "positions", {"accountId": "A"}, 1)
        assert (await call(c, "DELETE", "/positions/AAPL"))[0] == 200
        (frame,) = await updates(ws, 1)
        assert inner(frame) == {"id": "AAPL", "symbol": "AAPL", "qty": 0.0, "side": Side.SELL,
                                "avgPrice": 249.9}  # fmt: skip
        assert await drain(ws) == []


async def test_flip_is_pushed_as_the_new_position(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 3))  # long 3 @250.10
    async with c.ws_connect(WS) as ws:
        await sub(ws, "positions", {"accountId": "A"}, 1)
        await place(c, market_order(Side.SELL, 5))  # short 2 @249.90
        (frame,) = await updates(ws, 1)
        assert inner(frame) == {"id": "AAPL", "symbol": "AAPL", "qty": 2.0, "side": Side.SELL,
                                "avgPrice": 249.9}  # fmt: skip


# -- order changes ---------------------------------------------------------------------------


async def test_modify_cancel_and_reject_are_pushed(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    async with c.ws_connect(WS) as ws:
        await sub(ws, "orders", {"accountId": "A"}, 0)
        await place(c, limit_order(Side.BUY, 1, 240.0))
        body = limit_order(Side.BUY, 2, 241.0)
        assert (await call(c, "PUT", "/orders/ORDER-1", body))[0] == 200
        assert (await call(c, "DELETE", "/orders/ORDER-1"))[0] == 200
        frames = await updates(ws, 3)
        assert [(inner(f)["status"], inner(f)["qty"], inner(f)["limitPrice"]) for f in frames] == [
            (OrderStatus.WORKING, 1.0, 240.0), (OrderStatus.WORKING, 2.0, 241.0),
            (OrderStatus.CANCELED, 2.0, 241.0),
        ]  # fmt: skip

        # rejected at fill time: leverage 1 → 450·239.10 = 107595 > 100000
        await place(c, limit_order(Side.BUY, 450, 240.0))
        lev = {"symbol": "AAPL", "orderType": OrderType.LIMIT, "side": Side.BUY, "leverage": 1}
        assert (await call(c, "PUT", "/leverage/set", lev))[0] == 200
        await step(c, trading_clock, 239.0)
        frames = await updates(ws, 2)
        assert [(inner(f)["id"], inner(f)["status"]) for f in frames] == [
            ("ORDER-2", OrderStatus.WORKING), ("ORDER-2", OrderStatus.REJECTED)
        ]  # fmt: skip
        assert await drain(ws) == []


async def test_trailing_stop_moves_are_pushed_once_per_tick(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, trailingStopPips=100))  # stop = bid − 1.00 = 248.90
    async with c.ws_connect(WS) as ws:
        (snap,) = await sub(ws, "orders", {"accountId": "A"}, 1)
        assert (inner(snap)["id"], inner(snap)["stopPrice"]) == ("ORDER-2", 248.9)
        market(c).set_price("AAPL", 252.0)
        trading_clock.advance(3)  # three seconds at once: one push
        await c.app[BROKER].evaluate()
        (frame,) = await updates(ws, 1)
        assert (inner(frame)["id"], inner(frame)["stopPrice"], inner(frame)["status"]) == (
            "ORDER-2", 250.9, OrderStatus.WORKING
        )  # fmt: skip
        await step(c, trading_clock, 251.5)  # back down: no move, no push
        assert await drain(ws) == []


# -- executions filter -----------------------------------------------------------------------


async def test_executions_symbol_filter(trading_client: Client) -> None:
    c = trading_client
    all_ = 'executions:{"accountId":"A","symbol":""}'  # "" means all symbols, kept in the topic
    msft = 'executions:{"accountId":"A","symbol":"MSFT"}'
    aapl = 'executions:{"accountId":"A","symbol":"nasdaq:aapl"}'
    async with c.ws_connect(WS) as ws:
        await sub(ws, "executions", {"accountId": "A", "symbol": "MSFT"}, 0)
        await sub(ws, "executions", {"accountId": "A", "symbol": ""}, 0)
        await sub(ws, "executions", {"accountId": "A", "symbol": "nasdaq:aapl"}, 0)
        await place(c, market_order(Side.BUY, 1))
        frames = await updates(ws, 2)
        assert sorted(f["payload"]["topic"] for f in frames) == sorted([all_, aapl])
        assert {inner(f)["symbol"] for f in frames} == {"AAPL"}
        await place(c, market_order(Side.BUY, 1, symbol="MSFT"))
        frames = await updates(ws, 2)
        assert sorted(f["payload"]["topic"] for f in frames) == sorted([all_, msft])
        assert {inner(f)["price"] for f in frames} == {420.17}  # ask: 420 + 16.8 → 17 ticks
        assert await drain(ws) == []


# -- equity ----------------------------------------------------------------------------------


async def test_equity_pushes_while_a_position_is_open(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10))  # long 10 @250.10, balance 99997.50
    async with c.ws_connect(WS) as ws:
        (snap,) = await sub(ws, "equity", {"accountId": "A"}, 1)
        assert inner(snap)["unrealizedPL"] == -1.0
        market(c).set_price("AAPL", 252.0)  # unrealized (252 − 250.10)·10 = 19.00
        (frame,) = await updates(ws, 1)
        assert inner(frame) == {"equity": 100016.5, "balance": 99997.5, "unrealizedPL": 19.0,
                                "realizedPL": 0.0}  # fmt: skip
        trading_clock.advance(2)  # time passes, nothing changes: no push
        assert await drain(ws, quiet=0.2) == []
        market(c).set_price("AAPL", 249.0)  # (249 − 250.10)·10 = −11.00
        (frame,) = await updates(ws, 1)
        assert inner(frame)["equity"] == 99986.5
        # flat: the close pushes equity once, later price moves push nothing
        assert (await call(c, "DELETE", "/positions/AAPL"))[0] == 200
        (frame,) = await updates(ws, 1)
        # realized 10·(248.90 − 250.10) = −12.00; commissions 2.50 + 2.489 → 2.49
        assert inner(frame) == {"equity": 99983.01, "balance": 99983.01, "unrealizedPL": 0.0,
                                "realizedPL": -12.0}  # fmt: skip
        market(c).set_price("AAPL", 255.0)
        trading_clock.advance(1)
        assert await drain(ws, quiet=0.2) == []


async def test_equity_price_pushes_are_rate_limited(
    aiohttp_client: AiohttpClient, trading_settings: Settings
) -> None:
    c = await aiohttp_client(create_app(trading_settings.replace(equity_interval_s=30)))
    await place(c, market_order(Side.BUY, 10))
    async with c.ws_connect(WS) as ws:
        await sub(ws, "equity", {"accountId": "A"}, 1)
        market(c).set_price("AAPL", 252.0)
        (frame,) = await updates(ws, 1)
        assert inner(frame)["unrealizedPL"] == 19.0
        market(c).set_price("AAPL", 253.0)  # within the interval: no push
        assert await drain(ws, quiet=0.2) == []
        status, rest = await call(c, "GET", "/equity")
        assert (status, rest["unrealizedPL"]) == (200, 29.0)
        await place(c, market_order(Side.BUY, 1))  # a fill pushes equity regardless
        (frame,) = await updates(ws, 1)
        assert frame["type"] == "equity.update"


# -- reset -----------------------------------------------------------------------------------


async def test_reset_pushes_cancels_closed_positions_and_equity(trading_client: Client) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 1, 240.0))  # 1 working
    await place(c, market_order(Side.BUY, 10, stopLoss=240.0))  # 2 filled, 3 working child
    await place(c, limit_order(Side.BUY, 1, 400.0, symbol="MSFT"))  # 4 canceled
    assert (await call(c, "DELETE", "/orders/ORDER-4"))[0] == 200
    async with c.ws_connect(WS) as ws:
        await sub(ws, "orders", {"accountId": "A"}, 2)
        await sub(ws, "positions", {"accountId": "A"}, 1)
        await sub(ws, "equity", {"accountId": "A"}, 1)
        assert (await call(c, "POST", "/debug/reset", {}))[0] == 200
        frames = await updates(ws, 4)
        assert kinds(frames) == ["orders", "orders", "positions", "equity"]
        assert [(inner(f)["id"], inner(f)["status"]) for f in frames[:2]] == [
            ("ORDER-1", OrderStatus.CANCELED), ("ORDER-3", OrderStatus.CANCELED)
        ]  # fmt: skip
        assert inner(frames[2]) == {"id": "AAPL", "symbol": "AAPL", "qty": 0.0, "side": Side.BUY,
                                    "avgPrice": 250.1}  # fmt: skip
        assert inner(frames[3]) == {"equity": 100000.0, "balance": 100000.0,
                                    "unrealizedPL": 0.0, "realizedPL": 0.0}  # fmt: skip
        assert await drain(ws) == []
        # a fresh subscription sees the empty account
        await request(ws, "orders.unsubscribe", {"accountId": "A"})
        await sub(ws, "orders", {"accountId": "A"}, 0)
        assert await drain(ws) == []


async def test_broker_events_reach_a_socket_that_subscribed_late(trading_client: Client) -> None:
    """The broker publishes whether or not anyone listens: nothing is queued for later."""
    c = trading_client
    await place(c, market_order(Side.BUY, 1))
    async with c.ws_connect(WS) as ws:
        await sub(ws, "executions", {"accountId": "A"}, 0)
        assert await drain(ws) == []
        await place(c, market_order(Side.SELL, 1))
        frame = await recv(ws)
        assert inner(frame)["side"] == Side.SELL


async def test_subscribe_waits_for_a_commit_in_flight(
    trading_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot never shows a change the database has not committed yet (broker.md §12)."""
    release = hold_commits(trading_client, monkeypatch)
    body = market_order(Side.BUY, 3)
    placing = asyncio.create_task(trading_client.post(B + "/orders", json=body))
    await asyncio.sleep(0.05)  # the fill now waits inside its commit
    async with trading_client.ws_connect(WS) as ws:
        await ws.send_json({"type": "positions.subscribe", "payload": {"accountId": "A"}})
        assert await drain(ws, quiet=0.2) == [], "nothing before the commit finishes"
        release.set()
        reply, snapshot = await recv(ws), await drain(ws)
        assert reply["payload"]["status"] == "ok"
        assert [f["payload"]["payload"]["qty"] for f in snapshot] == [3.0]
    assert (await placing).status == 200


@pytest.mark.spec_unchecked  # a simulated server failure: its 500 is not part of the API
async def test_a_failed_commit_leaves_no_trace_in_memory(
    trading_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = trading_client.app[BROKER].store

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "commit", broken)
    body = market_order(Side.BUY, 3)
    resp = await trading_client.post(B + "/orders", json=body)
    assert resp.status == 500
    assert await resp.json() == {"detail": "Internal Server Error"}
    monkeypatch.undo()
    assert await call(trading_client, "GET", "/orders") == (200, [])
    assert await call(trading_client, "GET", "/positions") == (200, [])
    resp = await trading_client.post(B + "/orders", json=body)
    assert await resp.json() == {"orderId": "ORDER-1"}, "the lost order's id is free again"
