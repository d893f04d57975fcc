"""pytest fixtures for people who test against the service (registered as the ``trading``
pytest11 plugin; needs pytest-aiohttp, which the ``dev`` extra installs).

- ``trading_clock``: a :class:`~trading.clock.ManualClock` at :data:`TEST_NOW`;
- ``trading_settings``: Settings with a temporary data dir and that clock;
- ``trading_app`` / ``trading_client``: the app from ``create_app`` and an aiohttp test client;
- ``trading_server``: a live server on a free loopback port (for non-aiohttp clients).

Override ``trading_settings`` in your conftest to change any knob.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from trading.app import create_app
from trading.clock import ManualClock
from trading.settings import Settings

TEST_NOW = 1_761_309_296.25
"""2025-10-24 12:34:56.25 UTC, a Friday: intraday, mid-minute, mid-month."""


@pytest.fixture
def trading_clock() -> ManualClock:
    return ManualClock(TEST_NOW)


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return Settings(data_dir=tmp_path / "data", clock=trading_clock)


@pytest.fixture
def trading_app(trading_settings: Settings) -> web.Application:
    return create_app(trading_settings)


@pytest.fixture
async def trading_client(
    aiohttp_client: AiohttpClient, trading_app: web.Application
) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(trading_app)


@pytest.fixture
async def trading_server(aiohttp_server: AiohttpServer, trading_app: web.Application) -> TestServer:
    return await aiohttp_server(trading_app, host="127.0.0.1")
