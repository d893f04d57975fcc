"""Nothing acknowledged is lost or overwritten (broker.md §12): ids across restarts, storage
faults answered 503 with nothing changed, recovery by itself, the readiness route.

Real app, real SQLite files. The disk-full case uses a real small tmpfs (root only: skipped
with the reason otherwise); the deleted-while-running case unlinks the real file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.brokerkit import (
    Client,
    MakeClient,
    broker_settings,
    call,
    get,
    limit_order,
    market_order,
    place,
)
from trading.broker import rows as row_layout
from trading.broker import sqlite_file
from trading.broker.accounts import DEFAULT_ACCOUNT
from trading.broker.enums import (
    DurationType,
    MessageType,
    OrderStatus,
    OrderType,
    ParentType,
    Side,
    StopType,
)
from trading.broker.requests import Duration
from trading.broker.service import DB_FILE
from trading.broker.state import BracketRole, Order, OrderMessage
from trading.clock import ManualClock
from trading.settings import Settings

READY = "/api/v1/ready"


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock, tick_interval_s=0.05)


def rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    """What the database file holds (read by a separate connection, as after a restart)."""
    db = sqlite3.connect(data_dir / DB_FILE)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def resting(c: Client, price: float = 200.0, qty: int = 1) -> str:
    """A buy limit far under the market: it stays WORKING."""
    return await place(c, limit_order(Side.BUY, qty, price))


async def ids(c: Client) -> list[str]:
    return [o["id"] for o in await get(c, "/orders")]


# -- id counters across restarts -------------------------------------------------------------


async def test_order_ids_continue_after_a_restart_and_never_overwrite(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    c = await make_client()
    assert await resting(c, 200.0) == "ORDER-1"  # no fill: only the placement numbered it
    await c.close()
    c = await make_client()
    assert await resting(c, 201.0) == "ORDER-2"
    assert await place(c, market_order(Side.BUY, 1)) == "ORDER-3"  # a fill: execution 1
    await c.close()
    c = await make_client()
    assert await place(c, market_order(Side.SELL, 1)) == "ORDER-4"  # execution 2
    orders = {o["id"]: o for o in await get(c, "/orders")}
    assert sorted(orders) == ["ORDER-1", "ORDER-2", "ORDER-3", "ORDER-4"]
    assert (orders["ORDER-1"]["limitPrice"], orders["ORDER-2"]["limitPrice"]) == (200.0, 201.0)
    data = trading_settings.data_dir
    assert rows(data, "SELECT id, limit_price FROM orders ORDER BY seq") == [
        ("ORDER-1", "200"), ("ORDER-2", "201"), ("ORDER-3", None), ("ORDER-4", None)
    ]  # fmt: skip
    assert rows(data, "SELECT seq, order_id FROM executions") == [(1, "ORDER-3"), (2, "ORDER-4")]
    assert rows(data, "SELECT order_seq, fill_seq FROM accounts") == [(4, 2)]


async def test_a_stored_counter_below_the_stored_ids_is_raised_at_load(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    """A database written by a version that did not commit the counters keeps counting from
    its highest stored row, never from the stale counter."""
    c = await make_client()
    await resting(c)
    await resting(c)
    await place(c, market_order(Side.BUY, 1))
    await c.close()
    db = sqlite3.connect(trading_settings.data_dir / DB_FILE)
    db.execute("UPDATE accounts SET order_seq = 0, fill_seq = 0")
    db.commit()
    db.close()
    c = await make_client()
    assert await resting(c) == "ORDER-4"
    await place(c, market_order(Side.SELL, 1))
    assert rows(trading_settings.data_dir, "SELECT seq FROM executions") == [(1,), (2,)]
    assert await ids(c) == ["ORDER-1", "ORDER-2", "ORDER-3", "ORDER-4", "ORDER-5"]


async def test_an_id_collision_fails_loudly_instead_of_overwriting(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    c = await make_client()
    await resting(c, 200.0)
    # something outside the server stores ORDER-2 behind its back (a second writer)
    db = sqlite3.connect(trading_settings.data_dir / DB_FILE)
    db.execute(
        "INSERT INTO orders (account, id, seq, symbol, type, side, qty, status, limit_price, "
        "filled_qty, update_time) "
        "VALUES ('DEMO-ACCOUNT', 'ORDER-2', 2, 'AAPL', 1, 1, '7', 1, '100', '0', 0)"
    )
    db.commit()
    db.close()
    status, body = await call(c, "POST", "/orders", limit_order(Side.BUY, 1, 199.0))
    assert status == 503, body
    assert "UNIQUE" in body["detail"]
    assert DB_FILE in body["detail"]
    assert rows(trading_settings.data_dir, "SELECT qty FROM orders WHERE id = 'ORDER-2'") == [
        ("7",)
    ]
    # memory = the committed state, reloaded: the refused order is nowhere, and the counter
    # continues above every stored row
    assert await ids(c) == ["ORDER-1", "ORDER-2"]
    assert await resting(c, 198.0) == "ORDER-3"


# -- the database file deleted while running -------------------------------------------------


async def test_a_deleted_database_refuses_writes_and_readiness(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    c = await make_client()
    assert (await c.get(READY)).status == 200
    await resting(c)
    (trading_settings.data_dir / DB_FILE).unlink()
    status, body = await call(c, "POST", "/orders", market_order(Side.BUY, 1))
    assert status == 503
    assert "deleted" in body["detail"]
    assert str(trading_settings.data_dir / DB_FILE) in body["detail"]
    resp = await c.get(READY)
    ready = await resp.json()
    assert resp.status == 503, ready
    assert ready["status"] == "not ready"
    assert "deleted" in ready["detail"]
    assert ready["checks"]["database"]["ok"] is False
    assert await ids(c) == ["ORDER-1"]
    assert await get(c, "/positions") == []


# -- disk full (a real small filesystem) -----------------------------------------------------


@contextlib.contextmanager
def small_disk(where: Path, size_kib: int) -> Iterator[Path]:
    where.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a small tmpfs: mount needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_up(directory: Path) -> Path:
    """Write a file until the filesystem says ENOSPC."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        for chunk in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)
    return filler


