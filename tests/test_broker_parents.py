"""Black-box tests of the bracket parent links (broker.md §14) over REST and the WebSocket.

TradingView treats an order as a bracket only when it names its parent (``parentId``,
``parentType``: 1 an order, 2 a position). An entry placed with brackets gets INACTIVE children
at once, linked to it; its fill turns the same ids into WORKING children of the position.

Spread 0 (fills at ``lp``), AAPL at 250.00, commission 0.001, leverage 10, balance 100000.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
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
    market_order,
    order,
    place,
    step,
    stop_order,
)
from tests.wsclient import WS, Frame, drain, request, updates
from trading.broker import migrations
from trading.broker.enums import OrderStatus, OrderType, ParentType, Side, StopType
from trading.broker.service import DB_FILE
from trading.clock import ManualClock
from trading.settings import Settings
from trading.testing import TEST_NOW

NOW_MS = int(TEST_NOW * 1000)


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock, market_spread_bps=0)


def link(o: dict[str, Any]) -> tuple[str, int, int | None, str | None]:
    """(id, status, parentType, parentId) of an order; the links are absent, not null, on
    orders that have none (the reference's shape)."""
    return o["id"], o["status"], o.get("parentType"), o.get("parentId")


async def links(c: Client) -> list[tuple[str, int, int | None, str | None]]:
    return [link(o) for o in await get(c, "/orders")]


async def subscribe_orders(ws: Any, snapshot: int = 0) -> list[Frame]:
    reply, early = await request(ws, "orders.subscribe", {"accountId": "A"})
    assert (reply["payload"]["status"], early) == ("ok", [])
    return await updates(ws, snapshot) if snapshot else []


def pushed(frames: list[Frame]) -> list[tuple[str, int, int | None, str | None]]:
    return [link(f["payload"]["payload"]) for f in frames if f["type"] == "orders.update"]


RESTING = limit_order(Side.BUY, 4, 245.0, takeProfit=255.0, stopLoss=240.0)
"""An entry under the market (it rests) with a take profit and a stop loss."""


# -- the whole lifecycle ---------------------------------------------------------------------


async def test_children_exist_inactive_from_placement_and_become_the_positions(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    assert await place(c, RESTING) == "ORDER-1"
    entry, tp, sl = await get(c, "/orders")
    assert {"parentId", "parentType"}.isdisjoint(entry)  # the entry has no parent
    assert tp == {
        "id": "ORDER-2", "symbol": "AAPL", "type": OrderType.LIMIT, "side": Side.SELL,
        "qty": 4.0, "status": OrderStatus.INACTIVE, "limitPrice": 255.0, "stopPrice": None,
        "takeProfit": None, "stopLoss": None, "guaranteedStop": None, "trailingStopPips": None,
        "stopType": None, "filledQty": 0.0, "avgPrice": None, "updateTime": NOW_MS,
        "parentId": "ORDER-1", "parentType": ParentType.ORDER,
    }  # fmt: skip
    assert (sl["type"], sl["side"], sl["qty"], sl["stopPrice"], sl["stopType"]) == (
        OrderType.STOP, Side.SELL, 4.0, 240.0, StopType.STOP_LOSS
    )  # fmt: skip
    assert link(sl) == ("ORDER-3", OrderStatus.INACTIVE, ParentType.ORDER, "ORDER-1")

    await step(c, trading_clock, 256.0)  # the take profit would fill, were it evaluated
    assert await get(c, "/executions/AAPL") == []
    assert [s for _, s, _, _ in await links(c)] == [OrderStatus.WORKING, OrderStatus.INACTIVE,
                                                    OrderStatus.INACTIVE]  # fmt: skip

    await step(c, trading_clock, 244.0)  # the entry fills: the same ids protect the position
    assert await links(c) == [
        ("ORDER-1", OrderStatus.FILLED, None, None),
        ("ORDER-2", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
        ("ORDER-3", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
    ]
    assert [p["id"] for p in await get(c, "/positions")] == ["AAPL"]

    await step(c, trading_clock, 255.5)  # the take profit fills, the stop is canceled (OCO)
    assert await links(c) == [
        ("ORDER-1", OrderStatus.FILLED, None, None),
        ("ORDER-2", OrderStatus.FILLED, ParentType.POSITION, "AAPL"),
        ("ORDER-3", OrderStatus.CANCELED, ParentType.POSITION, "AAPL"),
    ]
    assert await get(c, "/positions") == []


async def test_lifecycle_is_pushed_in_order(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    async with c.ws_connect(WS) as ws:
        await subscribe_orders(ws)
        await place(c, RESTING)
        assert pushed(await updates(ws, 3)) == [
            ("ORDER-1", OrderStatus.WORKING, None, None),
            ("ORDER-2", OrderStatus.INACTIVE, ParentType.ORDER, "ORDER-1"),
            ("ORDER-3", OrderStatus.INACTIVE, ParentType.ORDER, "ORDER-1"),
        ]
        await step(c, trading_clock, 244.0)
        assert pushed(await updates(ws, 3)) == [
            ("ORDER-1", OrderStatus.FILLED, None, None),
            ("ORDER-2", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
            ("ORDER-3", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
        ]
        await step(c, trading_clock, 239.0)  # the stop loss fills at the bid, the TP goes
        assert pushed(await updates(ws, 2)) == [
            ("ORDER-3", OrderStatus.FILLED, ParentType.POSITION, "AAPL"),
            ("ORDER-2", OrderStatus.CANCELED, ParentType.POSITION, "AAPL"),
        ]
        assert await drain(ws) == []


async def test_the_orders_snapshot_includes_inactive_children(trading_client: Client) -> None:
    c = trading_client
    await place(c, RESTING)
    rest = await get(c, "/orders")
    async with c.ws_connect(WS) as ws:
        frames = await subscribe_orders(ws, 3)
        assert [f["payload"]["payload"] for f in frames] == rest
        assert await drain(ws) == []


# -- the entry's life moves its children -----------------------------------------------------


async def test_canceling_the_entry_cancels_its_children(trading_client: Client) -> None:
    c = trading_client
    await place(c, RESTING)
    async with c.ws_connect(WS) as ws:
        await subscribe_orders(ws, 3)
        assert (await call(c, "DELETE", "/orders/ORDER-1"))[0] == 200
        assert pushed(await updates(ws, 3)) == [
            ("ORDER-1", OrderStatus.CANCELED, None, None),
            ("ORDER-2", OrderStatus.CANCELED, ParentType.ORDER, "ORDER-1"),
            ("ORDER-3", OrderStatus.CANCELED, ParentType.ORDER, "ORDER-1"),
        ]
        assert await drain(ws) == []


async def test_modifying_the_entrys_brackets_moves_its_children(trading_client: Client) -> None:
    c = trading_client
    await place(c, RESTING)
    async with c.ws_connect(WS) as ws:
        await subscribe_orders(ws, 3)
        # a new take profit, the stop loss removed, a larger quantity
        body = limit_order(Side.BUY, 6, 245.0, takeProfit=258.0)
        assert (await call(c, "PUT", "/orders/ORDER-1", body))[0] == 200
        frames = [f["payload"]["payload"] for f in await updates(ws, 3)]
        assert [(o["id"], o["status"], o["qty"], o["limitPrice"]) for o in frames] == [
            ("ORDER-1", OrderStatus.WORKING, 6.0, 245.0),
            ("ORDER-2", OrderStatus.INACTIVE, 6.0, 258.0),  # same id, repriced, resized
            ("ORDER-3", OrderStatus.CANCELED, 4.0, None),
        ]
        # a stop loss again: a new child; the unchanged take profit is not pushed again
        body = limit_order(Side.BUY, 6, 245.0, takeProfit=258.0, stopLoss=241.0)
        assert (await call(c, "PUT", "/orders/ORDER-1", body))[0] == 200
        frames = [f["payload"]["payload"] for f in await updates(ws, 2)]
        assert [(o["id"], o["status"], o["qty"], o["stopPrice"]) for o in frames] == [
            ("ORDER-1", OrderStatus.WORKING, 6.0, None),
            ("ORDER-4", OrderStatus.INACTIVE, 6.0, 241.0),
        ]
        assert link(frames[1]) == ("ORDER-4", OrderStatus.INACTIVE, ParentType.ORDER, "ORDER-1")
        # no brackets at all: every child goes
        assert (await call(c, "PUT", "/orders/ORDER-1", limit_order(Side.BUY, 6, 245.0)))[0] == 200
        assert pushed(await updates(ws, 3)) == [
            ("ORDER-1", OrderStatus.WORKING, None, None),
            ("ORDER-2", OrderStatus.CANCELED, ParentType.ORDER, "ORDER-1"),
            ("ORDER-4", OrderStatus.CANCELED, ParentType.ORDER, "ORDER-1"),
        ]
        assert await drain(ws) == []


async def test_a_guaranteed_stop_becomes_a_trailing_stop_on_the_same_child(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 2, 245.0, guaranteedStop=240.0))
    child = await order(c, "ORDER-2")
    assert (child["stopPrice"], child["guaranteedStop"], child["stopType"]) == (
        240.0, 240.0, StopType.GUARANTEED_STOP
    )  # fmt: skip
    body = limit_order(Side.BUY, 2, 245.0, trailingStopPips=100)
    assert (await call(c, "PUT", "/orders/ORDER-1", body))[0] == 200
    child = await order(c, "ORDER-2")
    # shown its distance from the entry price until the entry fills
    assert (child["status"], child["stopPrice"], child["guaranteedStop"], child["stopType"]) == (
        OrderStatus.INACTIVE, 244.0, None, StopType.TRAILING_STOP
    )  # fmt: skip
    await step(c, trading_clock, 243.0)  # fills at 243.00: the trail starts from the market
    child = await order(c, "ORDER-2")
    assert (child["status"], child["stopPrice"], child["parentType"]) == (
        OrderStatus.WORKING, 242.0, ParentType.POSITION
    )  # fmt: skip


async def test_a_rejected_entry_cancels_its_children(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client(initial_balance=1000.0)
    await place(c, limit_order(Side.BUY, 30, 240.0, takeProfit=260.0))  # 720.00 of 1000.00
    lev = {"symbol": "AAPL", "orderType": OrderType.LIMIT, "side": Side.BUY, "leverage": 1}
    assert (await call(c, "PUT", "/leverage/set", lev))[0] == 200
    await step(c, trading_clock, 239.0)  # needs 30·239/1 = 7170 > 1000 at fill time
    assert await links(c) == [
        ("ORDER-1", OrderStatus.REJECTED, None, None),
        ("ORDER-2", OrderStatus.CANCELED, ParentType.ORDER, "ORDER-1"),
    ]


async def test_a_reducing_entrys_children_are_canceled_at_its_fill(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0))  # 1, child 2
    await place(c, market_order(Side.SELL, 3, takeProfit=240.0))  # 3, child 4: only reduces
    assert await links(c) == [
        ("ORDER-1", OrderStatus.FILLED, None, None),
        ("ORDER-2", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
        ("ORDER-3", OrderStatus.FILLED, None, None),
        ("ORDER-4", OrderStatus.CANCELED, ParentType.ORDER, "ORDER-3"),
    ]
    assert (await order(c, "ORDER-2"))["qty"] == 7.0


# -- the children themselves -----------------------------------------------------------------


async def test_an_inactive_child_is_canceled_alone_or_refuses_a_modify(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, RESTING)
    assert await call(c, "PUT", "/orders/ORDER-2", limit_order(Side.SELL, 4, 256.0)) == (
        400, {"detail": "Cannot modify order ORDER-2: it is a bracket of order ORDER-1, which "
                        "has not filled; modify the brackets of ORDER-1 instead"},
    )  # fmt: skip
    async with c.ws_connect(WS) as ws:
        await subscribe_orders(ws, 3)
        assert (await call(c, "DELETE", "/orders/ORDER-3"))[0] == 200
        frames = [f["payload"]["payload"] for f in await updates(ws, 2)]
        # the entry says what is left: its stop loss is gone with the child
        assert [(*link(o)[:2], o["takeProfit"], o["stopLoss"]) for o in frames] == [
            ("ORDER-3", OrderStatus.CANCELED, None, None),
            ("ORDER-1", OrderStatus.WORKING, 255.0, None),
        ]
    assert (await call(c, "DELETE", "/orders/ORDER-3"))[1] == {
        "detail": "Cannot cancel order ORDER-3 with status 1"
    }


async def test_position_children_carry_the_position_link(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, stopLoss=240.0))  # 1, child 2
    body = {"brackets": {"takeProfit": 265.0, "stopLoss": 245.0}}
    assert (await call(c, "PUT", "/positions/AAPL/brackets", body))[0] == 200
    assert await links(c) == [
        ("ORDER-1", OrderStatus.FILLED, None, None),
        ("ORDER-2", OrderStatus.CANCELED, ParentType.POSITION, "AAPL"),
        ("ORDER-3", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
        ("ORDER-4", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
    ]
    # a client's own order on the symbol is no bracket
    await place(c, stop_order(Side.SELL, 1, 230.0))
    assert link(await order(c, "ORDER-5")) == ("ORDER-5", OrderStatus.WORKING, None, None)


async def test_edit_position_brackets_pushes_the_position_after_the_orders(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 10, takeProfit=260.0))  # 1, child 2
    async with c.ws_connect(WS) as ws:
        await subscribe_orders(ws, 1)
        reply, _ = await request(ws, "positions.subscribe", {"accountId": "A"})
        assert reply["payload"]["status"] == "ok"
        position = (await updates(ws, 1))[0]["payload"]["payload"]
        body = {"brackets": {"takeProfit": 262.0, "stopLoss": 245.0}}
        assert (await call(c, "PUT", "/positions/AAPL/brackets", body))[0] == 200
        frames = await updates(ws, 4)
        assert [f["type"] for f in frames] == ["orders.update"] * 3 + ["positions.update"]
        assert pushed(frames) == [
            ("ORDER-2", OrderStatus.CANCELED, ParentType.POSITION, "AAPL"),
            ("ORDER-3", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
            ("ORDER-4", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
        ]
        assert frames[3]["payload"]["payload"] == position  # the position as it is
        assert await drain(ws) == []


# -- persistence -----------------------------------------------------------------------------


async def test_inactive_children_and_their_links_survive_a_restart(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client()
    await place(c, RESTING)
    before = await get(c, "/orders")
    await c.close()
    c = await make_client()  # the same data dir
    assert await get(c, "/orders") == before
    await step(c, trading_clock, 244.0)  # the restarted broker still knows whose they are
    assert await links(c) == [
        ("ORDER-1", OrderStatus.FILLED, None, None),
        ("ORDER-2", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
        ("ORDER-3", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
    ]
    assert (await call(c, "DELETE", "/positions/AAPL"))[0] == 200
    assert [s for _, s, _, _ in await links(c)][1:3] == [OrderStatus.CANCELED] * 2


async def test_a_database_from_before_the_links_loads_its_children_as_the_positions(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    """A child stored before the parent links existed had ``parent`` = the position's symbol:
    it loads as a WORKING child of that position (parentType 2)."""
    data = trading_settings.data_dir
    data.mkdir(parents=True)
    db = sqlite3.connect(data / DB_FILE)
    db.executescript(migrations.MIGRATIONS[0])
    db.execute("INSERT INTO account VALUES (1, '100000', '0', '2.5', 2, 1)")
    db.execute(
        "INSERT INTO orders VALUES ('ORDER-1', 1, 'AAPL', 2, 1, '10', 2, NULL, NULL, NULL, "
        "'240', NULL, NULL, NULL, '10', '250', ?, NULL, NULL, 0)",
        (NOW_MS,),
    )
    db.execute(
        "INSERT INTO orders VALUES ('ORDER-2', 2, 'AAPL', 3, -1, '10', 6, NULL, '240', NULL, "
        "NULL, NULL, NULL, 0, '0', NULL, ?, 'AAPL', 'stop', 0)",
        (NOW_MS,),
    )
    db.execute("INSERT INTO positions VALUES ('AAPL', '10', '250')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    c = await make_client()
    assert await links(c) == [
        ("ORDER-1", OrderStatus.FILLED, None, None),
        ("ORDER-2", OrderStatus.WORKING, ParentType.POSITION, "AAPL"),
    ]
    await place(c, market_order(Side.BUY, 5))  # it still follows the position
    assert (await order(c, "ORDER-2"))["qty"] == 15.0
    assert Decimal(str((await get(c, "/positions"))[0]["qty"])) == 15
