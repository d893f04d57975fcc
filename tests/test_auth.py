"""TRADING_AUTH=keys over real sockets: 401s, the session cookie, revocation, WebSocket
credentials, tickets, rate limits and the admin API; and that off mode is unchanged.

Every answer is checked against the OpenAPI document, 401s and 429s of broker and market
routes included (trading/specs/access.py declares them).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode

from tests.brokerkit import Client, MakeClient
from tests.wsclient import WS, recv, request, send
from trading.auth.sessions import COOKIE_NAME
from trading.clock import ManualClock
from trading.keys import SETTINGS
from trading.settings import Settings

ADMIN = "admin-" + "k" * 40
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AUTH = "/api/v1/auth"
REALM = 'Bearer realm="trading"'
MISSING = {"detail": "Authentication required"}
INVALID = {"detail": "Invalid credentials"}
DEMO = {"id": "DEMO-ACCOUNT", "name": "Demo Trading Account", "currency": "USD"}


@pytest.fixture
def trading_settings(trading_settings: Settings) -> Settings:
    return trading_settings.replace(auth="keys", admin_key=ADMIN, auth_refresh_s=0.05)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_id(key: str) -> str:
    return "key_" + key.split("_")[1]


async def new_user(client: Client, name: str) -> tuple[str, str]:
    """(user id, key) of a user made through the admin API."""
    resp = await client.post("/api/v1/admin/users", json={"name": name}, headers=AS_ADMIN)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    return body["user"]["id"], body["key"]


async def first_account(client: Client, key: str) -> str:
    """The id of the key's user's first paper account (opened on first use)."""
    resp = await client.get("/api/v1/broker/accounts", headers=bearer(key))
    assert resp.status == 200, await resp.text()
    account: str = (await resp.json())[0]["id"]
    return account


async def revoke(client: Client, key: str) -> None:
    resp = await client.delete(f"/api/v1/admin/keys/{key_id(key)}", headers=AS_ADMIN)
    assert resp.status == 200, await resp.text()


def unknown_key() -> str:
    return f"trk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


async def refusal(resp: aiohttp.ClientResponse) -> tuple[int, bytes, str | None]:
    return resp.status, await resp.read(), resp.headers.get("WWW-Authenticate")


async def login(client: Client, key: str) -> tuple[aiohttp.ClientResponse, str]:
    resp = await client.post(f"{AUTH}/login", json={"key": key})
    assert resp.status == 200, await resp.text()
    cookie = SimpleCookie(resp.headers["Set-Cookie"])
    return resp, cookie[COOKIE_NAME].value


# --- 401s ------------------------------------------------------------------------------------


async def test_missing_and_bad_credentials_are_401_with_a_bearer_challenge(
    trading_client: Client,
) -> None:
    resp = await trading_client.get(f"{AUTH}/me")
    assert resp.status == 401
    assert await resp.json() == MISSING
    assert resp.headers["WWW-Authenticate"] == REALM
    for headers in (
        bearer("nope"),
        bearer(unknown_key()),
        {"Authorization": "Basic YWxpY2U6cHc="},
        {"Authorization": "Bearer"},
        {"Cookie": f"{COOKIE_NAME}=not-a-token"},
    ):
        resp = await trading_client.get(f"{AUTH}/me", headers=headers)
        assert await refusal(resp) == (401, b'{"detail":"Invalid credentials"}', REALM), headers


async def test_an_unknown_key_and_a_revoked_one_get_the_same_answer(
    trading_client: Client,
) -> None:
    _, key = await new_user(trading_client, "alice")
    assert (await trading_client.get(f"{AUTH}/me", headers=bearer(key))).status == 200
    await revoke(trading_client, key)
    revoked = await refusal(await trading_client.get(f"{AUTH}/me", headers=bearer(key)))
    unknown = await refusal(await trading_client.get(f"{AUTH}/me", headers=bearer(unknown_key())))
    # same key id, wrong secret: the third way a key can be wrong
    _, other = await new_user(trading_client, "bob")
    wrong = other[:-4] + ("AAAA" if not other.endswith("AAAA") else "BBBB")
    wrong_secret = await refusal(await trading_client.get(f"{AUTH}/me", headers=bearer(wrong)))
    assert revoked == unknown == wrong_secret == (401, b'{"detail":"Invalid credentials"}', REALM)


async def test_broker_paths_need_credentials_and_public_paths_do_not(
    trading_client: Client,
) -> None:
    for path in ("/broker/orders", "/broker/config", "/broker/account", "/broker/no-such"):
        resp = await trading_client.get(f"/api/v1{path}")
        assert await refusal(resp) == (401, b'{"detail":"Authentication required"}', REALM), path
    resp = await trading_client.post("/api/v1/broker/orders", json={"symbol": "AAPL"})
    assert resp.status == 401
    for path in ("/health", "/datafeed/config", "/udf/config", "/openapi.json", "/versions"):
        assert (await trading_client.get(f"/api/v1{path}")).status == 200, path
    _, key = await new_user(trading_client, "alice")
    resp = await trading_client.get("/api/v1/broker/orders", headers=bearer(key))
    assert resp.status == 200


async def test_private_market_data_needs_credentials(make_client: MakeClient) -> None:
    client = await make_client(auth_market="private")
    for path in ("/datafeed/config", "/udf/config", "/udf/history"):
        resp = await client.get(f"/api/v1{path}")
        assert await refusal(resp) == (401, b'{"detail":"Authentication required"}', REALM), path
    assert (await client.get("/api/v1/health")).status == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(WS)
    assert refused.value.status == 401
    _, key = await new_user(client, "alice")
    assert (await client.get("/api/v1/datafeed/config", headers=bearer(key))).status == 200
    async with client.ws_connect(WS, headers=bearer(key)) as ws:
        reply, _ = await request(ws, "bars.subscribe", {"symbol": "AAPL", "resolution": "1"})
        assert reply["payload"]["status"] == "ok"


# --- sessions --------------------------------------------------------------------------------


async def test_login_sets_a_strict_http_only_cookie_and_logout_ends_the_session(
    trading_client: Client,
) -> None:
    user_id, key = await new_user(trading_client, "alice")
    resp, token = await login(trading_client, key)
    account = {"id": await first_account(trading_client, key), "name": "Paper account",
               "currency": "USD"}  # fmt: skip
    me = {"auth": "keys", "user": {"id": user_id, "name": "alice"}, "accounts": [account]}
    assert await resp.json() == me
    cookie = SimpleCookie(resp.headers["Set-Cookie"])[COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == "86400"
    assert not cookie["secure"], "TRADING_COOKIE_SECURE is off"
    assert key not in resp.headers["Set-Cookie"]
    resp = await trading_client.get(f"{AUTH}/me")  # the cookie jar sends the cookie
    assert await resp.json() == me
    resp = await trading_client.post(f"{AUTH}/logout", json={})
    assert resp.status == 200
    assert await resp.json() == {"message": "Logged out"}
    expired = SimpleCookie(resp.headers["Set-Cookie"])[COOKIE_NAME]
    assert expired.value == ""
    assert expired["max-age"] == "0"
    resp = await trading_client.get(f"{AUTH}/me", headers={"Cookie": f"{COOKIE_NAME}={token}"})
    assert await refusal(resp) == (401, b'{"detail":"Invalid credentials"}', REALM)


async def test_a_bad_login_is_401_and_sets_no_cookie(trading_client: Client) -> None:
    for key in ("nope", unknown_key()):
        resp = await trading_client.post(f"{AUTH}/login", json={"key": key})
        assert await refusal(resp) == (401, b'{"detail":"Invalid credentials"}', REALM)
        assert "Set-Cookie" not in resp.headers
    resp = await trading_client.post(f"{AUTH}/login", json={})
    assert resp.status == 422


async def test_the_cookie_is_secure_when_configured(make_client: MakeClient) -> None:
    client = await make_client(cookie_secure=True, session_ttl_s=600)
    _, key = await new_user(client, "alice")
    resp, _ = await login(client, key)
    cookie = SimpleCookie(resp.headers["Set-Cookie"])[COOKIE_NAME]
    assert cookie["secure"] is True
    assert cookie["max-age"] == "600"


async def test_a_session_expires_after_its_ttl(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    client = await make_client(session_ttl_s=60)
    _, key = await new_user(client, "alice")
    _, token = await login(client, key)
    cookie = {"Cookie": f"{COOKIE_NAME}={token}"}
    trading_clock.advance(59)
    assert (await client.get(f"{AUTH}/me", headers=cookie)).status == 200
    trading_clock.advance(1)
    resp = await client.get(f"{AUTH}/me", headers=cookie)
    assert await refusal(resp) == (401, b'{"detail":"Invalid credentials"}', REALM)
    assert (await client.get(f"{AUTH}/me", headers=bearer(key))).status == 200, "the key lives on"


async def test_sessions_survive_a_restart(make_client: MakeClient) -> None:
    first = await make_client()
    _, key = await new_user(first, "alice")
    _, token = await login(first, key)
    await first.close()
    second = await make_client()  # same data dir: the generated secret is kept
    resp = await second.get(f"{AUTH}/me", headers={"Cookie": f"{COOKIE_NAME}={token}"})
    assert resp.status == 200


# --- revocation ------------------------------------------------------------------------------


async def closed_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> int | None:
    """The close code the server sent within ``seconds`` (updates before it are skipped)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        msg = await ws.receive(timeout=left)
        if msg.type is aiohttp.WSMsgType.CLOSE:
            code: int = msg.data
            return code
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return None


