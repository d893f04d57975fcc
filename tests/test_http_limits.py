"""Bad input at the HTTP layer gets a JSON ``{"detail": ...}`` (issue 11), never a 500 or text.

Bodies (nesting, content encoding, size) go through the app, so the aiohttp test client
reaches them. Request-line and header limits and the header timeout act in aiohttp's parser,
before any middleware: those tests run the real listener (:func:`trading.http_server.start`)
on a loopback port and talk to it with raw asyncio streams, byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from tests.wsclient import WS, subscribe
from trading import http_server
from trading.api.io import nesting_exceeds
from trading.app import create_app
from trading.settings import Settings, SettingsError

Client = TestClient[Any, Any]

ORDER = "/api/v1/broker/orders"
QUOTES = "/api/v1/datafeed/quotes"
JSON = {"Content-Type": "application/json"}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# -- JSON bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [ORDER, QUOTES, "/api/v1/broker/leverage/preview"])
@pytest.mark.parametrize(
    "body",
    [
        nested(1000),
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
        b'{"symbol": "AAPL", "qty": ' + nested(900) + b"}",
    ],
    ids=["arrays", "objects", "in-a-field"],
)
async def test_deeply_nested_json_is_a_422_naming_the_limit(
    trading_client: Client, path: str, body: bytes
) -> None:
    resp = await trading_client.post(path, data=body, headers=JSON)
    assert resp.status == 422
    [item] = (await resp.json())["detail"]
    assert item["type"] == "json_invalid"
    assert item["loc"] == ["body", 0]
    assert "TRADING_JSON_MAX_DEPTH" in item["ctx"]["error"]


async def test_nesting_up_to_the_limit_reaches_validation(make_client: Any) -> None:
    client = await make_client(json_max_depth=10)
    resp = await client.post(QUOTES, data=b'{"symbols": ' + nested(9) + b"}", headers=JSON)
    assert resp.status == 422
    assert [e["loc"] for e in (await resp.json())["detail"]] == [["body", "symbols", 0]]
    resp = await client.post(QUOTES, data=b'{"symbols": ' + nested(10) + b"}", headers=JSON)
    assert "TRADING_JSON_MAX_DEPTH" in (await resp.json())["detail"][0]["ctx"]["error"]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=30,
)


@given(json_values, st.integers(min_value=0, max_value=8))
def test_nesting_exceeds_agrees_with_the_recursive_definition(value: Any, limit: int) -> None:
    assert nesting_exceeds(value, limit) == (_depth(value) > limit)


@pytest.mark.parametrize(
    ("encoding", "body", "problem"),
    [
        ("gzip", b"this is not gzip", "content-encoding: gzip"),
        # aiohttp does not check gzip's trailer: the damage shows in the decoded bytes
        ("gzip", gzip.compress(b'{"symbols": ["AAPL"]}')[:-14] + b"\xff" * 14, ""),
        ("deflate", b"\x00\x01 not deflate", "content-encoding: deflate"),
    ],
    ids=["gzip-garbage", "gzip-corrupt", "deflate-garbage"],
)
async def test_undecodable_body_is_a_422_like_bad_json(
    trading_client: Client, encoding: str, body: bytes, problem: str
) -> None:
    resp = await trading_client.post(
        QUOTES, data=body, headers={**JSON, "Content-Encoding": encoding}
    )
    assert resp.status == 422
    [item] = (await resp.json())["detail"]
    assert (item["type"], item["loc"]) == ("json_invalid", ["body", 0])
    assert problem in item["ctx"]["error"]


async def test_valid_gzip_body_is_accepted(trading_client: Client) -> None:
    body = gzip.compress(b'{"symbols": ["AAPL"]}')
    resp = await trading_client.post(
        QUOTES, data=body, headers={**JSON, "Content-Encoding": "gzip"}
    )
    assert resp.status == 200
    deflated = zlib.compress(b'{"symbols": ["AAPL"]}')
    resp = await trading_client.post(
        QUOTES, data=deflated, headers={**JSON, "Content-Encoding": "deflate"}
    )
    assert resp.status == 200


@pytest.mark.spec_unchecked  # 413 is the listener's limit, declared on no route (as before)
async def test_body_size_limit_is_a_setting(make_client: Any) -> None:
    client = await make_client(http_max_body_bytes=2048)
    symbols = orjson.dumps({"symbols": ["AAPL"] * 400})
    resp = await client.post(QUOTES, data=symbols, headers=JSON)
    assert resp.status == 413
    assert "2048" in (await resp.json())["detail"]


# -- the listener: raw bytes on a real socket ----------------------------------------------


async def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], Any]:
    """Send raw bytes, read until the server closes; (status, headers, parsed JSON body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, orjson.loads(body)


def get(target: bytes, headers: bytes = b"") -> bytes:
    return (
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        + headers
        + b"\r\n"
    )


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[int]:
    """The real listener on a free loopback port; yields the port."""
    runner = await http_server.start(create_app(settings), "127.0.0.1", 0)
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
async def port(trading_settings: Settings) -> AsyncIterator[int]:
    async with serve(trading_settings) as p:
        yield p


async def test_ordinary_request_through_the_listener(port: int) -> None:
    status, _, body = await exchange(port, get(b"/api/v1/health"))
    assert (status, body["status"]) == (200, "ok")


@pytest.mark.parametrize(
    ("request_bytes", "setting", "limit"),
    [
        (get(b"/api/v1/health?q=" + b"a" * 100_000), "TRADING_HTTP_MAX_LINE_BYTES", 16384),
        (
            get(b"/api/v1/health", b"X-Big: " + b"a" * 100_000 + b"\r\n"),
            "TRADING_HTTP_MAX_FIELD_BYTES",
            8190,
        ),
        (
            get(b"/api/v1/health", b"".join(b"X-H%d: a\r\n" % i for i in range(200))),
            "TRADING_HTTP_MAX_HEADERS",
            128,
        ),
    ],
    ids=["100KB-query", "100KB-header", "200-headers"],
)
async def test_parser_limits_answer_json_naming_the_limit(
    port: int, request_bytes: bytes, setting: str, limit: int
) -> None:
    status, headers, body = await exchange(port, request_bytes)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert setting in body["detail"]
    assert str(limit) in body["detail"]
    # the parser's own answers carry the security headers and announce no versions either
    assert headers["server"] == "trading"
    assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


async def test_malformed_request_line_is_json(port: int) -> None:
    status, headers, body = await exchange(port, b"G@T / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert body["detail"].startswith("Malformed HTTP request")


async def test_parser_limits_follow_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "d",
        http_max_headers=20,
        http_max_line_bytes=300,
        http_max_field_bytes=400,
    )
    async with serve(settings) as p:
        ten = b"".join(b"X-H%d: a\r\n" % i for i in range(10))
        assert (await exchange(p, get(b"/api/v1/health", ten)))[0] == 200
        status, _, body = await exchange(p, get(b"/api/v1/health", ten + ten + ten))
        assert (status, "limit is 20 " in body["detail"]) == (400, True)
        status, _, body = await exchange(p, get(b"/api/v1/health?q=" + b"a" * 300))
        assert (status, "300 bytes (TRADING_HTTP_MAX_LINE_BYTES)" in body["detail"]) == (400, True)
        big = b"X-A: " + b"a" * 1000 + b"\r\n"
        status, _, body = await exchange(p, get(b"/api/v1/health", big))
        assert (status, "400 bytes (TRADING_HTTP_MAX_FIELD_BYTES)" in body["detail"]) == (400, True)


async def _closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except ConnectionResetError:
        return True


async def trickle(writer: asyncio.StreamWriter) -> None:
    """A request head sent one byte every 50 ms (never finished within the test)."""
    for byte in b"GET /api/v1/health HTTP/1.1\r\nX-Slow: " + b"a" * 100:
        writer.write(bytes([byte]))
        await asyncio.sleep(0.05)


async def test_slowloris_connections_are_closed_after_the_header_timeout(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", http_header_timeout_s=1.0)
    async with serve(settings) as p:
        partial = [b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n", b"GET /api/v1/he", b""]
        streams = [await asyncio.open_connection("127.0.0.1", p) for _ in range(50)]
        opened = time.monotonic()
        for i, (_, writer) in enumerate(streams):
            writer.write(partial[i % len(partial)])
        # one that keeps trickling bytes is held to the same deadline (not reset per byte)
        trickle_reader, trickle_writer = await asyncio.open_connection("127.0.0.1", p)

        trickler = asyncio.create_task(trickle(trickle_writer))
        # meanwhile ordinary requests are served
        for _ in range(3):
            assert (await exchange(p, get(b"/api/v1/health")))[0] == 200
        closed = await asyncio.gather(*(_closed_by_server(r, 4.0) for r, _ in streams))
        elapsed = time.monotonic() - opened
        assert all(closed)
        assert 0.8 <= elapsed < 3.5
        assert await _closed_by_server(trickle_reader, 3.0)
        trickler.cancel()
        for _, writer in [*streams, (trickle_reader, trickle_writer)]:
            writer.close()


async def read_response(reader: asyncio.StreamReader) -> int:
    """One response off a kept-alive connection; its status."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length"))
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def test_keep_alive_connection_serves_requests_within_the_timeout(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", http_header_timeout_s=1.0)
    async with serve(settings) as p:
        reader, writer = await asyncio.open_connection("127.0.0.1", p)
        for _ in range(3):  # each response restarts the timer: 3 x 0.6 s > 1 s is fine
            writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert await read_response(reader) == 200
            await asyncio.sleep(0.6)
        assert await _closed_by_server(reader, 3.0)  # then idle: closed
        writer.close()


async def test_header_timeout_does_not_close_open_websockets(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", http_header_timeout_s=0.5, ws_heartbeat_s=3600)
    async with (
        serve(settings) as p,
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://127.0.0.1:{p}{WS}") as ws,
    ):
        await asyncio.sleep(1.5)  # three header timeouts, no traffic at all
        await subscribe(ws, "bars", {"symbol": "AAPL"})
        assert not ws.closed


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("http_max_line_bytes", 10),
        ("http_max_field_bytes", 10**9),
        ("http_max_headers", 0),
        ("http_max_body_bytes", 100),
        ("http_header_timeout_s", 0.0),
        ("json_max_depth", 1),
        ("log_format", "xml"),
    ],
)
def test_limits_are_validated_settings(name: str, bad: object) -> None:
    with pytest.raises(SettingsError, match=f"TRADING_{name.upper()}"):
        Settings(**{name: bad})


def test_limits_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TRADING_HTTP_MAX_LINE_BYTES": "4096",
            "TRADING_HTTP_MAX_FIELD_BYTES": "2048",
            "TRADING_HTTP_MAX_HEADERS": "64",
            "TRADING_HTTP_MAX_BODY_BYTES": "65536",
            "TRADING_HTTP_HEADER_TIMEOUT_S": "2.5",
            "TRADING_JSON_MAX_DEPTH": "16",
            "TRADING_LOG_FORMAT": "JSON",
            "TRADING_ACCESS_LOG": "off",
        }
    )
    assert (settings.http_max_line_bytes, settings.http_max_field_bytes) == (4096, 2048)
    assert (settings.http_max_headers, settings.http_max_body_bytes) == (64, 65536)
    assert (settings.http_header_timeout_s, settings.json_max_depth) == (2.5, 16)
    assert (settings.log_format, settings.access_log) == ("json", False)


async def test_an_undecodable_body_is_answered_and_closed_without_an_error_log(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Keep-alive on, over the real listener: aiohttp used to read the rest of the broken body
    after our 422 and log the decode error again as an "Unhandled exception" traceback."""
    body = b"this is not gzip"
    request = (
        b"POST /api/v1/datafeed/quotes HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with caplog.at_level(logging.INFO):
        status, headers, answer = await exchange(port, request)  # returns once it is closed
        await asyncio.sleep(0.05)
    assert status == 422
    assert answer["detail"][0]["type"] == "json_invalid"
    assert headers["connection"] == "close"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
