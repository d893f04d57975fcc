"""The broker store's contract (issue 15, broker.md §12), run against both
stores: SQLite (one host, several workers) and PostgreSQL (several hosts, a real server from
tests/realservers.py, a fresh database per test).

Books are driven through the engine itself, so what is committed is what the service
commits; the tests then read it back through the store's interface only.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from trading.broker import pg_conn, replay_rows, rows, sqlite_file
from trading.broker.accounts import DEFAULT_ACCOUNT, AccountInfo
from trading.broker.engine import Engine
from trading.broker.enums import OrderType, Side
from trading.broker.errors import StaleAccount, StorageError
from trading.broker.history import HistoryQuery
from trading.broker.idempotency import KeyRecord
from trading.broker.pg_db import POSTGRES_FORMS, UntranslatedStatement, postgres_sql
from trading.broker.pg_store import PgStore
from trading.broker.requests import OrderRequest
from trading.broker.rows import BookRows, Snapshot
from trading.broker.store import Store
from trading.market.replay import ReplayClock, ReplayLimitReached, ReplaySession, ReplayState
from trading.market.source import Touch
from trading.market.symbols import SymbolCatalog, SymbolSpec

INITIAL = Decimal(100_000)
NOW = 1_767_000_000.0
Factory = Callable[[], Any]


def touch(spec: SymbolSpec, second: int) -> Touch:
    return Touch(time=second, lp=25_000, bid=24_990, ask=25_010)


def engine(rows_: BookRows | None = None) -> Engine:
    book = Engine(SymbolCatalog(), touch, initial_balance=INITIAL,
                  commission_rate=Decimal("0.001"), default_leverage=Decimal(10))  # fmt: skip
    if rows_ is not None:
        rows_ = copy.deepcopy(rows_)  # the book changes what it restores from
        book.restore(rows_.account, rows_.orders, rows_.positions, rows_.fills, rows_.leverage)
    return book


def market(symbol: str, side: Side, qty: int) -> OrderRequest:
    return OrderRequest(symbol=symbol, type=OrderType.MARKET, side=side, qty=Decimal(qty))


def limit(symbol: str, side: Side, qty: int, price: str) -> OrderRequest:
    return OrderRequest(symbol=symbol, type=OrderType.LIMIT, side=side, qty=Decimal(qty),
                        limit_price=Decimal(price))  # fmt: skip


def book_of(snap: Snapshot, account: str = DEFAULT_ACCOUNT) -> BookRows:
    (found,) = [b for b in snap.books if b.info.id == account]
    return found


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """A factory of stores on ONE database: each call is another process (SQLite: a worker
    of the same data dir, sharing its lock; PostgreSQL: another host)."""
    made: list[Any] = []
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")

        def make() -> Any:
            made.append(PgStore(url, keepalive_s=2))
            return made[-1]
    else:
        data = tmp_path / "data"
        lock = sqlite_file.lock_data_dir(data)

        def make() -> Any:  # each worker has its own copy of the inherited lock's fd
            made.append(Store(data / "trading.sqlite3", lock_fd=os.dup(lock)))
            return made[-1]

    yield make
    for store in made:
        await store.close()


@pytest.fixture
async def pg_stores(postgres_url: str) -> AsyncIterator[Factory]:
    made: list[PgStore] = []

    def make() -> PgStore:
        made.append(PgStore(postgres_url, keepalive_s=2))
        return made[-1]

    yield make
    for store in made:
        await store.close()


async def test_open_creates_the_schema_and_the_demo_account(stores: Factory) -> None:
    snap = await stores().open(INITIAL)
    (book,) = snap.books
    assert book.info.id == DEFAULT_ACCOUNT
    assert book.info.seq == 1
    assert book.account.initial_balance == INITIAL
    assert book.account.realized == 0
    assert (book.orders, book.positions, book.fills, book.leverage) == ([], [], [], {})
    assert snap.keys == []
    assert snap.commit_seq == 0
    assert book.version == 0


async def test_a_commit_reads_back_exactly(stores: Factory) -> None:
    store = stores()
    snap = await store.open(INITIAL)
    book = engine(book_of(snap))
    _, msft = book.place(market("MSFT", Side.BUY, 3), NOW)  # MSFT opens first
    seq = await store.commit([(DEFAULT_ACCOUNT, msft, book, 0)])
    _, aapl = book.place(market("AAPL", Side.BUY, 2), NOW)
    working, placed = book.place(limit("AAPL", Side.BUY, 1, "200.5"), NOW)
    placed.keys.append(KeyRecord(DEFAULT_ACCOUNT, "k-1", "f" * 64, working.id, 1_000))
    lev = book.set_leverage("AAPL", Decimal(3), NOW)
    for more in (placed, lev):
        aapl.merge(more)
    seq = await store.commit([(DEFAULT_ACCOUNT, aapl, book, seq)], evaluated=123)
    canceled = book.cancel(working.id, NOW + 1)
    seq2 = await store.commit([(DEFAULT_ACCOUNT, canceled, book, seq)])
    assert seq2 > seq > snap.commit_seq

    back = await store.load()
    got = book_of(back)
    assert [rows.order_row(o) for o in got.orders] == [
        rows.order_row(o) for o in book.orders.values()
    ]
    assert got.positions == list(book.positions.values())
    assert [p.symbol for p in got.positions] == ["MSFT", "AAPL"]
    assert got.fills == book.fills
    assert got.leverage == {"AAPL": Decimal(3)}
    assert got.account == book.account
    assert got.version == seq2
    assert back.commit_seq == seq2
    assert back.keys == [KeyRecord(DEFAULT_ACCOUNT, "k-1", "f" * 64, working.id, 1_000)]
    assert await store.evaluated() == 123
    ids, more = await store.history_page(DEFAULT_ACCOUNT, HistoryQuery(limit=2))
    assert ids == [working.id, "ORDER-2"]
    assert more is not None
    ids, last = await store.history_page(DEFAULT_ACCOUNT, HistoryQuery(limit=2, before=more))
    assert ids == ["ORDER-1"]
    assert last is None


async def test_a_stale_version_raises_and_changes_nothing(stores: Factory) -> None:
    store = stores()
    await store.open(INITIAL)
    book = engine()
    _, first = book.place(market("AAPL", Side.BUY, 1), NOW)
    seq = await store.commit([(DEFAULT_ACCOUNT, first, book, 0)])
    _, second = book.place(market("AAPL", Side.BUY, 1), NOW)
    with pytest.raises(StaleAccount) as raised:
        await store.commit([(DEFAULT_ACCOUNT, second, book, 0)])  # read before `seq`
    assert raised.value.accounts == [DEFAULT_ACCOUNT]
    got = book_of(await store.load())
    assert [o.id for o in got.orders] == ["ORDER-1"]
    assert got.version == seq
    assert store.failure is None
    assert await store.probe() is None
    other = stores()
    await other.open(INITIAL)
    assert await other.changed_since(seq) == (seq, {})  # the commit number was not used


async def test_an_order_id_already_stored_fails_the_whole_transaction(stores: Factory) -> None:
    store = stores()
    snap = await store.open(INITIAL)
    book = engine(book_of(snap))
    _, placed = book.place(market("AAPL", Side.BUY, 1), NOW)
    seq = await store.commit([(DEFAULT_ACCOUNT, placed, book, 0)])
    again = engine(book_of(snap))  # a book that never saw ORDER-1 numbers it again
    _, dup = again.place(market("MSFT", Side.BUY, 1), NOW)
    with pytest.raises(StorageError) as raised:
        await store.commit([(DEFAULT_ACCOUNT, dup, again, seq)])
    assert not isinstance(raised.value, StaleAccount)
    got = book_of(await store.load())
    assert [p.symbol for p in got.positions] == ["AAPL"]
    assert got.version == seq
    assert store.failure is not None
    assert await store.probe() is None
    assert store.failure is None


async def test_changed_since_and_load_accounts(stores: Factory) -> None:
    store, other = stores(), stores()  # what a process learns of another's commits
    snap = await store.open(INITIAL)
    await other.open(INITIAL)
    info, version = await store.create_account(AccountInfo("ACC-1", 0, "Second", owner="u1"),
                                               INITIAL)  # fmt: skip
    assert info.seq == 2
    latest, changed = await other.changed_since(snap.commit_seq)
    assert changed == {"ACC-1": version}
    assert latest == version
    assert latest > snap.commit_seq
    book = engine()
    _, placed = book.place(market("AAPL", Side.SELL, 4), NOW)
    seq = await store.commit([("ACC-1", placed, book, latest)])
    assert await other.changed_since(latest) == (seq, {"ACC-1": seq})
    assert await other.changed_since(seq) == (seq, {})
    part = await other.load_accounts(["ACC-1"])
    assert [b.info for b in part.books] == [info]
    assert part.commit_seq == seq
    assert part.books[0].version == seq
    assert part.books[0].positions[0].q == -4
    assert (await other.load_accounts([])).books == []
    assert [b.info.id for b in (await other.load()).books] == [DEFAULT_ACCOUNT, "ACC-1"]


async def test_two_processes_see_each_others_commits(stores: Factory) -> None:
    a, b = stores(), stores()
    snap_a, snap_b = await a.open(INITIAL), await b.open(INITIAL)
    assert len(snap_a.books) == len(snap_b.books) == 1  # the second open created nothing
    book_a = engine(book_of(snap_a))
    _, placed = book_a.place(market("AAPL", Side.BUY, 5), NOW)
    seq = await a.commit([(DEFAULT_ACCOUNT, placed, book_a, 0)])
    assert await b.changed_since(0) == (seq, {DEFAULT_ACCOUNT: seq})
    seen = book_of(await b.load_accounts([DEFAULT_ACCOUNT]))
    book_b = engine(seen)
    _, closing = book_b.place(market("AAPL", Side.SELL, 5), NOW)
    seq_b = await b.commit([(DEFAULT_ACCOUNT, closing, book_b, seen.version)])
    _, late = book_a.place(market("MSFT", Side.BUY, 1), NOW)
    with pytest.raises(StaleAccount):  # a's view is older than b's commit
        await a.commit([(DEFAULT_ACCOUNT, late, book_a, seq)])
    final = book_of(await a.load())
    assert final.positions == []
    assert [o.id for o in final.orders] == ["ORDER-1", "ORDER-2"]
    assert final.version == seq_b


async def test_only_one_of_two_processes_leads(stores: Factory) -> None:
    a, b = stores(), stores()
    await a.open(INITIAL)
    await b.open(INITIAL)
    await asyncio.wait_for(a.acquire_leadership(), 5)
    assert a.leader_lost() is None
    assert b.leader_lost() is not None
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(b.acquire_leadership(), 0.5)
    assert b.leader_lost() is not None
    seq = await a.commit([], evaluated=7, leader=True)
    assert await b.evaluated() == 7
    assert seq > 0


async def test_a_command_transaction_keeps_other_writers_out(stores: Factory) -> None:
    a, b = stores(), stores()
    snap = await a.open(INITIAL)
    await b.open(INITIAL)
    book_a, book_b = engine(book_of(snap)), engine(book_of(snap))
    await a.begin()  # a command: its reads and its commit, alone
    assert await a.changed_since(0) == (0, {})
    _, other = book_b.place(market("MSFT", Side.BUY, 1), NOW)
    waiting = asyncio.ensure_future(b.commit([(DEFAULT_ACCOUNT, other, book_b, 0)]))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # held until a's transaction ends
    _, placed = book_a.place(market("AAPL", Side.BUY, 1), NOW)
    seq = await a.commit([(DEFAULT_ACCOUNT, placed, book_a, 0)])
    await a.end()  # after a commit: nothing left to close
    with pytest.raises(StaleAccount):  # b decided on what a's commit changed
        await asyncio.wait_for(waiting, 5)
    assert book_of(await b.load()).version == seq
    await a.begin()
    await a.end()  # a refused command: rolled back, the lock given back
    fresh = engine(book_of(await b.load()))
    _, last = fresh.place(market("MSFT", Side.BUY, 1), NOW)
    seq2 = await asyncio.wait_for(b.commit([(DEFAULT_ACCOUNT, last, fresh, seq)]), 5)
    assert seq2 > seq


# -- PostgreSQL only: the session advisory lock, fencing, migrations, errors ------------------


async def test_failover_within_a_second_and_the_old_leader_is_fenced(
    pg_stores: Factory, postgres_url: str
) -> None:
    a, b = pg_stores(), pg_stores()
    await a.open(INITIAL)
    await b.open(INITIAL)
    await a.acquire_leadership()
    waiting = asyncio.ensure_future(b.acquire_leadership())
    await asyncio.sleep(0.3)
    assert not waiting.done()
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # the leader's host dies
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND granted AND objsubid = 2"
        ).fetchall()
    assert killed == [(True,)]
    started = time.monotonic()
    await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 1.0
    assert b.leader_lost() is None
    with pytest.raises(StorageError):
        await a.commit([], evaluated=1, leader=True)
    assert a.leader_lost() is not None
    await b.commit([], evaluated=2, leader=True)
    assert await a.evaluated() == 2  # a's ordinary session still serves


async def test_a_commit_as_leader_without_the_lock_fails(pg_stores: Factory) -> None:
    store = pg_stores()
    await store.open(INITIAL)
    with pytest.raises(StorageError, match="not the fill evaluator"):
        await store.commit([], evaluated=1, leader=True)
    assert await store.evaluated() is None


async def test_hosts_opening_together_migrate_once(pg_stores: Factory) -> None:
    snaps = await asyncio.gather(*(pg_stores().open(INITIAL) for _ in range(4)))
    assert all([b.info.id for b in s.books] == [DEFAULT_ACCOUNT] for s in snaps)
    first = pg_stores()
    snap = await first.open(INITIAL)
    book = engine(book_of(snap))
    _, placed = book.place(market("AAPL", Side.BUY, 1), NOW)
    seq = await first.commit([(DEFAULT_ACCOUNT, placed, book, 0)])
    again = await pg_stores().open(Decimal(5))  # a later host: nothing re-created
    assert book_of(again).version == seq
    assert len(book_of(again).orders) == 1
    assert book_of(again).account.initial_balance == INITIAL


async def test_errors_name_the_database_never_the_password(pg_stores: Factory) -> None:
    store = PgStore("postgresql://trader:s3cret@127.0.0.1:1/broker", keepalive_s=1)
    assert store.where == "postgresql://127.0.0.1:1/broker"
    with pytest.raises(sqlite_file.StartupError) as raised:
        await store.open(INITIAL)
    assert "postgresql://127.0.0.1:1/broker" in raised.value.detail
    assert "s3cret" not in raised.value.detail
    assert "s3cret" not in (await store.probe() or "")
    assert store.leader_lost() is not None
    await store.close()


async def test_a_lost_session_fails_one_call_and_the_next_reconnects(
    pg_stores: Factory, postgres_url: str
) -> None:
    store = pg_stores()
    await store.open(INITIAL)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'trading-broker' AND datname = current_database()"
        )
    with pytest.raises(StorageError):
        await store.load()
    assert [b.info.id for b in (await store.load()).books] == [DEFAULT_ACCOUNT]


async def test_a_reset_deletes_the_accounts_rows(stores: Factory) -> None:
    store = stores()
    snap = await store.open(INITIAL)
    book = engine(book_of(snap))
    _, placed = book.place(market("AAPL", Side.BUY, 1), NOW)
    seq = await store.commit([(DEFAULT_ACCOUNT, placed, book, 0)])
    reset = book.reset(NOW + 1)
    await store.commit([(DEFAULT_ACCOUNT, reset, book, seq)])
    got = book_of(await store.load())
    assert (got.orders, got.positions, got.fills) == ([], [], [])
    assert got.account == dataclasses.replace(book.account)
    assert await store.history_page(DEFAULT_ACCOUNT, HistoryQuery()) == ([], None)


def test_sessions_set_keepalives_on_both_ends(postgres_url: str) -> None:
    """A vanished host's session (and the evaluator lock) must end within seconds, not the
    OS default of two hours: the server side of each broker session says so too."""
    with pg_conn.connect(postgres_url, 3) as conn:
        shown = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("tcp_keepalives_idle", "tcp_keepalives_interval",
                         "tcp_keepalives_count", "tcp_user_timeout",
                         "idle_in_transaction_session_timeout")
        }  # fmt: skip
        params = conn.info.get_parameters()
    assert shown == {"tcp_keepalives_idle": "3", "tcp_keepalives_interval": "3",
                     "tcp_keepalives_count": "3", "tcp_user_timeout": "3000",
                     "idle_in_transaction_session_timeout": "3s"}  # fmt: skip
    assert params["keepalives"] == "1"
    assert params["tcp_user_timeout"] == "3000"


async def test_a_cancelled_candidate_keeps_no_lock(pg_stores: Factory) -> None:
    a, b, c = pg_stores(), pg_stores(), pg_stores()
    for store in (a, b, c):
        await store.open(INITIAL)
    await a.acquire_leadership()
    trying = asyncio.ensure_future(b.acquire_leadership())
    await asyncio.sleep(0.25)
    trying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trying
    await a.close()  # the leader stops: the lock is free for a candidate still trying
    await asyncio.wait_for(c.acquire_leadership(), 1.0)
    assert b.leader_lost() is not None
    assert c.leader_lost() is None


async def test_the_evaluators_transaction_runs_on_its_lock_session(pg_stores: Factory) -> None:
    """The evaluator takes the commit lock, reads what others committed, commits its fills
    as leader, all in one transaction: on the advisory lock's session, or it would wait for
    itself. A command of the leader process runs there too."""
    store, other = pg_stores(), pg_stores()
    snap = await store.open(INITIAL)
    await other.open(INITIAL)
    await store.acquire_leadership()
    book = engine(book_of(snap))
    await store.begin()
    assert await store.changed_since(0) == (0, {})
    assert (await store.load_accounts([DEFAULT_ACCOUNT])).commit_seq == 0
    _, placed = book.place(market("AAPL", Side.BUY, 1), NOW)
    seq = await asyncio.wait_for(
        store.commit([(DEFAULT_ACCOUNT, placed, book, 0)], evaluated=9, leader=True), 5
    )
    await store.end()
    await store.begin()  # a command of the leader process
    _, more = book.place(market("AAPL", Side.BUY, 1), NOW)
    seq2 = await asyncio.wait_for(store.commit([(DEFAULT_ACCOUNT, more, book, seq)]), 5)
    await store.end()
    assert await other.changed_since(0) == (seq2, {DEFAULT_ACCOUNT: seq2})
    assert await other.evaluated() == 9


async def test_a_leader_commit_checks_the_lock_in_its_transaction(pg_stores: Factory) -> None:
    """Belt and braces of the fencing: a session that is alive but no longer holds the lock
    (released by hand) commits nothing as the evaluator."""
    store = pg_stores()
    await store.open(INITIAL)
    await store.acquire_leadership()
    await store._leader.run(lambda db: db.execute("SELECT pg_advisory_unlock_all()"))
    with pytest.raises(StorageError, match="lost the evaluator lock"):
        await store.commit([], evaluated=3, leader=True)
    assert await store.evaluated() is None


async def test_a_command_does_not_fail_for_a_lost_evaluator_session(
    pg_stores: Factory, postgres_url: str
) -> None:
    store = pg_stores()
    snap = await store.open(INITIAL)
    await store.acquire_leadership()
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND granted AND objsubid = 2"
        )
    assert store.leader_lost() is None  # not noticed yet: nothing ran on it since
    book = engine(book_of(snap))
    await store.begin()  # a command: falls back to the store's own session
    _, placed = book.place(market("AAPL", Side.BUY, 1), NOW)
    seq = await store.commit([(DEFAULT_ACCOUNT, placed, book, 0)])
    await store.end()
    assert store.leader_lost() is not None
    assert book_of(await store.load()).version == seq
    await store.begin()  # the evaluator, not knowing yet: fenced
    with pytest.raises(StorageError):
        await store.commit([], evaluated=4, leader=True)
    await store.end()
    assert await store.evaluated() is None


def test_sqlite_only_statements_are_translated_or_refused() -> None:
    """The shared row code's three SQLite-dialect writes have PostgreSQL forms; a new one
    without a form fails loudly instead of reaching the server untranslated."""
    for sqlite_sql in POSTGRES_FORMS:
        translated = postgres_sql(sqlite_sql)
        assert "ON CONFLICT" in translated
        assert "?" not in translated
    assert postgres_sql("SELECT '100%' WHERE a = ?") == "SELECT '100%%' WHERE a = %s"
    with pytest.raises(UntranslatedStatement):
        postgres_sql("INSERT OR REPLACE INTO accounts VALUES (?)")


async def test_replay_sessions_are_shared_limited_and_versioned(stores: Factory) -> None:
    """docs/replay.md §3: a session one process stores, another reads; a change made on a
    version another process has changed since is refused; the per-account limit counts in
    the same transaction; another account's session is not found."""
    first, second = stores(), stores()
    await first.open(INITIAL)
    await second.open(INITIAL)
    clock = ReplayClock(speed=60, state=ReplayState.RUNNING, anchor_wall=2_000, anchor_replay=1_000)
    session = ReplaySession("RPL-1", DEFAULT_ACCOUNT, ("AAPL", "MSFT"), 2_000, clock)
    await first.transact(lambda db: replay_rows.insert(db, session, 2))
    got = await second.transact(lambda db: replay_rows.get(db, DEFAULT_ACCOUNT, "RPL-1"))
    assert got == session
    assert await second.transact(lambda db: replay_rows.get(db, "ACC-OTHER", "RPL-1")) is None
    paused = dataclasses.replace(session, clock=clock.pause(3_000))
    assert await second.transact(lambda db: replay_rows.update(db, paused)) is True
    assert await first.transact(lambda db: replay_rows.update(db, session)) is False  # stale
    stored = await first.transact(lambda db: replay_rows.get(db, DEFAULT_ACCOUNT, "RPL-1"))
    assert stored == dataclasses.replace(paused, version=1)
    other = dataclasses.replace(session, id="RPL-2")
    await first.transact(lambda db: replay_rows.insert(db, other, 2))
    with pytest.raises(ReplayLimitReached):
        await second.transact(
            lambda db: replay_rows.insert(db, dataclasses.replace(session, id="RPL-3"), 2)
        )
    listed = await second.transact(lambda db: replay_rows.of_account(db, DEFAULT_ACCOUNT))
    assert [s.id for s in listed] == ["RPL-1", "RPL-2"]
    assert await first.transact(lambda db: replay_rows.delete(db, DEFAULT_ACCOUNT, "RPL-1"))
    assert not await second.transact(lambda db: replay_rows.delete(db, DEFAULT_ACCOUNT, "RPL-1"))
