"""Black-box tests of /api/v1/ws (websocket.md): protocol, hub, live market data, limits."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient, AiohttpServer

from tests.wsclient import WS, drain, recv, request, send, subscribe, updates
from trading.app import create_app
from trading.clock import ManualClock
from trading.keys import HUB, STREAM
from trading.settings import Settings

Client = TestClient[web.Request, web.Application]
BARS_AAPL = 'bars:{"resolution":"1","symbol":"AAPL"}'


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return Settings(data_dir=tmp_path / "data", clock=trading_clock, tick_interval_s=0.02)


async def rest_last_bar(client: Client, symbol: str, resolution: str) -> dict[str, Any]:
    resp = await client.get(
        "/api/v1/datafeed/bars",
        params={
            "symbol": symbol,
            "resolution": resolution,
            "from_time": "0",
            "to_time": str(2**50),
            "count_back": "1",
        },
    )
    assert resp.status == 200
    bars: list[dict[str, Any]] = (await resp.json())["bars"]
    return bars[-1]


async def rest_bar_at(client: Client, symbol: str, resolution: str, time_ms: int) -> Any:
    resp = await client.get(
        "/api/v1/datafeed/bars",
        params={
            "symbol": symbol,
            "resolution": resolution,
            "from_time": str(time_ms),
            "to_time": str(time_ms + 1),
        },
    )
    return (await resp.json())["bars"][0]


async def stats(client: Client) -> dict[str, int]:
    resp = await client.get("/api/v1/ws/stats")
    assert resp.status == 200
    body: dict[str, int] = await resp.json()
    return body


# -- subscribe, snapshot, live updates -------------------------------------------------------


async def test_subscribe_reply_snapshot_then_live_updates_matching_rest(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        reply, snapshot = await subscribe(ws, "bars", {"symbol": "AAPL"})
        assert reply == {
            "type": "bars.subscribe.response",
            "payload": {"status": "ok", "message": "Subscribed", "topic": BARS_AAPL},
        }
        assert [f["type"] for f in snapshot] == ["bars.update"]
        assert snapshot[0]["payload"]["topic"] == BARS_AAPL
        assert snapshot[0]["payload"]["payload"] == await rest_last_bar(trading_client, "AAPL", "1")

        trading_clock.advance(1)
        (moved,) = await updates(ws, 1)
        bar = moved["payload"]["payload"]
        assert bar["time"] == snapshot[0]["payload"]["payload"]["time"]
        assert bar["volume"] > snapshot[0]["payload"]["payload"]["volume"]
        assert bar == await rest_last_bar(trading_client, "AAPL", "1")


async def test_rollover_sends_final_bar_then_new_bar(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        _, snapshot = await subscribe(ws, "bars", {"symbol": "MSFT", "resolution": "1"})
        label = snapshot[0]["payload"]["payload"]["time"]
        trading_clock.set(label / 1000 + 60 + 0.5)  # first second of the next minute
        final, new = await updates(ws, 2)
        assert final["payload"]["payload"]["time"] == label
        assert new["payload"]["payload"]["time"] == label + 60_000
        assert final["payload"]["payload"] == await rest_bar_at(trading_client, "MSFT", "1", label)
        assert new["payload"]["payload"]["open"] == final["payload"]["payload"]["close"]


async def test_several_boundaries_at_once_still_send_the_final_form(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        _, snapshot = await subscribe(ws, "bars", {"symbol": "AAPL", "resolution": "5"})
        label = snapshot[0]["payload"]["payload"]["time"]
        trading_clock.advance(3 * 300)  # a stalled loop: three 5-minute boundaries
        final, new = await updates(ws, 2)
        assert final["payload"]["payload"] == await rest_bar_at(trading_client, "AAPL", "5", label)
        assert new["payload"]["payload"]["time"] == label + 3 * 300_000


async def test_no_update_while_nothing_changes(trading_client: Client) -> None:
    async with trading_client.ws_connect(WS) as ws:
        await subscribe(ws, "bars", {"symbol": "AAPL", "resolution": "1D"})
        assert await drain(ws, quiet=0.2) == [], "the manual clock did not move"


async def test_unsubscribe_stops_updates(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        await subscribe(ws, "bars", {"symbol": "AAPL"})
        reply, _ = await request(ws, "bars.unsubscribe", {"symbol": "AAPL", "resolution": "1"})
        assert reply["payload"] == {"status": "ok", "message": "Unsubscribed", "topic": BARS_AAPL}
        trading_clock.advance(5)
        assert await drain(ws, quiet=0.2) == []
        assert trading_client.app[STREAM].active is False


async def test_resubscribe_resends_snapshot_and_delivers_once(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        await subscribe(ws, "bars", {"symbol": "AAPL"})
        _, again = await subscribe(ws, "bars", {"symbol": "AAPL"})
        assert len(again) == 1
        trading_clock.advance(1)
        assert len(await drain(ws, quiet=0.2)) == 1
        assert (await stats(trading_client))["subscriptions"] == 1
        reply, _ = await request(ws, "bars.unsubscribe", {"symbol": "AAPL"})
        assert reply["payload"]["status"] == "ok"
        reply, _ = await request(ws, "bars.unsubscribe", {"symbol": "AAPL"})
        assert reply["payload"]["message"] == "Not subscribed"


async def test_aliases_share_the_producer_but_not_the_topic(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    async with trading_client.ws_connect(WS) as a, trading_client.ws_connect(WS) as b:
        ra, sa = await subscribe(a, "bars", {"symbol": "AAPL", "resolution": "D"})
        rb, sb = await subscribe(b, "bars", {"symbol": "nasdaq:aapl", "resolution": "1D"})
        assert ra["payload"]["topic"] == 'bars:{"resolution":"D","symbol":"AAPL"}'
        assert rb["payload"]["topic"] == 'bars:{"resolution":"1D","symbol":"nasdaq:aapl"}'
        assert sa[0]["payload"]["payload"] == sb[0]["payload"]["payload"]
        assert trading_client.app[STREAM].watched() == (1, 0)
        trading_clock.advance(1)
        (ua,), (ub,) = await updates(a, 1), await updates(b, 1)
        assert ua["payload"]["payload"] == ub["payload"]["payload"]


# -- the hub: sharing, reference counts, no leaks --------------------------------------------


async def test_two_clients_share_a_topic_and_the_producer_stops_after_both(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    stream = trading_client.app[STREAM]
    async with trading_client.ws_connect(WS) as a, trading_client.ws_connect(WS) as b:
        await subscribe(a, "bars", {"symbol": "GOOGL"})
        await subscribe(b, "bars", {"symbol": "GOOGL"})
        s = await stats(trading_client)
        assert (s["connections"], s["topics"], s["subscriptions"]) == (2, 1, 2)
        assert stream.active
        trading_clock.advance(1)
        (ua,), (ub,) = await updates(a, 1), await updates(b, 1)
        assert ua == ub
        await request(a, "bars.unsubscribe", {"symbol": "GOOGL"})
        assert stream.active, "b still listens"
        await b.close()
        await asyncio.sleep(0.05)
        assert not trading_client.app[STREAM].active
        s = await stats(trading_client)
        assert (s["topics"], s["subscriptions"]) == (0, 0)


async def test_disconnect_without_unsubscribe_frees_everything(trading_client: Client) -> None:
    app = trading_client.app
    baseline = len(asyncio.all_tasks())
    for _ in range(3):
        sockets = [await trading_client.ws_connect(WS) for _ in range(10)]
        for i, ws in enumerate(sockets):
            await subscribe(ws, "bars", {"symbol": ["AAPL", "MSFT"][i % 2]})
            await subscribe(ws, "quotes", {"symbols": ["AAPL", "NOPE"]})
            await subscribe(ws, "orders", {"accountId": f"A{i}"})
        assert app[HUB].stats().connections == 10
        for ws in sockets:
            await ws.close()
        await until(lambda: app[HUB].stats().connections == 0)
    s = app[HUB].stats()
    assert (s.connections, s.topics, s.subscriptions) == (0, 0, 0)
    assert not app[STREAM].active
    await asyncio.sleep(0.05)
    assert len(asyncio.all_tasks()) <= baseline


async def until(condition: Callable[[], bool], limit_s: float = 3.0) -> None:
    async with asyncio.timeout(limit_s):
        while not condition():  # noqa: ASYNC110 - polling server state from the outside
            await asyncio.sleep(0.01)


# -- quotes, broker routes -------------------------------------------------------------------


async def test_quotes_snapshot_order_errors_and_fast_updates(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        reply, snapshot = await subscribe(
            ws, "quotes", {"symbols": ["MSFT", "NOPE", "aapl"], "fast_symbols": ["GOOGL", "MSFT"]}
        )
        topic = 'quotes:{"fast_symbols":["GOOGL","MSFT"],"symbols":["MSFT","NOPE","aapl"]}'
        assert reply["payload"]["topic"] == topic
        items = [f["payload"]["payload"] for f in snapshot]
        assert [i["n"] for i in items] == ["MSFT", "NOPE", "aapl", "GOOGL"]
        assert items[1] == {"s": "error", "n": "NOPE", "v": {"error": "Symbol not found"}}
        assert items[2]["v"]["short_name"] == "AAPL"
        resp = await trading_client.post("/api/v1/datafeed/quotes", json={"symbols": ["aapl"]})
        assert items[2] == (await resp.json())[0]
        trading_clock.advance(1)
        pushed = await drain(ws, quiet=0.2)
        assert sorted(f["payload"]["payload"]["n"] for f in pushed) == ["GOOGL", "MSFT"]
        for f in pushed:
            v = f["payload"]["payload"]["v"]
            assert v["bid"] <= v["lp"] <= v["ask"]
            assert v["low_price"] <= v["lp"] <= v["high_price"]


async def test_slow_quote_symbols_push_at_most_every_slow_interval(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    clock = ManualClock(1_761_309_296.25)
    settings = Settings(
        data_dir=tmp_path, clock=clock, tick_interval_s=0.02, quotes_slow_interval_s=0.3
    )
    client = await aiohttp_client(create_app(settings))
    async with client.ws_connect(WS) as ws:
        await subscribe(ws, "quotes", {"symbols": ["AAPL"]})
        clock.advance(1)
        assert await drain(ws, quiet=0.1) == [], "slow symbols wait for the slow interval"
        await asyncio.sleep(0.3)
        clock.advance(1)
        assert len(await drain(ws, quiet=0.1)) == 1


@pytest.mark.parametrize(
    "route", ["orders", "positions", "executions", "equity", "broker-connection"]
)
async def test_broker_routes_accept_any_account(trading_client: Client, route: str) -> None:
    async with trading_client.ws_connect(WS) as ws:
        reply, snapshot = await subscribe(ws, route, {"accountId": "ACCOUNT-x1"})
        assert reply["payload"]["topic"] == f'{route}:{{"accountId":"ACCOUNT-x1"}}'
        if route == "broker-connection":
            (status,) = snapshot
            assert status["payload"]["payload"]["status"] == 1
            assert status["payload"]["payload"]["message"] == "Connected to demo broker"
            assert status["payload"]["payload"]["disconnectType"] is None
        reply, _ = await request(ws, f"{route}.subscribe", {"accountId": ""})
        assert reply["payload"]["status"] == "error"
        assert reply["payload"]["message"] == "accountId must not be empty"


# -- topic strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "payload", "topic"),
    [
        ("bars", {"resolution": "1", "symbol": "AAPL", "x": 1}, BARS_AAPL),
        ("quotes", {"symbols": ["AAPL"]}, 'quotes:{"fast_symbols":[],"symbols":["AAPL"]}'),
        ("orders", {"accountId": "TEST-001"}, 'orders:{"accountId":"TEST-001"}'),
        ("executions", {"accountId": "A", "symbol": None}, 'executions:{"accountId":"A"}'),
        ("executions", {"accountId": "A"}, 'executions:{"accountId":"A"}'),
        ("executions", {"accountId": "A", "symbol": "AAPL"},
         'executions:{"accountId":"A","symbol":"AAPL"}'),
        ("orders", {"accountId": "é"}, 'orders:{"accountId":"é"}'),
        ("orders", {"accountId": 'q"\\\n\u0001'}, 'orders:{"accountId":"q\\"\\\\\\n\\u0001"}'),
    ],
)  # fmt: skip
async def test_topic_strings(
    trading_client: Client, route: str, payload: dict[str, Any], topic: str
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        reply, _ = await request(ws, f"{route}.subscribe", payload)
        assert reply["payload"]["topic"] == topic


# -- bad input: answered, socket kept open ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "request_type"),
    [
        ("not json", "invalid_json", None),
        ("[1,2]", "invalid_envelope", None),
        ('{"payload":{}}', "invalid_envelope", None),
        ('{"type":5}', "invalid_envelope", None),
        ('{"type":"positions.watch","payload":{"accountId":"A"}}', "unknown_type",
         "positions.watch"),
        ('{"type":"bars.update","payload":{}}', "unknown_type", "bars.update"),
        ('{"type":"bars.subscribe.response"}', "unknown_type", "bars.subscribe.response"),
    ],
)  # fmt: skip
async def test_envelope_errors_keep_the_socket_open(
    trading_client: Client, raw: str, code: str, request_type: str | None
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        await ws.send_str(raw)
        frame = await recv(ws)
        assert frame["type"] == "error"
        assert frame["payload"]["code"] == code
        assert frame["payload"]["request_type"] == request_type
        assert isinstance(frame["payload"]["message"], str)
        reply, _ = await request(ws, "ping", {"n": 1})
        assert reply == {"type": "pong", "payload": {"n": 1}}


async def test_binary_frame_is_an_error(trading_client: Client) -> None:
    async with trading_client.ws_connect(WS) as ws:
        await ws.send_bytes(b'{"type":"ping"}')
        frame = await recv(ws)
        assert frame["payload"]["code"] == "unsupported_frame"
        reply, _ = await request(ws, "ping")
        assert reply == {"type": "pong", "payload": None}


@pytest.mark.parametrize(
    ("type_", "payload", "message"),
    [
        ("bars.subscribe", {"resolution": "1"}, "Invalid payload: symbol: Field required"),
        ("bars.subscribe", {"symbol": "AAPL", "resolution": 1}, "Invalid payload: resolution:"),
        ("bars.subscribe", None, "Invalid payload: "),
        ("quotes.subscribe", {"symbols": "AAPL"}, "Invalid payload: symbols:"),
        ("orders.unsubscribe", {}, "Invalid payload: accountId: Field required"),
        ("bars.subscribe", [], "Invalid payload: "),
    ],
)
async def test_invalid_payloads_get_an_error_reply(
    trading_client: Client, type_: str, payload: Any, message: str
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        reply, _ = await request(ws, type_, payload)
        assert reply["type"] == f"{type_}.response"
        assert reply["payload"]["status"] == "error"
        assert reply["payload"]["message"].startswith(message)
        assert reply["payload"]["topic"] == ""


@pytest.mark.parametrize(
    ("type_", "payload", "message", "topic"),
    [
        ("bars.subscribe", {"symbol": "NOPE"}, "Symbol not found: NOPE",
         'bars:{"resolution":"1","symbol":"NOPE"}'),
        ("bars.subscribe", {"symbol": "AAPL", "resolution": "2"}, "Unsupported resolution: 2",
         'bars:{"resolution":"2","symbol":"AAPL"}'),
        ("bars.unsubscribe", {"symbol": "NEVER"}, "Not subscribed",
         'bars:{"resolution":"1","symbol":"NEVER"}'),
        ("quotes.subscribe", {"symbols": [f"S{i}" for i in range(201)]},
         "Too many symbols (max 200)", None),
    ],
)  # fmt: skip
async def test_semantic_errors_name_the_topic(
    trading_client: Client, type_: str, payload: Any, message: str, topic: str | None
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        reply, _ = await request(ws, type_, payload)
        assert reply["payload"]["status"] == "error"
        assert reply["payload"]["message"] == message
        if topic is not None:
            assert reply["payload"]["topic"] == topic
        assert (await stats(trading_client))["protocol_errors"] >= 1


async def test_quotes_accepts_200_distinct_symbols_with_duplicates(trading_client: Client) -> None:
    symbols = [f"S{i}" for i in range(200)]
    async with trading_client.ws_connect(WS) as ws:
        _, snapshot = await subscribe(ws, "quotes", {"symbols": symbols, "fast_symbols": symbols})
        assert len(snapshot) == 200


# -- limits ------------------------------------------------------------------------------------


async def limited_client(aiohttp_client: AiohttpClient, tmp_path: Path, **changes: Any) -> Client:
    # each app its own data dir: one server per data dir (a test may build two)
    data_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    settings = Settings(data_dir=data_dir, clock=ManualClock(1_761_309_296.25)).replace(**changes)
    return await aiohttp_client(create_app(settings))


async def test_subscription_limit(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    client = await limited_client(aiohttp_client, tmp_path, ws_max_subscriptions=2)
    async with client.ws_connect(WS) as ws:
        await subscribe(ws, "orders", {"accountId": "A"})
        await subscribe(ws, "orders", {"accountId": "B"})
        await subscribe(ws, "orders", {"accountId": "B"})  # held already: still fine
        reply, _ = await request(ws, "orders.subscribe", {"accountId": "C"})
        assert reply["payload"] == {
            "status": "error",
            "message": "Subscription limit reached (2)",
            "topic": 'orders:{"accountId":"C"}',
        }


async def test_connection_limit_is_503_before_upgrade(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await limited_client(aiohttp_client, tmp_path, ws_max_connections=2)
    async with client.ws_connect(WS), client.ws_connect(WS):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await client.ws_connect(WS)
        assert info.value.status == 503
        upgrade = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        }
        resp = await client.get(WS, headers=upgrade)
        assert resp.status == 503
        assert await resp.json() == {"detail": "Too many WebSocket connections"}


async def test_plain_get_is_426(trading_client: Client) -> None:
    resp = await trading_client.get(WS)
    assert resp.status == 426
    assert await resp.json() == {"detail": "WebSocket upgrade required"}


async def test_origin_allow_list(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    client = await limited_client(aiohttp_client, tmp_path, cors_origins=("http://ok.test",))
    async with client.ws_connect(WS, origin="http://ok.test") as ws:
        reply, _ = await request(ws, "ping")
        assert reply["type"] == "pong"
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.ws_connect(WS, origin="http://evil.test")
    assert info.value.status == 403


async def test_oversized_frame_closes_with_1009(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await limited_client(aiohttp_client, tmp_path, ws_max_message_bytes=2048)
    async with client.ws_connect(WS) as ws:
        await send(ws, "orders.subscribe", {"accountId": "x" * 4096})
        msg = await ws.receive(timeout=3)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert msg.data == 1009


async def test_idle_timeout_and_lifetime_when_configured(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await limited_client(aiohttp_client, tmp_path, ws_idle_timeout_s=0.2)
    async with client.ws_connect(WS) as ws:
        msg = await ws.receive(timeout=3)
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1001, "Idle timeout")
    client = await limited_client(aiohttp_client, tmp_path, ws_max_lifetime_s=0.2)
    async with client.ws_connect(WS) as ws:
        await request(ws, "ping")
        msg = await ws.receive(timeout=3)
        assert (msg.data, msg.extra) == (1001, "Max connection lifetime reached")


@pytest.mark.spec_unchecked  # publishes synthetic {"n", "blob"} items, not PlacedOrders
async def test_slow_consumer_is_closed_while_others_get_everything(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await limited_client(aiohttp_client, tmp_path, ws_send_queue=16)
    hub = client.app[HUB]
    topic = 'orders:{"accountId":"A"}'
    async with client.ws_connect(WS) as stalled, client.ws_connect(WS) as reader:
        await subscribe(stalled, "orders", {"accountId": "A"})
        await subscribe(reader, "orders", {"accountId": "A"})
        received: list[int] = []

        async def read_all() -> None:
            while len(received) < 300:
                frame = await recv(reader, timeout=10)
                received.append(frame["payload"]["payload"]["n"])

        consumer = asyncio.create_task(read_all())
        blob = "x" * 60_000  # big frames fill the stalled socket's buffers quickly
        for n in range(300):
            hub.publish("orders", topic, {"n": n, "blob": blob})
            await asyncio.sleep(0.001)
        await asyncio.wait_for(consumer, 20)
        assert received == list(range(300)), "the reading client got every update, in order"
        assert hub.counters.slow_consumer_closes == 1
        msg = await stalled.receive(timeout=5)
        while msg.type is aiohttp.WSMsgType.TEXT:
            msg = await stalled.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert (msg.data, msg.extra) == (1008, "Slow consumer")


async def test_full_queue_coalesces_market_state(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await limited_client(aiohttp_client, tmp_path, ws_send_queue=4)
    hub = client.app[HUB]
    async with client.ws_connect(WS) as ws:
        _, snap = await subscribe(ws, "bars", {"symbol": "AAPL"})
        bar = snap[0]["payload"]["payload"]
        for volume in range(1, 200):  # same bar time: each replaces its queued twin
            hub.publish("bars", BARS_AAPL, {**bar, "volume": volume})
        frames = await drain(ws, quiet=0.2)
        assert 1 <= len(frames) <= 5
        assert frames[-1]["payload"]["payload"]["volume"] == 199, "the latest state arrives"
        assert hub.counters.messages_coalesced > 0
        assert hub.counters.slow_consumer_closes == 0


# -- shutdown, stats, bench hooks --------------------------------------------------------------


async def test_graceful_shutdown_notifies_then_closes_1001(
    aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    server = await aiohttp_server(create_app(Settings(data_dir=tmp_path)))
    async with aiohttp.ClientSession() as session, session.ws_connect(server.make_url(WS)) as ws:
        await subscribe(ws, "broker-connection", {"accountId": "A"})
        closing = asyncio.create_task(server.close())
        frame = await recv(ws)
        assert frame["type"] == "broker-connection.update"
        assert frame["payload"]["payload"]["status"] == 3
        assert frame["payload"]["payload"]["message"] == "Server shutting down"
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1001, "Server shutdown")
        await closing


async def test_stats_shape(trading_client: Client) -> None:
    assert await stats(trading_client) == {
        "connections": 0,
        "topics": 0,
        "subscriptions": 0,
        "messages_sent": 0,
        "messages_coalesced": 0,
        "slow_consumer_closes": 0,
        "protocol_errors": 0,
    }


async def test_bench_hooks_only_when_enabled(
    trading_client: Client, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    assert (await trading_client.get("/api/v1/__bench/stats")).status == 404
    client = await limited_client(aiohttp_client, tmp_path, bench=True)
    async with client.ws_connect(WS) as ws:
        await subscribe(ws, "bars", {"symbol": "AAPL", "resolution": "1"})
        resp = await client.post(
            "/api/v1/__bench/publish",
            json={"route": "bars", "params": {"symbol": "AAPL", "resolution": "1"},
                  "rate": 2000, "count": 50},
        )  # fmt: skip
        body = await resp.json()
        assert resp.status == 200
        assert (body["published"], body["errors"]) == (50, 0)
        assert set(body["publish_call_ms"]) == {"p50", "p99", "max"}
        got = await updates(ws, 50)
        assert [f["payload"]["payload"]["volume"] for f in got] == list(range(50))
    stats_body = await (await client.get("/api/v1/__bench/stats")).json()
    assert {"tasks", "connections", "topics", "subscriptions"} <= set(stats_body)
    bad = await client.post("/api/v1/__bench/publish", json={"route": "bars", "params": {}})
    assert bad.status == 422
    assert orjson.loads(await bad.read())["detail"]
