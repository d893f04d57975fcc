"""Per-route feeds: what each WebSocket route checks, snapshots and starts (websocket.md §3).

Thin adapters: market rules live in :class:`~trading.market.stream.MarketStream`, broker
consistency in :class:`~trading.broker.service.BrokerService`, shapes in ``trading.wire``; here
they meet the hub.
"""

from __future__ import annotations

from typing import Any, assert_never

import orjson

from trading.broker.errors import StorageError
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
from trading.wire import broker as wire
from trading.wire.market import bar_dicts, quote_data
from trading.ws.hub import FeedUnavailable, Hub, Item, Start
from trading.ws.protocol import EQUITY, EXECUTIONS, MARGIN, ORDERS, PL, POSITIONS


def bar_item(bars: Bars) -> Item:
    """The first bar of ``bars`` as a ``Bar``, exactly as REST ``/bars`` writes it."""
    return dict(bar_dicts(bars)[0])


def quote_item(requested: str, quote: Quote | None) -> Item:
    return quote_data(requested, quote).model_dump(mode="json")


class BarsFeed:
    def __init__(self, stream: MarketStream) -> None:
        self._stream = stream

    def check(self, request: BarsSubscriptionRequest) -> str | None:
        return self._stream.bars_problem(request.symbol, request.resolution)

    def activate(self, topic: str, request: BarsSubscriptionRequest) -> None:
        self._stream.watch_bars(topic, request.symbol, request.resolution)

    def deactivate(self, topic: str) -> None:
        self._stream.unwatch(topic)

    def attach(self, topic: str, request: BarsSubscriptionRequest, start: Start) -> None:
        start([bar_item(self._stream.current_bar(request.symbol, request.resolution))])


class QuotesFeed:
    def __init__(self, stream: MarketStream) -> None:
        self._stream = stream

    def check(self, request: QuoteDataSubscriptionRequest) -> str | None:
        return self._stream.quotes_problem(request.symbols, request.fast_symbols)

    def activate(self, topic: str, request: QuoteDataSubscriptionRequest) -> None:
        self._stream.watch_quotes(topic, request.symbols, request.fast_symbols)

    def deactivate(self, topic: str) -> None:
        self._stream.unwatch(topic)

    def attach(self, topic: str, request: QuoteDataSubscriptionRequest, start: Start) -> None:
        snapshot = self._stream.quote_snapshot(request.symbols, request.fast_symbols)
        start([quote_item(text, quote) for text, quote in snapshot])


def _snapshot(route: str, state: CommittedState) -> list[Item]:
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
    """Routes of the account: one paper account answers every non-empty ``accountId``.

    The broker publishes whether or not anyone listens (:class:`BrokerPublisher`), so there
    is nothing to start or stop per topic."""

    def check(self, request: Any) -> str | None:
        return None if request.accountId else "accountId must not be empty"

    def activate(self, topic: str, request: Any) -> None:
        return None

    def deactivate(self, topic: str) -> None:
        return None


class AccountFeed(AccountTopics):
    """A broker route (orders, positions, executions, equity, pl, margin): a subscribe gets
    the committed state as its snapshot, read at an instant when nothing is pending publication."""

    def __init__(self, route: str, broker: BrokerService) -> None:
        self._route = route
        self._broker = broker

    async def attach(self, topic: str, request: Any, start: Start) -> None:
        try:
            await self._broker.subscribe_with_snapshot(
                lambda state: start(_snapshot(self._route, state))
            )
        except StorageError as exc:
            raise FeedUnavailable(f"Broker state unavailable: {exc.detail}") from None


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
    """Pushes each committed broker event to every topic of its route (any accountId);
    ``executions`` topics with a ``symbol`` only get that symbol's fills."""

    def __init__(self, hub: Hub, catalog: SymbolCatalog) -> None:
        self._hub = hub
        self._catalog = catalog

    def __call__(self, event: BrokerEvent) -> None:
        route = event_route(event)
        topics = self._hub.topics_of(route)
        if not topics:  # nobody listens: not even serialized
            return
        payload = event_payload(event)
        for topic in topics:
            if isinstance(event, Executed) and not self._matches(topic, event):
                continue
            self._hub.publish(route, topic, payload)

    def _matches(self, topic: str, event: Executed) -> bool:
        wanted = orjson.loads(topic.partition(":")[2]).get("symbol")
        if not wanted:
            return True
        spec = self._catalog.lookup(wanted)
        return spec is not None and spec.name == event.fill.symbol


class BrokerConnectionFeed(AccountTopics):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def attach(self, topic: str, request: Any, start: Start) -> None:
        start([connection_status(self._clock, connected=True)])


def connection_status(clock: Clock, *, connected: bool) -> Item:
    status = BrokerConnectionStatus(
        status=1 if connected else 3,
        message="Connected to demo broker" if connected else "Server shutting down",
        timestamp=int(clock.now() * 1000),
    )
    return status.model_dump(mode="json")
