"""Group commit (broker.md §12, trading/broker/grouping.py): many commands in one transaction,
each acknowledged only after the commit that holds it.

Through the real app on a real socket: a transaction stores every order that arrived while the
previous one was written; a group whose commit fails acknowledges none of its requests, nor
those queued behind it, and loses no earlier one; a read during a group in flight answers
only committed state. A real server killed with SIGKILL under concurrent placements has
stored every order it acknowledged. And for random command sequences (hypothesis), running
them all at once (grouped) stores the same rows and publishes the same events as running them
one by one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.brokerkit import (
    PRICES,
    Client,
    broker_settings,
    call,
    limit_order,
    market_order,
    place,
)
from tests.serverproc import Server
from tests.wsclient import WS, drain, request
from trading.app import broker_service
from trading.broker.accounts import DEFAULT_ACCOUNT
from trading.broker.changes import Changes
from trading.broker.enums import OrderType, Side
from trading.broker.errors import StorageError
from trading.broker.events import BrokerEvent
from trading.broker.requests import OrderRequest
from trading.broker.service import DB_FILE, BrokerService
from trading.clock import ManualClock
from trading.keys import BROKER
from trading.market.scripted import ScriptedMarket
from trading.settings import Settings
from trading.testing import TEST_NOW

pytestmark = pytest.mark.spec_unchecked  # simulated storage failures answer 503s on purpose


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock)


class Gate:
    """The store's commit, watched: every call's orders are recorded; while ``hold`` is set
    a call waits for ``release``; ``fail`` makes the next held call raise instead."""

    def __init__(self, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
        store = client.app[BROKER].store
        self._commit = store.commit
        self.calls: list[list[str]] = []
        self.hold = asyncio.Event()
        self.release = asyncio.Event()
        self.fail: StorageError | None = None
        monkeypatch.setattr(store, "commit", self.commit)

    async def commit(self, batch: list[tuple[str, Changes, Any, int]], **kwargs: Any) -> int:
        created = sorted(i for _, changes, _, _ in batch for i in changes.created)
        self.calls.append(created)
        if self.hold.is_set():
            self.hold.clear()
            # bounded: a test failing before it releases must not hang the app's shutdown
            await asyncio.wait_for(self.release.wait(), 10)
            if self.fail is not None:
                raise self.fail
        return await self._commit(batch, **kwargs)


async def settle(client: Client) -> None:
    """Let the requests sent so far reach the broker (they queue behind a held commit)."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_one_transaction_stores_every_order_that_arrived_while_one_was_written(
    trading_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(trading_client, monkeypatch)
    gate.hold.set()
    first = asyncio.create_task(
        call(trading_client, "POST", "/orders", limit_order(Side.BUY, 1, 100))
    )
    await settle(trading_client)
    rest = [
        asyncio.create_task(
            call(trading_client, "POST", "/orders", limit_order(Side.BUY, 1, 100 + n))
        )
        for n in range(1, 9)
    ]
    await settle(trading_client)
    assert not first.done(), "nothing answered yet"
    assert not any(t.done() for t in rest)
    assert gate.calls == [["ORDER-1"]], "the eight wait for the commit in flight"
    gate.release.set()
    answers = [await first] + [await t for t in rest]
    assert [a[0] for a in answers] == [200] * 9
    assert gate.calls == [["ORDER-1"], [f"ORDER-{n}" for n in range(2, 10)]], "one more commit"
    _, orders = await call(trading_client, "GET", "/orders")
    assert sorted(o["limitPrice"] for o in orders) == [100.0 + n for n in range(9)]


