"""Per-route feeds: what each WebSocket route checks, snapshots and starts (websocket.md §3).

Thin adapters: market rules live in :class:`~trading.market.stream.MarketStream`, broker
consistency in :class:`~trading.broker.service.BrokerService`, shapes in ``trading.wire``; here
they meet the hub.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol, assert_never

from trading.broker.accounts import DEFAULT_ACCOUNT, is_session_book
from trading.broker.errors import StorageError, UnknownAccount
from trading.broker.events import (
    BrokerEvent,
    EquityChanged,
    Executed,
    MarginChanged,
    OrderChanged,
    PositionChanged,
    PositionPLChanged,
)
from trading.broker.service import BrokerService
from trading.broker.snapshot import CommittedState
from trading.clock import Clock
from trading.market.source import Bars, Quote
from trading.market.stream import MarketStream
from trading.market.symbols import SymbolCatalog
from trading.models.broker import BrokerConnectionStatus
from trading.models.ws import BarsSubscriptionRequest, QuoteDataSubscriptionRequest
from trading.settings import Settings
from trading.wire import broker as wire
from trading.wire.market import bar_dicts, quote_data
from trading.ws.hub import FeedUnavailable, Hub, Item, Start
from trading.ws.protocol import EQUITY, EXECUTIONS, MARGIN, ORDERS, PL, POSITIONS


def bar_item(bars: Bars) -> Item:
    """The first bar of ``bars`` as a ``Bar``, exactly as REST ``/bars`` writes it."""
    return dict(bar_dicts(bars)[0])


_UNKNOWN_QUOTE: Item = quote_data("", None).model_dump(mode="json")
"""The item of an unknown symbol, but for ``n``: built by the model once, so that answering
a subscribe to made-up symbols (churn) costs a dict copy, not a validation and a dump."""


def quote_item(requested: str, quote: Quote | None) -> Item:
    if quote is None:
        return {**_UNKNOWN_QUOTE, "n": requested}
    return quote_data(requested, quote).model_dump(mode="json")


class BarsFeed:
    def __init__(self, stream: MarketStream) -> None:
        self._stream = stream

    def check(self, request: BarsSubscriptionRequest, caller: str | None) -> str | None:
        return self._stream.bars_problem(request.symbol, request.resolution)

    def activate(self, topic: str, request: BarsSubscriptionRequest) -> None:
        self._stream.watch_bars(topic, request.symbol, request.resolution)

    def deactivate(self, topic: str) -> None:
        self._stream.unwatch(topic)

    def attach(
        self, topic: str, request: BarsSubscriptionRequest, start: Start, caller: str | None
    ) -> None:
        start([bar_item(self._stream.current_bar(request.symbol, request.resolution))])


class QuotesFeed:
    def __init__(self, stream: MarketStream) -> None:
        self._stream = stream

    def check(self, request: QuoteDataSubscriptionRequest, caller: str | None) -> str | None:
        return self._stream.quotes_problem(request.symbols, request.fast_symbols)

    def activate(self, topic: str, request: QuoteDataSubscriptionRequest) -> None:
        self._stream.watch_quotes(topic, request.symbols, request.fast_symbols)

    def deactivate(self, topic: str) -> None:
        self._stream.unwatch(topic)

    def attach(
        self, topic: str, request: QuoteDataSubscriptionRequest, start: Start, caller: str | None
    ) -> None:
        snapshot = self._stream.quote_snapshot(request.symbols, request.fast_symbols)
        start([quote_item(text, quote) for text, quote in snapshot])


def snapshot_items(route: str, state: CommittedState) -> list[Item]:
    """What a broker route's subscriber gets first: the current state it then follows, in
    the very shapes its events have (:func:`event_payload`)."""
    events: list[BrokerEvent] = []
    if route == ORDERS:
        events = [OrderChanged(o) for o in state.open_orders()]
    elif route == POSITIONS:
        events = [PositionChanged(p) for p in state.positions()]
    elif route == EQUITY:
        events = [EquityChanged(state.equity())]
    elif route == PL:
        events = [PositionPLChanged(i, pl) for i, pl in state.position_pl()]
    elif route == MARGIN:
        events = [MarginChanged(state.margin())]
    # executions are events only: replaying them would duplicate them
    return [event_payload(e) for e in events]


class AccountTopics:
    """Routes of an account: ``accountId`` must not be empty (which account it names, and
    whether the caller may follow it, is decided before: :class:`AccountTopicIndex`)."""

    def check(self, request: Any, caller: str | None) -> str | None:
        return None if request.accountId else "accountId must not be empty"

    def activate(self, topic: str, request: Any) -> None:
        return None

    def deactivate(self, topic: str) -> None:
        return None


Resolve = Callable[[str], str]
"""The account an ``accountId`` names: itself in keys mode; ``DEMO-ACCOUNT`` for any in off
mode (the reference contract maps every accountId to its one account)."""


Owned = Callable[[str], Collection[str]]
"""The account ids a user owns (keys mode)."""
Usable = Callable[[str, Collection[str]], bool]
"""Whether an account may be followed by the owner of these accounts (keys mode)."""


class Upstream(Protocol):
    """Where pushes of other processes come from (the Redis backplane), per account."""

    def hold(self, account: str) -> None:
        """One more local subscriber of the account: its pushes must reach this process."""
        ...

    def release(self, account: str) -> None: ...

    async def ready(self, account: str) -> None:
        """Return once the pushes of a held account reach this process."""
        ...


class AccountTopicIndex:
    """The live topics of each account, per route, so a broker event reaches its account's
    subscribers alone, at a cost that does not grow with other accounts' topics. Executions
    topics may name a ``symbol``: only that symbol's fills go there. With a backplane
    (``upstream``), an account is held there while it has topics here."""

    def __init__(
        self,
        resolve: Resolve,
        catalog: SymbolCatalog,
        owned: Owned | None = None,
        usable: Usable | None = None,
    ) -> None:
        self.resolve = resolve
        self._catalog = catalog
        self._owned = owned
        self._usable: Usable = usable or (lambda account, owned: account in owned)
        self._topics: dict[str, dict[str, dict[str, Filter]]] = {}
        self._where: dict[str, tuple[str, str]] = {}
        self.upstream: Upstream | None = None

    def add(self, route: str, topic: str, request: Any) -> None:
        account = self.resolve(request.accountId)
        wanted: Filter = None
        symbol = getattr(request, "symbol", None)
        if symbol:
            spec = self._catalog.lookup(symbol)
            wanted = (spec.name if spec else NO_SYMBOL,)
        routes = self._topics.get(account)
        if routes is None:
            routes = self._topics[account] = {}
            if self.upstream is not None:
                self.upstream.hold(account)
        routes.setdefault(route, {})[topic] = wanted
        self._where[topic] = (account, route)

    @property
    def owns(self) -> bool:
        """Keys mode: accounts have owners, and only an owner may follow one."""
        return self._owned is not None

    def may_follow(self, caller: str | None, account: str) -> bool:
        """Off mode (no ownership): any accountId. Keys mode: only the caller's accounts
        (and the books of their replay sessions)."""
        if self._owned is None:
            return True
        return caller is not None and self._usable(account, self._owned(caller))

    def remove(self, topic: str) -> None:
        found = self._where.pop(topic, None)
        if found is None:
            return
        account, route = found
        routes = self._topics[account]
        del routes[route][topic]
        if not routes[route]:
            del routes[route]
        if not routes:
            del self._topics[account]
            if self.upstream is not None:
                self.upstream.release(account)

    def topics(self, account: str, route: str) -> dict[str, Filter]:
        return self._topics.get(account, {}).get(route, {})

    def followed(self, account: str) -> bool:
        """Whether the account has a topic here."""
        return account in self._topics

    def accounts(self) -> list[str]:
        return list(self._topics)

    def following_marks(self) -> list[str]:
        """Accounts with a subscriber of equity, P&L or margin (marked between commits)."""
        return [a for a, routes in self._topics.items() if MARK_ROUTES & routes.keys()]


Filter = tuple[str] | None
"""An executions topic's symbol (canonical), or None: every fill."""
NO_SYMBOL = "\x00"
"""The filter of a symbol that does not exist: matches no fill."""
MARK_ROUTES = frozenset({EQUITY, PL, MARGIN})