async def test_an_admin_revoke_ends_requests_sessions_and_sockets_at_once(
    trading_client: Client,
) -> None:
    _, key = await new_user(trading_client, "alice")
    _, other = await new_user(trading_client, "bob")
    _, token = await login(trading_client, key)
    cookie = {"Cookie": f"{COOKIE_NAME}={token}"}
    trading_client.session.cookie_jar.clear()
    async with (
        trading_client.ws_connect(WS, headers=bearer(key)) as ws,
        trading_client.ws_connect(WS, headers=bearer(other)) as bobs,
    ):
        mine = await first_account(trading_client, key)
        reply, _ = await request(ws, "orders.subscribe", {"accountId": mine})
        assert reply["payload"]["status"] == "ok"
        await revoke(trading_client, key)
        assert await closed_within(ws, 1.0) == WSCloseCode.POLICY_VIOLATION
        resp = await trading_client.get("/api/v1/broker/orders", headers=bearer(key))
        assert resp.status == 401
        assert (await trading_client.get(f"{AUTH}/me", headers=cookie)).status == 401
        reply, _ = await request(bobs, "ping", {"n": 1})
        assert reply["type"] == "pong", "another key's socket stays open"
    assert (await trading_client.get(f"{AUTH}/me", headers=bearer(other))).status == 200


