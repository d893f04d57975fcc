"""Wiring of the streaming side: hub, market stream, feeds, routes and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Collection

from aiohttp import WSCloseCode, web

from trading.broker.accounts import DEFAULT_ACCOUNT
from trading.broker.service import BatchListener, BrokerService
from trading.keys import (
    AUTH,
    BROKER,
    BROKER_PUSH,
    FLUSHER,
    HUB,
    MARKET,
    MUTED,
    REMOTE,
    REPLAYS,
    SETTINGS,
    STREAM,
)
from trading.market.source import Bars, Quote
from trading.market.stream import EmitBar, MarketStream
from trading.settings import Settings
from trading.ws import handler
from trading.ws.bench import MutedTopics
from trading.ws.connection import Connection, Flusher
from trading.ws.feeds import (
    AccountFeed,
    BarsFeed,
    BrokerConnectionFeed,
    BrokerPublisher,
    QuotesFeed,
    account_index,
    bar_item,
    connection_status,
    quote_item,
)
from trading.ws.guard import KEY_SOCKETS, KeySockets
from trading.ws.hub import Hub
from trading.ws.protocol import ACCOUNT_ROUTES, BARS, BROKER_CONNECTION, QUOTES, REPLAY
from trading.ws.remote import RemoteBroker
from trading.ws.replay_feed import Accounts, ReplayFeed

SHUTDOWN_FLUSH_S = 0.2
"""At a graceful shutdown, how long queued frames may drain before the sockets are closed."""
SHUTDOWN_CLOSE_S = 0.3
"""At a graceful shutdown, how long a socket's close frame may take to be written (a client
that stopped reading would otherwise hold it for the close timeout); then it is aborted.
With :data:`SHUTDOWN_FLUSH_S` this bounds a SIGTERM's WebSocket phase at 0.5 s, so a worker
of a rolling restart is gone in well under a second even with stuck clients (measured: 3 s
with the former 1 s drain and the 2 s close timeout)."""


def setup_streaming(app: web.Application) -> None:
    settings, market = app[SETTINGS], app[MARKET]
    hub = Hub()

    def emit_bar(topic: str, bars: Bars) -> None:
        hub.publish(BARS, topic, bar_item(bars))

    def emit_quote(topic: str, requested: str, quote: Quote | None) -> None:
        hub.publish(QUOTES, topic, quote_item(requested, quote))

    bars_out: EmitBar = emit_bar
    if settings.bench:  # the publish hook feeds some topics alone (trading/ws/bench.py)
        app[MUTED] = muted = MutedTopics()
        bars_out = muted.bars(emit_bar)
    stream = MarketStream(
        market,
        tick_interval_s=settings.tick_interval_s,
        quotes_slow_interval_s=settings.quotes_slow_interval_s,
        emit_bar=bars_out,
        emit_quote=emit_quote,
        # TRADING_CLOCK=manual: slow quotes are spaced in the scenario's time, not the wall's
        throttle_clock=time.monotonic if settings.manual_clock is None else market.now,
    )
    hub.register_feed(BARS, BarsFeed(stream))
    hub.register_feed(QUOTES, QuotesFeed(stream))
    broker = app[BROKER]
    index = account_index(settings, broker)
    for route in ACCOUNT_ROUTES:
        hub.register_feed(route, AccountFeed(route, broker, index))
    push: BatchListener
    if settings.redis_url is None:
        local = BrokerPublisher(hub, index)
        broker.listen(local)
        push = local.batch
    else:  # several processes: commits reach every process's topics through Redis
        remote = RemoteBroker(hub, index, broker)
        broker.listen_batches(remote.on_batch)
        push = remote.on_batch
        app[REMOTE] = remote
        app.cleanup_ctx.append(_backplane_lifetime)
    if settings.bench:
        app[BROKER_PUSH] = push
    broker.followed = index.following_marks
    hub.register_feed(BROKER_CONNECTION, BrokerConnectionFeed(settings.clock))
    replays = ReplayFeed(
        hub,
        app[REPLAYS],
        market,
        replay_accounts(settings, broker),
        period_s=settings.replay_push_s,
        max_bars=settings.replay_push_max_bars,
    )
    hub.register_feed(REPLAY, replays)
    app[REPLAY_FEED] = replays
    app[HUB] = hub
    if AUTH in app:  # keys mode: a revoked key's sockets are closed (1008)
        app[KEY_SOCKETS] = sockets = KeySockets()
        app[AUTH].on_revoked(sockets.revoked)
    app[FLUSHER] = Flusher()
    app[STREAM] = stream
    app.add_routes(handler.routes)
    app.on_shutdown.append(_shutdown)
    app.cleanup_ctx.append(_stream_lifetime)


async def _backplane_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Connect before serving (bounded: a Redis outage does not stop the server); close after
    the sockets (on_shutdown runs before any cleanup)."""
    from trading.ws.backplane import Backplane  # Redis is loaded only when configured

    settings, remote = app[SETTINGS], app[REMOTE]
    assert settings.redis_url is not None
    backplane = Backplane(
        settings.redis_url.get_secret_value(),
        timeout_s=settings.redis_timeout_s,
        queue_size=settings.redis_publish_queue,
        linger_s=settings.redis_linger_s,
        retry_s=settings.redis_retry_s,
        on_message=remote.dispatch,
        on_resync=remote.resync,
        counters=remote.counters,
    )
    remote.publish = backplane.publish
    remote.index.upstream = backplane
    await backplane.start()
    try:
        yield
    finally:
        remote.index.upstream = None
        remote.publish = None
        await backplane.close()


async def _stream_lifetime(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[STREAM].close()
    await app[REPLAY_FEED].close()


REPLAY_FEED = web.AppKey("replay_feed", ReplayFeed)


def replay_accounts(settings: Settings, broker: BrokerService) -> Accounts:
    """Whose sessions a socket may follow, as the REST routes decide (account_scope.py): off
    mode DEMO-ACCOUNT's; keys mode the caller's accounts' (an anonymous socket: none)."""
    if settings.auth != "keys":
        only = frozenset({DEFAULT_ACCOUNT})

        async def demo(caller: str | None) -> Collection[str]:
            return only

        return demo

    async def owned(caller: str | None) -> Collection[str]:
        if caller is None:
            return ()
        return {a.id for a in await broker.accounts_of(caller)}

    return owned


async def _shutdown(app: web.Application) -> None:
    """Tell broker-connection subscribers, then close every socket with 1001."""
    hub = app[HUB]
    status = connection_status(app[SETTINGS].clock, connected=False)
    for topic in hub.topics_of(BROKER_CONNECTION):
        hub.publish(BROKER_CONNECTION, topic, status)
    connections = [c for c in hub.connections if isinstance(c, Connection)]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SHUTDOWN_FLUSH_S):
            await asyncio.gather(*(c.drained() for c in connections))
    await asyncio.gather(
        *(
            c.close(WSCloseCode.GOING_AWAY, "Server shutdown", within_s=SHUTDOWN_CLOSE_S)
            for c in connections
        )
    )
