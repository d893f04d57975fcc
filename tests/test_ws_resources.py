"""Black-box tests of what a WebSocket connection may cost the server (issue 11): snapshots of
any size, slots freed at once on close, reading clients never closed, queued bytes bounded."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from tests.brokerkit import limit_order, scripted
from tests.wsclient import WS, Frame, recv, request, send, subscribe
from trading.app import create_app
from trading.broker.enums import Side
from trading.clock import ManualClock
from trading.keys import HUB
from trading.settings import Settings, SettingsError
from trading.testing import TEST_NOW

Client = TestClient[web.Request, web.Application]


async def client_with(aiohttp_client: AiohttpClient, tmp_path: Path, **changes: Any) -> Client:
    settings = Settings(data_dir=tmp_path, clock=ManualClock(TEST_NOW), tick_interval_s=0.02)
    return await aiohttp_client(create_app(settings.replace(**changes)))


async def stats(client: Client) -> dict[str, int]:
    body: dict[str, int] = await (await client.get("/api/v1/ws/stats")).json()
    return body


async def test_orders_snapshot_larger_than_the_queue_arrives_whole_after_the_reply(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await client_with(aiohttp_client, tmp_path, market_factory=scripted)
    sem = asyncio.Semaphore(16)

    async def place(i: int) -> None:
        async with sem:
            body = limit_order(Side.BUY, 1, 100 + i / 100)
            resp = await client.post("/api/v1/broker/orders", json=body)
            assert resp.status == 200, await resp.text()

    await asyncio.gather(*(place(i) for i in range(1100)))
    async with client.ws_connect(WS) as ws:
        await send(ws, "orders.subscribe", {"accountId": "A"})
        reply = await recv(ws)
        assert reply["type"] == "orders.subscribe.response", "the reply comes first"
        assert reply["payload"]["status"] == "ok"
        ids = set()
        for _ in range(1100):
            frame = await recv(ws)
            assert frame["type"] == "orders.update"
            ids.add(frame["payload"]["payload"]["id"])
        assert len(ids) == 1100
        pong, _ = await request(ws, "ping", {"still": "open"})
        assert pong == {"type": "pong", "payload": {"still": "open"}}
    assert (await stats(client))["slow_consumer_closes"] == 0


async def test_closed_slow_consumers_free_their_slots_at_once(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    clock = ManualClock(TEST_NOW)
    client = await client_with(
        aiohttp_client, tmp_path, clock=clock, ws_max_connections=4, ws_send_timeout_s=0.3,
        ws_heartbeat_s=3600,  # no pings: only the send timeout may close them
    )  # fmt: skip
    fast = [f"{p}{s}" for s in ("AAPL", "MSFT", "GOOGL", "AMZN") for p in ("", "nasdaq:")]
    padding = [f"UNKNOWN-{i}-" + "x" * 300 for i in range(150)]  # every frame carries the topic
    stalled = []
    for _ in range(4):
        ws = await client.ws_connect(WS)
        await subscribe(ws, "quotes", {"symbols": padding, "fast_symbols": fast})
        stalled.append(ws)  # never read again
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect(WS)
    start = time.monotonic()
    while (await stats(client))["connections"] > 0:  # ticks until the sockets stall and close
        assert time.monotonic() - start < 10, "closed slow consumers still hold their slots"
        for _ in range(20):
            clock.advance(1)
            await asyncio.sleep(0.02)
    s = await stats(client)
    assert s["slow_consumer_closes"] == 4
    assert (s["topics"], s["subscriptions"]) == (0, 0)
    async with client.ws_connect(WS) as ws:  # a fifth client gets a slot
        pong, _ = await request(ws, "ping")
        assert pong["type"] == "pong"


def quote_aliases(count: int) -> list[str]:
    """``count`` distinct spellings of known symbols (each one ticks: quotes are per string)."""
    out: list[str] = []
    for name in ("AAPL", "MSFT", "GOOGL", "AMZN"):
        exchange = "NASDAQ"
        for prefix in ("", exchange + ":", exchange.lower() + ":"):
            for flips in itertools.product((str.upper, str.lower), repeat=len(name)):
                out.append(prefix + "".join(f(c) for f, c in zip(flips, name, strict=True)))
    assert len(out) >= count
    return out[:count]


@pytest.mark.spec_unchecked  # 10 000s of frames: checking each against AsyncAPI takes seconds
async def test_a_reading_client_at_the_quote_limits_is_never_closed(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    clock = ManualClock(TEST_NOW)
    client = await client_with(aiohttp_client, tmp_path, clock=clock)
    aliases = quote_aliases(200)
    async with client.ws_connect(WS, max_msg_size=0) as ws:
        for i in range(6):
            rotated = aliases[i:] + aliases[:i]  # six distinct topics of the same 200 symbols
            reply, _ = await request(ws, "quotes.subscribe", {"fast_symbols": rotated})
            assert reply["payload"]["status"] == "ok", reply
        received = 0

        async def read() -> None:
            nonlocal received
            while True:
                msg = await ws.receive()
                assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
                received += 1

        reader = asyncio.create_task(read())
        for _ in range(30):  # 1.5 s of ticks, each with 1200 fast quotes to push
            clock.advance(1)
            await asyncio.sleep(0.05)
            assert not reader.done(), reader.exception()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        assert received > 1200
        await send(ws, "ping", "last")
        while (frame := await recv(ws))["type"] != "pong":  # quotes still queued come first
            assert frame["type"] == "quotes.update"
        assert frame["payload"] == "last"
    s = await stats(client)
    assert s["slow_consumer_closes"] == 0


async def test_a_ping_too_deep_to_echo_is_a_bad_payload(
    trading_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        await ws.send_str('{"type":"ping","payload":' + "[" * 1000 + "]" * 1000 + "}")
        frame = await recv(ws)
        assert frame["type"] == "error"
        assert frame["payload"]["code"] == "invalid_envelope"
        assert frame["payload"]["message"].startswith("Invalid payload: ")
        assert frame["payload"]["request_type"] == "ping"
        deep: Any = []
        for _ in range(252):
            deep = [deep]
        pong, _ = await request(ws, "ping", deep)
        assert pong == {"type": "pong", "payload": deep}, "what fits is still echoed"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


# -- the byte bound ----------------------------------------------------------------------------


def test_send_queue_bytes_setting_is_validated() -> None:
    assert Settings().ws_send_queue_bytes == 1_048_576
    env = {"TRADING_WS_SEND_QUEUE_BYTES": "262144"}
    assert Settings.from_env(env).ws_send_queue_bytes == 262_144
    for bad in ("131071", "0", str(2**30 + 1)):
        with pytest.raises(SettingsError, match="TRADING_WS_SEND_QUEUE_BYTES"):
            Settings.from_env({"TRADING_WS_SEND_QUEUE_BYTES": bad})
    with pytest.raises(SettingsError, match="TRADING_WS_SEND_QUEUE_BYTES"):
        Settings(ws_max_message_bytes=1_000_000, ws_send_queue_bytes=1_048_576)


@pytest.mark.spec_unchecked  # publishes synthetic {"n", "blob"} items, not PlacedOrders
async def test_queued_bytes_are_bounded_then_the_consumer_is_closed(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    bound = 256 * 1024
    client = await client_with(
        aiohttp_client, tmp_path, ws_send_queue_bytes=bound, ws_send_queue=100_000
    )
    hub = client.app[HUB]
    topic = 'orders:{"accountId":"A"}'
    async with client.ws_connect(WS) as ws:
        await subscribe(ws, "orders", {"accountId": "A"})
        (conn,) = hub.connections
        blob = "x" * 20_000
        peak = 0
        for n in range(400):  # 8 MB: more than socket buffers and the bound together hold
            hub.publish("orders", topic, {"n": n, "blob": blob})
            peak = max(peak, conn.queued_bytes)  # type: ignore[attr-defined]
        assert 0 < peak <= bound
        assert hub.counters.slow_consumer_closes == 1
        frames: list[Frame] = []
        msg = await ws.receive(timeout=5)
        while msg.type is aiohttp.WSMsgType.TEXT:
            msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1008, "Slow consumer")
        assert frames == []
