"""The broker as a service: many accounts, serialized mutations, commit-then-publish, the
fill loop.

Every account has its own book (an :class:`~trading.broker.engine.Engine`); every call names
the account it reads or changes, and an account that does not exist is refused like any other
unknown id (:class:`~trading.broker.errors.UnknownAccount`). Every call takes one lock, so
requests see a consistent state. A mutation runs in the engine (synchronously, under the
lock), is committed, and only then is it answered and are its events handed to the listeners
with their account (broker.md §10, §12, §20).

One process (the default): commits are grouped (:mod:`trading.broker.grouping`): the lock
covers the engine only, and one transaction stores every command that ran while the previous
one was written. Memory may then be ahead of the store, so every read and snapshot first waits,
under the lock, until nothing is in flight (:meth:`BrokerService._committed`): a read is
answered from committed state, never from one that could still roll back. Waiting costs a
read at most the commit in flight; serving reads from a second, committed copy of every book
would cost every command a copy. Several processes on one store (``shared``): a command keeps
the store's write lock from its read to its commit (broker.md §21), so it commits alone, as
before grouping.

The lock and the engine stay inside: readers get copies of committed state, and a streaming
client that needs "the state now, then every change" asks for exactly that with
:meth:`BrokerService.subscribe_with_snapshot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from trading.broker import desk, replay_rows
from trading.broker.accounts import (
    ACCOUNT_NAME_MAX,
    DEFAULT_ACCOUNT,
    AccountInfo,
    is_session_book,
    new_account_id,
)
from trading.broker.books import Books
from trading.broker.changes import Changes
from trading.broker.engine import Engine
from trading.broker.enums import Side
from trading.broker.errors import (
    AccountLimit,
    BrokerError,
    StaleAccount,
    StorageError,
    UnknownAccount,
)
from trading.broker.events import BrokerEvent
from trading.broker.grouping import Group, GroupCommitter
from trading.broker.history import HistoryPage, HistoryQuery, encode_cursor
from trading.broker.idempotency import KeyRegistry, Placement
from trading.broker.instrument import Instrument, instrument
from trading.broker.margin import Margin
from trading.broker.marks import Marks, margin_at
from trading.broker.matching import PriceFeed
from trading.broker.preview import Preview, order_preview
from trading.broker.report import BookRecord
from trading.broker.requests import BracketRequest, OrderRequest
from trading.broker.snapshot import CommittedState
from trading.broker.state import Equity, Fill, Order, Position
from trading.broker.storage import BrokerStore
from trading.broker.store import DB_FILE as DB_FILE  # re-exported: the tests name it here
from trading.broker.store import Store
from trading.broker.timelines import Timelines
from trading.clock import Clock
from trading.market.replay import ReplaySession
from trading.market.source import MarketSource, RangedTouch
from trading.market.symbols import SymbolCatalog

log = logging.getLogger(__name__)

T = TypeVar("T")
Listener = Callable[[str, BrokerEvent], None]
"""Called with each event this process produced and its account, in order, without awaiting."""
BatchListener = Callable[[str, list[BrokerEvent], int | None], None]
"""Called with the events of one commit of an account and the account's version after it
(what other processes need: docs/deployment.md), or with ``None`` for price marks, which
every process computes itself from the deterministic market."""
Mutation = Callable[[Engine, float], tuple[T, Changes]]

STALE_RETRIES = 5
"""How often a command is run again on freshly reloaded accounts when another process changed
them between the read and the commit (each retry is one more transaction, milliseconds)."""
FIRST_ACCOUNT_NAME = "Paper account"


class BrokerService:
    def __init__(
        self,
        market: MarketSource,
        clock: Clock,
        data_dir: Path,
        *,
        initial_balance: Decimal,
        commission_rate: Decimal,
        default_leverage: Decimal,
        tick_interval_s: float,
        equity_interval_s: float,
        idempotency_ttl_s: float = 86_400.0,
        shared: bool = False,
        store: BrokerStore | None = None,
        fill_loop: bool = True,
    ) -> None:
        self._market = market
        self._commission_rate = commission_rate
        self._default_leverage = default_leverage
        self.clock = clock
        self.store: BrokerStore = store or Store(data_dir / DB_FILE)
        self.shared = shared
        """Other processes write the store too (broker.md §21): every read and command first
        reloads the accounts they changed, every commit checks it overwrites nothing of
        theirs, and only the elected process runs the fill loop."""
        self.leader = not shared
        """Whether this process runs the fill loop (always, when it is the only one)."""
        self._leading: asyncio.Task[None] | None = None
        ranged = market.touch_range if isinstance(market, RangedTouch) else None
        self._timelines = Timelines(PriceFeed(market.catalog, market.touch, ranged),
                                    catch_up_new=not fill_loop)  # fmt: skip
        self._keys = KeyRegistry(round(idempotency_ttl_s * 1000))
        self._held = Books(self._new_engine, self._keys, self._timelines)
        self._initial_balance = initial_balance
        self._lock = asyncio.Lock()
        self._committer = GroupCommitter(self._write_group, self._group_published,
                                         self._group_failed)  # fmt: skip
        self._tick = tick_interval_s
        self._listeners: list[Listener] = []
        self._batch_listeners: list[BatchListener] = []
        self.commit_observers: list[Callable[[float], None]] = []
        """Called with the seconds each commit took (metrics observe here, from outside)."""
        self._task: asyncio.Task[None] | None = None
        self._equity_interval = equity_interval_s
        self._marks: dict[str, Marks] = {}
        self.followed: Callable[[], Iterable[str]] = lambda: self._held.engines.keys()
        """The accounts whose equity, P&L and margin someone follows between commits (the
        streaming layer says which; by default all): price moves are marked only for them."""
        self._stale: str | None = None
        """Set when a failed commit could not be undone by a reload: memory may then hold an
        uncommitted change, so nothing is read or written until a reload succeeds."""
        self.last_evaluation = time.monotonic()
        """When the fill loop last finished an evaluation (readiness)."""
        self.fill_loop = fill_loop
        """Whether working orders are evaluated every tick; off (``TRADING_CLOCK=manual``),
        only when :meth:`evaluate` is called, so a scenario decides when fills happen and an
        evaluation it asks for is the one that fills (docs/scenarios.md §4)."""

    @property
    def catalog(self) -> SymbolCatalog:
        return self._market.catalog

    @property
    def initial_balance(self) -> Decimal:
        """The balance a new account opens with (``TRADING_INITIAL_BALANCE``)."""
        return self._initial_balance

    def listen(self, listener: Listener) -> None:
        """Receive every event from now on, one by one (the hub's publisher registers here)."""
        self._listeners.append(listener)

    def listen_batches(self, listener: BatchListener) -> None:
        """Receive every event from now on, a commit's at once with the account's version
        (the backplane's publisher registers here)."""
        self._batch_listeners.append(listener)

    def _new_engine(self, initial_balance: Decimal) -> Engine:
        return Engine(
            self._market.catalog,
            self._market.touch,
            initial_balance=initial_balance,
            commission_rate=self._commission_rate,
            default_leverage=self._default_leverage,
        )

    def _book(self, account: str) -> Engine:
        return self._held.book(account)

    def _now(self, account: str) -> float:
        """``account``'s now: a replay session's book lives at its session's replay-now."""
        return self._timelines.now(account, self.clock.now())

    async def subscribe_with_snapshot(
        self, account: str, start: Callable[[CommittedState], None], *, owner: str | None = None
    ) -> None:
        """Call ``start`` once, synchronously, at an instant when nothing is half-committed.

        ``start`` reads the state it needs and begins listening before it returns. Events
        are handed to listeners under the same lock, after their commit, so everything before
        that instant is in what ``start`` read and everything after reaches the listeners:
        nothing is missed, nothing seen twice (what Home Assistant's websocket_api gets by
        never awaiting between reading a state and subscribing to its changes). Raises
        :class:`StorageError` when the committed state cannot be read now, and
        :class:`UnknownAccount` for an account that does not exist (or, given ``owner``, is
        not that user's: checked on the stored state, so an account another worker opened a
        moment ago is found)."""
        async with self._lock:
            await self._committed()
            if owner is not None and not self._held.usable_by(account, self._held.owned_ids(owner)):
                raise UnknownAccount(f"Account {account} not found")
            book = self._book(account)
            start(CommittedState(book, self._now(account), self._held.version(account)))

    async def _sync(self) -> None:
        """Reload what other processes committed since this one last looked (shared mode)."""
        latest, changed = await self.store.changed_since(self._held.seen)
        stale = self._held.stale(changed)
        if stale:
            self._held.restore_some(await self.store.load_accounts(stale))
        self._held.seen = max(self._held.seen, latest)

    async def load(self) -> None:
        """Open the database and restore every account from it (no fill loop), and the
        clocks of the replay sessions whose books it holds."""
        self._held.restore(await self.store.open(self._initial_balance))
        self._timelines.hold_sessions(await self.store.transact(replay_rows.every))

    async def start(self) -> None:
        await self.load()
        self.last_evaluation = time.monotonic()
        loop = asyncio.get_running_loop()
        if self.fill_loop:
            self._task = loop.create_task(self._run(), name="broker-fills")
        if self.shared:
            self._leading = loop.create_task(self._lead(), name="broker-election")
        log.info(
            "broker state loaded from %s: %d accounts, %d working orders",
            self.store.where, len(self._held), self._timelines.working_count(),
        )  # fmt: skip

    async def storage_problem(self) -> str | None:
        """Readiness: None when the database is open, the same file, and takes writes."""
        if self._stale is not None:
            return self._stale
        return await self.store.probe()

    def fill_loop_problem(self, limit_s: float) -> str | None:
        """Readiness: why the fill loop is not evaluating working orders, or None (always,
        without a fill loop: evaluations are then asked for)."""
        if not self.fill_loop:
            return None
        if self._task is None or self._task.done():
            return "the broker's fill loop is not running"
        age = time.monotonic() - self.last_evaluation
        if age > limit_s:
            return f"the broker's fill loop has not completed an evaluation for {age:.1f} s"
        return None

    async def stop(self) -> None:
        for task in (self._task, self._leading):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._leading = None
        async with self._lock:
            await self._committer.settled()  # every submitted command answered first
            await self.store.close()

    async def transact(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """``body`` in one transaction of the store, under the lock: never inside a command's
        transaction (replay sessions, docs/replay.md §3)."""
        async with self._lock:
            return await self.store.transact(body)

    # -- accounts (broker.md §20) ---------------------------------------------------------------

    async def accounts_of(self, owner: str) -> list[AccountInfo]:
        """The accounts of ``owner`` in opening order; a user's first account is opened on
        first use (users are made where the broker is not: the CLI, the admin API).

        Every keys-mode request asks this, so a known owner is answered without the lock:
        accounts are only ever added, and each addition is complete before it is listed."""
        if self._held.owned_ids(owner) and not self.shared:
            return self._held.owned_infos(owner)
        async with self._lock:
            await self._ensure_committed_state()
            if not self._held.owned_ids(owner):
                async with self._exclusive():  # another worker may be opening it right now
                    if not self._held.owned_ids(owner):
                        await self._open(owner, FIRST_ACCOUNT_NAME, self._initial_balance)
            return self._held.owned_infos(owner)

    def owned_ids(self, owner: str) -> list[str]:
        """The ids of ``owner``'s accounts now (no waiting: what a subscribe checks)."""
        return self._held.owned_ids(owner)

    def default_account(self) -> AccountInfo:
        return self._held.info(DEFAULT_ACCOUNT)

    async def open_account(
        self,
        owner: str,
        name: str | None = None,
        initial_balance: Decimal | None = None,
        *,
        limit: int | None = None,
    ) -> AccountInfo:
        """A new paper account of ``owner`` with ``initial_balance`` (the server's default
        when None), stored before it is answered; :class:`AccountLimit` when the owner holds
        ``limit`` accounts already."""
        if name is not None and not 1 <= len(name.strip()) <= ACCOUNT_NAME_MAX:
            raise BrokerError(f"An account name has 1 to {ACCOUNT_NAME_MAX} characters")
        async with self._lock, self._exclusive():
            count = len(self._held.owned_ids(owner))
            if limit is not None and count >= limit:
                raise AccountLimit(
                    f"Account limit reached: a user may hold {limit} accounts "
                    "(TRADING_MAX_ACCOUNTS_PER_USER)"
                )
            return await self._open(
                owner,
                name.strip() if name else f"{FIRST_ACCOUNT_NAME} {count + 1}",
                self._initial_balance if initial_balance is None else initial_balance,
            )

    async def _open(
        self, owner: str, name: str, initial_balance: Decimal, account: str | None = None
    ) -> AccountInfo:
        """Store a new account (``account``: of this id, a replay session's book)."""
        while account is None or self._held.holds(account):  # 48 random bits: never twice
            account = new_account_id()
        info = AccountInfo(account, self._held.last_seq + 1, name, owner=owner,
                           created=int(self.clock.now() * 1000))  # fmt: skip
        info, version = await self.store.create_account(info, initial_balance)  # numbered there
        self._held.add(info, initial_balance)
        self._held.stamp([info.id], version)
        return info

    def may_use(self, account: str, owned: Collection[str]) -> bool:
        """Whether someone whose accounts are ``owned`` may use ``account``: one of them, or
        the book of a replay session of one of them (no waiting: what a subscribe checks)."""
        return self._held.usable_by(account, owned)

    # -- replay sessions' books (broker/timelines.py, docs/replay.md §5) ---------------------

    def follow_session(self, session: ReplaySession) -> None:
        """``session``'s clock as just stored or read: its book lives at that time."""
        self._timelines.follow_session(session)

    async def open_session_book(self, session: ReplaySession) -> AccountInfo:
        """The book of ``session``: an account whose id is the session's and whose owner is
        the session's account, opened empty at the initial balance unless it exists (so a
        crash between storing the session and opening its book is mended on first use)."""
        self.follow_session(session)
        if not self.shared and self._held.holds(session.id):
            return self._held.info(session.id)
        async with self._lock:
            await self._ensure_committed_state()
            if not self._held.holds(session.id):
                async with self._exclusive():  # another worker may be opening it right now
                    if not self._held.holds(session.id):
                        await self._open(session.account, f"Replay {session.id}",
                                         self._initial_balance, session.id)  # fmt: skip
            return self._held.info(session.id)

    async def end_session_book(self, session_id: str) -> None:
        """The session ended: its book is reset (orders canceled, positions and executions
        dropped; accounts are never deleted) and no longer evaluated."""
        if is_session_book(session_id):
            with contextlib.suppress(UnknownAccount):  # never opened (a crash in between)
                await self.reset(session_id)
        self._timelines.forget_session(session_id)

    # -- reads (under the lock: never an uncommitted state) --------------------------------

    async def _committed(self, *, sync: bool = True) -> None:
        """Under the lock: wait until every command already run is committed (or failed and
        reloaded), so memory holds exactly the committed state; then as
        :meth:`_ensure_committed_state`. No command can run meanwhile (the lock), so the
        wait ends with the group in flight and the one behind it."""
        await self._committer.settled()
        await self._ensure_committed_state(sync=sync)

    async def _read(self, account: str, fn: Callable[[Engine], T]) -> T:
        async with self._lock:
            await self._committed()
            return fn(self._book(account))

    async def orders(self, account: str) -> list[Order]:
        return await self._read(account, lambda e: list(e.orders.values()))

    async def positions(self, account: str) -> list[Position]:
        return await self._read(account, lambda e: list(e.positions.values()))

    async def executions(self, account: str, symbol: str) -> list[Fill]:
        return await self._read(account, lambda e: e.fills_of(symbol))

    async def equity(self, account: str) -> Equity:
        return await self._read(account, lambda e: e.equity(self._now(account)))

    async def book_record(self, account: str) -> BookRecord:
        """What ``account``'s report is made of (trading/broker/report.py): its initial balance,
        every fill in fill order, and the prices its book marks itself with. Raises
        :class:`UnknownAccount` for an account that does not exist."""
        return await self._read(
            account, lambda e: BookRecord(e.account.initial_balance, list(e.fills), e.market.at)
        )

    async def session_record(self, session_id: str) -> BookRecord:
        """:meth:`book_record` of a replay session's book; before anything was traded in the
        session it has no book yet: nothing filled, at the balance its book would open with."""
        try:
            return await self.book_record(session_id)
        except UnknownAccount:
            return BookRecord(
                self._initial_balance, [], PriceFeed(self._market.catalog, self._market.touch).at
            )

    async def leverage_of(self, account: str, symbol: str) -> Decimal:
        return await self._read(account, lambda e: e.leverage_of(symbol))

    async def orders_history(self, account: str, query: HistoryQuery) -> HistoryPage:
        """One page of final orders, newest first (broker.md §16)."""
        async with self._lock:
            await self._committed()
            book = self._book(account)
            ids, last = await self.store.history_page(account, query)
            orders = [book.orders[i] for i in ids if i in book.orders]
            return HistoryPage(orders, None if last is None else encode_cursor(last))

    async def margin(self, account: str, symbol: str | None) -> Margin:
        """Margin now; buying power at the leverage of ``symbol`` (a canonical name)."""
        return await self._read(account, lambda e: margin_at(e, self._now(account), symbol))

    async def instrument(self, account: str, symbol: str) -> Instrument | None:
        return await self._read(account, lambda e: instrument(e, symbol))

    async def preview(self, account: str, request: OrderRequest) -> Preview:
        """What placing ``request`` now would cost and whether it would be refused."""
        return await self._read(account, lambda e: order_preview(e, request, self._now(account)))

    # -- mutations ----------------------------------------------------------------------------

    async def _mutate(self, account: str, fn: Mutation[T], *, several: bool = False) -> T:
        """Run one command on ``account`` and commit its changes. ``several``: the command
        runs several engine commands (broker/desk.py); it checks everything first, but should
        a later one still refuse, memory holds the earlier ones, so the committed state is
        reloaded (after waiting for the commands in flight: a reload must not drop them).

        One process: the command runs under the lock and joins the pending group; it is
        answered after the commit of that group (:mod:`trading.broker.grouping`), outside
        the lock, so the next commands run while it is written."""
        if self.shared:
            return await self._mutate_alone(account, fn, several=several)
        async with self._lock:
            if several:
                await self._committed(sync=False)
            else:
                await self._ensure_committed_state(sync=False)
            book, now, result, changes = await self._apply(account, fn, several)
            moved = Marks.moved(book, changes.events, bool(changes.leverage), now)
            done = self._committer.submit([(account, changes, moved)])
        try:
            await done
        except Exception:
            await self._recover()
            raise
        return result

    async def _mutate_alone(self, account: str, fn: Mutation[T], *, several: bool) -> T:
        """:meth:`_mutate` with other processes on the store: from its read to its commit
        the command holds the lock and the store's write lock (:meth:`_exclusive`), and is
        committed alone; a :class:`StaleAccount` runs it again on what is stored now."""
        async with self._lock, self._exclusive():
            for attempt in range(1, STALE_RETRIES + 1):
                _, now, result, changes = await self._apply(account, fn, several)
                try:
                    await self._commit([(account, changes)], now)
                except StaleAccount:
                    if attempt == STALE_RETRIES:
                        raise
                    continue  # reloaded by _commit: run the command on what is stored now
                return result
        raise AssertionError("unreachable")

    async def _apply(
        self, account: str, fn: Mutation[T], several: bool
    ) -> tuple[Engine, float, T, Changes]:
        """Under the lock: run ``fn`` on ``account``'s book at the clock's now. Should a
        command of ``several`` refuse after the first ran, memory holds the earlier ones:
        the account's committed state is reloaded before the refusal is raised."""
        book = self._book(account)
        now = self._now(account)
        try:
            result, changes = fn(book, now)
        except Exception:
            if several:
                await self._reload_accounts([account])
            raise
        return book, now, result, changes

    # -- group commit (one process: broker/grouping.py) -----------------------------------------

    async def _write_group(self, group: Group) -> None:
        """Store ``group`` in one transaction and stamp its accounts. Runs up to the store's
        first await in the step that cut the group: the rows are read from the books as they
        are after exactly the group's commands."""
        batch = [(a, c, self._book(a), self._held.version(a)) for a, c in group.changes.items()
                 if c]  # fmt: skip
        if not batch:  # e.g. an idempotent replay: answered after what is ahead of it
            return
        started = time.perf_counter()
        seq = await self.store.commit(batch)
        for observe in self.commit_observers:
            observe(time.perf_counter() - started)
        self._held.stamp([account for account, *_ in batch], seq)
        for account, changes in group.changes.items():
            self._timelines.follow(account, changes)

    def _group_published(self, group: Group) -> None:
        """A group's events, command by command, as one batch per account (one version)."""
        events_of: dict[str, list[BrokerEvent]] = {}
        for command in group.commands:
            events = self._marks_of(command.account).after_commit(command.events, command.moved)
            events_of.setdefault(command.account, []).extend(events)
        for account, events in events_of.items():
            self._publish(account, events, self._held.version(account))

    def _group_failed(self, exc: BaseException) -> None:
        """A group's commit failed (its commands and those behind it get ``exc``): memory
        holds uncommitted changes until :meth:`_recover` (or the next call) reloads."""
        if isinstance(exc, StorageError):
            log.error("broker commit failed, nothing stored: %s", exc.detail)
        else:
            log.error("broker commit failed; reloading the last committed state", exc_info=exc)
        self._stale = exc.detail if isinstance(exc, StorageError) else repr(exc)

    async def _recover(self) -> None:
        """After a failed group commit, before its error is answered: reload the committed
        state (unless a command or read did already), as a failed commit always did."""
        async with self._lock:
            await self._recover_locked()

    async def _recover_locked(self) -> None:
        if self._stale is None:
            return
        try:
            await self._reload()
        except Exception:
            log.exception("reloading the committed broker state failed")
            return  # still stale: the next call retries, readiness reports it
        self._stale = None

    async def _commit_grouped(self, batch: list[tuple[str, Changes]], now: float) -> None:
        """The fill loop's changes through the group committer (under the lock: they commit
        alone, and when this returns memory equals the store again)."""
        items = [(account, changes, Marks.moved(self._book(account), changes.events,
                                                  bool(changes.leverage),
                                                  self._timelines.now(account, now)))
                 for account, changes in batch if changes]  # fmt: skip
        if not items:
            return
        try:
            await self._committer.submit(items)
        except Exception:
            await self._recover_locked()
            raise

    async def _reload(self) -> None:
        self._held.restore(await self.store.load())

    async def _reload_accounts(self, accounts: list[str]) -> None:
        """Only these accounts changed in memory without a commit: reload them alone."""
        if self.shared:
            self._held.restore_some(await self.store.load_accounts(accounts))
        else:
            await self._reload()

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """A command from its read to its commit, alone among the processes (shared mode):
        the store's write lock is taken first, then what others committed is read in, so the
        command decides on the stored state and its commit can overwrite nothing (no retry
        storm under contention). One process: the service's lock already is that."""
        await self._ensure_committed_state(sync=not self.shared)
        if not self.shared:
            yield
            return
        await self.store.begin()
        try:
            await self._sync()
            yield
        finally:
            await self.store.end()

    async def _ensure_committed_state(self, *, sync: bool = True) -> None:
        """After a failed commit whose reload failed too: reload now, or refuse (503). With
        other processes on the store: take in what they committed (unless ``sync`` is off:
        the caller does it under the write lock)."""
        if self._stale is None:
            if self.shared and sync:
                await self._sync()
            return
        try:
            await self._reload()
        except Exception as exc:
            raise StorageError(
                f"{self._stale}; reloading the committed state failed: {exc}"
            ) from exc
        log.warning("broker state reloaded from %s after a failed commit", self.store.where)
        self._stale = None

    async def _commit(
        self,
        batch: list[tuple[str, Changes]],
        now: float,
        *,
        evaluated: int | None = None,
    ) -> None:
        """Store ``batch`` (and, for the fill loop in shared mode, the second it evaluated to),
        then publish its events. On :class:`StaleAccount` the batch's accounts are reloaded
        (memory held changes that were not stored) and the error goes to the caller."""
        batch = [(account, changes) for account, changes in batch if changes]
        if not batch and evaluated is None:
            return
        started = time.perf_counter()
        versioned = [(a, c, self._book(a), self._held.version(a)) for a, c in batch]
        try:
            seq = await self.store.commit(
                versioned, evaluated=evaluated, leader=evaluated is not None
            )
        except StaleAccount:
            await self._reload_accounts([a for a, _ in batch])
            raise
        except BaseException as exc:
            # the database refused (or we were cancelled mid-write): drop the uncommitted
            # in-memory change so memory never disagrees with what survives a restart
            if isinstance(exc, StorageError):
                log.error("broker commit failed, nothing stored: %s", exc.detail)
            else:
                log.exception("broker commit failed; reloading the last committed state")
            self._stale = exc.detail if isinstance(exc, StorageError) else repr(exc)
            try:
                await self._reload()
            except BaseException:
                log.exception("reloading the committed broker state failed")
                raise exc from None
            self._stale = None
            raise
        for observe in self.commit_observers:
            observe(time.perf_counter() - started)
        self._held.stamp([account for account, _ in batch], seq)
        for account, changes in batch:
            self._timelines.follow(account, changes)
            at = self._timelines.now(account, now)
            moved = Marks.moved(self._book(account), changes.events, bool(changes.leverage), at)
            events = self._marks_of(account).after_commit(changes.events, moved)
            self._publish(account, events, self._held.version(account))

    def _marks_of(self, account: str) -> Marks:
        marks = self._marks.get(account)
        if marks is None:
            marks = self._marks[account] = Marks(self._equity_interval)
        return marks

    def _publish(self, account: str, events: list[BrokerEvent], version: int | None) -> None:
        if not events:
            return
        for event in events:
            for listener in self._listeners:
                listener(account, event)
        for batch in self._batch_listeners:
            batch(account, events, version)

    async def place(self, account: str, request: OrderRequest) -> Order:
        return await self._mutate(account, lambda e, now: e.place(request, now))

    async def place_with_key(self, account: str, request: OrderRequest, key: str) -> Placement:
        """Place under an idempotency key: the order an earlier placement under ``key`` made
        (nothing placed), or a new one stored with the key in one transaction; raises
        :class:`~trading.broker.idempotency.KeyReused` for another request (broker.md §15)."""
        return await self._mutate(
            account,
            lambda e, now: self._keys.place(e, request, account, key, now, wall=self.clock.now()),
        )

    async def modify(self, account: str, order_id: str, request: OrderRequest) -> None:
        await self._mutate(account, lambda e, now: (None, e.modify(order_id, request, now)))

    async def cancel(self, account: str, order_id: str) -> None:
        await self._mutate(account, lambda e, now: (None, e.cancel(order_id, now)))

    async def close_position(self, account: str, position_id: str, amount: Decimal | None) -> None:
        await self._mutate(
            account, lambda e, now: (None, e.close_position(position_id, amount, now))
        )

    async def edit_brackets(self, account: str, position_id: str, brackets: BracketRequest) -> None:
        await self._mutate(
            account, lambda e, now: (None, e.edit_brackets(position_id, brackets, now))
        )

    async def set_leverage(self, account: str, symbol: str, value: Decimal) -> None:
        await self._mutate(account, lambda e, now: (None, e.set_leverage(symbol, value, now)))

    async def reset(self, account: str) -> None:
        def reset(e: Engine, now: float) -> tuple[None, Changes]:
            changes = e.reset(now)
            self._keys.forget_account(account)  # their orders are gone (a failed commit reloads)
            return None, changes

        await self._mutate(account, reset)

    # -- desk operations (broker/desk.py) -----------------------------------------------------

    async def reverse(self, account: str, position_id: str) -> Order:
        return await self._mutate(account, lambda e, now: desk.reverse(e, position_id, now))

    async def cancel_all(self, account: str, symbol: str | None, side: Side | None) -> list[str]:
        return await self._mutate(
            account, lambda e, now: desk.cancel_all(e, symbol, side, now), several=True
        )

    async def flatten(self, account: str) -> list[str]:
        return await self._mutate(account, lambda e, now: desk.flatten(e, now), several=True)

    # -- the fill loop ------------------------------------------------------------------------

    async def evaluate(self) -> list[tuple[str, Changes]]:
        """Evaluate working orders up to now, of every account whose orders the market can
        fill (when this process is the elected evaluator), and push equity where it moved
        (rate-limited, only where someone follows: every process for its own clients).

        It works on committed books only; it first waits for the commits in flight without
        the lock, so commands keep running meanwhile, and only then for the few that came
        in the meantime, under it (:meth:`_evaluate_fills`). Returns the committed changes
        of the accounts whose orders it filled or changed."""
        changed: list[tuple[str, Changes]] = []
        await self._committer.settled()
        async with self._lock:
            if self.leader and self.shared:
                self._check_leadership()
            if self.shared:  # replay sessions started or changed by other workers
                self._timelines.hold_sessions(await self.store.transact(replay_rows.every))
            if self.leader:
                async with self._exclusive():
                    now = self.clock.now()
                    changed = await self._evaluate_fills(now)
            else:
                await self._ensure_committed_state()
                now = self.clock.now()
            self.last_evaluation = time.monotonic()
            for account in list(self.followed()):
                book = self._held.engines.get(account)
                if book is not None and book.positions:  # price moves, rate-limited
                    at = self._timelines.now(account, now)
                    self._publish(account, self._marks_of(account).on_tick(book, at), None)
        return changed

    async def _evaluate_fills(self, now: float) -> list[tuple[str, Changes]]:
        """Under the lock. One process: the fills are decided on committed books only (the
        commands in flight first), so a failed group never leaves a tick's fills standing."""
        if not self.shared:
            await self._committed(sync=False)
        for attempt in range(1, STALE_RETRIES + 1):
            changes = self._timelines.live.run(self._held.engines, now)
            changes += self._timelines.run_books(self._held.engines, now)
            try:
                if self.shared:
                    await self._commit(changes, now, evaluated=self._timelines.live.pending_second)
                else:
                    await self._commit_grouped(changes, now)
            except StaleAccount:
                if attempt == STALE_RETRIES:
                    raise
                continue  # an order was changed elsewhere meanwhile: evaluate what is stored
            self._timelines.committed()
            return [(account, c) for account, c in changes if c]
        raise AssertionError("unreachable")

    def _check_leadership(self) -> None:
        """A PostgreSQL session holding the evaluator's lock can be lost (a network cut, a
        server restart): then stop evaluating, fenced anyway, and stand for election again."""
        lost = self.store.leader_lost()
        if lost is None:
            return
        log.warning("this process no longer runs the broker's fill loop: %s", lost)
        self.leader = False
        if self._leading is None or self._leading.done():
            self._leading = asyncio.get_running_loop().create_task(
                self._lead(), name="broker-election"
            )

    async def _lead(self) -> None:
        """Become the fill evaluator when the store elects this process (shared mode), and
        evaluate at once from where the previous one stopped: a dead leader's successor
        commits its first tick within milliseconds of the election, not at the next tick."""
        await self.store.acquire_leadership()
        async with self._lock:
            self._timelines.live.resume(await self.store.evaluated())
            self.leader = True
        log.info("this process now runs the broker's fill loop (pid %d)", os.getpid())
        with contextlib.suppress(StorageError):  # logged by _commit; retried next tick
            await self.evaluate()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick - time.time() % self._tick)
            try:
                await self.evaluate()
            except StorageError:
                pass  # logged by _commit; retried at the next tick (readiness reports it)
            except Exception:
                log.exception("broker evaluation failed")
