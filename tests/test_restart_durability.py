"""Nothing acknowledged is lost or overwritten across restarts under concurrent load.

A real server subprocess, in off mode (the one DEMO-ACCOUNT) and in keys mode (USERS users,
each with their own account and key, the writers spread over them: order ids are numbered per
account, so every check is per account). WRITERS concurrent clients place, modify and cancel
resting orders
(and sometimes a market order, so executions are numbered too) while the server is killed
with SIGKILL at a random moment or stopped with SIGTERM, ROUNDS times. Every answered 200 is
recorded; after each stop the database file, and after the next start ``GET /orders``, must
hold every acknowledged order in its last acknowledged state (or the state of the one request
that was in flight on it when the server died), every id once, ids above every earlier one.

``make soak`` runs it longer: TRADING_SOAK_ROUNDS (default 4 here) rounds of
TRADING_SOAK_SECONDS (default 2.0) seconds each, TRADING_SOAK_WRITERS (default 16) writers.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.brokerkit import limit_order, market_order
from tests.serverproc import Server, run_cli
from trading.broker.enums import OrderStatus, Side
from trading.broker.service import DB_FILE

ROUNDS = int(os.environ.get("TRADING_SOAK_ROUNDS", "4"))
USERS = 4
SECONDS = float(os.environ.get("TRADING_SOAK_SECONDS", "2.0"))
WRITERS = int(os.environ.get("TRADING_SOAK_WRITERS", "16"))
B = "/api/v1/broker"

State = tuple[str, int]
"""(limit price as text, OrderStatus) of a resting order; ("", FILLED) of a market order."""
Key = str
"""``<account>/<order id>``: ids are per account."""


@dataclass
class Ledger:
    """What the server acknowledged, and what was in flight when it died."""

    acked: dict[Key, State] = field(default_factory=dict)
    maybe: dict[Key, State] = field(default_factory=dict)
    """order id -> the state an unanswered request on it would have left."""
    unanswered_places: int = 0
    ops: int = 0
    acks: int = 0
    """Requests answered 200 (placements, modifications, cancellations)."""
    ack_ids_seen: set[Key] = field(default_factory=set)
    highest_before_round: dict[str, int] = field(default_factory=dict)
    """Per account."""
    problems: list[str] = field(default_factory=list)


def number(key: Key) -> int:
    return int(key.rpartition("/")[2].removeprefix("ORDER-"))


def account_of(key: Key) -> str:
    return key.rpartition("/")[0]


@dataclass(frozen=True)
class Trader:
    """Whose orders a writer places: an account, and the headers that reach it."""

    account: str
    headers: dict[str, str]


OFF_MODE = Trader("DEMO-ACCOUNT", {})


class Writer:
    def __init__(self, ledger: Ledger, index: int, session: aiohttp.ClientSession, origin: str,
                 trader: Trader):  # fmt: skip
        self.ledger = ledger
        self.rng = random.Random(index)
        self.session = session
        self.origin = origin
        self.index = index
        self.trader = trader
        self.mine: list[Key] = []  # my working orders

    def price(self) -> str:
        # unique per request, far under the market: the order rests
        self.ledger.ops += 1
        return str(Decimal(100 + self.ledger.ops % 20000) / 100)

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        url = self.origin + B + path
        async with self.session.request(method, url, json=body,
                                        headers=self.trader.headers) as resp:  # fmt: skip
            payload = await resp.json()
            if resp.status != 200:
                self.ledger.problems.append(f"{method} {path} -> {resp.status} {payload}")
                raise AssertionError(payload)
            return payload

    def ack_new(self, order_id: Key, state: State) -> None:
        led = self.ledger
        if order_id in led.ack_ids_seen:
            led.problems.append(f"{order_id} acknowledged twice as a new order (an overwrite)")
        if number(order_id) <= led.highest_before_round.get(account_of(order_id), 0):
            led.problems.append(f"{order_id} is not above the ids of earlier rounds")
        led.ack_ids_seen.add(order_id)
        led.acked[order_id] = state
        led.acks += 1

    async def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.08:
            side = self.rng.choice((Side.BUY, Side.SELL))
            body = market_order(side, 1)
            await self.guard_place(body, ("", OrderStatus.FILLED))
        elif roll < 0.45 or not self.mine:
            limit = self.price()
            body = limit_order(Side.BUY, 1, float(limit))
            order_id = await self.guard_place(body, (limit, OrderStatus.WORKING))
            self.mine.append(order_id)
        elif roll < 0.8:
            order_id = self.rng.choice(self.mine)
            limit = self.price()
            body = limit_order(Side.BUY, 1, float(limit))
            await self.guard(
                order_id, (limit, OrderStatus.WORKING), "PUT", f"/orders/{wire_id(order_id)}", body
            )
        else:
            order_id = self.mine.pop(self.rng.randrange(len(self.mine)))
            state = (self.ledger.acked[order_id][0], OrderStatus.CANCELED)
            await self.guard(order_id, state, "DELETE", f"/orders/{wire_id(order_id)}")

    async def guard_place(self, body: dict[str, Any], state: State) -> Key:
        self.ledger.unanswered_places += 1
        result = await self.request("POST", "/orders", body)
        self.ledger.unanswered_places -= 1
        order_id = f"{self.trader.account}/{result['orderId']}"
        self.ack_new(order_id, state)
        return order_id

    async def guard(self, order_id: str, state: State, method: str, path: str,
                    body: Any = None) -> None:  # fmt: skip
        self.ledger.maybe[order_id] = state
        await self.request(method, path, body)
        self.ledger.maybe.pop(order_id, None)
        self.ledger.acked[order_id] = state
        self.ledger.acks += 1

    async def run(self) -> None:
        try:
            while True:
                await self.step()
        except (TimeoutError, aiohttp.ClientError, AssertionError):
            return  # the server went away mid-request (or answered wrong: recorded)


def wire_id(key: Key) -> str:
    return key.rpartition("/")[2]


def stored(data_dir: Path) -> tuple[dict[Key, State], dict[str, list[tuple[int, Key]]]]:
    """The orders, and each account's executions (seq, order) in seq order."""
    db = sqlite3.connect(data_dir / DB_FILE)
    try:
        orders = {
            f"{row[0]}/{row[1]}": (row[2] or "", row[3])
            for row in db.execute("SELECT account, id, limit_price, status FROM orders")
        }
        fills: dict[str, list[tuple[int, Key]]] = {}
        for account, seq, order_id in db.execute(
            "SELECT account, seq, order_id FROM executions ORDER BY account, seq"
        ):
            fills.setdefault(account, []).append((seq, f"{account}/{order_id}"))
    finally:
        db.close()
    return orders, fills


