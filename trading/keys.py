"""Typed application keys shared by the handlers."""

from __future__ import annotations

from aiohttp import web

from trading.market.source import MarketSource
from trading.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
MARKET = web.AppKey("market", MarketSource)
