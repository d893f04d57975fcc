"""Local-server security (issue 11, trading/security.py), black-box against the real app.

The default binds loopback with no auth, so the attacker is a page in the user's browser:
it can send "simple" requests (GET, or a POST with a form / text body) to any origin without
a CORS preflight, and a DNS-rebinding domain makes it same-origin. Browser-level checks (a real
cross-origin page, framing, CSP) are in test_security_browser.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.broker.enums import OrderType, Side
from trading.security import HostPolicy, host_name, is_loopback_origin
from trading.settings import Settings, SettingsError

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]
B = "/api/v1/broker"
# a market buy of 1 AAPL; integers, not the enums (OrderType.MARKET, Side.BUY): WRITES sends its
# bodies as Python text too (str(body), a non-JSON body), and that text must stay the same
ORDER = {"symbol": "AAPL", "type": 2, "side": 1, "qty": 1}
EVIL = "https://evil.example"
JSON = {"Content-Type": "application/json"}

pytestmark = pytest.mark.spec_unchecked  # 421s and refusals on purpose; statuses checked here


async def orders(client: Client) -> list[Any]:
    response = await client.get(f"{B}/orders")
    assert response.status == 200
    result: list[Any] = await response.json()
    return result


async def place(client: Client) -> str:
    response = await client.post(f"{B}/orders", json=ORDER)
    assert response.status == 200, await response.text()
    order_id: str = (await response.json())["orderId"]
    return order_id


def own_origin(client: Client) -> str:
    return f"http://{client.host}:{client.port}"


# --- CSRF: simple requests cannot change state --------------------------------------------

SIMPLE_BODIES = [
    ("text/plain", b'{"symbol":"AAPL","type":2,"side":1,"qty":1}'),
    ("text/plain;charset=UTF-8", b'{"symbol":"AAPL","type":2,"side":1,"qty":1}'),
    ("application/x-www-form-urlencoded", b"symbol=AAPL&type=2&side=1&qty=1"),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
    ),
]


@pytest.mark.parametrize(("content_type", "body"), SIMPLE_BODIES)
async def test_a_simple_post_cannot_place_an_order(
    trading_client: Client, content_type: str, body: bytes
) -> None:
    for origin in (None, EVIL):
        headers = {"Content-Type": content_type}
        if origin:
            headers["Origin"] = origin
        response = await trading_client.post(f"{B}/orders", data=body, headers=headers)
        assert response.status in (403, 415)
        detail = (await response.json())["detail"]
        assert ("application/json" in detail) if response.status == 415 else (EVIL in detail)
    assert await orders(trading_client) == []


async def test_a_post_without_content_type_is_415(trading_client: Client) -> None:
    response = await trading_client.post(f"{B}/orders", data=b'{"symbol":"AAPL"}')
    assert response.status == 415
    assert await response.json() == {
        "detail": "POST needs Content-Type: application/json (got application/octet-stream)"
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},  # a browser, no Origin
        {"Sec-Fetch-Site": "same-origin"},
        {"Content-Type": "text/plain"},
        {"Origin": EVIL},
    ],
)
async def test_the_reset_is_not_reachable_by_a_simple_request(
    trading_client: Client, headers: dict[str, str]
) -> None:
    await place(trading_client)
    response = await trading_client.post(f"{B}/debug/reset", headers=headers)
    assert response.status in (403, 415)
    assert "detail" in await response.json()
    assert len(await orders(trading_client)) == 1


async def test_a_bodiless_post_from_no_browser_needs_no_content_type(
    trading_client: Client,
) -> None:
    """``curl -X POST .../debug/reset``: no Origin, no Sec-Fetch-*, no body, so no web page
    sent it (browsers always add those headers): it is answered like before."""
    await place(trading_client)
    response = await trading_client.post(f"{B}/debug/reset", skip_auto_headers=["Content-Type"])
    assert response.status == 200, await response.text()
    assert await orders(trading_client) == []


async def test_the_reset_with_a_json_content_type_works(trading_client: Client) -> None:
    await place(trading_client)
    response = await trading_client.post(f"{B}/debug/reset", headers=JSON)
    assert response.status == 200
    assert await orders(trading_client) == []


# Every state-changing route, with a body that would succeed once an order/position exists.
WRITES: list[tuple[str, str, Any]] = [
    ("POST", "/orders", ORDER),
    ("PUT", "/orders/{order}", {**ORDER, "type": 1, "limitPrice": 1.0}),
    ("DELETE", "/orders/{order}", None),
    ("DELETE", "/positions/AAPL", None),
    ("PUT", "/positions/AAPL/brackets", {"brackets": {"stopLoss": 1.0}}),
    ("PUT", "/leverage/set", {"symbol": "AAPL", "orderType": 2, "side": 1, "leverage": 20}),
    ("POST", "/debug/reset", {}),
]


async def _fixture_state(client: Client) -> str:
    """A working limit order and an AAPL position (market order filled at once)."""
    limit = {**ORDER, "type": 1, "limitPrice": 1.0}
    response = await client.post(f"{B}/orders", json=limit)
    assert response.status == 200
    await place(client)
    order_id: str = (await response.json())["orderId"]
    return order_id


async def _snapshot(client: Client) -> Any:
    positions = await (await client.get(f"{B}/positions")).json()
    lev = await client.get(
        f"{B}/leverage/info",
        params={"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY},
    )
    return await orders(client), positions, await lev.json()


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_every_write_route_refuses_a_foreign_origin_and_a_non_json_body(
    trading_client: Client, method: str, path: str, body: Any
) -> None:
    order_id = await _fixture_state(trading_client)
    url = B + path.format(order=order_id)
    before = await _snapshot(trading_client)
    foreign = await trading_client.request(method, url, json=body, headers={"Origin": EVIL})
    assert foreign.status == 403
    assert EVIL in (await foreign.json())["detail"]
    if method != "DELETE":  # a bodiless DELETE always needs a preflight; no type to check
        text = await trading_client.request(
            method, url, data=b"{}" if body is None else str(body).encode(),
            headers={"Content-Type": "text/plain"},
        )  # fmt: skip
        assert text.status == 415
    assert await _snapshot(trading_client) == before
    allowed = await trading_client.request(method, url, json=body)
    assert allowed.status == 200, await allowed.text()


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"]
)
async def test_with_the_default_star_loopback_dev_servers_may_write(
    trading_client: Client, origin: str
) -> None:
    """The reference frontend's dev server (Vite on localhost:5173) keeps working."""
    preflight = await trading_client.options(
        f"{B}/orders",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    response = await trading_client.post(f"{B}/orders", json=ORDER, headers={"Origin": origin})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.1.nip.io"],
)
async def test_with_the_default_star_other_sites_may_read_but_not_write(
    trading_client: Client, origin: str
) -> None:
    udf = await trading_client.get("/api/v1/udf/config", headers={"Origin": origin})
    assert udf.status == 200
    assert udf.headers["Access-Control-Allow-Origin"] == "*"
    quotes = await trading_client.post(
        "/api/v1/datafeed/quotes", json={"symbols": ["AAPL"]}, headers={"Origin": origin}
    )
    assert quotes.status == 200  # a read-only POST
    preview = await trading_client.post(
        f"{B}/orders/preview", json=ORDER, headers={"Origin": origin}
    )
    assert preview.status == 200
    write = await trading_client.post(f"{B}/orders", json=ORDER, headers={"Origin": origin})
    assert write.status == 403
    assert await orders(trading_client) == []


