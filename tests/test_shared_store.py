"""Two brokers on one store, as two workers of ``serve --workers N`` (one SQLite file) or two
hosts (one PostgreSQL) run them (broker.md §21): each has its own connection and its own
memory, and the store is the only truth.

In one process for determinism (a manual clock, scripted prices); the processes of a real
cluster, killed with -9 under load, are tests/test_cluster_failover.py's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.brokerkit import PRICES
from trading.broker import sqlite_file
from trading.broker.accounts import DEFAULT_ACCOUNT
from trading.broker.enums import OrderStatus, OrderType, Side
from trading.broker.errors import BrokerError
from trading.broker.pg_store import PgStore
from trading.broker.requests import OrderRequest
from trading.broker.service import DB_FILE, BrokerService
from trading.broker.storage import BrokerStore
from trading.broker.store import Store
from trading.clock import ManualClock
from trading.market.scripted import ScriptedMarket
from trading.market.series import half_spread
from trading.market.source import Touch
from trading.market.symbols import SymbolSpec
from trading.settings import Settings

A = DEFAULT_ACCOUNT


def limit(side: Side, price: str, qty: int = 1) -> OrderRequest:
    return OrderRequest(
        symbol="AAPL", type=OrderType.LIMIT, side=side, qty=Decimal(qty),
        limit_price=Decimal(price),
    )  # fmt: skip


class SecondsMarket(ScriptedMarket):
    """Scripted prices, and some seconds of AAPL at a price of their own (a dip)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.market_config(), PRICES)
        self.at: dict[int, float] = {}

    def touch(self, symbol: SymbolSpec, second: int) -> Touch:
        price = self.at.get(second) if symbol.name == "AAPL" else None
        if price is None:
            return super().touch(symbol, second)
        lp = round(price * symbol.pricescale)
        half = half_spread(lp, Decimal(8))
        return Touch(time=second, lp=lp, bid=lp - half, ask=lp + half)


class Cluster:
    """Brokers sharing a data dir through one inherited lock, like a supervisor's workers, or
    one PostgreSQL database (``postgres_url``), like hosts."""

    def __init__(
        self, data_dir: Path, clock: ManualClock, market: SecondsMarket, postgres_url: str | None
    ) -> None:
        self.data_dir = data_dir
        self.clock = clock
        self.market = market
        data_dir.mkdir(parents=True, exist_ok=True)
        self.lock_fd = sqlite_file.lock_data_dir(data_dir)
        self.postgres_url = postgres_url
        self.brokers: list[BrokerService] = []

    def store(self) -> BrokerStore:
        if self.postgres_url is not None:
            return PgStore(self.postgres_url, keepalive_s=2)
        return Store(self.data_dir / DB_FILE, lock_fd=os.dup(self.lock_fd))

    async def start(self) -> BrokerService:
        broker = BrokerService(
            self.market, self.clock, self.data_dir,
            initial_balance=Decimal(100_000), commission_rate=Decimal("0.001"),
            default_leverage=Decimal(10), tick_interval_s=3600, equity_interval_s=1,
            shared=True, store=self.store(),
        )  # fmt: skip
        await broker.start()
        self.brokers.append(broker)
        return broker

    async def close(self) -> None:
        for broker in self.brokers:
            await broker.stop()
        os.close(self.lock_fd)


@pytest.fixture(params=["sqlite", "postgres"])
async def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    clock = ManualClock(1_761_309_300.0)
    market = SecondsMarket(Settings(data_dir=tmp_path, market_spread_bps=8, clock=clock))
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    made = Cluster(tmp_path / "data", clock, market, url)
    try:
        yield made
    finally:
        await made.close()


async def test_what_one_worker_commits_the_other_answers(cluster: Cluster) -> None:
    a, b = await cluster.start(), await cluster.start()
    order = await a.place(A, limit(Side.BUY, "200"))
    assert [o.id for o in await b.orders(A)] == [order.id]
    await b.cancel(A, order.id)
    [seen] = await a.orders(A)
    assert seen.status is OrderStatus.CANCELED
    with pytest.raises(BrokerError):  # a knows it is canceled: no stale cancel succeeds
        await a.cancel(A, order.id)


