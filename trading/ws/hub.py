"""The broadcast hub: topic → subscribers, reference-counted feeds, fan-out of shared bytes.

``publish`` serializes an update **once** and hands the same bytes to every subscriber's
bounded queue; it never awaits a socket (architecture.md "Data flow of one live update"). A
feed learns about a topic only on its 0↔1 transitions, so producers run exactly while someone
listens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Hashable
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


class Start(Protocol):
    def __call__(self, snapshot: list[Item], since: int | None = None) -> None:
        """Register the subscription, answer ``ok`` and queue the snapshot items, at once.
        ``since``: the version the snapshot is (pushes of that version or older are in it
        and are not sent: :meth:`Hub.publish`)."""
        ...


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

    def attach(
        self, topic: str, request: Any, start: Start, caller: str | None
    ) -> Awaitable[None] | None:
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
        self._since: dict[str, dict[Subscriber, int]] = {}
        """Per topic, subscribers whose snapshot is a version that later pushes may still
        precede (the backplane: a push and a snapshot read in another process race)."""
        self._feeds: dict[str, Feed] = {}
        self.connections: set[Subscriber] = set()
        self.counters = Counters()

    def register_feed(self, route: str, feed: Feed) -> None:
        self._feeds[route] = feed

    def feed(self, route: str) -> Feed:
        return self._feeds[route]

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(
        self,
        conn: Subscriber,
        route: str,
        topic: str,
        request: StrictRequest,
        since: int | None = None,
    ) -> None:
        """``since``: the version of the snapshot the subscriber got; pushes published with
        a version up to it are not sent to it (they are in the snapshot)."""
        subscribers = self._topics.get(topic)
        if subscribers is None:
            subscribers = self._topics[topic] = set()
            self._feeds[route].activate(topic, request)
        subscribers.add(conn)
        conn.topics.add(topic)
        self._set_since(topic, conn, since)

    def _set_since(self, topic: str, conn: Subscriber, since: int | None) -> None:
        if since is not None:
            self._since.setdefault(topic, {})[conn] = since
        else:
            self._forget_since(topic, conn)

    def _forget_since(self, topic: str, conn: Subscriber) -> None:
        since = self._since.get(topic)
        if since is not None:
            since.pop(conn, None)
            if not since:
                del self._since[topic]

    def unsubscribe(self, conn: Subscriber, topic: str) -> None:
        conn.topics.discard(topic)
        subscribers = self._topics.get(topic)
        if subscribers is None:
            return
        subscribers.discard(conn)
        if self._since:
            self._forget_since(topic, conn)
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

    def publish(
        self, route: str, topic: str, item: dict[str, Any], version: int | None = None
    ) -> int:
        """Queue one ``<route>.update`` for every subscriber of ``topic``; returns how many.
        ``version``: the account version of a broker push from the backplane; a subscriber
        whose snapshot already is that version (or newer) skips it."""
        subscribers = self._topics.get(topic)
        if not subscribers:
            return 0
        data = protocol.update(route, topic, item)
        key = protocol.coalesce_key(route, topic, item)
        source = None if key is None else (route, topic, item)
        skip = self._skipping(topic, version) if version is not None and self._since else None
        if skip:
            sent = 0
            for conn in subscribers:
                if conn not in skip:
                    conn.send(data, key, source)
                    sent += 1
            return sent
        for conn in subscribers:
            conn.send(data, key, source)
        return len(subscribers)

    def _skipping(self, topic: str, version: int) -> set[Subscriber] | None:
        """The subscribers of ``topic`` whose snapshot contains ``version``; the others have
        passed their snapshot: forgotten (pushes of one account arrive in commit order)."""
        since = self._since.get(topic)
        if since is None:
            return None
        skip = {conn for conn, seen in since.items() if version <= seen}
        if len(skip) < len(since):
            for conn in [c for c in since if c not in skip]:
                del since[conn]
            if not since:
                del self._since[topic]
        return skip

    def resend(self, route: str, topic: str, snapshot: list[Item], since: int | None) -> int:
        """Queue a fresh snapshot to every subscriber of ``topic`` (after pushes may have been
        lost), serialized once; pushes up to ``since`` are then skipped as on subscribe."""
        subscribers = self._topics.get(topic)
        if not subscribers:
            return 0
        frames = [
            (protocol.update(route, topic, item), protocol.coalesce_key(route, topic, item))
            for item in snapshot
        ]
        for conn in subscribers:
            for data, key in frames:
                conn.send(data, key)
            self._set_since(topic, conn, since)
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
