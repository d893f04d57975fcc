"""The broadcast hub: topic → subscribers, reference-counted feeds, fan-out of shared bytes.

``publish`` serializes an update **once** and hands the same bytes to every subscriber's
bounded queue; it never awaits a socket (architecture.md "Data flow of one live update"). A
feed learns about a topic only on its 0↔1 transitions, so producers run exactly while someone
listens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from trading.models.ws import StreamingStats, StrictRequest
from trading.ws import protocol

log = logging.getLogger(__name__)

Source = tuple[str, str, Any]
"""``(route, topic, item)`` of a market-state update: what a congested connection keeps
instead of the bytes, to serialize the newest state when its queue has room again."""


class Subscriber(Protocol):
    topics: set[str]

    def send(self, data: bytes, key: Hashable | None = None, source: Source | None = None) -> None:
        """Queue a frame without waiting (deferring market state or closing on overflow)."""
        ...


Item = dict[str, Any]
"""The payload of one ``<route>.update``."""
Start = Callable[[list[Item]], None]
"""Registers the subscription, answers ``ok`` and queues the given snapshot items, at once."""


class FeedUnavailable(Exception):
    """A subscribe cannot be served now (the source cannot be read); the reply says why."""


class Feed(Protocol):
    """What a route does beyond bookkeeping: semantic checks, snapshots, producers."""

    def check(self, request: Any, caller: str | None) -> str | None:
        """Why a subscribe must be refused (websocket.md §3), or None. ``caller``: the user
        id the connection authenticated as (keys mode), else None."""
        ...

    def activate(self, topic: str, request: Any) -> None:
        """The topic got its first subscriber."""
        ...

    def deactivate(self, topic: str) -> None:
        """The topic lost its last subscriber."""
        ...

    def attach(self, topic: str, request: Any, start: Start) -> Awaitable[None] | None:
        """Call ``start`` once with the topic's snapshot, at an instant when that snapshot is
        the source's current state and no update of it is still to come, so the first live
        update follows the snapshot without a gap or a repeat.

        Market feeds do so synchronously and return None; a source that must first wait
        (the broker, until no change is half-committed) returns an awaitable, and may raise
        :class:`FeedUnavailable` from it instead of calling ``start``."""
        ...


@dataclass
class Counters:
    messages_sent: int = 0
    messages_coalesced: int = 0
    slow_consumer_closes: int = 0
    protocol_errors: int = 0


class Hub:
    def __init__(self) -> None:
        self._topics: dict[str, set[Subscriber]] = {}
        self._feeds: dict[str, Feed] = {}
        self.connections: set[Subscriber] = set()
        self.counters = Counters()

    def register_feed(self, route: str, feed: Feed) -> None:
        self._feeds[route] = feed

    def feed(self, route: str) -> Feed:
        return self._feeds[route]

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(self, conn: Subscriber, route: str, topic: str, request: StrictRequest) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is None:
            subscribers = self._topics[topic] = set()
            self._feeds[route].activate(topic, request)
        subscribers.add(conn)
        conn.topics.add(topic)

    def unsubscribe(self, conn: Subscriber, topic: str) -> None:
        conn.topics.discard(topic)
        subscribers = self._topics.get(topic)
        if subscribers is None:
            return
        subscribers.discard(conn)
        if not subscribers:
            del self._topics[topic]
            self._feeds[topic.partition(":")[0]].deactivate(topic)

    def drop(self, conn: Subscriber) -> None:
        """Release every topic of a connection that is going away."""
        for topic in list(conn.topics):
            self.unsubscribe(conn, topic)
        self.connections.discard(conn)

    def topics_of(self, route: str) -> list[str]:
        prefix = f"{route}:"
        return [t for t in self._topics if t.startswith(prefix)]

    # -- fan-out ------------------------------------------------------------------------------

    def publish(self, route: str, topic: str, item: dict[str, Any]) -> int:
        """Queue one ``<route>.update`` for every subscriber of ``topic``; returns how many."""
        subscribers = self._topics.get(topic)
        if not subscribers:
            return 0
        data = protocol.update(route, topic, item)
        key = protocol.coalesce_key(route, topic, item)
        source = None if key is None else (route, topic, item)
        for conn in subscribers:
            conn.send(data, key, source)
        return len(subscribers)

    def stats(self) -> StreamingStats:
        c = self.counters
        return StreamingStats(
            connections=len(self.connections),
            topics=len(self._topics),
            subscriptions=sum(len(s) for s in self._topics.values()),
            messages_sent=c.messages_sent,
            messages_coalesced=c.messages_coalesced,
            slow_consumer_closes=c.slow_consumer_closes,
            protocol_errors=c.protocol_errors,
        )