class AccountFeed(AccountTopics):
    """A broker route (orders, positions, executions, equity, pl, margin): a subscribe gets
    the committed state as its snapshot, read at an instant when nothing is pending publication."""

    def __init__(self, route: str, broker: BrokerService, index: AccountTopicIndex) -> None:
        self._route = route
        self._broker = broker
        self._index = index

    def check(self, request: Any, caller: str | None) -> str | None:
        """In keys mode the account must be one of the caller's; another user's is refused
        exactly like one that does not exist (broker.md §20)."""
        problem = super().check(request, caller)
        # with other processes, one may have opened it a moment ago: attach checks it then,
        # on the stored state (the service's subscribe_with_snapshot(owner=))
        followable = self._broker.shared or self._index.may_follow(caller, request.accountId)
        if problem is None and not followable:
            return f"Account {request.accountId} not found"
        return problem

    def activate(self, topic: str, request: Any) -> None:
        self._index.add(self._route, topic, request)

    def deactivate(self, topic: str) -> None:
        self._index.remove(topic)

    async def attach(self, topic: str, request: Any, start: Start, caller: str | None) -> None:
        account = self._index.resolve(request.accountId)
        owner = caller if self._index.owns else None
        upstream = self._index.upstream
        if upstream is None:
            await self._attach(
                account, owner, lambda state: start(snapshot_items(self._route, state))
            )
            return
        # the account's channel is subscribed (and Redis confirmed it) before the snapshot is
        # read, so a push of another process is either in the snapshot (its version is not
        # newer: skipped) or arrives after it; held meanwhile, then by the topic (activate)
        upstream.hold(account)
        try:
            await upstream.ready(account)
            await self._attach(
                account,
                owner,
                lambda state: start(snapshot_items(self._route, state), since_of(state)),
            )
        finally:
            upstream.release(account)

    async def _attach(
        self, account: str, owner: str | None, start: Callable[[CommittedState], None]
    ) -> None:
        """``owner``: keys mode, the caller, who must own the account (on the stored state)."""
        try:
            await self._broker.subscribe_with_snapshot(account, start, owner=owner)
        except StorageError as exc:
            raise FeedUnavailable(f"Broker state unavailable: {exc.detail}") from None
        except UnknownAccount as exc:
            raise FeedUnavailable(exc.detail) from None