# --- the WebSocket ---------------------------------------------------------------------------


async def test_websocket_credentials_at_the_upgrade(trading_client: Client) -> None:
    _, key = await new_user(trading_client, "alice")
    for headers in (bearer(unknown_key()), {"Cookie": f"{COOKIE_NAME}=forged"}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await trading_client.ws_connect(WS, headers=headers)
        assert refused.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await trading_client.ws_connect(f"{WS}?ticket=made-up")
    assert refused.value.status == 401
    await login(trading_client, key)  # the cookie jar now holds the session
    origin = str(trading_client.make_url("")).rstrip("/")
    mine = await first_account(trading_client, key)
    async with trading_client.ws_connect(WS, headers={"Origin": origin}) as ws:
        reply, _ = await request(ws, "orders.subscribe", {"accountId": mine})
        assert reply["payload"]["status"] == "ok", "a same-origin page may use the cookie"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await trading_client.ws_connect(WS, headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403, "cross-site WebSocket hijacking"


async def test_an_anonymous_socket_watches_the_market_but_not_the_broker(
    trading_client: Client,
) -> None:
    async with trading_client.ws_connect(WS) as ws:
        reply, _ = await request(ws, "bars.subscribe", {"symbol": "AAPL", "resolution": "1"})
        assert reply["payload"]["status"] == "ok"
        for route in ("orders", "positions", "executions", "equity", "broker-connection", "pl",
                      "margin"):  # fmt: skip
            reply, _ = await request(ws, f"{route}.subscribe", {"accountId": "DEMO-ACCOUNT"})
            assert reply["type"] == f"{route}.subscribe.response"
            assert reply["payload"]["status"] == "error", route
            assert reply["payload"]["message"].startswith("Authentication required")


async def test_a_ticket_opens_one_socket_once_and_expires(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    resp = await trading_client.post(f"{AUTH}/ws-ticket", json={})
    assert await refusal(resp) == (401, b'{"detail":"Authentication required"}', REALM)
    _, key = await new_user(trading_client, "alice")
    resp = await trading_client.post(f"{AUTH}/ws-ticket", json={}, headers=bearer(key))
    assert resp.status == 200
    body = await resp.json()
    assert body["expiresIn"] == 30
    mine = await first_account(trading_client, key)
    async with trading_client.ws_connect(f"{WS}?ticket={body['ticket']}") as ws:
        reply, _ = await request(ws, "orders.subscribe", {"accountId": mine})
        assert reply["payload"]["status"] == "ok"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await trading_client.ws_connect(f"{WS}?ticket={body['ticket']}")
    assert refused.value.status == 401, "one use"
    resp = await trading_client.post(f"{AUTH}/ws-ticket", json={}, headers=bearer(key))
    late = (await resp.json())["ticket"]
    trading_clock.advance(30)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await trading_client.ws_connect(f"{WS}?ticket={late}")
    assert refused.value.status == 401, "expired"


# --- rate limits -----------------------------------------------------------------------------


async def test_rest_rate_limit_is_per_key_with_retry_after(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_rest_per_s=0.5, rate_limit_rest_burst=3)
    _, key = await new_user(client, "alice")
    _, other = await new_user(client, "bob")
    statuses = [(await client.get(f"{AUTH}/me", headers=bearer(key))).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    resp = await client.get(f"{AUTH}/me", headers=bearer(key))
    assert resp.status == 429
    assert (await resp.json())["detail"]
    assert resp.headers["Retry-After"] == "2", "one token at 0.5/s is 2 s away"
    resp = await client.post(f"{AUTH}/login", json={"key": key})
    assert resp.status == 429, "a login makes a session: it counts against the key too"
    assert "Set-Cookie" not in resp.headers
    assert (await client.get(f"{AUTH}/me", headers=bearer(other))).status == 200


async def test_websocket_messages_are_rate_limited_per_key(make_client: MakeClient) -> None:
    client = await make_client(rate_limit_ws_per_s=0.2, rate_limit_ws_burst=2)
    _, key = await new_user(client, "alice")
    _, other = await new_user(client, "bob")
    async with (
        client.ws_connect(WS, headers=bearer(key)) as ws,
        client.ws_connect(WS, headers=bearer(other)) as bobs,
    ):
        for n in range(2):
            reply, _ = await request(ws, "ping", {"n": n})
            assert reply["type"] == "pong"
        await send(ws, "orders.subscribe", {"accountId": "DEMO-ACCOUNT"})
        frame = await recv(ws)
        assert frame["type"] == "error"
        assert frame["payload"]["code"] == "rate_limited"
        assert "retry in 5 s" in frame["payload"]["message"]
        with pytest.raises(TimeoutError):
            await recv(ws, timeout=0.2)  # the subscribe was not processed: no reply, no snapshot
        reply, _ = await request(bobs, "ping", {"n": 9})
        assert reply["type"] == "pong", "another key is not limited"


# --- the admin API ---------------------------------------------------------------------------


async def test_admin_api_guards_and_answers(trading_client: Client) -> None:
    users = "/api/v1/admin/users"
    for headers in ({}, {"Authorization": f"Bearer {ADMIN}x"}, bearer("k" * 46)):
        resp = await trading_client.get(users, headers=headers)
        assert await refusal(resp) == (401, b'{"detail":"Invalid credentials"}', REALM)
    user_id, key = await new_user(trading_client, "alice")
    resp = await trading_client.post(f"{users}/{user_id}/keys", json={}, headers=AS_ADMIN)
    assert resp.status == 201
    second = await resp.json()
    assert second["keyId"] == key_id(second["key"])
    await revoke(trading_client, key)
    listing = await (await trading_client.get(users, headers=AS_ADMIN)).json()
    [alice] = listing
    assert (alice["id"], alice["name"]) == (user_id, "alice")
    assert [k["id"] for k in alice["keys"]] == [key_id(key), second["keyId"]]
    assert alice["keys"][0]["revoked"] is not None
    assert alice["keys"][1]["revoked"] is None
    text = str(listing)
    assert key.split("_", 2)[2] not in text
    assert second["key"].split("_", 2)[2] not in text
    resp = await trading_client.post(users, json={"name": "alice"}, headers=AS_ADMIN)
    assert resp.status == 400
    assert "exists already" in (await resp.json())["detail"]
    resp = await trading_client.post(f"{users}/usr_nobody/keys", json={}, headers=AS_ADMIN)
    assert resp.status == 404
    resp = await trading_client.delete("/api/v1/admin/keys/key_000000000000", headers=AS_ADMIN)
    assert resp.status == 404
    resp = await trading_client.delete(f"/api/v1/admin/keys/{key_id(key)}", headers=AS_ADMIN)
    assert (await resp.json())["message"].endswith("revoked already")


@pytest.mark.parametrize("changes", [{"admin_key": None}, {"auth": "off"}])
async def test_no_admin_api_without_its_key_or_in_off_mode(
    make_client: MakeClient, changes: dict[str, Any]
) -> None:
    client = await make_client(**changes)
    for method, path in (
        ("POST", "/api/v1/admin/users"),
        ("GET", "/api/v1/admin/users"),
        ("POST", "/api/v1/admin/users/usr_x/keys"),
        ("DELETE", "/api/v1/admin/keys/key_x"),
    ):
        resp = await client.request(method, path, json={"name": "x"}, headers=AS_ADMIN)
        assert resp.status == 404, (method, path)
        assert await resp.json() == {"detail": "Not Found"}


# --- logs ------------------------------------------------------------------------------------


async def test_no_key_cookie_or_ticket_is_logged(
    trading_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, key = await new_user(trading_client, "alice")
    bad = unknown_key()
    _, token = await login(trading_client, key)
    await trading_client.get(f"{AUTH}/me", headers=bearer(bad))
    await trading_client.post(f"{AUTH}/login", json={"key": bad})
    resp = await trading_client.post(f"{AUTH}/ws-ticket", json={}, headers=bearer(key))
    ticket = (await resp.json())["ticket"]
    async with trading_client.ws_connect(f"{WS}?ticket={ticket}") as ws:
        await request(ws, "ping", None)
    await asyncio.sleep(0.05)  # the upgrade's access-log line is written when it ends
    logged = caplog.text
    assert "/api/v1/auth/login" in logged, "the access log was captured"
    assert "ticket=-" in logged, "the ticket is blanked in the access log"
    for secret in (key, key.split("_", 2)[2], bad, bad.split("_", 2)[2], token, ticket, ADMIN):
        assert secret not in logged


# --- off mode --------------------------------------------------------------------------------


async def test_off_mode_serves_the_demo_account_without_credentials(
    make_client: MakeClient,
) -> None:
    client = await make_client(auth="off")
    resp = await client.get(f"{AUTH}/me")
    assert await resp.json() == {"auth": "off", "user": None, "accounts": [DEMO]}
    assert (await client.get("/api/v1/broker/orders")).status == 200
    assert (await client.post(f"{AUTH}/login", json={"key": "x"})).status == 404
    assert (await client.post(f"{AUTH}/ws-ticket", json={})).status == 404
    resp = await client.post(f"{AUTH}/logout", json={})
    assert resp.status == 200
    assert "Set-Cookie" not in resp.headers
    async with client.ws_connect(WS) as ws:
        reply, _ = await request(ws, "orders.subscribe", {"accountId": "anything"})
        assert reply["payload"]["status"] == "ok"
    assert not (client.app[SETTINGS].data_dir / "users.sqlite3").exists()
