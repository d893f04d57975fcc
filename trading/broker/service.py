"""The broker as a service: many accounts, serialized mutations, commit-then-publish, the
fill loop.

Every account has its own book (an :class:`~trading.broker.engine.Engine`); every call names
the account it reads or changes, and an account that does not exist is refused like any other
unknown id (:class:`~trading.broker.errors.UnknownAccount`). Every call takes one lock, so
requests see a consistent state and never an uncommitted one. A mutation runs in the engine
(synchronously), is committed to SQLite, and only then are its events handed to the
listeners with their account (broker.md §10, §12, §20).

The lock and the engine stay inside: readers get copies of committed state, and a streaming
client that needs "the state now, then every change" asks for exactly that with
:meth:`BrokerService.subscribe_with_snapshot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from trading.broker import desk
from trading.broker.accounts import (
    ACCOUNT_NAME_MAX,
    DEFAULT_ACCOUNT,
    AccountInfo,
    new_account_id,
)
from trading.broker.changes import Changes
from trading.broker.engine import Engine
from trading.broker.enums import Side
from trading.broker.errors import AccountLimit, BrokerError, StorageError, UnknownAccount
from trading.broker.evaluator import Evaluator
from trading.broker.events import BrokerEvent
from trading.broker.history import HistoryPage, HistoryQuery, encode_cursor, page_ids
from trading.broker.idempotency import KeyRegistry, Placement
from trading.broker.instrument import Instrument, instrument
from trading.broker.margin import Margin
from trading.broker.marks import Marks, margin_at
from trading.broker.matching import PriceFeed
from trading.broker.preview import Preview, order_preview
from trading.broker.requests import BracketRequest, OrderRequest
from trading.broker.rows import Snapshot
from trading.broker.snapshot import CommittedState
from trading.broker.state import Equity, Fill, Order, Position
from trading.broker.store import DB_FILE as DB_FILE  # re-exported: the tests name it here
from trading.broker.store import Store
from trading.clock import Clock
from trading.market.source import MarketSource
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
        data_dir_lock_fd: int | None = None,
    ) -> None:
        """``data_dir_lock_fd``: the cluster supervisor's already held data-dir lock (its
        workers share it, see ``Settings.data_dir_lock_fd``); None: the store takes it."""
        self._market = market
        self._commission_rate = commission_rate
        self._default_leverage = default_leverage
        self.clock = clock
        self.store = Store(data_dir / DB_FILE, lock_fd=data_dir_lock_fd)
        self._keys = KeyRegistry(round(idempotency_ttl_s * 1000))
        self._initial_balance = initial_balance
        self._lock = asyncio.Lock()
        self._tick = tick_interval_s
        self._listeners: list[Listener] = []
        self._batch_listeners: list[BatchListener] = []
        self._versions: dict[str, int] = {}
        """Each account's version as stored: the commit sequence number of its last change."""
        self.commit_observers: list[Callable[[float], None]] = []
        """Called with the seconds each commit took (metrics observe here, from outside)."""
        self._task: asyncio.Task[None] | None = None
        self._equity_interval = equity_interval_s
        self._books: dict[str, Engine] = {}
        self._infos: dict[str, AccountInfo] = {}
        self._owned: dict[str | None, list[str]] = {}
        self._last_seq = 0
        """The highest ``seq`` of any account (accounts are never deleted): opening one costs
        the same with 10 000 accounts as with one."""
        self._marks: dict[str, Marks] = {}
        self._evaluator = Evaluator(PriceFeed(market.catalog, market.touch))
        self.followed: Callable[[], Iterable[str]] = lambda: self._books.keys()
        """The accounts whose equity, P&L and margin someone follows between commits (the
        streaming layer says which; by default all): price moves are marked only for them."""
        self._stale: str | None = None
        """Set when a failed commit could not be undone by a reload: memory may then hold an
        uncommitted change, so nothing is read or written until a reload succeeds."""
        self.last_evaluation = time.monotonic()
        """When the fill loop last finished an evaluation (readiness)."""

    @property
    def catalog(self) -> SymbolCatalog:
        return self._market.catalog

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
        book = self._books.get(account)
        if book is None:
            raise UnknownAccount(f"Account {account} not found")
        return book

    async def subscribe_with_snapshot(
        self, account: str, start: Callable[[CommittedState], None]
    ) -> None:
        """Call ``start`` once, synchronously, at an instant when nothing is half-committed.

        ``start`` reads the state it needs and begins listening before it returns. Events
        are handed to listeners under the same lock, after their commit, so everything before
        that instant is in what ``start`` read and everything after reaches the listeners:
        nothing is missed, nothing seen twice (what Home Assistant's websocket_api gets by
        never awaiting between reading a state and subscribing to its changes). Raises
        :class:`StorageError` when the committed state cannot be read now, and
        :class:`UnknownAccount` for an account that does not exist."""
        async with self._lock:
            await self._ensure_committed_state()
            book = self._book(account)
            start(CommittedState(book, self.clock.now(), self._versions.get(account, 0)))

    def _restore(self, snap: Snapshot) -> None:
        books: dict[str, Engine] = {}
        infos: dict[str, AccountInfo] = {}
        owned: dict[str | None, list[str]] = {}
        for rows in snap.books:
            book = self._new_engine(rows.account.initial_balance)
            book.restore(rows.account, rows.orders, rows.positions, rows.fills, rows.leverage)
            books[rows.info.id] = book
            infos[rows.info.id] = rows.info
            owned.setdefault(rows.info.owner, []).append(rows.info.id)
        self._books, self._infos, self._owned = books, infos, owned
        self._last_seq = max((i.seq for i in infos.values()), default=0)
        self._keys.restore(snap.keys)
        self._evaluator.restore(books)

    async def load(self) -> None:
        """Open the database and restore every account from it (no fill loop)."""
        self._restore(await self.store.open(self._initial_balance))

    async def start(self) -> None:
        await self.load()
        self.last_evaluation = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="broker-fills")
        log.info(
            "broker state loaded from %s: %d accounts, %d working orders",
            self.store.path, len(self._books), len(self._evaluator.index),
        )  # fmt: skip

    async def storage_problem(self) -> str | None:
        """Readiness: None when the database is open, the same file, and takes writes."""
        if self._stale is not None:
            return self._stale
        return await self.store.probe()

    def fill_loop_problem(self, limit_s: float) -> str | None:
        """Readiness: why the fill loop is not evaluating working orders, or None."""
        if self._task is None or self._task.done():
            return "the broker's fill loop is not running"
        age = time.monotonic() - self.last_evaluation
        if age > limit_s:
            return f"the broker's fill loop has not completed an evaluation for {age:.1f} s"
        return None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._lock:
            await self.store.close()

    # -- accounts (broker.md §20) ---------------------------------------------------------------

    def _owned_infos(self, owner: str | None) -> list[AccountInfo]:
        return [self._infos[a] for a in self._owned.get(owner, [])]

    async def accounts_of(self, owner: str) -> list[AccountInfo]:
        """The accounts of ``owner`` in opening order; a user's first account is opened on
        first use (users are made where the broker is not: the CLI, the admin API).

        Every keys-mode request asks this, so a known owner is answered without the lock:
        accounts are only ever added, and each addition is complete before it is listed."""
        if self._owned.get(owner):
            return self._owned_infos(owner)
        async with self._lock:
            await self._ensure_committed_state()
            if not self._owned.get(owner):
                await self._open(owner, FIRST_ACCOUNT_NAME, self._initial_balance)
            return self._owned_infos(owner)

    def owned_ids(self, owner: str) -> list[str]:
        """The ids of ``owner``'s accounts now (no waiting: what a subscribe checks)."""
        return list(self._owned.get(owner, ()))

    def default_account(self) -> AccountInfo:
        return self._infos[DEFAULT_ACCOUNT]

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
        async with self._lock:
            await self._ensure_committed_state()
            count = len(self._owned.get(owner, []))
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

    async def _open(self, owner: str, name: str, initial_balance: Decimal) -> AccountInfo:
        seq = self._last_seq + 1
        account = new_account_id()
        while account in self._infos:  # 48 random bits: never in practice, but never twice
            account = new_account_id()
        info = AccountInfo(account, seq, name, owner=owner,
                           created=int(self.clock.now() * 1000))  # fmt: skip
        await self.store.create_account(info, initial_balance)
        self._last_seq = seq
        self._books[info.id] = self._new_engine(initial_balance)
        self._infos[info.id] = info
        self._owned.setdefault(owner, []).append(info.id)
        return info

    # -- reads (under the lock: never an uncommitted state) --------------------------------

    async def _read(self, account: str, fn: Callable[[Engine], T]) -> T:
        async with self._lock:
            await self._ensure_committed_state()
            return fn(self._book(account))

    async def orders(self, account: str) -> list[Order]:
        return await self._read(account, lambda e: list(e.orders.values()))

    async def positions(self, account: str) -> list[Position]:
        return await self._read(account, lambda e: list(e.positions.values()))

    async def executions(self, account: str, symbol: str) -> list[Fill]:
        return await self._read(account, lambda e: e.fills_of(symbol))

    async def equity(self, account: str) -> Equity:
        return await self._read(account, lambda e: e.equity(self.clock.now()))

    async def leverage_of(self, account: str, symbol: str) -> Decimal:
        return await self._read(account, lambda e: e.leverage_of(symbol))

    async def orders_history(self, account: str, query: HistoryQuery) -> HistoryPage:
        """One page of final orders, newest first (broker.md §16)."""
        async with self._lock:
            await self._ensure_committed_state()
            book = self._book(account)
            ids, last = await self.store.query(lambda db: page_ids(db, account, query))
            orders = [book.orders[i] for i in ids if i in book.orders]
            return HistoryPage(orders, None if last is None else encode_cursor(last))

    async def margin(self, account: str, symbol: str | None) -> Margin:
        """Margin now; buying power at the leverage of ``symbol`` (a canonical name)."""
        return await self._read(account, lambda e: margin_at(e, self.clock.now(), symbol))

    async def instrument(self, account: str, symbol: str) -> Instrument | None:
        return await self._read(account, lambda e: instrument(e, symbol))

    async def preview(self, account: str, request: OrderRequest) -> Preview:
        """What placing ``request`` now would cost and whether it would be refused."""
        return await self._read(account, lambda e: order_preview(e, request, self.clock.now()))

    # -- mutations ----------------------------------------------------------------------------

    async def _mutate(self, account: str, fn: Mutation[T], *, several: bool = False) -> T:
        """Run one command on ``account`` and commit its changes. ``several``: the command
        runs several engine commands (broker/desk.py); it checks everything first, but should
        a later one still refuse, memory holds the earlier ones, so the committed state is
        reloaded."""
        async with self._lock:
            await self._ensure_committed_state()
            book = self._book(account)
            now = self.clock.now()
            try:
                result, changes = fn(book, now)
            except Exception:
                if several:
                    await self._reload()
                raise
            await self._commit([(account, changes)], now)
        return result

    async def _reload(self) -> None:
        self._restore(await self.store.load())

    async def _ensure_committed_state(self) -> None:
        """After a failed commit whose reload failed too: reload now, or refuse (503)."""
        if self._stale is None:
            return
        try:
            await self._reload()
        except Exception as exc:
            raise StorageError(
                f"{self._stale}; reloading the committed state failed: {exc}"
            ) from exc
        log.warning("broker state reloaded from %s after a failed commit", self.store.path)
        self._stale = None

    async def _commit(self, batch: list[tuple[str, Changes]], now: float) -> None:
        batch = [(account, changes) for account, changes in batch if changes]
        if not batch:
            return
        started = time.perf_counter()
        try:
            await self.store.commit([(a, c, self._books[a]) for a, c in batch])
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
        for account, changes in batch:
            self._evaluator.follow(account, changes)
            events = self._marks_of(account).after_commit(
                self._books[account], changes.events, bool(changes.leverage), now
            )
            self._publish(account, events, self._versions.get(account, 0))

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
            account, lambda e, now: self._keys.place(e, request, account, key, now)
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

    async def evaluate(self) -> None:
        """Evaluate working orders up to now, of every account whose orders the market can
        fill, and push equity where it moved (rate-limited, only where someone follows)."""
        async with self._lock:
            await self._ensure_committed_state()
            now = self.clock.now()
            await self._commit(self._evaluator.run(self._books, now), now)
            self.last_evaluation = time.monotonic()
            for account in list(self.followed()):
                book = self._books.get(account)
                if book is not None and book.positions:  # price moves, rate-limited
                    self._publish(account, self._marks_of(account).on_tick(book, now), None)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick - time.time() % self._tick)
            try:
                await self.evaluate()
            except StorageError:
                pass  # logged by _commit; retried at the next tick (readiness reports it)
            except Exception:
                log.exception("broker evaluation failed")