def since_of(state: CommittedState) -> int | None:
    """What pushes a subscriber starting from ``state`` skips: those of its version or older.
    Version 0 is an account no commit has stamped yet: nothing to skip (and a store that
    stamps no versions pushes every commit as version 0, which must not be skipped)."""
    return state.version or None


def event_route(event: BrokerEvent) -> str:
    """The route a broker event is pushed on."""
    match event:
        case OrderChanged():
            return ORDERS
        case PositionChanged():
            return POSITIONS
        case Executed():
            return EXECUTIONS
        case EquityChanged():
            return EQUITY
        case PositionPLChanged():
            return PL
        case MarginChanged():
            return MARGIN
        case _:
            assert_never(event)


def event_payload(event: BrokerEvent) -> Item:
    """A broker event as the payload of its route's update."""
    match event:
        case OrderChanged(order):
            return wire.placed_order(order).model_dump(mode="json")
        case PositionChanged(position):
            return wire.position(position).model_dump(mode="json")
        case Executed(fill):
            return wire.execution(fill).model_dump(mode="json")
        case EquityChanged(equity):
            return wire.equity(equity).model_dump(mode="json")
        case PositionPLChanged(position_id, pl):
            return wire.position_pl(position_id, pl).model_dump(mode="json")
        case MarginChanged(margin):
            return wire.margin(margin).model_dump(mode="json")
        case _:
            assert_never(event)


class BrokerPublisher:
    """Pushes each committed broker event to the topics of its account and route, serialized
    once; an ``executions`` topic with a ``symbol`` only gets that symbol's fills."""

    def __init__(self, hub: Hub, index: AccountTopicIndex) -> None:
        self._hub = hub
        self._index = index

    def __call__(self, account: str, event: BrokerEvent) -> None:
        route = event_route(event)
        topics = self._index.topics(account, route)
        if not topics:  # nobody listens: not even serialized
            return
        payload = event_payload(event)
        for topic, wanted in list(topics.items()):
            if (
                isinstance(event, Executed)
                and wanted is not None
                and wanted[0] != event.fill.symbol
            ):
                continue
            self._hub.publish(route, topic, payload)

    def batch(self, account: str, events: list[BrokerEvent], version: int | None) -> None:
        """The events of one commit, as :meth:`__call__` gets them one by one."""
        for event in events:
            self(account, event)


def account_index(settings: Settings, broker: BrokerService) -> AccountTopicIndex:
    """Keys mode: an accountId is itself, and only its owner may follow it (or the book of
    one of the owner's replay sessions); off mode: every accountId is DEMO-ACCOUNT, open to
    every connection (the reference contract), except a replay session's id, which names
    that session's book (docs/replay.md §5)."""
    if settings.auth == "keys":
        return AccountTopicIndex(
            lambda account: account, broker.catalog, broker.owned_ids, broker.may_use
        )
    return AccountTopicIndex(
        lambda account: account if is_session_book(account) else DEFAULT_ACCOUNT, broker.catalog
    )


class BrokerConnectionFeed(AccountTopics):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def attach(self, topic: str, request: Any, start: Start, caller: str | None) -> None:
        start([connection_status(self._clock, connected=True)])


def connection_status(clock: Clock, *, connected: bool) -> Item:
    status = BrokerConnectionStatus(
        status=1 if connected else 3,
        message="Connected to demo broker" if connected else "Server shutting down",
        timestamp=int(clock.now() * 1000),
    )
    return status.model_dump(mode="json")
