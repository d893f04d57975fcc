"""Typed application keys shared by the handlers."""

from __future__ import annotations

from aiohttp import web

from trading.auth.principal import Principal
from trading.broker.service import BrokerService
from trading.market.source import MarketSource
from trading.market.stream import MarketStream
from trading.settings import Settings
from trading.ws.bench import MutedTopics
from trading.ws.connection import Flusher
from trading.ws.hub import Hub

SETTINGS = web.AppKey("settings", Settings)
MARKET = web.AppKey("market", MarketSource)
HUB = web.AppKey("hub", Hub)
STREAM = web.AppKey("stream", MarketStream)
BROKER = web.AppKey("broker", BrokerService)
FLUSHER = web.AppKey("ws_flusher", Flusher)
MUTED = web.AppKey("bench_muted_topics", MutedTopics)
PRINCIPAL = web.RequestKey("principal", Principal)
"""Set on every authenticated request in ``TRADING_AUTH=keys`` mode; absent in off mode."""
