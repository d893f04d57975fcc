"""Per-route feeds: what each WebSocket route checks, snapshots and starts (websocket.md §3).

Thin adapters: market rules live in :class:`~trading.market.stream.MarketStream`, shapes in
the wire models; here the two meet.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from trading.api import broker_views
from trading.api.market_views import bar_dicts, quote_data
from trading.broker.engine import Engine
from trading.broker.state import Fill
from trading.clock import Clock
from trading.market.source import Bars, Quote
from trading.market.stream import MarketStream
from trading.market.symbols import SymbolCatalog
from trading.models.broker import BrokerConnectionStatus
from trading.models.ws import BarsSubscriptionRequest, QuoteDataSubscriptionRequest
from trading.ws.hub import Hub
from trading.ws.protocol import BROKER_CONNECTION, EQUITY, EXECUTIONS, ORDERS, POSITIONS

Item = dict[str, Any]


def bar_item(bars: Bars) -> Item:
    """The first bar of ``bars`` as a ``Bar``, exactly as REST ``/bars`` writes it."""
    return dict(bar_dicts(bars)[0])


def quote_item(requested: str, quote: Quote | None) -> Item:
    return quote_data(requested, quote).model_dump(mode="json")


class BarsFeed:
    gate: asyncio.Lock | None = None

    def __init__(self, stream: MarketStream) -> None:
        self._stream = stream

    def check(self, request: BarsSubscriptionRequest) -> str | None:
        return self._stream.bars_problem(request.symbol, request.resolution)

    def activate(self, topic: str, request: BarsSubscriptionRequest) -> None:
        self._stream.watch_bars(topic, request.symbol, request.resolution)

    def deactivate(self, topic: str) -> None:
        self._stream.unwatch(topic)

    def snapshot(self, topic: str, request: BarsSubscriptionRequest) -> list[Item]:
        return [bar_item(self._stream.current_bar(request.symbol, request.resolution))]


class QuotesFeed:
    gate: asyncio.Lock | None = None

    def __init__(self, stream: MarketStream) -> None:
        self._stream = stream

    def check(self, request: QuoteDataSubscriptionRequest) -> str | None:
        return self._stream.quotes_problem(request.symbols, request.fast_symbols)

    def activate(self, topic: str, request: QuoteDataSubscriptionRequest) -> None:
        self._stream.watch_quotes(topic, request.symbols, request.fast_symbols)

    def deactivate(self, topic: str) -> None:
        self._stream.unwatch(topic)

    def snapshot(self, topic: str, request: QuoteDataSubscriptionRequest) -> list[Item]:
        return [
            quote_item(text, quote)
            for text, quote in self._stream.quote_snapshot(request.symbols, request.fast_symbols)
        ]


class AccountFeed:
    """Broker routes: one paper account answers every non-empty ``accountId``.

    The broker publishes whether or not anyone listens (:class:`BrokerPublisher`), so there
    is nothing to start; a subscribe gets the current state as its snapshot.
    """

    def __init__(
        self, route: str, engine: Engine | None, clock: Clock, gate: asyncio.Lock | None = None
    ) -> None:
        self.gate = gate
        self._route = route
        self._engine = engine
        self._clock = clock

    def check(self, request: Any) -> str | None:
        return None if request.accountId else "accountId must not be empty"

    def activate(self, topic: str, request: Any) -> None:
        return None

    def deactivate(self, topic: str) -> None:
        return None

    def snapshot(self, topic: str, request: Any) -> list[Item]:
        engine = self._engine
        if engine is None:
            return []
        items: list[object]
        if self._route == ORDERS:
            items = list(engine.working_orders())
        elif self._route == POSITIONS:
            items = list(engine.positions.values())
        elif self._route == EQUITY:
            items = [engine.equity(self._clock.now())]
        else:
            items = []  # executions are events: replaying them would duplicate them
        return [broker_views.wire(self._route, item) for item in items]


class BrokerPublisher:
    """Pushes each committed broker event to every topic of its route (any accountId);
    ``executions`` topics with a ``symbol`` only get that symbol's fills."""

    def __init__(self, hub: Hub, catalog: SymbolCatalog) -> None:
        self._hub = hub
        self._catalog = catalog

    def __call__(self, route: str, item: object) -> None:
        topics = self._hub.topics_of(route)
        if not topics:
            return
        payload = broker_views.wire(route, item)
        for topic in topics:
            if route == EXECUTIONS and not self._matches(topic, item):
                continue
            self._hub.publish(route, topic, payload)

    def _matches(self, topic: str, fill: object) -> bool:
        wanted = orjson.loads(topic.partition(":")[2]).get("symbol")
        if not wanted:
            return True
        spec = self._catalog.lookup(wanted)
        return spec is not None and isinstance(fill, Fill) and spec.name == fill.symbol


class BrokerConnectionFeed(AccountFeed):
    def __init__(self, clock: Clock) -> None:
        super().__init__(BROKER_CONNECTION, None, clock)

    def snapshot(self, topic: str, request: Any) -> list[Item]:
        return [connection_status(self._clock, connected=True)]


def connection_status(clock: Clock, *, connected: bool) -> Item:
    status = BrokerConnectionStatus(
        status=1 if connected else 3,
        message="Connected to demo broker" if connected else "Server shutting down",
        timestamp=int(clock.now() * 1000),
    )
    return status.model_dump(mode="json")
