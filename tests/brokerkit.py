"""Shared helpers of the broker tests: scripted prices, order bodies, REST calls, deterministic
steps."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from trading.broker import migrations, sqlite_file
from trading.broker.accounts import DEFAULT_ACCOUNT
from trading.broker.engine import Engine
from trading.broker.enums import OrderType, Side
from trading.broker.evaluator import Evaluator
from trading.clock import ManualClock
from trading.keys import BROKER, MARKET
from trading.market.scripted import ScriptedMarket
from trading.settings import Settings

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]
B = "/api/v1/broker"
PRICES = {"AAPL": 250.0, "MSFT": 420.0, "GOOGL": 180.0}


def scripted(settings: Any) -> ScriptedMarket:
    """``Settings.market_factory`` of the broker tests: the PRICES above, set by hand."""
    return ScriptedMarket(settings, PRICES)


def broker_settings(tmp_path: Path, clock: ManualClock, **changes: Any) -> Settings:
    """The broker tests' settings: a temporary data dir, the manual clock, scripted prices, a
    fast tick, an 8 bps spread and 0.1 % commission; a module passes what it does differently."""
    base: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "clock": clock,
        "tick_interval_s": 0.02,
        "market_spread_bps": 8,
        "commission_rate": 0.001,
        "market_factory": scripted,
    }
    return Settings(**{**base, **changes})


def market(client: Client) -> ScriptedMarket:
    source = client.app[MARKET]
    assert isinstance(source, ScriptedMarket)
    return source


async def call(client: Client, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    """(status, JSON body) of one request."""
    resp = await client.request(method, B + path, json=body, **kw)
    return resp.status, await resp.json()


# -- order bodies (POST /orders, PUT /orders/{id}, POST /orders/preview) --------------------
# ``extra`` adds brackets and the like (takeProfit=..., stopLoss=..., ...) as the wire names them.


def market_order(side: Side, qty: float, *, symbol: str = "AAPL", **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "type": OrderType.MARKET, "side": side, "qty": qty, **extra}


def limit_order(
    side: Side, qty: float, price: float, *, symbol: str = "AAPL", **extra: Any
) -> dict[str, Any]:
    return {
        "symbol": symbol, "type": OrderType.LIMIT, "side": side, "qty": qty, "limitPrice": price,
        **extra,
    }  # fmt: skip


def stop_order(
    side: Side, qty: float, price: float, *, symbol: str = "AAPL", **extra: Any
) -> dict[str, Any]:
    return {
        "symbol": symbol, "type": OrderType.STOP, "side": side, "qty": qty, "stopPrice": price,
        **extra,
    }  # fmt: skip


def stop_limit_order(
    side: Side, qty: float, *, stop: float, limit: float, symbol: str = "AAPL", **extra: Any
) -> dict[str, Any]:
    return {
        "symbol": symbol, "type": OrderType.STOP_LIMIT, "side": side, "qty": qty,
        "stopPrice": stop, "limitPrice": limit, **extra,
    }  # fmt: skip


async def place(client: Client, order: Mapping[str, Any]) -> str:
    """Place ``order`` (a body from the builders above); its id."""
    status, body = await call(client, "POST", "/orders", order)
    assert status == 200, body
    order_id: str = body["orderId"]
    return order_id


async def get(client: Client, path: str, **kw: Any) -> Any:
    status, body = await call(client, "GET", path, **kw)
    assert status == 200, body
    return body


async def order(client: Client, order_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [o for o in await get(client, "/orders") if o["id"] == order_id]
    assert len(found) == 1, order_id
    return found[0]


async def step(
    client: Client, clock: ManualClock, price: float | None = None, symbol: str = "AAPL"
) -> None:
    """Set a price, move to the next second and run one evaluation (deterministic).

    No await between the two: the fill loop never sees the new price at the old second."""
    if price is not None:
        market(client).set_price(symbol, price)
    clock.advance(1)
    await client.app[BROKER].evaluate()


def hold_commits(client: Client, monkeypatch: Any) -> asyncio.Event:
    """Make every broker commit wait until the returned event is set (the broker's lock is
    held meanwhile, as during a slow disk): to test what happens while a change is in flight."""
    store = client.app[BROKER].store
    release = asyncio.Event()
    commit = store.commit

    async def slow_commit(*args: Any, **kwargs: Any) -> None:
        await release.wait()
        await commit(*args, **kwargs)

    monkeypatch.setattr(store, "commit", slow_commit)
    return release


SOLO = "SOLO"
"""The account id of a book driven directly, outside a service."""


class SoloLoop:
    """The fill loop over one engine driven directly, as the service runs it: through the
    working-order index (trading/broker/working.py), re-indexed before each tick since such
    tests change the book without a commit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.evaluator = Evaluator(engine.market)

    def evaluate(self, now: float) -> None:
        index = self.evaluator.index
        index.clear()
        for order in self.engine.working_orders():
            index.update(SOLO, order)
        self.evaluator.run({SOLO: self.engine}, now)
        self.evaluator.committed()


def downgrade(path: Path, version: int) -> None:
    """Rewrite the broker database at ``path`` as schema ``version`` (< the accounts one)
    would have held DEMO-ACCOUNT's rows: what a server of that version left behind, to test
    that the migrations carry it forward. Columns a version did not have are dropped."""
    old = path.with_name("downgraded.sqlite3")
    old.unlink(missing_ok=True)
    db = sqlite3.connect(old)
    for script in migrations.MIGRATIONS[:version]:
        db.executescript(script)
    db.execute("ATTACH DATABASE ? AS cur", (str(path),))
    acc = db.execute(
        "SELECT initial_balance, realized, commissions, order_seq, fill_seq FROM cur.accounts "
        "WHERE id = ?",
        (DEFAULT_ACCOUNT,),
    ).fetchone()
    db.execute("INSERT INTO account VALUES (1, ?, ?, ?, ?, ?)", acc)
    tables = [r[0] for r in db.execute("SELECT name FROM main.sqlite_master WHERE type='table'")]
    for table in tables:
        if table in ("account", "sqlite_sequence"):
            continue
        columns = ", ".join(r[1] for r in db.execute(f"PRAGMA main.table_info({table})"))
        order = "rowid" if table == "positions" else "1"
        db.execute(
            f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM cur.{table} "
            f"WHERE account = ? ORDER BY {order}",
            (DEFAULT_ACCOUNT,),
        )
    db.commit()
    db.execute("DETACH DATABASE cur")
    db.execute(f"PRAGMA user_version = {version}")
    db.close()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(old, path)


@contextlib.asynccontextmanager
async def two_workers(
    aiohttp_client: Any, settings: Settings
) -> AsyncIterator[tuple[Client, Client]]:
    """Two apps as the workers of one cluster on ``settings``' data dir (its lock taken once,
    each app with its own copy of the fd, as processes have) and store; pass ``redis_url`` in
    ``settings`` for the backplane."""
    from trading.app import create_app  # the app imports the whole service: only when used

    lock = sqlite_file.lock_data_dir(settings.data_dir)
    try:
        a, b = [
            await aiohttp_client(
                create_app(settings.replace(workers=2, data_dir_lock_fd=os.dup(lock)))
            )
            for _ in range(2)
        ]
        yield a, b
    finally:
        os.close(lock)
