"""Many paper accounts in one broker (broker.md §20): each book is its own, in memory, on disk
and in the fill loop; off mode serves DEMO-ACCOUNT exactly as before.

The REST/WebSocket isolation between users (keys mode) is tested in test_auth_isolation.py;
here the broker service is driven directly for the accounts it holds.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from tests.brokerkit import (
    Client,
    MakeClient,
    broker_settings,
    call,
    downgrade,
    get,
    limit_order,
    market_order,
    place,
    step,
)
from trading.broker.accounts import DEFAULT_ACCOUNT
from trading.broker.enums import OrderStatus, OrderType, Side
from trading.broker.errors import BrokerError, UnknownAccount
from trading.broker.requests import OrderRequest
from trading.broker.service import DB_FILE
from trading.clock import ManualClock
from trading.keys import BROKER
from trading.settings import Settings


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock)


def limit(side: Side, price: str, qty: int = 1) -> OrderRequest:
    return OrderRequest(
        symbol="AAPL", type=OrderType.LIMIT, side=side, qty=Decimal(qty),
        limit_price=Decimal(price),
    )  # fmt: skip


# -- off mode: the reference's one account ------------------------------------------------------


async def test_off_mode_lists_resets_and_refuses_new_accounts(make_client: MakeClient) -> None:
    c = await make_client()
    assert await get(c, "/accounts") == [
        {"id": DEFAULT_ACCOUNT, "name": "Demo Trading Account", "currency": "USD"}
    ]
    # the reference's answer is unchanged: no currency field
    assert await get(c, "/account") == {"id": DEFAULT_ACCOUNT, "name": "Demo Trading Account"}
    status, body = await call(c, "POST", "/accounts", {})
    assert (status, body["detail"]) == (403, "TRADING_AUTH=off serves the one account DEMO-ACCOUNT")
    await place(c, limit_order(Side.BUY, 1, 200.0))
    # any X-Account-Id is ignored in off mode (the reference has none)
    assert len(await get(c, "/orders", headers={"X-Account-Id": "ACC-ELSEWHERE"})) == 1
    assert (await call(c, "POST", "/accounts/ACC-ELSEWHERE/reset", {}))[0] == 404
    status, body = await call(c, "POST", f"/accounts/{DEFAULT_ACCOUNT}/reset", {})
    assert (status, body["success"]) == (200, True)
    assert await get(c, "/orders") == []


async def test_a_single_account_database_upgrades_in_place_to_demo_account(
    make_client: MakeClient, trading_settings: Settings, trading_clock: ManualClock
) -> None:
    c = await make_client()
    await place(c, market_order(Side.BUY, 3))
    await place(c, limit_order(Side.BUY, 1, 200.0))
    before = [await get(c, p) for p in ("/orders", "/positions", "/executions/AAPL", "/equity")]
    await c.close()
    path = trading_settings.data_dir / DB_FILE
    downgrade(path, 5)  # as the last single-account version left it
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 2
    c = await make_client()
    after = [await get(c, p) for p in ("/orders", "/positions", "/executions/AAPL", "/equity")]
    assert after == before
    # numbering continues in the migrated account
    assert await place(c, limit_order(Side.BUY, 1, 201.0)) == "ORDER-3"
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT id, owner FROM accounts").fetchall() == [(DEFAULT_ACCOUNT, None)]


# -- several accounts in one service -------------------------------------------------------------


async def test_accounts_are_separate_books_numbered_on_their_own(make_client: MakeClient) -> None:
    c = await make_client()
    broker = c.app[BROKER]
    first = await broker.accounts_of("usr_a")  # opened on first use
    assert [a.name for a in first] == ["Paper account"]
    a = first[0].id
    b = (await broker.open_account("usr_b", "B's desk", Decimal(5000))).id
    assert a != b
    assert DEFAULT_ACCOUNT not in (a, b)
    order_a = await broker.place(a, limit(Side.BUY, "200"))
    order_b = await broker.place(b, limit(Side.SELL, "300"))
    assert order_a.id == order_b.id == "ORDER-1"  # numbering is per account
    assert [o.side for o in await broker.orders(a)] == [Side.BUY]
    assert [o.side for o in await broker.orders(b)] == [Side.SELL]
    assert await broker.orders(DEFAULT_ACCOUNT) == []
    assert (await broker.equity(b)).balance == Decimal(5000)
    await broker.cancel(b, "ORDER-1")
    assert (await broker.orders(a))[0].status is OrderStatus.WORKING
    with pytest.raises(UnknownAccount):
        await broker.orders("ACC-NOPE")
    with pytest.raises(UnknownAccount):
        await broker.place("ACC-NOPE", limit(Side.BUY, "200"))
    # reset is per account
    await broker.reset(a)
    assert await broker.orders(a) == []
    assert len(await broker.orders(b)) == 1
    assert [x.id for x in await broker.accounts_of("usr_a")] == [a]
    assert [x.id for x in await broker.accounts_of("usr_b")] == [b]


async def test_every_account_survives_a_restart(make_client: MakeClient) -> None:
    c = await make_client()
    broker = c.app[BROKER]
    accounts = [(await broker.open_account(f"usr_{i}")).id for i in range(5)]
    for i, account in enumerate(accounts):
        for _ in range(i + 1):
            await broker.place(account, limit(Side.BUY, "200"))
    await broker.set_leverage(accounts[2], "AAPL", Decimal(2))
    await c.close()
    c = await make_client()
    broker = c.app[BROKER]
    for i, account in enumerate(accounts):
        assert len(await broker.orders(account)) == i + 1
    assert await broker.leverage_of(accounts[2], "AAPL") == Decimal(2)
    assert await broker.leverage_of(accounts[1], "AAPL") == Decimal(10)
    assert [a.id for a in await broker.accounts_of("usr_3")] == [accounts[3]]


async def test_the_fill_loop_fills_each_account_at_its_own_levels(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client()
    broker = c.app[BROKER]
    a = (await broker.open_account("usr_a")).id
    b = (await broker.open_account("usr_b")).id
    await broker.place(a, limit(Side.BUY, "249"))
    await broker.place(b, limit(Side.BUY, "240"))
    await step(c, trading_clock, 248.0)  # reaches A's level only
    assert [o.status for o in await broker.orders(a)] == [OrderStatus.FILLED]
    assert [o.status for o in await broker.orders(b)] == [OrderStatus.WORKING]
    assert len(await broker.positions(a)) == 1
    assert await broker.positions(b) == []
    await step(c, trading_clock, 239.0)
    assert [o.status for o in await broker.orders(b)] == [OrderStatus.FILLED]
    assert [f.price for f in await broker.executions(a, "AAPL")] == [
        (await broker.orders(a))[0].avg_price
    ]


async def test_a_new_account_is_stored_before_it_is_answered(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    c = await make_client()
    info = await c.app[BROKER].open_account("usr_a", "Swing", Decimal("2500.50"))
    with sqlite3.connect(trading_settings.data_dir / DB_FILE) as db:
        row = db.execute(
            "SELECT owner, name, currency, initial_balance FROM accounts WHERE id = ?", (info.id,)
        ).fetchone()
    assert row == ("usr_a", "Swing", "USD", "2500.50")


async def test_an_account_name_is_checked(make_client: MakeClient) -> None:
    c: Client = await make_client()
    for bad in (" " * 3, "x" * 65):
        with pytest.raises(BrokerError):
            await c.app[BROKER].open_account("usr_a", bad)
    assert await c.app[BROKER].accounts_of("usr_a") != []  # the first, opened on first use


async def test_accounts_are_numbered_in_opening_order_across_a_restart(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    c = await make_client()
    broker = c.app[BROKER]
    first = broker.default_account().seq
    before = [(await broker.open_account(f"usr_{i}")).seq for i in range(3)]
    assert before == [first + 1, first + 2, first + 3]
    await c.close()
    c = await make_client()
    after = (await c.app[BROKER].open_account("usr_x")).seq
    assert after == first + 4  # the next after the highest stored, not counted afresh
    with sqlite3.connect(trading_settings.data_dir / DB_FILE) as db:
        stored = [r[0] for r in db.execute("SELECT seq FROM accounts ORDER BY seq")]
    assert stored == [first, *before, after]