def same_price(a: str, b: str) -> bool:
    return a == b or (a != "" and b != "" and Decimal(a) == Decimal(b))


def compare(ledger: Ledger, have: dict[Key, State], where: str) -> None:
    """Every acknowledged order is there in its acknowledged (or in-flight) state."""
    for order_id, state in ledger.acked.items():
        got = have.get(order_id)
        options = [state] + ([ledger.maybe[order_id]] if order_id in ledger.maybe else [])
        if got is None:
            ledger.problems.append(f"{where}: acknowledged {order_id} {state} is lost")
        elif not any(same_price(got[0], o[0]) and got[1] == o[1] for o in options):
            ledger.problems.append(f"{where}: {order_id} is {got}, acknowledged {options}")
    unknown = set(have) - set(ledger.acked)
    if len(unknown) > ledger.unanswered_places:
        ledger.problems.append(
            f"{where}: {len(unknown)} stored orders nobody was told about "
            f"(only {ledger.unanswered_places} placements were unanswered)"
        )


async def served(
    session: aiohttp.ClientSession, origin: str, traders: list[Trader]
) -> dict[Key, State]:
    """``GET /orders`` of every trader, by key."""
    have: dict[Key, State] = {}
    for t in traders:
        async with session.get(f"{origin}{B}/orders", headers=t.headers) as resp:
            assert resp.status == 200, await resp.text()
            for o in await resp.json():
                have[f"{t.account}/{o['id']}"] = (str(o["limitPrice"] or ""), o["status"])
    return have


