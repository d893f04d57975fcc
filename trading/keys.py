"""Typed application keys shared by the handlers."""

from __future__ import annotations

from aiohttp import web

from trading.auth.authenticator import Authenticator
from trading.auth.principal import AccountDirectory, Principal
from trading.broker.replays import Replays
from trading.broker.service import BatchListener, BrokerService
from trading.market.scenario import Scenario
from trading.market.source import MarketSource
from trading.market.stream import MarketStream
from trading.settings import Settings
from trading.ws.bench import MutedTopics
from trading.ws.connection import Flusher
from trading.ws.hub import Hub
from trading.ws.remote import RemoteBroker

SETTINGS = web.AppKey("settings", Settings)
MARKET = web.AppKey("market", MarketSource)
HUB = web.AppKey("hub", Hub)
STREAM = web.AppKey("stream", MarketStream)
BROKER = web.AppKey("broker", BrokerService)
FLUSHER = web.AppKey("ws_flusher", Flusher)
MUTED = web.AppKey("bench_muted_topics", MutedTopics)
AUTH = web.AppKey("auth", Authenticator)
"""Keys mode only: credentials, sessions, tickets, rate limits (absent in off mode)."""
ACCOUNTS = web.AppKey("accounts", AccountDirectory)
"""The broker accounts of a user (``/auth/me``)."""
PRINCIPAL = web.RequestKey("principal", Principal)
"""Keys mode: who an authenticated request acts for (absent in off mode and on public paths)."""
REMOTE = web.AppKey("remote_broker", RemoteBroker)
"""With ``TRADING_REDIS_URL``: broker pushes through the backplane."""
BROKER_PUSH: web.AppKey[BatchListener] = web.AppKey("bench_broker_push")
"""``TRADING_BENCH=1`` only: what the broker's commits go through to the sockets (the
streaming side's listener), for ``POST /api/v1/__bench/broker``."""
SCENARIO = web.AppKey("scenario", Scenario)
"""``TRADING_CLOCK=manual`` only: the manual clock and scripted prices the debug routes move."""
REPLAYS = web.AppKey("replays", Replays)
"""Bar-replay sessions (docs/replay.md), read by their REST routes and the ``replay`` stream."""
