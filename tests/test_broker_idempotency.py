"""Idempotent order placement (broker.md §15): ``Idempotency-Key`` on ``POST /orders``.

Real app, real SQLite file, the manual clock (the retention window is on the broker's clock).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.brokerkit import (
    Client,
    MakeClient,
    broker_settings,
    call,
    get,
    limit_order,
    market_order,
)
from trading.broker.enums import OrderStatus, Side
from trading.broker.idempotency import fingerprint
from trading.broker.service import DB_FILE
from trading.clock import ManualClock
from trading.models.broker import PreOrder
from trading.settings import Settings
from trading.wire.broker import order_request

KEY = "Idempotency-Key"
LOC = ["header", KEY]


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock, idempotency_ttl_s=3600)


async def post(c: Client, body: Any, key: str | None) -> tuple[int, Any, dict[str, str]]:
    headers = {} if key is None else {KEY: key}
    resp = await c.post("/api/v1/broker/orders", json=body, headers=headers)
    return resp.status, await resp.json(), dict(resp.headers)


def stored_keys(data_dir: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(data_dir / DB_FILE)
    try:
        return db.execute(
            "SELECT account, key, order_id FROM idempotency_keys ORDER BY created"
        ).fetchall()
    finally:
        db.close()


async def test_a_retry_answers_the_first_placement_and_places_nothing(
    trading_client: Client,
) -> None:
    c = trading_client
    body = market_order(Side.BUY, 3)
    status, first, headers = await post(c, body, "retry-1")
    assert (status, first) == (200, {"orderId": "ORDER-1"})
    assert "Idempotent-Replayed" not in headers
    # the same order spelled differently (3.0, an explicit null) is the same request
    again = {**body, "qty": 3.0, "limitPrice": None, "customFields": {"x": 1}}
    status, second, headers = await post(c, again, "retry-1")
    assert (status, second, headers.get("Idempotent-Replayed")) == (200, first, "true")
    orders = await get(c, "/orders")
    assert [(o["id"], o["status"]) for o in orders] == [("ORDER-1", OrderStatus.FILLED)]
    assert len(await get(c, "/executions/AAPL")) == 1
    # another key is another order; no key is the reference behaviour
    assert (await post(c, body, "retry-2"))[1] == {"orderId": "ORDER-2"}
    assert (await post(c, body, None))[1] == {"orderId": "ORDER-3"}
    assert (await post(c, body, None))[1] == {"orderId": "ORDER-4"}


async def test_the_same_key_with_another_order_is_a_422_naming_the_header(
    trading_client: Client,
) -> None:
    c = trading_client
    await post(c, limit_order(Side.BUY, 1, 200.0), "k")
    status, body, _ = await post(c, limit_order(Side.BUY, 1, 201.0), "k")
    assert status == 422
    assert [e["loc"] for e in body["detail"]] == [LOC]
    assert "ORDER-1" in body["detail"][0]["msg"]
    assert [o["id"] for o in await get(c, "/orders")] == ["ORDER-1"]


async def test_a_refused_placement_is_not_remembered(trading_client: Client) -> None:
    c = trading_client
    too_big = market_order(Side.BUY, 100_000)  # 25 million: beyond the buying power
    status, body, _ = await post(c, too_big, "k")
    assert status == 400, body
    status, body, _ = await post(c, {**too_big, "qty": -1}, "k")  # a field rule: 422
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "qty"]
    # the key is still free: a different, acceptable order under it is placed
    status, body, _ = await post(c, market_order(Side.BUY, 1), "k")
    assert (status, body) == (200, {"orderId": "ORDER-1"})


@pytest.mark.parametrize(
    ("key", "problem"),
    [("", "must not be empty"), ("a" * 256, "at most 255 bytes"), ("k\u00e9y", "printable ASCII")],
)
async def test_invalid_keys_are_422_at_the_header(
    trading_client: Client, key: str, problem: str
) -> None:
    c = trading_client
    resp = await c.post(
        "/api/v1/broker/orders",
        data=b'{"symbol":"AAPL","type":2,"side":1,"qty":0}',
        headers=[(KEY, key), ("Content-Type", "application/json")],
    )
    body = await resp.json()
    assert resp.status == 422
    # the header's problem and the body's, in one answer
    assert [e["loc"] for e in body["detail"]] == [LOC, ["body", "qty"]]
    assert problem in body["detail"][0]["msg"]
    assert await get(c, "/orders") == []


async def test_the_longest_key_is_accepted_and_the_limit_is_a_setting(
    make_client: MakeClient,
) -> None:
    c = await make_client()
    assert (await post(c, market_order(Side.BUY, 1), "a" * 255))[0] == 200
    await c.close()
    c = await make_client(idempotency_key_max_bytes=16)
    status, body, _ = await post(c, market_order(Side.BUY, 1), "a" * 17)
    assert status == 422
    assert body["detail"][0]["loc"] == LOC
    assert "at most 16 bytes" in body["detail"][0]["msg"]


async def test_twenty_concurrent_retries_make_one_order(trading_client: Client) -> None:
    c = trading_client
    body = market_order(Side.BUY, 2)
    answers = await asyncio.gather(*(post(c, body, "burst") for _ in range(20)))
    assert {(s, b["orderId"]) for s, b, _ in answers} == {(200, "ORDER-1")}
    assert sum(h.get("Idempotent-Replayed") == "true" for _, _, h in answers) == 19
    assert len(await get(c, "/orders")) == 1
    assert len(await get(c, "/executions/AAPL")) == 1


async def test_keys_survive_a_restart_and_are_stored_with_the_account(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    c = await make_client()
    body = limit_order(Side.BUY, 1, 200.0)
    assert (await post(c, body, "durable"))[1] == {"orderId": "ORDER-1"}
    await c.close()
    assert stored_keys(trading_settings.data_dir) == [("DEMO-ACCOUNT", "durable", "ORDER-1")]
    c = await make_client()
    status, answer, headers = await post(c, body, "durable")
    assert (status, answer, headers.get("Idempotent-Replayed")) == (200, {"orderId": "ORDER-1"},
                                                                    "true")  # fmt: skip
    assert (await post(c, {**body, "qty": 2}, "durable"))[0] == 422
    assert [o["id"] for o in await get(c, "/orders")] == ["ORDER-1"]


async def test_keys_expire_after_the_window_and_are_purged(
    trading_client: Client, trading_clock: ManualClock, trading_settings: Settings
) -> None:
    c = trading_client
    body = limit_order(Side.BUY, 1, 200.0)
    await post(c, body, "old")
    trading_clock.advance(1800)
    await post(c, body, "newer")
    trading_clock.advance(1799)  # "old" is 3599 s old: still remembered
    assert (await post(c, body, "old"))[1] == {"orderId": "ORDER-1"}
    trading_clock.advance(2)  # 3601 s: forgotten, the same key places a new order
    status, answer, headers = await post(c, body, "old")
    assert (status, answer, "Idempotent-Replayed" in headers) == (200, {"orderId": "ORDER-3"},
                                                                  False)  # fmt: skip
    assert stored_keys(trading_settings.data_dir) == [
        ("DEMO-ACCOUNT", "newer", "ORDER-2"), ("DEMO-ACCOUNT", "old", "ORDER-3")
    ]  # fmt: skip
    trading_clock.advance(3601)  # both expired: the next keyed placement purges them
    await post(c, body, "third")
    assert stored_keys(trading_settings.data_dir) == [("DEMO-ACCOUNT", "third", "ORDER-4")]


async def test_a_reset_forgets_the_keys_with_their_orders(
    trading_client: Client, trading_settings: Settings
) -> None:
    c = trading_client
    body = market_order(Side.BUY, 1)
    await post(c, body, "k")
    status, _ = await call(c, "POST", "/debug/reset", {})
    assert status == 200
    assert stored_keys(trading_settings.data_dir) == []
    status, answer, headers = await post(c, body, "k")
    assert (status, answer, "Idempotent-Replayed" in headers) == (200, {"orderId": "ORDER-1"},
                                                                  False)  # fmt: skip
    assert len(await get(c, "/orders")) == 1


async def test_a_failed_commit_remembers_no_key(
    trading_client: Client, trading_settings: Settings
) -> None:
    """The key is written in the order's transaction: when that write fails (here: a trigger
    refuses the key row), neither the order nor the key exists, and a retry places it."""
    c = trading_client
    db = sqlite3.connect(trading_settings.data_dir / DB_FILE)
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON idempotency_keys "
        "BEGIN SELECT RAISE(ABORT, 'no keys today'); END"
    )
    db.commit()
    status, body, _ = await post(c, market_order(Side.BUY, 1), "k")
    assert status == 503, body
    assert await get(c, "/orders") == []
    db.execute("DROP TRIGGER refuse")
    db.commit()
    db.close()
    status, body, _ = await post(c, market_order(Side.BUY, 1), "k")
    assert (status, body) == (200, {"orderId": "ORDER-1"})
    assert (await post(c, market_order(Side.BUY, 1), "k"))[1] == {"orderId": "ORDER-1"}
    assert len(await get(c, "/orders")) == 1


# -- the fingerprint: equal for equal parsed requests -----------------------------------------

qty = st.integers(min_value=1, max_value=10_000)
price = st.one_of(st.none(), st.integers(min_value=1, max_value=100_000).map(lambda t: t / 100))


@given(qty=qty, limit=price, stop=price)
def test_the_fingerprint_ignores_the_spelling_and_sees_every_field(
    qty: int, limit: float | None, stop: float | None
) -> None:
    base: dict[str, Any] = {"symbol": "AAPL", "type": 1, "side": 1, "qty": qty}
    if limit is not None:
        base["limitPrice"] = limit
    same = {**base, "qty": float(qty), "stopPrice": stop, "customFields": {"a": 1}}
    if stop is None:
        same.pop("stopPrice")
    a = fingerprint(order_request(PreOrder.model_validate(base | {"stopPrice": stop})))
    assert a == fingerprint(order_request(PreOrder.model_validate(same)))
    other = fingerprint(
        order_request(PreOrder.model_validate(base | {"qty": qty + 1, "stopPrice": stop}))
    )
    assert a != other
    side = fingerprint(
        order_request(PreOrder.model_validate(base | {"side": -1, "stopPrice": stop}))
    )
    assert a != side
    # gtc given is the default duration, the same order as none; any other duration is not
    gtc = base | {"stopPrice": stop, "duration": {"type": "gtc"}}
    assert a == fingerprint(order_request(PreOrder.model_validate(gtc)))
    day = base | {"stopPrice": stop, "duration": {"type": "day"}}
    assert a != fingerprint(order_request(PreOrder.model_validate(day)))
