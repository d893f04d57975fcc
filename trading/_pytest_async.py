"""The plugin's async fixtures: imported only when pytest-aiohttp and pytest-asyncio (the
``testing`` extra) are installed, so that their absence cannot break the plugin's import."""

from __future__ import annotations

import pytest_aiohttp  # noqa: F401  (the import is the check: its fixtures are used below)
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer


# pytest_asyncio.fixture (not pytest.fixture): the fixtures work in asyncio "strict" mode too
@pytest_asyncio.fixture
async def trading_client(
    aiohttp_client: AiohttpClient, trading_app: web.Application
) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(trading_app)


@pytest_asyncio.fixture
async def trading_server(aiohttp_server: AiohttpServer, trading_app: web.Application) -> TestServer:
    return await aiohttp_server(trading_app, host="127.0.0.1")