async def test_disk_full_answers_503_changes_nothing_and_recovers(
    make_client: MakeClient, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "small", 1024) as disk:
        c = await make_client(data_dir=disk / "data")
        await resting(c)
        filler = fill_up(disk)
        acked = ["ORDER-1"]
        refused: dict[str, Any] | None = None
        for _ in range(2000):  # the WAL's already allocated frames take a few first
            price = 150.0 + len(acked) / 100
            status, body = await call(c, "POST", "/orders", limit_order(Side.BUY, 1, price))
            if status != 200:
                assert status == 503, body
                refused = body
                break
            acked.append(body["orderId"])
        assert refused is not None, "the full disk never refused a write"
        assert "full" in refused["detail"]
        assert DB_FILE in refused["detail"]
        # memory equals what is committed: the refused order is nowhere
        assert await ids(c) == acked
        status, body = await call(c, "DELETE", f"/orders/{acked[0]}")
        assert status == 503
        assert "full" in body["detail"]
        assert (await get(c, "/orders"))[0]["status"] == OrderStatus.WORKING  # still
        resp = await c.get(READY)
        assert resp.status == 503
        assert "full" in (await resp.json())["detail"]
        filler.unlink()  # space returns: the service recovers by itself
        resp = await c.get(READY)
        assert resp.status == 200, await resp.json()
        acked.append(await resting(c))
        assert acked[-1] == f"ORDER-{len(acked)}"  # the refused order's id was not kept
        assert (await call(c, "DELETE", f"/orders/{acked[0]}"))[0] == 200
        await c.close()
        c = await make_client(data_dir=disk / "data")
        stored = await get(c, "/orders")
        assert [o["id"] for o in stored] == acked
        assert stored[0]["status"] == OrderStatus.CANCELED
        await c.close()


def test_every_order_column_is_read_back_into_its_own_field(tmp_path: Path) -> None:
    """The load reads orders by position: each stored column must land in its own field (an
    order with every optional field set, each to a value no other field holds)."""
    order = Order(
        id="ORDER-7", seq=7, symbol="MSFT", type=OrderType.STOP_LIMIT, side=Side.SELL,
        qty=Decimal("3"), status=OrderStatus.CANCELED, limit_price=Decimal("101.01"),
        stop_price=Decimal("102.02"), take_profit=Decimal("103.03"),
        stop_loss=Decimal("104.04"), guaranteed_stop=Decimal("105.05"),
        trailing_stop_pips=Decimal("106"), stop_type=StopType.GUARANTEED_STOP,
        filled_qty=Decimal("2"), avg_price=Decimal("107.07"), update_time=1_700_000_000_123,
        parent="ORDER-3", role=BracketRole.STOP, triggered=True, parent_type=ParentType.ORDER,
        duration=Duration(DurationType.GTD, 1_700_000_999_000), expires_at=1_700_000_999_001,
        message=OrderMessage(MessageType.WARNING, "a message"),
    )  # fmt: skip
    path = tmp_path / DB_FILE
    sqlite_file.create(path, Decimal(1000))
    db = sqlite_file.open_existing(path)
    with db:
        db.execute(
            f"INSERT INTO orders (account, {row_layout.ORDER_COLUMNS}) "
            f"VALUES (?, {row_layout.ORDER_PLACEHOLDERS})",
            (DEFAULT_ACCOUNT, *row_layout.order_row(order)),
        )
    [book] = row_layout.load(db).books
    db.close()
    assert book.orders == [order]
