"""Keys mode in a cluster: a one-time WebSocket ticket issued by one worker opens a socket on
another (SO_REUSEPORT hands the upgrade to any of them), exactly once (docs/security.md).

Two apps in one process on one data dir, sharing its lock as a supervisor's workers do, and a
real redis-server."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.brokerkit import broker_settings
from tests.realservers import RedisServer
from tests.test_auth_isolation import ADMIN, new_user
from tests.wsclient import WS, request
from trading.app import create_app
from trading.broker import sqlite_file
from trading.clock import ManualClock
from trading.settings import Settings


def worker_settings(
    tmp_path: Path, clock: ManualClock, redis_server: RedisServer, **changes: Any
) -> Settings:
    """Keys mode as a worker of ``serve --workers 2`` runs it: the data dir's lock taken here
    (the supervisor's) and inherited, one Redis."""
    lock = sqlite_file.lock_data_dir(tmp_path / "data")
    return broker_settings(
        tmp_path, clock, auth="keys", admin_key=ADMIN, workers=2,
        redis_url=redis_server.url, data_dir_lock_fd=lock, **changes,
    )  # fmt: skip


async def test_a_ticket_from_one_worker_opens_one_socket_on_another(
    tmp_path: Path, redis_server: RedisServer, aiohttp_client: Any, trading_clock: ManualClock
) -> None:
    settings = worker_settings(tmp_path, trading_clock, redis_server, auth_refresh_s=0.05)
    lock = settings.data_dir_lock_fd
    assert lock is not None
    a = await aiohttp_client(create_app(settings))  # each worker has its own copy of the fd
    b = await aiohttp_client(create_app(settings.replace(data_dir_lock_fd=os.dup(lock))))
    alice = await new_user(a, "alice")
    for _ in range(100):  # b rereads the users file it shares with a
        if (await b.get("/api/v1/auth/me", headers=alice.headers())).status == 200:
            break
        await asyncio.sleep(0.05)
    resp = await a.post("/api/v1/auth/ws-ticket", json={}, headers=alice.headers())
    assert resp.status == 200
    ticket = (await resp.json())["ticket"]

    ws = await b.ws_connect(f"{WS}?ticket={ticket}")
    reply, _ = await request(ws, "orders.subscribe", {"accountId": alice.account})
    assert reply["payload"]["status"] == "ok", reply
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # once: taken on b
        await a.ws_connect(f"{WS}?ticket={ticket}")
    assert refused.value.status == 401


async def test_a_ticket_while_redis_is_down_is_a_503_naming_it(
    tmp_path: Path, redis_server: RedisServer, aiohttp_client: Any, trading_clock: ManualClock
) -> None:
    settings = worker_settings(tmp_path, trading_clock, redis_server, redis_timeout_s=0.2)
    a = await aiohttp_client(create_app(settings))
    alice = await new_user(a, "alice")
    redis_server.kill()
    resp = await a.post("/api/v1/auth/ws-ticket", json={}, headers=alice.headers())
    assert resp.status == 503
    assert "Redis" in (await resp.json())["detail"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await a.ws_connect(f"{WS}?ticket=anything")
    assert refused.value.status == 503