async def test_an_explicit_list_allows_its_origins_and_same_origin_only(
    make_client: MakeClient,
) -> None:
    client = await make_client(cors_origins=("https://myapp.example",))
    listed = await client.post(
        f"{B}/orders", json=ORDER, headers={"Origin": "https://myapp.example"}
    )
    assert listed.status == 200
    assert listed.headers["Access-Control-Allow-Origin"] == "https://myapp.example"
    same = await client.post(f"{B}/orders", json=ORDER, headers={"Origin": own_origin(client)})
    assert same.status == 200
    for origin in ("http://localhost:5173", EVIL):
        refused = await client.post(f"{B}/orders", json=ORDER, headers={"Origin": origin})
        assert refused.status == 403
    assert len(await orders(client)) == 2


async def test_the_websocket_is_always_open_to_its_own_origin(make_client: MakeClient) -> None:
    """Our own /app/ page with TRADING_CORS_ORIGINS=https://myapp.example (was: 403 forever)."""
    client = await make_client(cors_origins=("https://myapp.example",))
    ws = await client.ws_connect("/api/v1/ws", headers={"Origin": own_origin(client)})
    await ws.send_json({"type": "ping"})
    assert (await ws.receive_json(timeout=5))["type"] == "pong"
    await ws.close()
    listed = await client.ws_connect("/api/v1/ws", headers={"Origin": "https://myapp.example"})
    await listed.close()
    response = await client.get(
        "/api/v1/ws",
        headers={"Origin": EVIL, "Connection": "Upgrade", "Upgrade": "websocket",
                 "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
    )  # fmt: skip
    assert response.status == 403
    assert await response.json() == {"detail": "Origin not allowed"}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content_type=st.one_of(
        st.sampled_from(
            [
                "text/plain",
                "application/x-www-form-urlencoded",
                "text/json",
                "application/jsonx",
                "application/x-json",
                "json",
            ]
        ),
        st.from_regex(r"[a-z]{1,8}/[a-z0-9.+-]{1,12}", fullmatch=True),
    )
)
async def test_any_content_type_but_json_is_refused_on_writes(
    trading_client: Client, content_type: str
) -> None:
    response = await trading_client.post(
        f"{B}/orders",
        data=b'{"symbol":"AAPL","type":2,"side":1,"qty":1}',
        headers={"Content-Type": content_type},
    )
    expected = 200 if content_type == "application/json" else 415
    assert response.status == expected
    if expected == 415:
        assert await orders(trading_client) == []


