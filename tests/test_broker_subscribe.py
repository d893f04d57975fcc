"""Subscribing to broker routes through the service's atomic subscribe-with-snapshot
(architecture.md "Data flow of one live update"): what a subscriber gets when the broker's
state cannot be read, and when its socket closes while the subscribe waits for a commit.

Real app on a real socket; the database is made to fail by replacing the store's methods
(the failure modes themselves are tested on real files in test_durability.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.brokerkit import (
    Client,
    broker_settings,
    call,
    hold_commits,
    limit_order,
    market_order,
    place,
)
from tests.wsclient import WS, drain, request
from trading.broker.enums import OrderStatus, Side
from trading.broker.errors import StorageError
from trading.clock import ManualClock
from trading.keys import BROKER, HUB
from trading.settings import Settings

pytestmark = pytest.mark.spec_unchecked  # simulated storage failures answer 503s on purpose


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock)


async def test_a_subscribe_while_the_state_cannot_be_read_is_refused_then_served(
    trading_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed commit whose reload failed too leaves memory untrusted: a subscribe then gets
    an error reply naming the storage problem (no snapshot of state that may not be
    committed) and no subscription; once the database is back, the same subscribe works."""
    store = trading_client.app[BROKER].store

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise StorageError("disk full (simulated)")

    monkeypatch.setattr(store, "commit", refuse)
    monkeypatch.setattr(store, "load", refuse)
    status, _ = await call(trading_client, "POST", "/orders", market_order(Side.BUY, 3))
    assert status == 503
    async with trading_client.ws_connect(WS) as ws:
        reply, early = await request(ws, "orders.subscribe", {"accountId": "A"})
        assert early == []
        assert reply["payload"]["status"] == "error", reply
        assert reply["payload"]["message"] == (
            "Broker state unavailable: disk full (simulated); reloading the committed state "
            "failed: disk full (simulated)"
        )
        assert await drain(ws) == [], "no snapshot after a refusal"
        assert trading_client.app[HUB].stats().topics == 0, "and no subscription"

        monkeypatch.undo()  # the database takes writes and reads again
        reply, early = await request(ws, "orders.subscribe", {"accountId": "A"})
        assert (early, reply["payload"]["status"]) == ([], "ok")
        assert await drain(ws) == [], "the refused order was never stored: nothing working"
        assert await place(trading_client, limit_order(Side.BUY, 1, 100.0)) == "ORDER-1"
        (update,) = await drain(ws)
        assert update["payload"]["payload"]["id"] == "ORDER-1"


async def test_a_socket_closed_while_its_subscribe_waits_leaves_no_topic(
    trading_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The subscribe waits for the commit in flight; the client goes away meanwhile. When
    the commit ends, nothing stays subscribed for the dead socket, and the next subscriber
    gets the committed position."""
    release = hold_commits(trading_client, monkeypatch)
    order = market_order(Side.BUY, 3)
    placing = asyncio.create_task(call(trading_client, "POST", "/orders", order))
    await asyncio.sleep(0.05)  # the fill waits inside its commit, holding the broker's lock
    hub = trading_client.app[HUB]
    ws = await trading_client.ws_connect(WS)
    await ws.send_json({"type": "positions.subscribe", "payload": {"accountId": "A"}})
    await asyncio.sleep(0.05)  # the subscribe now waits for the broker's lock
    closing = asyncio.create_task(ws.close())  # the client leaves meanwhile
    await asyncio.sleep(0.05)
    release.set()
    assert (await placing)[0] == 200
    await closing
    for _ in range(100):  # the server's read loop sees the close once the subscribe is done
        if not hub.connections:
            break
        await asyncio.sleep(0.01)
    assert hub.stats().topics == 0, "the dead socket's subscription is gone"
    assert hub.stats().connections == 0
    async with trading_client.ws_connect(WS) as ws:  # and the next subscriber is served
        reply, _ = await request(ws, "positions.subscribe", {"accountId": "A"})
        assert reply["payload"]["status"] == "ok"
        assert [f["payload"]["payload"]["qty"] for f in await drain(ws)] == [3.0]


async def test_the_publisher_routes_each_event_kind(trading_client: Client) -> None:
    """One market order: the order (placed, then filled), the execution, the position and
    the equity each arrive on their own route, and only there."""
    routes = ("orders", "positions", "executions", "equity")
    async with trading_client.ws_connect(WS) as ws:
        for route in routes:
            reply, _ = await request(ws, f"{route}.subscribe", {"accountId": "A"})
            assert reply["payload"]["status"] == "ok"
        await drain(ws)  # the snapshots (equity's one item)
        await place(trading_client, market_order(Side.BUY, 2))
        frames = await drain(ws)
    kinds = [f["type"] for f in frames]
    assert kinds == ["orders.update", "executions.update", "positions.update", "orders.update",
                     "equity.update"], kinds  # fmt: skip
    by_kind = {f["type"]: f["payload"]["payload"] for f in frames}
    assert by_kind["executions.update"]["qty"] == 2.0
    assert by_kind["positions.update"]["qty"] == 2.0
    assert by_kind["orders.update"]["status"] == OrderStatus.FILLED  # the last one
    assert set(by_kind["equity.update"]) == {"equity", "balance", "unrealizedPL", "realizedPL"}
