"""Several hosts: two servers, each with its own data dir (as on two machines), on one
PostgreSQL and one Redis (docs/deployment.md §4). What one host commits the other answers
and pushes; the fill evaluator is one of them, and the other takes over when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from tests.realservers import RedisServer
from tests.serverproc import Server
from tests.wsclient import WS, recv, subscribe

ORDERS = "/api/v1/broker/orders"


def host(tmp_path: Path, name: str, postgres_url: str, redis_url: str) -> Server:
    return Server(
        tmp_path / name, tmp_path / f"{name}.log",
        TRADING_DATABASE_URL=postgres_url, TRADING_REDIS_URL=redis_url,
    )  # fmt: skip


def evaluator(postgres_url: str) -> str | None:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT evaluator FROM broker_clock").fetchone()
        return None if row is None else row[0]


async def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


async def test_two_hosts_share_the_broker_and_its_pushes(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    one = host(tmp_path, "one", postgres_url, redis_server.url)
    two = host(tmp_path, "two", postgres_url, redis_server.url)
    one.start()
    two.start()
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(two.origin + WS)
            await subscribe(ws, "orders", {"accountId": "DEMO-ACCOUNT"})
            order = {"symbol": "AAPL", "type": 1, "side": 1, "qty": 3, "limitPrice": 1}
            async with http.post(one.origin + ORDERS, json=order) as resp:
                assert resp.status == 200, await resp.text()
                order_id = (await resp.json())["orderId"]
            pushed = await recv(ws, timeout=5)  # placed on one, pushed by two
            assert pushed["type"] == "orders.update"
            assert pushed["payload"]["payload"]["id"] == order_id
            async with http.get(two.origin + ORDERS) as resp:
                assert order_id in [o["id"] for o in await resp.json()]
            async with http.delete(f"{two.origin}{ORDERS}/{order_id}") as resp:
                assert resp.status == 200, await resp.text()
            async with http.get(one.origin + ORDERS) as resp:
                [mine] = [o for o in await resp.json() if o["id"] == order_id]
                assert mine["status"] == 1  # canceled, seen by the other host at once
            await ws.close()

        # the evaluator is one of the two hosts; kill -9 it, the other takes over
        leader = await wait_for(lambda: evaluator(postgres_url))
        pid = int(leader.rsplit(":", 1)[1])
        victim, survivor = (one, two) if one.process and one.process.pid == pid else (two, one)
        assert victim.process is not None
        assert victim.process.pid == pid
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        new = await wait_for(lambda: (evaluator(postgres_url) or leader) != leader and True)
        assert new
        took = time.monotonic() - killed
        assert survivor.process is not None
        assert evaluator(postgres_url) == leader.rsplit(":", 1)[0] + f":{survivor.process.pid}"
        assert took < 1.0, took
    finally:
        one.stop()
        two.stop()
