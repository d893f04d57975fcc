"""Minimal aiohttp WebSocket server: the yardstick for the WebSocket benchmark.

It does only what a fan-out needs, the plainest way aiohttp allows: a dict topic → set of
sockets, and a publish that serializes an update once and writes the same bytes to every
subscriber with ``await ws.send_frame(...)``, one after the other, in the publishing task.
It speaks enough of the wire protocol (docs/websocket.md) for the independent load generator
(``load.py fanout``, ``churn``, ``conns``; see scripts/bench_ws.sh) to run unchanged, and
exposes the same two bench hooks as ``TRADING_BENCH=1 python -m trading serve``.

What it deliberately omits (each of these costs the real service CPU or memory):

- payload validation: any JSON object is a valid payload; the topic is ``<route>:`` + the
  payload with nulls removed and ``bars.resolution`` / ``quotes`` lists defaulted, sorted,
  compact (same string as the service for the payloads load.py sends);
- symbol checks, snapshots after subscribe, market-data producers, the broker;
- per-connection outbound queues, writer tasks, coalescing and slow-consumer closes: a slow
  client makes the publisher wait (no isolation between clients);
- heartbeat pings, idle/lifetime timers, origin checks, connection and subscription limits,
  message size limit beyond aiohttp's default, the access log.

    .venv/bin/python scripts/bench_ws_baseline.py --port 8001
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import orjson
from aiohttp import WSMsgType, web

WS_PATH = "/api/v1/ws"
OPERATIONS = ("subscribe", "unsubscribe")
DEFAULTS: dict[str, dict[str, Any]] = {
    "bars": {"resolution": "1"},
    "quotes": {"symbols": [], "fast_symbols": []},
}

Sockets = set[web.WebSocketResponse]
TOPICS = web.AppKey("topics", dict[str, Sockets])
CONNECTIONS = web.AppKey("connections", Sockets)


def topic_of(route: str, payload: dict[str, Any]) -> str:
    fields = {**DEFAULTS.get(route, {}), **payload}
    fields = {k: v for k, v in fields.items() if v is not None}
    return f"{route}:{orjson.dumps(fields, option=orjson.OPT_SORT_KEYS).decode()}"


def encode(message_type: str, payload: Any) -> bytes:
    return orjson.dumps({"type": message_type, "payload": payload})


def reply(route: str, op: str, ok: bool, message: str, topic: str) -> bytes:
    body = {"status": "ok" if ok else "error", "message": message, "topic": topic}
    return encode(f"{route}.{op}.response", body)


def handle(
    topics: dict[str, Sockets], ws: web.WebSocketResponse, held: set[str], text: str
) -> bytes:
    """One client message → the reply frame (registration happens here, without awaiting)."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        return encode("error", {"code": "invalid_json", "message": "Invalid JSON"})
    mtype = msg.get("type") if isinstance(msg, dict) else None
    if not isinstance(mtype, str):
        return encode("error", {"code": "invalid_envelope", "message": "Bad envelope"})
    if mtype == "ping":
        return encode("pong", msg.get("payload"))
    route, _, op = mtype.rpartition(".")
    payload = msg.get("payload")
    if not route or op not in OPERATIONS:
        return encode("error", {"code": "unknown_type", "message": f"No matching type: {mtype}"})
    if not isinstance(payload, dict):
        return reply(route, op, False, "Invalid payload", "")
    topic = topic_of(route, payload)
    if op == "subscribe":
        topics.setdefault(topic, set()).add(ws)
        held.add(topic)
        return reply(route, op, True, "Subscribed", topic)
    if topic not in held:
        return reply(route, op, False, "Not subscribed", topic)
    release(topics, ws, topic)
    held.discard(topic)
    return reply(route, op, True, "Unsubscribed", topic)


def release(topics: dict[str, Sockets], ws: web.WebSocketResponse, topic: str) -> None:
    sockets = topics.get(topic)
    if sockets is not None:
        sockets.discard(ws)
        if not sockets:
            del topics[topic]


async def websocket(request: web.Request) -> web.WebSocketResponse:
    topics, connections = request.app[TOPICS], request.app[CONNECTIONS]
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    connections.add(ws)
    held: set[str] = set()
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_frame(handle(topics, ws, held, msg.data), WSMsgType.TEXT)
    except (ConnectionError, RuntimeError):
        pass
    finally:
        for topic in held:
            release(topics, ws, topic)
        connections.discard(ws)
    return ws


async def publish(topics: dict[str, Sockets], topic: str, data: bytes) -> int:
    errors = 0
    for ws in list(topics.get(topic, ())):
        try:
            await ws.send_frame(data, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            errors += 1
    return errors


async def bench_publish(request: web.Request) -> web.Response:
    body = await request.json(loads=orjson.loads)
    route = str(body.get("route", "bars"))
    topic = topic_of(route, body["params"])
    rate, count = float(body["rate"]), int(body["count"])
    topics = request.app[TOPICS]
    calls: list[float] = []
    errors = 0
    start = time.perf_counter()
    for i in range(count):
        await asyncio.sleep(max(start + i / rate - time.perf_counter(), 0.0))
        item = {"time": time.time_ns() // 1000, "open": 100.0, "high": 101.0, "low": 99.0,
                "close": 100.5, "volume": i}  # fmt: skip
        t0 = time.perf_counter()
        errors += await publish(
            topics, topic, encode(f"{route}.update", {"topic": topic, "payload": item})
        )
        calls.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    calls.sort()
    result = {
        "published": count,
        "errors": errors,
        "elapsed_s": elapsed,
        "achieved_rate": count / elapsed,
        "publish_call_ms": {
            "p50": statistics.median(calls) * 1e3,
            "p99": calls[max(0, int(len(calls) * 0.99) - 1)] * 1e3,
            "max": calls[-1] * 1e3,
        },
    }
    return web.Response(body=orjson.dumps(result), content_type="application/json")


async def bench_stats(request: web.Request) -> web.Response:
    topics = request.app[TOPICS]
    result = {
        "tasks": len(asyncio.all_tasks()),
        "connections": len(request.app[CONNECTIONS]),
        "topics": len(topics),
        "subscriptions": sum(len(s) for s in topics.values()),
    }
    return web.Response(body=orjson.dumps(result), content_type="application/json")


def create_app() -> web.Application:
    app = web.Application()
    app[TOPICS] = {}
    app[CONNECTIONS] = set()
    app.router.add_get(WS_PATH, websocket)
    app.router.add_post("/api/v1/__bench/publish", bench_publish)
    app.router.add_get("/api/v1/__bench/stats", bench_stats)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    web.run_app(create_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
