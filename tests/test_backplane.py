"""The Redis backplane (``TRADING_REDIS_URL``): broker pushes between server processes, with a
real ``redis-server`` (tests/realservers.py), never a mock.

Two apps stand for two processes: each has its own data dir (the shared store is not there
yet) and both serve ``DEMO-ACCOUNT`` in off mode, so an order placed on app A is pushed
through Redis to a WebSocket client of app B.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from tests.brokerkit import B, Client, broker_settings, call, limit_order, market_order, place
from tests.realservers import RedisServer
from tests.wsclient import WS, Frame, drain, recv, request, updates
from trading.app import create_app
from trading.broker import sqlite_file
from trading.broker.enums import OrderStatus, Side
from trading.clock import ManualClock
from trading.keys import REMOTE
from trading.settings import Settings
from trading.ws.hub import Hub
from trading.ws.remote import BackplaneCounters

Socket = aiohttp.ClientWebSocketResponse
MakeClient = Callable[..., Awaitable[Client]]
CHANNEL = "trading:acct:DEMO-ACCOUNT"


@pytest.fixture
def trading_settings(
    tmp_path: Path, trading_clock: ManualClock, redis_server: RedisServer
) -> Settings:
    return broker_settings(
        tmp_path,
        trading_clock,
        redis_url=redis_server.url,
        redis_timeout_s=0.2,
        redis_linger_s=0.2,
        redis_retry_s=0.01,
    )


@pytest.fixture
async def make_client(aiohttp_client: Any, trading_settings: Settings) -> AsyncIterator[MakeClient]:
    """Apps as the workers of one cluster: one data dir (its lock taken once and shared, each
    app with its own copy of the fd, as processes have), the shared store, one Redis."""
    lock = sqlite_file.lock_data_dir(trading_settings.data_dir)

    async def make(**changes: Any) -> Client:
        settings = trading_settings.replace(workers=2, data_dir_lock_fd=os.dup(lock), **changes)
        client: Client = await aiohttp_client(create_app(settings))
        return client

    yield make
    os.close(lock)


async def sub(ws: Socket, route: str, payload: dict[str, Any]) -> list[Frame]:
    """Subscribe; return the snapshot frames after the ok reply."""
    reply, early = await request(ws, f"{route}.subscribe", payload)
    assert early == []
    assert reply["payload"]["status"] == "ok", reply
    return await drain(ws, 0.1)


def kinds(frames: list[Frame]) -> list[str]:
    return [f["type"].removesuffix(".update") for f in frames]


def inner(frame: Frame) -> Any:
    return frame["payload"]["payload"]


def counters(client: Client) -> BackplaneCounters:
    return client.app[REMOTE].counters


def numsub(redis_server: RedisServer, channel: str = CHANNEL) -> int:
    out = redis_server.cli("PUBSUB", "NUMSUB", channel).split()
    return int(out[1])


async def published(client: Client, count: int) -> None:
    """Wait until ``count`` pushes went out, so a test's subscriber starts after them (a push
    still in flight would be skipped by its version anyway; waiting keeps the counts exact)."""
    await until(lambda: counters(client).published >= count)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- cross-process delivery ------------------------------------------------------------------


async def test_an_order_placed_on_one_process_is_pushed_to_a_client_of_another_once_in_order(
    make_client: MakeClient,
) -> None:
    a, b = await make_client(), await make_client()
    async with b.ws_connect(WS) as on_b, a.ws_connect(WS) as on_a:
        for ws in (on_b, on_a):
            await sub(ws, "orders", {"accountId": "A"})
            await sub(ws, "executions", {"accountId": "A"})
        order_id = await place(a, market_order(Side.BUY, 10))
        for ws in (on_b, on_a):  # the placing process gets its own pushes through Redis too
            frames = await updates(ws, 3)
            assert kinds(frames) == ["orders", "executions", "orders"]
            working, execution, filled = (inner(f) for f in frames)
            assert (working["id"], working["status"]) == (order_id, OrderStatus.WORKING)
            assert (execution["orderId"], execution["qty"]) == (order_id, 10.0)
            assert (filled["id"], filled["status"]) == (order_id, OrderStatus.FILLED)
            assert await drain(ws, 0.3) == [], "each push exactly once"
    assert counters(a).published >= 1
    assert counters(b).received >= 1


async def test_a_push_that_arrives_after_a_newer_one_is_replaced_by_a_fresh_snapshot(
    make_client: MakeClient, redis_server: RedisServer
) -> None:
    """Two workers commit one account in turn and their publishes cross: the older state of an
    order must not follow the newer one; the subscribers get the stored state instead."""
    a = await make_client()
    async with a.ws_connect(WS) as ws:
        await sub(ws, "orders", {"accountId": "A"})
        order_id = await place(a, limit_order(Side.BUY, 1, 100))
        working = inner((await updates(ws, 1))[0])
        assert (await a.delete(f"{B}/orders/{order_id}")).status == 200
        canceled = inner((await updates(ws, 1))[0])
        assert canceled["status"] == OrderStatus.CANCELED
        redis = aioredis.Redis.from_url(redis_server.url)
        try:  # as if two other workers published v+20 (canceled) before v+10 (working)
            version = 1_000_000
            await redis.publish(CHANNEL, orjson.dumps(
                ["DEMO-ACCOUNT", version + 20, [["orders", canceled]]]
            ))  # fmt: skip
            await redis.publish(CHANNEL, orjson.dumps(
                ["DEMO-ACCOUNT", version + 10, [["orders", working]]]
            ))  # fmt: skip
        finally:
            await redis.aclose()
        frames = await drain(ws, 0.5)
        statuses = [inner(f)["status"] for f in frames if inner(f)["id"] == order_id]
        assert statuses == [OrderStatus.CANCELED], frames  # never WORKING again
    assert counters(a).resyncs >= 1


async def test_executions_with_a_symbol_get_only_that_symbols_fills_from_another_process(
    make_client: MakeClient,
) -> None:
    a, b = await make_client(), await make_client()
    async with b.ws_connect(WS) as ws:
        await sub(ws, "executions", {"accountId": "A", "symbol": "MSFT"})
        await place(a, market_order(Side.BUY, 1))  # AAPL: not for this topic
        msft = await place(a, market_order(Side.BUY, 2, symbol="MSFT"))
        (frame,) = await updates(ws, 1)
        assert (inner(frame)["symbol"], inner(frame)["orderId"]) == ("MSFT", msft)
        assert await drain(ws, 0.3) == []


async def test_many_pushes_keep_their_order_across_processes(make_client: MakeClient) -> None:
    a, b = await make_client(), await make_client()
    async with b.ws_connect(WS) as ws:
        await sub(ws, "orders", {"accountId": "A"})
        placed = [await place(a, limit_order(Side.BUY, 1, 200.0 + i)) for i in range(20)]
        frames = await updates(ws, 20)
        assert [inner(f)["id"] for f in frames] == placed
        assert await drain(ws, 0.3) == []


# -- ref counting ----------------------------------------------------------------------------


async def test_many_local_subscribers_share_one_upstream_subscription(
    make_client: MakeClient, redis_server: RedisServer
) -> None:
    a, b = await make_client(), await make_client()
    assert numsub(redis_server) == 0
    sockets = [await b.ws_connect(WS) for _ in range(50)]
    try:
        # concurrent first subscribers, on 50 topics of one account (off mode: every
        # accountId is DEMO-ACCOUNT) and on one topic: one SUBSCRIBE
        replies = await asyncio.gather(
            *(
                request(ws, "orders.subscribe", {"accountId": f"A{i % 25}"})
                for i, ws in enumerate(sockets)
            )
        )
        assert all(reply["payload"]["status"] == "ok" for reply, _ in replies)
        assert numsub(redis_server) == 1
        assert counters(b).subscribes == 1
        order_id = await place(a, limit_order(Side.BUY, 1, 200.0))
        for ws in sockets:
            (frame,) = await updates(ws, 1)
            assert inner(frame)["id"] == order_id
        for ws in sockets[:-1]:
            await ws.close()
        await asyncio.sleep(0.4)  # past the linger: still held by the last one
        assert numsub(redis_server) == 1
    finally:
        for ws in sockets:
            await ws.close()
    await until(lambda: numsub(redis_server) == 0, timeout=3.0)
    assert counters(b).unsubscribes == 1


async def test_a_flapping_subscriber_within_the_linger_costs_no_resubscribe(
    make_client: MakeClient, redis_server: RedisServer
) -> None:
    client = await make_client(redis_linger_s=5.0)
    async with client.ws_connect(WS) as ws:
        for _ in range(20):
            await sub(ws, "orders", {"accountId": "A"})
            reply, _ = await request(ws, "orders.unsubscribe", {"accountId": "A"})
            assert reply["payload"]["status"] == "ok"
    assert (counters(client).subscribes, counters(client).unsubscribes) == (1, 0)
    assert numsub(redis_server) == 1  # lingering


# -- Redis failures --------------------------------------------------------------------------


async def test_after_a_redis_restart_subscribers_get_a_fresh_snapshot_and_pushes_flow_again(
    make_client: MakeClient, redis_server: RedisServer
) -> None:
    a, b = await make_client(), await make_client()
    resting = await place(b, limit_order(Side.BUY, 1, 200.0))  # in B's store: its snapshot
    await published(b, 1)
    async with b.ws_connect(WS) as ws:
        snapshot = await sub(ws, "orders", {"accountId": "A"})
        assert [inner(f)["id"] for f in snapshot] == [resting]
        redis_server.restart()
        back = time.monotonic()
        frame = await recv(ws, timeout=5.0)
        took = time.monotonic() - back
        assert (frame["type"], inner(frame)["id"]) == ("orders.update", resting)
        assert took < 1.0, f"fresh snapshot {took * 1000:.0f} ms after Redis was back"
        assert counters(b).reconnects == 1
        assert counters(b).resyncs >= 1
        await until(lambda: numsub(redis_server) == 1)  # B resubscribed (A holds nothing)
        pushed = await place(a, limit_order(Side.BUY, 2, 201.0))
        seen: list[str] = []
        async with asyncio.timeout(5.0):
            while pushed not in seen:  # a push, or a fresh snapshot if A's publish was lost
                seen.append(inner(await recv(ws))["id"])


async def test_a_killed_pubsub_connection_resubscribes_and_sends_fresh_snapshots(
    make_client: MakeClient, redis_server: RedisServer
) -> None:
    """Redis stays up, only the subscriber connections die (CLIENT KILL TYPE pubsub)."""
    a, b = await make_client(), await make_client()
    resting = await place(b, limit_order(Side.BUY, 1, 200.0))
    await published(b, 1)
    async with b.ws_connect(WS) as ws:
        await sub(ws, "orders", {"accountId": "A"})
        redis_server.cli("CLIENT", "KILL", "TYPE", "pubsub")
        frame = await recv(ws, timeout=5.0)
        assert inner(frame)["id"] == resting
        await until(lambda: numsub(redis_server) == 1)
        pushed = await place(a, limit_order(Side.BUY, 2, 201.0))
        (frame,) = await updates(ws, 1)
        assert inner(frame)["id"] == pushed
        assert await drain(ws, 0.3) == []


async def test_a_redis_outage_never_fails_or_stalls_an_order(
    make_client: MakeClient, redis_server: RedisServer
) -> None:
    a, b = await make_client(), await make_client()
    resting = await place(b, limit_order(Side.BUY, 1, 199.0))
    await published(b, 1)
    async with b.ws_connect(WS) as ws:
        await sub(ws, "orders", {"accountId": "A"})
        redis_server.kill()
        for i in range(5):
            started = time.monotonic()
            status, body = await call(a, "POST", "/orders", limit_order(Side.BUY, 1, 200.0 + i))
            assert status == 200, body
            assert time.monotonic() - started < 1.0
        await until(lambda: counters(a).dropped >= 1)
        resp = await a.get("/metrics")
        assert "trading_backplane_drops_total" in await resp.text()
        redis_server.start()
        frame = await recv(ws, timeout=5.0)  # what was missed is repaired by a snapshot
        assert inner(frame)["id"] == resting
        await until(lambda: numsub(redis_server) == 1)
        pushed = await place(a, limit_order(Side.BUY, 2, 201.0))
        seen: list[str] = []
        async with asyncio.timeout(5.0):
            while pushed not in seen:
                seen.append(inner(await recv(ws))["id"])


async def test_an_app_starts_while_redis_is_down_and_catches_up(
    make_client: MakeClient, redis_server: RedisServer
) -> None:
    redis_server.kill()
    b = await make_client()
    resting = await place(b, limit_order(Side.BUY, 1, 200.0))
    async with b.ws_connect(WS) as ws:
        snapshot = await sub(ws, "orders", {"accountId": "A"})  # served from the store
        assert [inner(f)["id"] for f in snapshot] == [resting]
        redis_server.start()
        frame = await recv(ws, timeout=5.0)  # the first connection resyncs what is held
        assert inner(frame)["id"] == resting
        await until(lambda: numsub(redis_server) == 1)


# -- default mode ----------------------------------------------------------------------------


def test_default_mode_loads_no_redis_client(tmp_path: Path) -> None:
    """No TRADING_REDIS_URL: no backplane, and the Redis client library is never imported."""
    code = (
        "import sys; from trading.app import create_app; from trading.settings import Settings;"
        f"app = create_app(Settings(data_dir={str(tmp_path / 'd')!r}));"
        "from trading.keys import REMOTE; assert REMOTE not in app;"
        "assert not [m for m in sys.modules if m == 'redis' or m.startswith('redis.')], 'redis';"
        "assert 'psycopg' not in sys.modules, 'psycopg'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- the hub's "since" filter ------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.topics: set[str] = set()
        self.frames: list[bytes] = []

    def send(self, data: bytes, key: Any = None, source: Any = None) -> None:
        self.frames.append(data)


class NoFeed:
    def check(self, request: Any, caller: str | None) -> str | None:
        return None

    def activate(self, topic: str, request: Any) -> None:
        return None

    def deactivate(self, topic: str) -> None:
        return None

    def attach(self, topic: str, request: Any, start: Any, caller: str | None) -> None:
        return None


def test_a_subscriber_skips_pushes_its_snapshot_contains_and_then_forgets_its_version() -> None:
    hub = Hub()
    hub.register_feed("orders", NoFeed())
    fresh, old = Sink(), Sink()
    topic = 'orders:{"accountId":"A"}'
    hub.subscribe(old, "orders", topic, None)  # type: ignore[arg-type]
    hub.subscribe(fresh, "orders", topic, None, since=5)  # type: ignore[arg-type]
    assert hub.publish("orders", topic, {"v": 4}, version=4) == 1
    assert hub.publish("orders", topic, {"v": 5}, version=5) == 1
    assert hub.publish("orders", topic, {"v": 6}, version=6) == 2
    assert hub.publish("orders", topic, {"v": 3}, version=3) == 2  # passed: forgotten
    assert (len(old.frames), len(fresh.frames)) == (4, 2)
    assert hub.resend("orders", topic, [{"v": 7}], since=9) == 2
    assert hub.publish("orders", topic, {"v": 8}, version=8) == 0
    hub.unsubscribe(fresh, topic)
    hub.unsubscribe(old, topic)
    assert hub.publish("orders", topic, {"v": 10}, version=10) == 0
