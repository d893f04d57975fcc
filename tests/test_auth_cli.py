"""``python -m trading users ...`` as a subprocess: exit codes, the key printed once and alone,
no secret in ``users list``; and revocation from the command line while a server runs (the
in-process one of the other tests, and a real ``serve`` process whose log is read)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from tests.brokerkit import Client, MakeClient
from tests.serverproc import Server, run_cli
from tests.wsclient import WS, request
from trading.auth.sessions import COOKIE_NAME
from trading.auth.userstore import USERS_FILE
from trading.settings import Settings

KEY_LINE = re.compile(r"trk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n")


def users(data_dir: Path, *args: str) -> tuple[int, str, str]:
    done = run_cli(data_dir, "users", *args)
    return done.returncode, done.stdout, done.stderr


def test_users_commands_exit_codes_and_output(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out, err = users(data, "create", "alice")
    assert code == 0, err
    assert KEY_LINE.fullmatch(out), "the key alone on stdout"
    key = out.strip()
    key_id = "key_" + key.split("_")[1]
    assert key not in err
    assert key_id in err, "stderr says which key was made"

    code, out, err = users(data, "create", "alice")
    assert (code, out) == (2, "")
    assert err == "trading: a user named 'alice' exists already\n"
    code, _, err = users(data, "create", "bad\tname")
    assert code == 2
    assert err.count("\n") == 1

    code, out, err = users(data, "add-key", "alice")
    assert code == 0, err
    assert KEY_LINE.fullmatch(out)
    second = out.strip()
    code, _, err = users(data, "add-key", "bob")
    assert (code, err) == (2, "trading: unknown user 'bob'\n")

    code, out, err = users(data, "revoke", key_id)
    assert (code, out) == (0, f"revoked {key_id}\n"), err
    code, out, _ = users(data, "revoke", key_id)
    assert (code, out) == (0, f"{key_id} was revoked already\n")
    code, _, err = users(data, "revoke", "key_000000000000")
    assert (code, err) == (2, "trading: unknown key 'key_000000000000'\n")

    code, listing, _ = users(data, "list")
    assert code == 0
    assert "alice" in listing
    assert key_id in listing
    assert "revoked" in listing
    assert "active" in listing
    db = sqlite3.connect(data / USERS_FILE)
    hashes = [row[0] for row in db.execute("SELECT secret_hash FROM api_keys")]
    db.close()
    for secret in (key, second, key.split("_", 2)[2], second.split("_", 2)[2], *hashes):
        assert secret not in listing


def test_users_list_on_a_fresh_data_dir(tmp_path: Path) -> None:
    assert users(tmp_path / "data", "list")[:2] == (0, "no users\n")


@pytest.fixture
def trading_settings(trading_settings: Settings) -> Settings:
    return trading_settings.replace(auth="keys", auth_refresh_s=0.05)


async def cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """The CLI in a thread: the server under test runs on this event loop meanwhile."""
    return await asyncio.to_thread(users, settings.data_dir, *args)


async def until_status(
    client: Client, headers: dict[str, str], status: int, within: float
) -> float:
    """Seconds until ``GET /auth/me`` answers ``status`` (fails after ``within``)."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < within:
        if (await client.get("/api/v1/auth/me", headers=headers)).status == status:
            return elapsed
        await asyncio.sleep(0.02)
    raise AssertionError(f"still not {status} after {within} s")


async def test_a_cli_revoke_reaches_the_running_server_within_a_second(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    client = await make_client()
    code, out, err = await cli(trading_settings, "create", "alice")
    assert code == 0, err
    key = out.strip()
    headers = {"Authorization": f"Bearer {key}"}
    await until_status(client, headers, 200, within=1.0)  # a key made by the CLI works too
    resp = await client.post("/api/v1/auth/login", json={"key": key})
    token = resp.cookies[COOKIE_NAME].value
    client.session.cookie_jar.clear()
    mine = (await (await client.get("/api/v1/broker/accounts", headers=headers)).json())[0]
    async with client.ws_connect(WS, headers=headers) as ws:
        reply, _ = await request(ws, "orders.subscribe", {"accountId": mine["id"]})
        assert reply["payload"]["status"] == "ok"
        code, _, err = await cli(trading_settings, "revoke", "key_" + key.split("_")[1])
        assert code == 0, err
        revoked_at = time.monotonic()
        assert await until_status(client, headers, 401, within=1.0) < 1.0
        msg = await ws.receive(timeout=1.0 - (time.monotonic() - revoked_at))
        assert msg.type is aiohttp.WSMsgType.CLOSE, msg
        assert msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
    cookie = {"Cookie": f"{COOKIE_NAME}={token}"}
    assert (await client.get("/api/v1/auth/me", headers=cookie)).status == 401, "session ended"


async def test_a_served_keys_mode_logs_no_secret(tmp_path: Path) -> None:
    """A real ``serve`` process: CLI key, bearer, login, ticket, CLI revoke; then its log."""
    data, log = tmp_path / "data", tmp_path / "server.log"
    server = Server(data, log, TRADING_AUTH="keys", TRADING_LOG_LEVEL="DEBUG")
    await asyncio.to_thread(server.start)
    try:
        code, out, err = await asyncio.to_thread(users, data, "create", "alice")
        assert code == 0, err
        key = out.strip()
        secrets_seen = [key, key.split("_", 2)[2]]
        auth = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession(server.origin) as http:
            start = time.monotonic()
            while (await http.get("/api/v1/broker/orders", headers=auth)).status != 200:
                assert time.monotonic() - start < 1.0, "the server did not see the new key"
                await asyncio.sleep(0.02)
            resp = await http.get("/api/v1/broker/orders", headers={"Authorization": "Bearer x"})
            assert resp.status == 401
            resp = await http.post("/api/v1/auth/login", json={"key": key})
            assert resp.status == 200
            secrets_seen.append(resp.cookies[COOKIE_NAME].value)
            resp = await http.post("/api/v1/auth/ws-ticket", json={}, headers=auth)
            ticket = (await resp.json())["ticket"]
            secrets_seen.append(ticket)
            async with http.ws_connect(f"{WS}?ticket={ticket}") as ws:
                await ws.send_json({"type": "ping"})
                await ws.receive_json(timeout=3)
            code, _, err = await asyncio.to_thread(
                users, data, "revoke", "key_" + key.split("_")[1]
            )
            assert code == 0, err
            start = time.monotonic()
            while (await http.get("/api/v1/broker/orders", headers=auth)).status != 401:
                assert time.monotonic() - start < 1.0, "revocation took over a second"
                await asyncio.sleep(0.02)
    finally:
        assert await asyncio.to_thread(server.stop) == 0
    text = log.read_text()
    assert "POST /api/v1/auth/login" in text, "the access log is in the file"
    for secret in secrets_seen:
        assert secret not in text
