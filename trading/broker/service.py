"""The broker as a service: serialized mutations, commit-then-publish, the fill loop.

Every call that reads or changes state takes one lock, so requests see a consistent state
and never an uncommitted one. A mutation runs in the engine (synchronously), is committed to
SQLite, and only then are its events handed to the listeners (broker.md §10, §12).

The lock and the engine stay inside: readers get copies of committed state, and a streaming
client that needs "the state now, then every change" asks for exactly that with
:meth:`BrokerService.subscribe_with_snapshot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from trading.broker import desk
from trading.broker.changes import Changes
from trading.broker.engine import Engine
from trading.broker.enums import Side
from trading.broker.errors import StorageError
from trading.broker.events import BrokerEvent
from trading.broker.history import HistoryPage, HistoryQuery, encode_cursor, page_ids
from trading.broker.idempotency import DEFAULT_ACCOUNT, KeyRegistry, Placement
from trading.broker.instrument import Instrument, instrument
from trading.broker.margin import Margin
from trading.broker.marks import Marks, margin_at
from trading.broker.preview import Preview, order_preview
from trading.broker.requests import BracketRequest, OrderRequest
from trading.broker.snapshot import CommittedState
from trading.broker.state import Equity, Fill, Order, Position
from trading.broker.store import Store
from trading.clock import Clock
from trading.market.source import MarketSource
from trading.market.symbols import SymbolCatalog

log = logging.getLogger(__name__)

T = TypeVar("T")
Listener = Callable[[BrokerEvent], None]
"""Called with each committed event, in order, without awaiting."""


DB_FILE = "trading.sqlite3"


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
    ) -> None:
        self._engine = Engine(
            market.catalog,
            market.touch,
            initial_balance=initial_balance,
            commission_rate=commission_rate,
            default_leverage=default_leverage,
        )
        self.clock = clock
        self.store = Store(data_dir / DB_FILE)
        self._keys = KeyRegistry(round(idempotency_ttl_s * 1000))
        self._initial_balance = initial_balance
        self._lock = asyncio.Lock()
        self._tick = tick_interval_s
        self._listeners: list[Listener] = []
        self.commit_observers: list[Callable[[float], None]] = []
        """Called with the seconds each commit took (metrics observe here, from outside)."""
        self._task: asyncio.Task[None] | None = None
        self._marks = Marks(equity_interval_s)
        self._stale: str | None = None
        """Set when a failed commit could not be undone by a reload: memory may then hold an
        uncommitted change, so nothing is read or written until a reload succeeds."""
        self.last_evaluation = time.monotonic()
        """When the fill loop last finished an evaluation (readiness)."""

    @property
    def catalog(self) -> SymbolCatalog:
        return self._engine.catalog

    def listen(self, listener: Listener) -> None:
        """Receive every committed event from now on (the hub's publisher registers here)."""
        self._listeners.append(listener)

    async def subscribe_with_snapshot(self, start: Callable[[CommittedState], None]) -> None:
        """Call ``start`` once, synchronously, at an instant when nothing is half-committed.

        ``start`` reads the state it needs and begins listening before it returns. Events
        are handed to listeners under the same lock, after their commit, so everything before
        that instant is in what ``start`` read and everything after reaches the listeners:
        nothing is missed, nothing seen twice (what Home Assistant's websocket_api gets by
        never awaiting between reading a state and subscribing to its changes). Raises
        :class:`StorageError` when the committed state cannot be read now."""
        async with self._lock:
            await self._ensure_committed_state()
            start(CommittedState(self._engine, self.clock.now()))

    async def load(self) -> None:
        """Open the database and restore the engine from it (no fill loop)."""
        snap = await self.store.open(self._initial_balance)
        self._engine.restore(snap.account, snap.orders, snap.positions, snap.fills, snap.leverage)
        self._keys.restore(snap.keys)

    async def start(self) -> None:
        await self.load()
        self.last_evaluation = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="broker-fills")
        log.info(
            "broker state loaded from %s: %d orders, %d positions",
            self.store.path, len(self._engine.orders), len(self._engine.positions),
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

    # -- reads (under the lock: never an uncommitted state) --------------------------------

    async def _read(self, fn: Callable[[Engine], T]) -> T:
        async with self._lock:
            await self._ensure_committed_state()
            return fn(self._engine)

    async def orders(self) -> list[Order]:
        return await self._read(lambda e: list(e.orders.values()))

    async def positions(self) -> list[Position]:
        return await self._read(lambda e: list(e.positions.values()))

    async def executions(self, symbol: str) -> list[Fill]:
        return await self._read(lambda e: e.fills_of(symbol))

    async def equity(self) -> Equity:
        return await self._read(lambda e: e.equity(self.clock.now()))

    async def leverage_of(self, symbol: str) -> Decimal:
        return await self._read(lambda e: e.leverage_of(symbol))

    async def orders_history(self, query: HistoryQuery) -> HistoryPage:
        """One page of final orders, newest first (broker.md §16)."""
        async with self._lock:
            await self._ensure_committed_state()
            ids, last = await self.store.query(lambda db: page_ids(db, query))
            orders = [self._engine.orders[i] for i in ids if i in self._engine.orders]
            return HistoryPage(orders, None if last is None else encode_cursor(last))

    async def margin(self, symbol: str | None) -> Margin:
        """Margin now; buying power at the leverage of ``symbol`` (a canonical name)."""
        return await self._read(lambda e: margin_at(e, self.clock.now(), symbol))

    async def instrument(self, symbol: str) -> Instrument | None:
        return await self._read(lambda e: instrument(e, symbol))

    async def preview(self, request: OrderRequest) -> Preview:
        """What placing ``request`` now would cost and whether it would be refused."""
        return await self._read(lambda e: order_preview(e, request, self.clock.now()))

    # -- mutations ----------------------------------------------------------------------------

    async def _mutate(
        self, fn: Callable[[Engine, float], tuple[T, Changes]], *, several: bool = False
    ) -> T:
        """Run one command and commit its changes. ``several``: the command runs several
        engine commands (broker/desk.py); it checks everything first, but should a later one
        still refuse, memory holds the earlier ones, so the committed state is reloaded."""
        async with self._lock:
            await self._ensure_committed_state()
            now = self.clock.now()
            try:
                result, changes = fn(self._engine, now)
            except Exception:
                if several:
                    await self._reload()
                raise
            await self._commit(changes, now)
        return result

    async def _reload(self) -> None:
        snap = await self.store.load()
        self._engine.restore(snap.account, snap.orders, snap.positions, snap.fills, snap.leverage)
        self._keys.restore(snap.keys)

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

    async def _commit(self, changes: Changes, now: float) -> None:
        if not changes:
            return
        engine = self._engine
        started = time.perf_counter()
        try:
            await self.store.commit(changes, engine.account, engine.positions, engine.leverage)
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
        events = self._marks.after_commit(engine, changes.events, bool(changes.leverage), now)
        self._publish(events)

    def _publish(self, events: list[BrokerEvent]) -> None:
        for event in events:
            for listener in self._listeners:
                listener(event)

    async def place(self, request: OrderRequest) -> Order:
        return await self._mutate(lambda e, now: e.place(request, now))

    async def place_with_key(
        self, request: OrderRequest, key: str, account: str = DEFAULT_ACCOUNT
    ) -> Placement:
        """Place under an idempotency key: the order an earlier placement under ``key`` made
        (nothing placed), or a new one stored with the key in one transaction; raises
        :class:`~trading.broker.idempotency.KeyReused` for another request (broker.md §15)."""
        return await self._mutate(lambda e, now: self._keys.place(e, request, account, key, now))

    async def modify(self, order_id: str, request: OrderRequest) -> None:
        await self._mutate(lambda e, now: (None, e.modify(order_id, request, now)))

    async def cancel(self, order_id: str) -> None:
        await self._mutate(lambda e, now: (None, e.cancel(order_id, now)))

    async def close_position(self, position_id: str, amount: Decimal | None) -> None:
        await self._mutate(lambda e, now: (None, e.close_position(position_id, amount, now)))

    async def edit_brackets(self, position_id: str, brackets: BracketRequest) -> None:
        await self._mutate(lambda e, now: (None, e.edit_brackets(position_id, brackets, now)))

    async def set_leverage(self, symbol: str, value: Decimal) -> None:
        await self._mutate(lambda e, now: (None, e.set_leverage(symbol, value, now)))

    async def reset(self) -> None:
        def reset(e: Engine, now: float) -> tuple[None, Changes]:
            changes = e.reset(now)
            self._keys.clear()  # their orders are gone (a failed commit reloads them)
            return None, changes

        await self._mutate(reset)

    # -- desk operations (broker/desk.py) -----------------------------------------------------

    async def reverse(self, position_id: str) -> Order:
        return await self._mutate(lambda e, now: desk.reverse(e, position_id, now))

    async def cancel_all(self, symbol: str | None, side: Side | None) -> list[str]:
        return await self._mutate(
            lambda e, now: desk.cancel_all(e, symbol, side, now), several=True
        )

    async def flatten(self) -> list[str]:
        return await self._mutate(lambda e, now: desk.flatten(e, now), several=True)

    # -- the fill loop ------------------------------------------------------------------------

    async def evaluate(self) -> None:
        """Evaluate working orders up to now and push equity when it moved (rate-limited)."""
        async with self._lock:
            await self._ensure_committed_state()
            now = self.clock.now()
            await self._commit(self._engine.evaluate(now), now)
            self.last_evaluation = time.monotonic()
            self._publish(self._marks.on_tick(self._engine, now))  # price moves, rate-limited

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick - time.time() % self._tick)
            try:
                await self.evaluate()
            except StorageError:
                pass  # logged by _commit; retried at the next tick (readiness reports it)
            except Exception:
                log.exception("broker evaluation failed")
