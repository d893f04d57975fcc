"""Operating the service (issue 11): ``/metrics``, request ids, JSON and access logs.

Metrics are read the way Prometheus reads them (the text exposition, parsed by
prometheus-client's own parser); logs are read from a real ``python -m trading serve``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.wsclient import WS, subscribe
from trading import http_server
from trading.app import create_app
from trading.broker.enums import OrderType, Side
from trading.logs import REQUEST_ID_HEADER, JsonFormatter
from trading.settings import Settings

Client = TestClient[Any, Any]
REPO = Path(__file__).resolve().parent.parent


async def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` as {(sample name, sorted labels): value}."""
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def health_requests(samples: Any) -> float:
    """How many ``GET /api/v1/health`` answered 200, by the request counter."""
    return value(
        samples, "trading_http_requests_total", method="GET", route="/api/v1/health", status="200"
    )


# -- metrics ---------------------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_not_raw_path(trading_client: Client) -> None:
    for order_id in ("a", "b", "c"):
        assert (await trading_client.delete(f"/api/v1/broker/orders/{order_id}")).status == 400
    await trading_client.get("/api/v1/health")
    await trading_client.get("/no/such/path")
    samples = await scrape(trading_client)
    route = "/api/v1/broker/orders/{order_id}"
    assert (
        value(samples, "trading_http_requests_total", method="DELETE", route=route, status="400")
        == 3
    )
    assert health_requests(samples) == 1
    assert (
        value(samples, "trading_http_requests_total", method="GET", route="unmatched", status="404")
        == 1
    )
    assert (
        value(samples, "trading_http_request_duration_seconds_count", method="DELETE", route=route)
        == 3
    )
    routes = {
        dict(labels).get("route") for (name, labels) in samples if name.startswith("trading_http")
    }
    assert not any(r and "/orders/a" in r for r in routes)


async def test_broker_orders_fills_and_commit_latency(trading_client: Client) -> None:
    order = {"symbol": "AAPL", "side": Side.BUY, "type": OrderType.MARKET, "qty": 1}
    resp = await trading_client.post("/api/v1/broker/orders", json=order)
    assert resp.status == 200
    samples = await scrape(trading_client)
    assert value(samples, "trading_broker_order_updates_total", status="filled") == 1
    assert value(samples, "trading_broker_fills_total") == 1
    assert value(samples, "trading_broker_commit_duration_seconds_count") >= 1
    assert value(samples, "trading_broker_commit_duration_seconds_sum") > 0


async def test_websocket_and_market_figures(make_client: Any) -> None:
    client = await make_client(tick_interval_s=0.05)
    async with client.ws_connect(WS) as ws:
        await subscribe(ws, "bars", {"symbol": "AAPL"})
        await subscribe(ws, "quotes", {"symbols": ["AAPL", "MSFT"]})
        deadline = time.monotonic() + 3
        while True:
            samples = await scrape(client)
            if value(samples, "trading_market_ticks_total") >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert value(samples, "trading_market_ticks_total") >= 2
        assert value(samples, "trading_ws_connections") == 1
        assert value(samples, "trading_ws_topics") == 2
        assert value(samples, "trading_ws_subscriptions") == 2
        assert value(samples, "trading_ws_messages_sent_total") >= 0
        assert value(samples, "trading_market_watched_feeds", kind="bars") == 1
        assert value(samples, "trading_market_watched_feeds", kind="quotes") == 2
        for name in (
            "trading_ws_messages_coalesced_total",
            "trading_ws_slow_consumer_closes_total",
        ):
            assert (name, ()) in samples
    samples = await scrape(client)
    assert value(samples, "trading_ws_connections") == 0


async def test_readiness_fails_when_the_fill_loop_stalls_past_the_setting(
    make_client: Any,
) -> None:
    """A 60 s tick stands for a stalled loop: with TRADING_READY_STALL_S=0.3 readiness fails
    once 0.3 s pass without an evaluation, while the default limit (600 s) still holds."""
    stalled = await make_client(tick_interval_s=60, ready_stall_s=0.3)
    patient = await make_client(tick_interval_s=60)
    await asyncio.sleep(0.5)
    resp = await stalled.get("/api/v1/ready")
    body = await resp.json()
    assert resp.status == 503, body
    assert body["checks"]["fills"]["ok"] is False
    assert "has not completed an evaluation" in body["detail"]
    assert (await patient.get("/api/v1/ready")).status == 200


async def test_each_app_has_its_own_registry(make_client: Any, tmp_path: Path) -> None:
    first = await make_client(data_dir=tmp_path / "first")
    second = await make_client(data_dir=tmp_path / "second")  # one server per data dir
    await first.get("/api/v1/health")
    assert health_requests(await scrape(first)) == 1
    assert health_requests(await scrape(second)) == 0


