"""Streaming introspection (``GET /api/v1/ws/stats``) and the benchmark hooks.

The hooks (``/api/v1/__bench/*``, only with ``TRADING_BENCH=1``) follow the load tools'
contract (rest.md §4 "Benchmark hooks"): publish N bar updates at a rate through the real hub path.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import statistics
import time
from decimal import Decimal

import pydantic
from aiohttp import web

from trading.api.io import json_response, model_response, parse_body
from trading.broker.events import EquityChanged
from trading.broker.state import Equity
from trading.errors import RequestValidationError, error_item
from trading.keys import BROKER_PUSH, HUB, MUTED, STREAM
from trading.models.base import WireModel
from trading.models.ws import StreamingStats
from trading.specs.operation import operation
from trading.ws.connection import Connection
from trading.ws.protocol import BARS, ROUTES

routes = web.RouteTableDef()
bench_routes = web.RouteTableDef()


@routes.get("/api/v1/ws/stats")
@operation(
    "getStreamingStats",
    tag="health",
    summary="WebSocket counters since start",
    responses={200: StreamingStats},
)
async def get_streaming_stats(request: web.Request) -> web.Response:
    return model_response(request.app[HUB].stats())


class BenchPublish(WireModel):
    route: str = BARS
    params: dict[str, object]
    rate: float = pydantic.Field(gt=0)
    count: int = pydantic.Field(ge=1, le=10_000_000)


@bench_routes.post("/api/v1/__bench/publish")
@operation("benchPublish", tag="bench", summary="Benchmark: publish bar updates", hidden=True)
async def bench_publish(request: web.Request) -> web.Response:
    body = await parse_body(request, BenchPublish)
    if body.route != BARS:
        raise RequestValidationError(
            [error_item(["body", "route"], "only 'bars' is supported", input_=body.route)]
        )
    route = ROUTES[BARS]
    try:
        topic = route.topic(route.request_model.model_validate(body.params))
    except pydantic.ValidationError as exc:
        raise RequestValidationError(
            [error_item(["body", "params"], str(exc), input_=body.params)]
        ) from None
    hub, muted = request.app[HUB], request.app[MUTED]
    muted.mute(topic)
    calls: list[float] = []
    errors = 0
    start = time.perf_counter()
    try:
        for i in range(body.count):
            delay = start + i / body.rate - time.perf_counter()
            await asyncio.sleep(max(delay, 0.0))  # when behind, still let writers run
            item = {
                "time": time.time_ns() // 1000,
                "open": 100.0,
                "high": 101.0,
                "low": 99.0,
                "close": 100.5,
                "volume": i,
            }
            t0 = time.perf_counter()
            try:
                hub.publish(BARS, topic, item)
            except Exception:
                errors += 1
            calls.append(time.perf_counter() - t0)
    finally:
        muted.unmute(topic)
    elapsed = time.perf_counter() - start
    calls.sort()
    return json_response(
        {
            "published": body.count,
            "errors": errors,
            "elapsed_s": elapsed,
            "achieved_rate": body.count / elapsed,
            "publish_call_ms": {
                "p50": statistics.median(calls) * 1e3,
                "p99": calls[max(0, int(len(calls) * 0.99) - 1)] * 1e3,
                "max": calls[-1] * 1e3,
            },
        }
    )


class BenchBroker(WireModel):
    accounts: list[str] = pydantic.Field(min_length=1, max_length=100_000)
    rate: float = pydantic.Field(gt=0)
    count: int = pydantic.Field(ge=1, le=10_000_000)


_versions = itertools.count(10**15)
"""The synthetic commits' versions: above any stored version, so no subscriber's snapshot
holds them, and rising over every call, as commits' do (a benchmark server makes no real
commits after them)."""


@bench_routes.post("/api/v1/__bench/broker")
@operation("benchBroker", tag="bench", summary="Benchmark: broker pushes", hidden=True)
async def bench_broker(request: web.Request) -> web.Response:
    """Push ``count`` equity updates round-robin over ``accounts`` at ``rate``, as commits
    (with a version): through the backplane when it is configured, else the local path.
    ``equity`` is the wall clock at publish in microseconds, ``balance`` the sequence number."""
    body = await parse_body(request, BenchBroker)
    push = request.app[BROKER_PUSH]
    zero = Decimal(0)
    start = time.perf_counter()
    for i in range(body.count):
        delay = start + i / body.rate - time.perf_counter()
        if delay > 0 or i % 64 == 0:
            await asyncio.sleep(max(delay, 0.0))
        equity = Equity(Decimal(time.time_ns() // 1000), Decimal(i), zero, zero, zero)
        push(body.accounts[i % len(body.accounts)], [EquityChanged(equity)], next(_versions))
    elapsed = time.perf_counter() - start
    return json_response(
        {"published": body.count, "elapsed_s": elapsed, "achieved_rate": body.count / elapsed}
    )


@bench_routes.get("/api/v1/__bench/stats")
@operation("benchStats", tag="bench", summary="Benchmark: hub and task counters", hidden=True)
async def bench_stats(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    stats = hub.stats().model_dump()
    queued = [c.queued for c in hub.connections if isinstance(c, Connection)]
    stats.update(
        tasks=len(asyncio.all_tasks()),
        queued_messages=sum(queued),
        max_queue_depth=max(queued, default=0),
        stream_feeds=request.app[STREAM].watched(),
        gc_counts=gc.get_count(),
    )
    return json_response(stats)
