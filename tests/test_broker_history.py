"""The orders history (broker.md §16): final orders newest first, filtered, in keyset pages
that orders finishing meanwhile never change."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.brokerkit import (
    Client,
    MakeClient,
    broker_settings,
    call,
    downgrade,
    get,
    limit_order,
    market_order,
    place,
)
from trading.broker.enums import OrderStatus, Side
from trading.broker.history import encode_cursor
from trading.broker.service import DB_FILE
from trading.clock import ManualClock
from trading.settings import Settings
from trading.testing import TEST_NOW

NOW_MS = int(TEST_NOW * 1000)


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock)


async def history(c: Client, query: str = "") -> dict[str, Any]:
    body: dict[str, Any] = await get(c, "/orders/history" + query)
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [o["id"] for o in page["orders"]]


async def finish_some(c: Client, clock: ManualClock) -> None:
    """ORDER-1 filled, ORDER-2 working, ORDER-3 canceled, ORDER-4 filled (one second apart);
    then ORDER-2 canceled last, though it is older than the others."""
    await place(c, market_order(Side.BUY, 1))
    clock.advance(1)
    await place(c, limit_order(Side.BUY, 1, 200.0))
    await place(c, limit_order(Side.BUY, 1, 201.0))
    clock.advance(1)
    assert (await call(c, "DELETE", "/orders/ORDER-3"))[0] == 200
    clock.advance(1)
    await place(c, market_order(Side.SELL, 1))
    clock.advance(1)
    assert (await call(c, "DELETE", "/orders/ORDER-2"))[0] == 200


async def test_final_orders_most_recently_finished_first(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    assert await history(c) == {"orders": [], "nextCursor": None}
    await finish_some(c, trading_clock)
    await place(c, limit_order(Side.BUY, 1, 202.0))  # working: not in the history
    page = await history(c)
    assert ids(page) == ["ORDER-2", "ORDER-4", "ORDER-3", "ORDER-1"]
    assert page["nextCursor"] is None
    by_id = {o["id"]: o for o in await get(c, "/orders")}
    assert page["orders"] == [by_id[i] for i in ids(page)]  # the same PlacedOrder objects
    assert [o["updateTime"] for o in page["orders"]] == [
        NOW_MS + 4000, NOW_MS + 3000, NOW_MS + 2000, NOW_MS
    ]  # fmt: skip


async def test_filters_by_status_and_time(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    c = trading_client
    await finish_some(c, trading_clock)
    assert ids(await history(c, f"?status={OrderStatus.FILLED}")) == ["ORDER-4", "ORDER-1"]
    both = f"{OrderStatus.CANCELED},{OrderStatus.FILLED}"
    assert ids(await history(c, f"?status={both}")) == ["ORDER-2", "ORDER-4", "ORDER-3",
                                                        "ORDER-1"]  # fmt: skip
    repeated = f"?status={OrderStatus.CANCELED}&status={OrderStatus.REJECTED}"
    assert ids(await history(c, repeated)) == ["ORDER-2", "ORDER-3"]
    window = f"?from_time={NOW_MS + 2000}&to_time={NOW_MS + 3000}"
    assert ids(await history(c, window)) == ["ORDER-4", "ORDER-3"]
    assert ids(await history(c, f"?from_time={NOW_MS + 4001}")) == []


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        (f"?status={OrderStatus.WORKING}", ["query", "status", 0]),
        (f"?status={OrderStatus.FILLED},{OrderStatus.INACTIVE}", ["query", "status", 1]),
        ("?status=9", ["query", "status", 0]),
        ("?limit=0", ["query", "limit"]),
        ("?limit=501", ["query", "limit"]),
        ("?cursor=nonsense", ["query", "cursor"]),
        ("?cursor=" + encode_cursor(5) + "x", ["query", "cursor"]),
        ("?cursor=aDE6MA", ["query", "cursor"]),  # h1:0
        ("?from_time=-1", ["query", "from_time"]),
        ("?from_time=20&to_time=10", ["query", "to_time"]),
    ],
)
async def test_bad_queries_are_422(trading_client: Client, query: str, loc: list[Any]) -> None:
    status, body = await call(trading_client, "GET", "/orders/history" + query)
    assert status == 422, body
    assert [e["loc"] for e in body["detail"]] == [loc]


async def test_pages_never_change_while_orders_finish(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    """Keyset pages: orders finishing between page reads (at the same millisecond as the
    cursor's order, and old orders among them) never enter or shift a later page."""
    c = trading_client
    for _ in range(5):
        await place(c, market_order(Side.BUY, 1))  # ORDER-1..5 filled, all at one instant
    for i in range(3):
        await place(c, limit_order(Side.BUY, 1, 200.0 + i))  # ORDER-6..8 working
    first = await history(c, "?limit=2")
    assert ids(first) == ["ORDER-5", "ORDER-4"]
    # meanwhile (same clock instant): an old working order is canceled, a new order fills
    assert (await call(c, "DELETE", "/orders/ORDER-6"))[0] == 200
    await place(c, market_order(Side.SELL, 1))  # ORDER-9
    second = await history(c, f"?limit=2&cursor={first['nextCursor']}")
    assert ids(second) == ["ORDER-3", "ORDER-2"]
    assert (await call(c, "DELETE", "/orders/ORDER-7"))[0] == 200
    third = await history(c, f"?limit=2&cursor={second['nextCursor']}")
    assert ids(third) == ["ORDER-1"]
    assert third["nextCursor"] is None
    # the same cursor read again is the same page; a new first page shows the newcomers
    assert await history(c, f"?limit=2&cursor={first['nextCursor']}") == second
    assert ids(await history(c, "?limit=3")) == ["ORDER-7", "ORDER-9", "ORDER-6"]


async def test_the_default_and_largest_limit_are_settings(make_client: MakeClient) -> None:
    c = await make_client(orders_history_limit=2, orders_history_max_limit=3)
    for _ in range(4):
        await place(c, market_order(Side.BUY, 1))
    page = await history(c)
    assert ids(page) == ["ORDER-4", "ORDER-3"]
    assert page["nextCursor"] is not None
    assert len((await history(c, "?limit=3"))["orders"]) == 3
    assert (await call(c, "GET", "/orders/history?limit=4"))[0] == 422


async def test_history_survives_a_restart_and_an_old_database_is_numbered(
    make_client: MakeClient, trading_settings: Settings, trading_clock: ManualClock
) -> None:
    c = await make_client()
    await finish_some(c, trading_clock)
    before = await history(c)
    await c.close()
    c = await make_client()
    assert await history(c) == before
    await c.close()
    # a database from before the feature: no history rows, schema version 3 (bracket parents and
    # durations, not yet keys or history); the migration numbers its final orders by their last
    # update
    downgrade(trading_settings.data_dir / DB_FILE, 3)
    c = await make_client()
    assert ids(await history(c)) == ids(before)


def test_the_cursor_is_opaque_and_round_trips() -> None:
    from trading.broker.history import BadCursor, decode_cursor

    for n in (1, 7, 10**17, math.factorial(15)):
        assert decode_cursor(encode_cursor(n)) == n
    for bad in ("", "=", "aDE6", encode_cursor(3) + "=", "aDI6Mw"):  # h2:3
        with pytest.raises(BadCursor):
            decode_cursor(bad)