async def test_a_failed_group_acknowledges_none_of_its_requests_nor_those_behind_it(
    trading_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B's commit fails; C and D ran on books holding B, so they fail too without a commit of
    their own. A, committed before, stays; nothing of B, C, D was pushed or stored."""
    assert await place(trading_client, limit_order(Side.BUY, 1, 100.0)) == "ORDER-1"
    gate = Gate(trading_client, monkeypatch)
    async with trading_client.ws_connect(WS) as ws:
        reply, _ = await request(ws, "orders.subscribe", {"accountId": "A"})
        assert reply["payload"]["status"] == "ok"
        (snapshot,) = await drain(ws)
        assert snapshot["payload"]["payload"]["id"] == "ORDER-1"
        gate.hold.set()
        gate.fail = StorageError("disk full (simulated)")
        b = asyncio.create_task(
            call(trading_client, "POST", "/orders", limit_order(Side.BUY, 1, 101))
        )
        await settle(trading_client)
        later = [
            asyncio.create_task(call(trading_client, "POST", "/orders", body))
            for body in (limit_order(Side.BUY, 1, 102), market_order(Side.BUY, 2))
        ]
        await settle(trading_client)
        gate.release.set()
        answers = [await b] + [await t for t in later]
        assert [a[0] for a in answers] == [503] * 3, answers
        assert {a[1]["detail"] for a in answers} == {"disk full (simulated)"}, "one error"
        assert gate.calls == [["ORDER-2"]], "C and D were never written"
        assert await drain(ws) == [], "nothing pushed of what was not stored"
        status, orders = await call(trading_client, "GET", "/orders")
        assert (status, [o["id"] for o in orders]) == (200, ["ORDER-1"])
        assert await call(trading_client, "GET", "/positions") == (200, [])
        assert await place(trading_client, limit_order(Side.BUY, 1, 103.0)) == "ORDER-2"
        (update,) = await drain(ws)
        assert update["payload"]["payload"]["id"] == "ORDER-2"


async def test_a_read_during_a_group_in_flight_waits_and_never_shows_what_rolls_back(
    trading_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(trading_client, monkeypatch)
    gate.hold.set()
    gate.fail = StorageError("disk full (simulated)")
    placing = asyncio.create_task(
        call(trading_client, "POST", "/orders", market_order(Side.BUY, 3))
    )
    await settle(trading_client)
    reads = [
        asyncio.create_task(call(trading_client, "GET", path))
        for path in ("/orders", "/positions", "/equity")
    ]
    await settle(trading_client)
    assert not any(r.done() for r in reads), "a read waits for the commit in flight"
    gate.release.set()
    assert (await placing)[0] == 503
    orders, positions, equity = [await r for r in reads]
    assert orders == (200, []), "the filled order was never stored"
    assert positions == (200, [])
    assert equity[0] == 200
    assert equity[1]["balance"] == equity[1]["equity"], "no position, no P&L"


async def test_a_kill_under_concurrent_placements_loses_no_acknowledged_order(
    tmp_path: Path,
) -> None:
    """32 clients place resting orders as fast as they are answered; SIGKILL mid-stream.
    Every acknowledged order is in the file at its price, and groups held several orders
    (fewer commits than orders: the test ran the grouped path)."""
    env = {"TRADING_RATE_LIMIT_REST_PER_S": "100000", "TRADING_RATE_LIMIT_REST_BURST": "100000"}
    server = Server(tmp_path / "data", tmp_path / "server.log", **env)
    server.start()
    acked: dict[str, Decimal] = {}
    counter = 0

    async def writer(session: aiohttp.ClientSession) -> None:
        nonlocal counter
        while True:
            counter += 1
            price = Decimal(10_000 + counter) / 100
            body = limit_order(Side.BUY, 1, float(price))
            try:
                async with session.post(server.origin + "/api/v1/broker/orders", json=body) as r:
                    if r.status != 200:
                        return
                    acked[(await r.json())["orderId"]] = price
            except (aiohttp.ClientError, TimeoutError):
                return

    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            tasks = [asyncio.create_task(writer(session)) for _ in range(32)]
            while len(acked) < 300:  # noqa: ASYNC110 - polled: the writers set nothing
                await asyncio.sleep(0.01)
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGKILL)
            await asyncio.gather(*tasks)
    finally:
        server.kill()
    db = sqlite3.connect(tmp_path / "data" / DB_FILE)
    try:
        stored = {i: Decimal(p) for i, p in db.execute("SELECT id, limit_price FROM orders")}
        commits = db.execute("SELECT commit_seq FROM broker_clock").fetchone()[0]
    finally:
        db.close()
    lost = {i: p for i, p in acked.items() if stored.get(i) != p}
    assert not lost, f"acknowledged but not stored: {sorted(lost)[:10]}"
    assert commits < len(stored), f"{commits} commits for {len(stored)} orders: no grouping"


# -- grouped and one by one store the same ------------------------------------------------

Op = tuple[str, int, int]
"""(what, a number, another): the command is decided when it runs (ids exist or not)."""
OPS = st.lists(
    st.tuples(
        st.sampled_from(["limit", "market", "cancel", "modify", "reset", "leverage", "close",
                         "flatten", "keyed"]),
        st.integers(1, 6),
        st.integers(0, 4),
    ),
    min_size=1,
    max_size=14,
)  # fmt: skip


def request_of(what: str, n: int, m: int) -> OrderRequest:
    symbol = ("AAPL", "MSFT")[m % 2]
    if what == "market":
        return OrderRequest(symbol=symbol, type=OrderType.MARKET, qty=Decimal(n),
                            side=Side.BUY if m < 3 else Side.SELL)  # fmt: skip
    return OrderRequest(symbol=symbol, type=OrderType.LIMIT, side=Side.BUY, qty=Decimal(n),
                        limit_price=Decimal(int(PRICES[symbol]) - 10 - m))  # fmt: skip


async def command(service: BrokerService, op: Op) -> object:
    what, n, m = op
    account = DEFAULT_ACCOUNT
    if what in ("limit", "market"):
        return (await service.place(account, request_of(what, n, m))).id
    if what == "keyed":
        placed = await service.place_with_key(account, request_of("limit", 1, m), f"k{n % 3}")
        return placed.order.id, placed.replayed
    if what == "cancel":
        await service.cancel(account, f"ORDER-{n}")
        return None
    if what == "modify":
        await service.modify(account, f"ORDER-{n}", request_of("limit", n, m))
        return None
    if what == "reset":
        await service.reset(account)
        return None
    if what == "leverage":
        await service.set_leverage(account, "AAPL", Decimal(1 + m))
        return None
    if what == "close":
        await service.close_position(account, ("AAPL", "MSFT")[m % 2], None)
        return None
    return await service.flatten(account)


def outcome(result: BaseException | object) -> object:
    if isinstance(result, BaseException):
        return type(result).__name__, str(result)
    return result


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, without the commit numbers (grouping makes fewer commits)."""
    db = sqlite3.connect(path)
    try:
        out = {}
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            # sqlite_sequence: the AUTOINCREMENT counter of order_history; a history row that
            # a reset in the same group deletes is never inserted, so the counter may be lower
            # (rows are still numbered in order: what cursors need)
            if table in ("broker_clock", "schema_version", "sqlite_sequence"):
                continue
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            if table == "order_history":
                # hseq: the same reason (the deleted row never took a number); what a cursor
                # needs is the rows' order, compared as it is
                keep = [c for c in columns if c != "hseq"]
                out[table] = db.execute(
                    f"SELECT {', '.join(keep)} FROM {table} ORDER BY hseq"
                ).fetchall()
                continue
            keep = [c for c in columns if c != "version"]
            out[table] = sorted(
                db.execute(f"SELECT {', '.join(keep)} FROM {table}").fetchall(), key=repr
            )
        return out
    finally:
        db.close()


async def run_ops(
    root: Path, ops: list[Op], grouped: bool
) -> tuple[list[object], list[BrokerEvent], dict[str, Any]]:
    clock = ManualClock(TEST_NOW)
    cfg = broker_settings(root, clock, initial_balance=100_000)
    service = broker_service(cfg, ScriptedMarket(cfg.market_config(), PRICES))
    events: list[BrokerEvent] = []
    service.listen(lambda account, event: events.append(event))
    await service.load()
    try:
        if grouped:  # all at once: each waits for the lock in turn, the commits are grouped
            results = await asyncio.gather(*(command(service, op) for op in ops),
                                           return_exceptions=True)  # fmt: skip
        else:
            results = []
            for op in ops:
                try:
                    results.append(await command(service, op))
                except Exception as exc:
                    results.append(exc)
    finally:
        await service.stop()
    return [outcome(r) for r in results], events, dump(root / "data" / DB_FILE)


@settings(max_examples=40, deadline=None)
@given(ops=OPS)
def test_grouped_commands_store_and_publish_what_one_by_one_would(
    tmp_path_factory: pytest.TempPathFactory, ops: list[Op]
) -> None:
    one = asyncio.run(run_ops(tmp_path_factory.mktemp("one"), ops, grouped=False))
    many = asyncio.run(run_ops(tmp_path_factory.mktemp("many"), ops, grouped=True))
    assert many[0] == one[0], "the same answers"
    assert many[1] == one[1], "the same events, in the same order"
    assert many[2] == one[2], "the same rows"
