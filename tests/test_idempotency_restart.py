"""Idempotent retries across a SIGKILL (broker.md §15): a real server subprocess is killed
while clients retry keyed placements; after the restart every key still names at most one
order, every answer a client got before the kill is the answer after it, and there is no
order without its key (the key and the order share one transaction)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp

from tests.brokerkit import limit_order
from tests.serverproc import Server
from trading.broker.enums import Side
from trading.broker.service import DB_FILE

B = "/api/v1/broker"
KEYS = 12
RETRIES = 4


async def place(session: aiohttp.ClientSession, origin: str, key: str, i: int) -> str | None:
    body = limit_order(Side.BUY, 1, 100.0 + i)  # far under the market: it rests
    try:
        async with session.post(f"{origin}{B}/orders", json=body,
                                headers={"Idempotency-Key": key}) as resp:  # fmt: skip
            if resp.status != 200:
                return None
            order_id: str = (await resp.json())["orderId"]
            return order_id
    except (aiohttp.ClientError, TimeoutError):
        return None  # the server died under the request


async def test_keyed_retries_survive_a_kill(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", tmp_path / "server.log")
    seen: dict[str, set[str]] = {}
    try:
        server.start()
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def client(i: int) -> None:
                key = f"key-{i}"
                for _ in range(RETRIES):  # concurrent retries of each key, the kill among them
                    answers = await asyncio.gather(
                        *(place(session, server.origin, key, i) for _ in range(3))
                    )
                    seen.setdefault(key, set()).update(a for a in answers if a)

            tasks = [asyncio.create_task(client(i)) for i in range(KEYS)]
            # kill as soon as the first answer arrives: the other retries are in flight
            for _ in range(2000):
                if any(seen.values()):
                    break
                await asyncio.sleep(0.005)
            server.kill()
            await asyncio.gather(*tasks)
        answered = sum(bool(a) for a in seen.values())
        print(f"\nidempotent retries: {answered} of {KEYS} keys answered before the SIGKILL")
        db = sqlite3.connect(server.data_dir / DB_FILE)
        orders = {r[0] for r in db.execute("SELECT id FROM orders")}
        keys = dict(db.execute("SELECT key, order_id FROM idempotency_keys").fetchall())
        db.close()
        assert set(keys.values()) == orders, "an order without its key, or a key without it"
        assert len(orders) == len(keys)
        for key, answers in seen.items():
            assert len(answers) <= 1, (key, answers)
            if answers:
                assert keys[key] in answers, (key, answers, keys.get(key))
        server.start()
        async with aiohttp.ClientSession(timeout=timeout) as session:
            after = {
                f"key-{i}": await place(session, server.origin, f"key-{i}", i) for i in range(KEYS)
            }
            listed = await (await session.get(f"{server.origin}{B}/orders")).json()
        for key, answers in seen.items():
            if answers:
                assert {after[key]} == answers, (key, answers, after[key])
        assert len(listed) == KEYS  # one order per key, whether or not it was placed before
        assert {o["id"] for o in listed} == set(after.values())
    finally:
        server.stop()
