"""Suite-wide hooks: every aiohttp test client checks what it receives against the documents.

``aiohttp_client_cls`` is pytest-aiohttp's extension point: the client class used by
``aiohttp_client`` (and so by ``trading_client``). Ours reads responses through
:class:`CheckedResponse` (REST bodies against OpenAPI, on first read) and WebSocket frames
through :class:`CheckedWebSocket` (text frames against AsyncAPI). A test that must see
undocumented answers on purpose opts out with ``@pytest.mark.spec_unchecked``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.spec_checks import AsyncAPIChecker, OpenAPIChecker
from trading.app import create_app
from trading.settings import Settings
from trading.specs.asyncapi import build_asyncapi
from trading.specs.openapi import build_openapi

pytest_plugins = ["tests.realservers"]  # redis_server, postgres_server, postgres_url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "spec_unchecked: do not check responses against the OpenAPI/AsyncAPI documents"
    )
    config.addinivalue_line("markers", "fuzz: long schemathesis run (make fuzz)")
    config.addinivalue_line(
        "markers", "venv: builds a real venv with pip (slow: tens of seconds, needs the index)"
    )


@pytest.fixture(scope="session")
def openapi_document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return build_openapi(create_app(Settings(data_dir=Path(tmp) / "data")))


@pytest.fixture(scope="session")
def asyncapi_document() -> dict[str, Any]:
    return build_asyncapi()


@pytest.fixture(scope="session")
def openapi_checker(openapi_document: dict[str, Any]) -> OpenAPIChecker:
    return OpenAPIChecker(openapi_document)


@pytest.fixture(scope="session")
def asyncapi_checker(asyncapi_document: dict[str, Any]) -> AsyncAPIChecker:
    return AsyncAPIChecker(asyncapi_document)


class CheckedResponse(aiohttp.ClientResponse):
    checker: OpenAPIChecker | None = None
    _spec_checked = False

    async def read(self) -> bytes:
        body = await super().read()
        if self.checker is not None and not self._spec_checked:
            self._spec_checked = True
            self.checker.check(self.method, self.url.path, self.status, self.content_type, body)
        return body


class CheckedWebSocket(aiohttp.ClientWebSocketResponse):
    checker: AsyncAPIChecker | None = None

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage:
        msg = await super().receive(timeout)
        if self.checker is not None and msg.type is aiohttp.WSMsgType.TEXT:
            self.checker.check(msg.data)
        return msg


@pytest.fixture
def aiohttp_client_cls(
    request: pytest.FixtureRequest,
    openapi_checker: OpenAPIChecker,
    asyncapi_checker: AsyncAPIChecker,
) -> type[TestClient[Any, Any]]:
    if request.node.get_closest_marker("spec_unchecked"):
        return TestClient
    response_class = type("Response", (CheckedResponse,), {"checker": openapi_checker})
    ws_class = type("WebSocket", (CheckedWebSocket,), {"checker": asyncapi_checker})

    class SpecCheckedClient(TestClient[Any, Any]):
        def __init__(self, server: Any, **kwargs: Any) -> None:
            kwargs.setdefault("response_class", response_class)
            kwargs.setdefault("ws_response_class", ws_class)
            super().__init__(server, **kwargs)

    return SpecCheckedClient


@pytest.fixture
def make_client(
    aiohttp_client: Any, trading_settings: Settings
) -> Callable[..., Awaitable[TestClient[web.Request, web.Application]]]:
    """A client on an app built from the module's ``trading_settings`` with some changed
    (balance, debug routes, leverage, ...)."""

    open_clients: list[TestClient[web.Request, web.Application]] = []

    async def make(**changes: Any) -> TestClient[web.Request, web.Application]:
        if "data_dir" not in changes and any(not c.server.closed for c in open_clients):
            # one server per data dir (the store locks it): an app made while an earlier one
            # still runs gets a data dir of its own; a closed one's dir is reused (a restart)
            changes["data_dir"] = trading_settings.data_dir / f"app-{len(open_clients) + 1}"
        client: TestClient[web.Request, web.Application] = await aiohttp_client(
            create_app(trading_settings.replace(**changes))
        )
        open_clients.append(client)
        return client

    return make
