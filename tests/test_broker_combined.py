"""Issue 13's parts together: bracket parent links with durations, desk operations and the
order history (broker.md §14-§19). Each part has its own tests; these are the cases where one
part's rule must hold for another part's way of ending an order.

Black-box over the real app; the clock is the manual clock of the broker tests.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.brokerkit import Client, broker_settings, call, get, limit_order, market_order, place
from trading.broker.enums import OrderStatus, ParentType, Side
from trading.clock import ManualClock
from trading.keys import BROKER
from trading.settings import Settings

END_OF_DAY = int(dt.datetime(2025, 10, 25, 4, tzinfo=dt.UTC).timestamp())
"""Midnight New York (EDT) after the tests' TEST_NOW, in UTC seconds."""


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock, market_spread_bps=0)


def statuses(orders: list[dict[str, Any]]) -> dict[str, tuple[int, int | None]]:
    return {o["id"]: (o["status"], o.get("parentType")) for o in orders}


RESTING_WITH_BRACKETS: dict[str, Any] = {"takeProfit": 255.0, "stopLoss": 240.0}


async def test_an_expired_day_entry_takes_its_inactive_brackets_with_it(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 4, 245.0, duration={"type": "day"},
                               **RESTING_WITH_BRACKETS))  # fmt: skip
    assert statuses(await get(c, "/orders")) == {
        "ORDER-1": (OrderStatus.WORKING, None),
        "ORDER-2": (OrderStatus.INACTIVE, ParentType.ORDER),
        "ORDER-3": (OrderStatus.INACTIVE, ParentType.ORDER),
    }
    trading_clock.set(END_OF_DAY + 1)
    await c.app[BROKER].evaluate()
    orders = await get(c, "/orders")
    assert {o["id"]: o["status"] for o in orders} == dict.fromkeys(
        ("ORDER-1", "ORDER-2", "ORDER-3"), OrderStatus.CANCELED
    )
    assert orders[0]["message"]["text"].startswith("Expired: DAY order")
    history = await get(c, "/orders/history")
    assert sorted(o["id"] for o in history["orders"]) == ["ORDER-1", "ORDER-2", "ORDER-3"]


async def test_an_ioc_entry_that_cannot_fill_leaves_no_inactive_brackets(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 4, 245.0, duration={"type": "ioc"},
                               **RESTING_WITH_BRACKETS))  # fmt: skip
    orders = await get(c, "/orders")
    assert {o["id"]: o["status"] for o in orders} == dict.fromkeys(
        ("ORDER-1", "ORDER-2", "ORDER-3"), OrderStatus.CANCELED
    )
    assert orders[0]["message"]["type"] == "warning"


async def test_an_ioc_entry_that_fills_protects_its_position(trading_client: Client) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 4, duration={"type": "ioc"}, **RESTING_WITH_BRACKETS))
    assert statuses(await get(c, "/orders")) == {
        "ORDER-1": (OrderStatus.FILLED, None),
        "ORDER-2": (OrderStatus.WORKING, ParentType.POSITION),
        "ORDER-3": (OrderStatus.WORKING, ParentType.POSITION),
    }


async def test_cancel_all_cancels_entries_with_their_inactive_brackets(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, limit_order(Side.BUY, 4, 245.0, **RESTING_WITH_BRACKETS))
    await place(c, limit_order(Side.BUY, 1, 200.0, symbol="MSFT"))
    status, body = await call(c, "DELETE", "/orders?symbol=AAPL")
    assert status == 200
    assert set(body["canceled"]) >= {"ORDER-1"}
    after = {o["id"]: o["status"] for o in await get(c, "/orders")}
    assert after == {
        "ORDER-1": OrderStatus.CANCELED, "ORDER-2": OrderStatus.CANCELED,
        "ORDER-3": OrderStatus.CANCELED, "ORDER-4": OrderStatus.WORKING,
    }  # fmt: skip


async def test_reverse_cancels_the_positions_brackets_and_the_history_lists_them(
    trading_client: Client,
) -> None:
    c = trading_client
    await place(c, market_order(Side.BUY, 4, **RESTING_WITH_BRACKETS))
    status, _ = await call(c, "POST", "/positions/AAPL/reverse", {})
    assert status == 200
    (position,) = await get(c, "/positions")
    assert (position["side"], position["qty"]) == (Side.SELL, 4.0)
    working = [o for o in await get(c, "/orders") if o["status"] == OrderStatus.WORKING]
    assert working == [], "a flip cancels the old position's brackets"
    final = {o["id"] for o in (await get(c, "/orders/history"))["orders"]}
    assert {"ORDER-2", "ORDER-3"} <= final