async def one_round(
    ledger: Ledger, server: Server, rng: random.Random, kill: bool, traders: list[Trader]
) -> None:
    server.start()
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        have = await served(session, server.origin, traders)
        compare(ledger, have, "GET /orders after the restart")
        ledger.highest_before_round = {
            t.account: max((number(i) for i in have if account_of(i) == t.account), default=0)
            for t in traders
        }
        # checked: what is stored is now the truth (in-flight requests resolved one way or
        # the other, unanswered placements now known)
        ledger.acked.update(have)
        ledger.maybe.clear()
        ledger.unanswered_places = 0
        writers = [
            Writer(ledger, i, session, server.origin, traders[i % len(traders)])
            for i in range(WRITERS)
        ]
        per_account = WRITERS // len(traders)  # writer i writes for account i % len(traders)
        for w in writers:  # carry on with the working orders of earlier rounds (of its account)
            w.mine = [
                i for i, s in ledger.acked.items()
                if s[1] == OrderStatus.WORKING and s[0] != "" and account_of(i) == w.trader.account
                and number(i) % per_account == w.index // len(traders)
            ]  # fmt: skip
        tasks = [asyncio.create_task(w.run()) for w in writers]
        await asyncio.sleep(rng.uniform(0.3, 1.0) * SECONDS)
        if kill:
            server.kill()
        else:
            await asyncio.to_thread(server.stop)
        await asyncio.gather(*tasks)
    if not kill:
        assert server.process is not None
        assert server.process.returncode == 0, server.log_path.read_text()[-2000:]
    have, fills = stored(server.data_dir)
    compare(ledger, have, f"the database after {'SIGKILL' if kill else 'SIGTERM'}")
    for account, rows in fills.items():
        seqs = [seq for seq, _ in rows]
        if seqs != list(range(1, len(seqs) + 1)):
            ledger.problems.append(f"{account}: execution seqs are not 1..n: {seqs[:20]}...")
    filled = {order_id for rows in fills.values() for _, order_id in rows}
    for order_id, state in ledger.acked.items():
        if state == ("", OrderStatus.FILLED) and order_id not in filled:
            ledger.problems.append(f"acknowledged market order {order_id} has no execution")


def keys_mode_traders(server: Server) -> list[Trader]:
    """USERS users made with the CLI before the first start, each reaching its own account."""
    keys = []
    for n in range(USERS):
        done = run_cli(server.data_dir, "users", "create", f"writer-{n}")
        assert done.returncode == 0, done.stderr
        keys.append(done.stdout.strip())
    return [Trader("", {"Authorization": f"Bearer {k}"}) for k in keys]


async def with_accounts(server: Server, traders: list[Trader]) -> list[Trader]:
    """The traders with their account ids (each user's first account, opened on first use)."""
    server.start()
    async with aiohttp.ClientSession() as session:
        found = []
        for t in traders:
            async with session.get(f"{server.origin}{B}/accounts", headers=t.headers) as resp:
                found.append(Trader((await resp.json())[0]["id"], t.headers))
    server.stop()
    return found


@pytest.mark.parametrize("mode", ["off", "keys"])
async def test_acknowledged_orders_survive_kills_and_restarts(tmp_path: Path, mode: str) -> None:
    ledger = Ledger()
    env = {"TRADING_AUTH": mode, "TRADING_RATE_LIMIT_REST_PER_S": "100000",
           "TRADING_RATE_LIMIT_REST_BURST": "100000"}  # fmt: skip
    server = Server(tmp_path / "data", tmp_path / "server.log", **env)
    traders = [OFF_MODE]
    if mode == "keys":
        traders = await with_accounts(server, keys_mode_traders(server))
    rng = random.Random(11)
    try:
        for round_ in range(ROUNDS):
            await one_round(ledger, server, rng, kill=round_ % 2 == 0, traders=traders)
            assert not ledger.problems, ledger.problems[:10]
        server.start()  # the last state, read back once more
        async with aiohttp.ClientSession() as session:
            compare(ledger, await served(session, server.origin, traders), "GET /orders at the end")
    finally:
        server.stop()
    assert not ledger.problems, ledger.problems[:10]
    have, _ = stored(server.data_dir)
    print(
        f"\nrestart durability ({mode} mode, {len(traders)} accounts): {ledger.acks} acknowledged "
        f"operations on {len(ledger.ack_ids_seen)} acknowledged orders, {ROUNDS} restarts "
        f"({(ROUNDS + 1) // 2} SIGKILL, {ROUNDS // 2} SIGTERM), {WRITERS} writers: "
        f"{len(have)} stored, 0 lost, 0 overwritten"
    )