def test_metrics_are_not_in_the_openapi_document(openapi_document: dict[str, Any]) -> None:
    assert "/metrics" not in openapi_document["paths"]


# -- request ids -----------------------------------------------------------------------------


async def test_request_id_is_accepted_or_generated_and_echoed(trading_client: Client) -> None:
    resp = await trading_client.get("/api/v1/health", headers={REQUEST_ID_HEADER: "req-42.a_b"})
    assert resp.headers[REQUEST_ID_HEADER] == "req-42.a_b"
    generated = set()
    for bad in (None, "has space", "x" * 129, 'quote"'):
        headers = {} if bad is None else {REQUEST_ID_HEADER: bad}
        resp = await trading_client.get("/no/such/path", headers=headers)
        assert resp.status == 404
        rid = resp.headers[REQUEST_ID_HEADER]
        assert rid != bad
        assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", rid), rid  # process token - counter
        generated.add(rid)
    assert len(generated) == 4
    tokens = {rid.split("-")[0] for rid in generated}
    assert len(tokens) == 1  # one process, one token; the counter tells requests apart


async def test_a_page_on_another_origin_may_read_the_request_id(trading_client: Client) -> None:
    """Without Access-Control-Expose-Headers a cross-origin page's fetch cannot read it (nor a
    503's Retry-After)."""
    resp = await trading_client.get("/api/v1/health", headers={"Origin": "http://other.example"})
    exposed = {h.strip() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {REQUEST_ID_HEADER, "Retry-After"}
    same = await trading_client.get("/api/v1/health")
    assert "Access-Control-Expose-Headers" not in same.headers  # no Origin: no CORS headers


async def test_request_id_on_a_websocket_upgrade(trading_client: Client) -> None:
    async with trading_client.ws_connect(WS, headers={REQUEST_ID_HEADER: "ws-1"}) as ws:
        assert ws._response.headers[REQUEST_ID_HEADER] == "ws-1"


# -- logs ------------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Root records as JSON lines in a buffer, as TRADING_LOG_FORMAT=json writes them."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(old_level)


async def test_records_logged_while_handling_carry_the_request_id(
    trading_settings: Settings, json_log: io.StringIO
) -> None:
    app = create_app(trading_settings)

    async def noisy(request: web.Request) -> web.Response:
        logging.getLogger("trading.test").warning("inside the handler")
        return web.json_response({})

    app.router.add_get("/test/noisy", noisy)
    runner = await http_server.start(app, "127.0.0.1", 0)
    try:
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/test/noisy"
            async with session.get(url, headers={REQUEST_ID_HEADER: "trace-7"}) as resp:
                assert resp.status == 200
    finally:
        await runner.cleanup()
    lines = [orjson.loads(line) for line in json_log.getvalue().splitlines()]
    inside = [r for r in lines if r["message"] == "inside the handler"]
    assert inside == [
        {"time": inside[0]["time"], "level": "WARNING", "logger": "trading.test",
         "message": "inside the handler", "request_id": "trace-7"}
    ]  # fmt: skip
    [access] = [r for r in lines if r["logger"] == "aiohttp.access"]
    assert access["request_id"] == "trace-7"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/test/noisy", 200)
    assert access["duration_ms"] >= 0


async def test_access_log_can_be_switched_off(tmp_path: Path, json_log: io.StringIO) -> None:
    for enabled in (True, False):
        settings = Settings(data_dir=tmp_path / str(enabled), access_log=enabled)
        runner = await http_server.start(create_app(settings), "127.0.0.1", 0)
        try:
            port = runner.addresses[0][1]
            url = f"http://127.0.0.1:{port}/api/v1/health"
            async with aiohttp.ClientSession() as session, session.get(url) as resp:
                assert resp.status == 200
        finally:
            await runner.cleanup()
    lines = [orjson.loads(line) for line in json_log.getvalue().splitlines()]
    assert len([r for r in lines if r["logger"] == "aiohttp.access"]) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_writes_one_json_object_per_line(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "TRADING_PORT": str(port),
        "TRADING_DATA_DIR": str(tmp_path / "data"),
        "TRADING_LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "trading", "serve"], cwd=REPO, env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/v1/health", headers={REQUEST_ID_HEADER: "cli-1"}
                )
                with urllib.request.urlopen(request, timeout=1) as resp:
                    assert resp.headers[REQUEST_ID_HEADER] == "cli-1"
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 0
    records = [orjson.loads(line) for line in stderr.decode().splitlines()]
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(
        r["logger"] == "trading.http_server" and "serving on" in r["message"] for r in records
    )
    [access] = [r for r in records if r["logger"] == "aiohttp.access"]
    assert (access["request_id"], access["status"]) == ("cli-1", 200)