async def test_concurrent_orders_on_two_workers_are_all_kept_with_distinct_numbers(
    cluster: Cluster,
) -> None:
    """The bug that opened issue 15: a second server's first order answered HTTP 500
    (``UNIQUE constraint failed``), because both numbered from their own memory."""
    a, b = await cluster.start(), await cluster.start()
    placed = await asyncio.gather(
        *(broker.place(A, limit(Side.BUY, "200")) for _ in range(40) for broker in (a, b))
    )
    ids = [o.id for o in placed]
    assert len(set(ids)) == 80
    for broker in (a, b):
        assert sorted(o.id for o in await broker.orders(A)) == sorted(ids)
    fresh = await cluster.start()  # and what a restart reads
    assert len(await fresh.orders(A)) == 80


async def test_exactly_one_worker_runs_the_fill_loop_and_a_successor_takes_over(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start(), await cluster.start()
    await asyncio.sleep(0.1)
    assert [a.leader, b.leader].count(True) == 1
    leader, other = (a, b) if a.leader else (b, a)
    order = await other.place(A, limit(Side.BUY, "240"))  # below the ask: rests
    cluster.market.set_price("AAPL", 230.0)
    cluster.clock.advance(1)
    await other.evaluate()  # not the leader: marks only, never a fill
    assert (await other.orders(A))[0].status is OrderStatus.WORKING
    await leader.evaluate()
    assert (await other.orders(A))[0].status is OrderStatus.FILLED
    # the leader goes away (its store closed: the lock file is released)
    second = await other.place(A, limit(Side.BUY, "220"))
    cluster.brokers.remove(leader)
    await leader.stop()
    for _ in range(100):
        if other.leader:
            break
        await asyncio.sleep(0.02)
    assert other.leader
    cluster.market.set_price("AAPL", 210.0)
    cluster.clock.advance(1)
    await other.evaluate()
    statuses = {o.id: o.status for o in await other.orders(A)}
    assert statuses == {order.id: OrderStatus.FILLED, second.id: OrderStatus.FILLED}
    assert len(other._book(A).fills) == 2  # each order filled once


async def test_a_successor_resumes_at_the_second_its_predecessor_stored(cluster: Cluster) -> None:
    """A price that touched the limit in the seconds between two leaders still fills it."""
    a = await cluster.start()
    await asyncio.sleep(0.05)
    assert a.leader
    order = await a.place(A, limit(Side.BUY, "240"))
    cluster.clock.advance(1)
    await a.evaluate()  # stores the second it evaluated
    cluster.brokers.remove(a)
    await a.stop()
    # the dip happens while nobody leads; the next leader starts two seconds later
    second = int(cluster.clock.now()) + 1
    cluster.market.at[second] = 230.0
    cluster.clock.advance(2)
    b = await cluster.start()
    for _ in range(100):
        if b.leader:
            break
        await asyncio.sleep(0.02)
    [filled] = await b.orders(A)
    assert filled.id == order.id
    assert filled.status is OrderStatus.FILLED
    assert b._book(A).fills[0].time == second * 1000


async def test_an_idempotency_key_names_one_order_across_workers(cluster: Cluster) -> None:
    a, b = await cluster.start(), await cluster.start()
    first = await a.place_with_key(A, limit(Side.BUY, "200"), "key-1")
    retry = await b.place_with_key(A, limit(Side.BUY, "200"), "key-1")
    assert retry.replayed
    assert retry.order.id == first.order.id
    assert len(await a.orders(A)) == 1


async def test_an_account_opened_on_one_worker_is_served_by_the_other(cluster: Cluster) -> None:
    a, b = await cluster.start(), await cluster.start()
    [first] = await a.accounts_of("user-1")
    assert [i.id for i in await b.accounts_of("user-1")] == [first.id]
    second = await b.open_account("user-1", "Second")
    assert [i.id for i in await a.accounts_of("user-1")] == [first.id, second.id]
    assert second.seq > first.seq
    await a.place(second.id, limit(Side.SELL, "300"))
    assert len(await b.orders(second.id)) == 1
