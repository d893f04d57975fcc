"""Broker pushes through the backplane (``TRADING_REDIS_URL``): what is published for a
commit, how a received one reaches this process's topics, and the fresh snapshots after a gap.

Kept apart from :mod:`trading.ws.backplane` (Redis itself) so that this side imports no
Redis client: a default-mode server never loads one.

A commit is encoded **once** (orjson): ``[account, version, [[route, payload], ...]]``, the
payloads exactly as the local path sends them (:func:`~trading.ws.feeds.event_payload`). Every
process, the committing one included, pushes it to its local topics when it comes back from
Redis, so all subscribers see one order: Redis'. Two processes' publishes of one account may
cross on the way (commit v5 here, v6 there, v6 published first): a push older than one already
dispatched is not applied; its subscribers get a fresh snapshot instead. Price marks
(``version`` None: equity, P&L and margin between commits) are computed by every process from
the deterministic market and never go through Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from trading.broker.errors import StorageError, UnknownAccount
from trading.broker.events import BrokerEvent
from trading.broker.service import BrokerService
from trading.broker.snapshot import CommittedState
from trading.ws.feeds import (
    AccountTopicIndex,
    BrokerPublisher,
    event_payload,
    event_route,
    since_of,
    snapshot_items,
)
from trading.ws.hub import Hub
from trading.ws.protocol import ACCOUNT_ROUTES, EXECUTIONS

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]


@dataclass
class BackplaneCounters:
    published: int = 0
    """Pushes Redis accepted."""
    dropped: int = 0
    """Pushes lost before Redis took them (full queue, failed or timed-out flush)."""
    received: int = 0
    """Pushes the reader received (and dispatched)."""
    resyncs: int = 0
    """Rounds of fresh snapshots (after a reconnect, a peer's dropped pushes, a late push)."""
    reconnects: int = 0
    """Times the pub/sub connection came back after it dropped."""
    subscribes: int = 0
    unsubscribes: int = 0


def encode(account: str, version: int, events: list[BrokerEvent]) -> bytes:
    return orjson.dumps([account, version, [[event_route(e), event_payload(e)] for e in events]])


class RemoteBroker:
    """The streaming side of the backplane for one app: publishes commits, dispatches what
    arrives, and resends snapshots."""

    def __init__(self, hub: Hub, index: AccountTopicIndex, broker: BrokerService) -> None:
        self._hub = hub
        self.index = index
        self._broker = broker
        self._local = BrokerPublisher(hub, index)
        self.counters = BackplaneCounters()
        self.publish: Publish | None = None
        """The backplane's :meth:`~trading.ws.backplane.Backplane.publish` (set once built)."""
        self._latest: dict[str, int] = {}
        """The newest version dispatched per followed account (late pushes are found here)."""
        self._resyncing: set[asyncio.Task[None]] = set()

    def on_batch(self, account: str, events: list[BrokerEvent], version: int | None) -> None:
        """The broker's batch listener: a commit goes to Redis, a price mark stays here."""
        if version is None:
            for event in events:
                self._local(account, event)
        elif self.publish is not None:
            self.publish(account, encode(account, version, events))

    def dispatch(self, account: str, data: bytes) -> None:
        """A push from Redis: to this account's local topics, each update serialized once
        per topic; an executions topic with a symbol gets that symbol's fills alone."""
        if not self.index.followed(account):  # lingering channel: nobody here any more
            self._latest.pop(account, None)
            return
        _, version, updates = orjson.loads(data)
        late = version < self._latest.get(account, 0)
        if late:
            # Two processes committed this account one after the other, and the later commit's
            # push arrived first. Its states (an order, a position, equity) would go back in
            # time: the subscribers get the stored state afresh instead, and only the late
            # push's executions, which no snapshot holds.
            updates = [u for u in updates if u[0] == EXECUTIONS]
            self._resync_soon(account)
        else:
            self._latest[account] = version
        hub, index = self._hub, self.index
        for route, payload in updates:
            topics = index.topics(account, route)
            if not topics:
                continue
            symbol = _symbol(payload) if route == EXECUTIONS else None
            for topic, wanted in list(topics.items()):
                if wanted is not None and wanted[0] != symbol:
                    continue
                hub.publish(route, topic, payload, version)

    def _resync_soon(self, account: str) -> None:
        self.counters.resyncs += 1
        task = asyncio.get_running_loop().create_task(self.resync([account]))
        self._resyncing.add(task)
        task.add_done_callback(self._resyncing.discard)

    async def resync(self, accounts: list[str]) -> None:
        """Fresh snapshots (read from the store: authoritative) to every local subscriber of
        each account, in the shapes a subscribe gets, skipping pushes they contain."""
        for account in accounts:
            if not self.index.followed(account):
                continue
            try:
                await self._broker.subscribe_with_snapshot(account, partial(self._resend, account))
            except (StorageError, UnknownAccount) as exc:
                log.warning("no fresh snapshot for %s after a backplane gap: %s", account, exc)

    def _resend(self, account: str, state: CommittedState) -> None:
        since = since_of(state)
        for route in ACCOUNT_ROUTES:
            topics = self.index.topics(account, route)
            if not topics:
                continue
            snapshot = snapshot_items(route, state)
            for topic in list(topics):
                self._hub.resend(route, topic, snapshot, since)


def _symbol(payload: Any) -> str | None:
    symbol = payload.get("symbol") if isinstance(payload, dict) else None
    return symbol if isinstance(symbol, str) else None