# --- DNS rebinding: the Host header -------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/health", "/app/", "/api/v1/docs", f"{B}/orders"])
async def test_a_foreign_host_is_421(trading_client: Client, path: str) -> None:
    response = await trading_client.get(path, headers={"Host": "evil.example:8000"})
    assert response.status == 421
    assert response.content_type == "application/json"
    assert "evil.example" in (await response.json())["detail"]


async def test_a_rebinding_page_cannot_write_or_open_the_socket(trading_client: Client) -> None:
    rebinding = {"Host": "evil.example", "Origin": "http://evil.example"}  # same-origin to it
    response = await trading_client.post(f"{B}/orders", json=ORDER, headers=rebinding)
    assert response.status == 421
    ws = await trading_client.get("/api/v1/ws", headers=rebinding)
    assert ws.status == 421
    assert await orders(trading_client) == []


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "[::1]", "localhost."])
async def test_the_loopback_names_are_served(trading_client: Client, host: str) -> None:
    for header in (host, f"{host}:{trading_client.port}"):
        response = await trading_client.get("/api/v1/health", headers={"Host": header})
        assert response.status == 200, header


async def test_allowed_hosts_and_the_bind_address(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(allowed_hosts=("trading.lan",), host="10.1.2.3")
    for host, status in [("trading.lan", 200), ("10.1.2.3:8000", 200), ("localhost", 421)]:
        response = await client.get("/api/v1/health", headers={"Host": host})
        assert response.status == status, host
    anything = await make_client(allowed_hosts=("*",), data_dir=tmp_path / "second")
    response = await anything.get("/api/v1/health", headers={"Host": "evil.example"})
    assert response.status == 200


def test_host_policy_for_a_wildcard_bind() -> None:
    """Bound to every interface, LAN clients reach the server by IP: any IP literal passes (no
    rebinding needs one), names must still be listed."""
    policy = HostPolicy(("localhost",), "0.0.0.0")
    assert policy.allows("192.168.1.20:8000")
    assert policy.allows("[fe80::1]:8000")
    assert not policy.allows("evil.example")
    assert not HostPolicy(("localhost",), "127.0.0.1").allows("192.168.1.20")


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True),
       st.integers(1, 65535))  # fmt: skip
def test_host_name_strips_the_port_whatever_the_name(name: str, port: int) -> None:
    assert host_name(f"{name}:{port}") == host_name(name) == name
    assert HostPolicy((name,), "127.0.0.1").allows(f"{name.upper()}:{port}")


def test_allowed_hosts_setting() -> None:
    env = {"TRADING_ALLOWED_HOSTS": "localhost, trading.lan ,[::1]"}
    assert Settings.from_env(env).allowed_hosts == ("localhost", "trading.lan", "[::1]")
    assert Settings().allowed_hosts == ("localhost", "127.0.0.1", "[::1]")
    for bad in ("http://trading.lan", "trading.lan:8000", "", "a b"):
        with pytest.raises(SettingsError, match="TRADING_ALLOWED_HOSTS"):
            Settings.from_env({"TRADING_ALLOWED_HOSTS": bad})


def test_loopback_origins() -> None:
    assert is_loopback_origin("http://localhost:5173")
    assert is_loopback_origin("https://127.0.0.2")
    assert is_loopback_origin("http://[::1]:1")
    for origin in ("null", "http://localhost.evil.example", "file://", "http://10.0.0.1",
                   "ws://localhost", "garbage"):  # fmt: skip
        assert not is_loopback_origin(origin), origin


# --- debug reset behind a reverse proxy ---------------------------------------------------


@pytest.mark.parametrize(
    "proxy",
    [
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
        {"X-Real-IP": "1.2.3.4"},
    ],
)
async def test_the_reset_behind_a_local_proxy_is_off_unless_on(
    make_client: MakeClient, proxy: dict[str, str]
) -> None:
    client = await make_client()
    await place(client)
    response = await client.post(f"{B}/debug/reset", headers={**JSON, **proxy})
    assert response.status == 404
    assert len(await orders(client)) == 1
    forced = await make_client(debug_routes="on")
    assert (await forced.post(f"{B}/debug/reset", headers={**JSON, **proxy})).status == 200


# --- headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/app/", "/app/js/main.js", "/api/v1/docs", "/api/v1/redoc", "/api/v1/ws/asyncapi",
     "/api/v1/health", "/api/v1/nope", "/api/v1/docs/static/redoc/redoc.standalone.js"],
)  # fmt: skip
async def test_every_response_forbids_framing_and_sniffing(
    trading_client: Client, path: str
) -> None:
    response = await trading_client.get(path)
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Python" not in headers["Server"]
    assert "aiohttp" not in headers["Server"]
