"""Helpers of the imported-history tests: the CLI as a subprocess, the app on a data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from trading.app import create_app
from trading.clock import ManualClock
from trading.settings import Settings
from trading.testing import TEST_NOW

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def import_bars(data_dir: Path, file: Path, *args: str) -> Run:
    """``python -m trading import-bars`` in a process of its own, as an operator runs it."""
    env = {**os.environ, "TRADING_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "trading", "import-bars", str(file), *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return Run(done.returncode, done.stdout, done.stderr)


def settings(data_dir: Path, now: float = TEST_NOW, **changes: Any) -> Settings:
    return Settings(data_dir=data_dir, clock=ManualClock(now), **changes)


_client_cls: list[type[TestClient[Any, Any]]] = [TestClient]


@pytest.fixture(autouse=True)
def spec_checked_clients(aiohttp_client_cls: type[TestClient[Any, Any]]) -> None:
    """Imported into a test module: its :class:`Served` clients check every answer against
    the OpenAPI and AsyncAPI documents, like the suite's other clients (tests/conftest.py)."""
    _client_cls[0] = aiohttp_client_cls


class Served:
    """A started app on ``data_dir`` (a real loopback socket), asked over HTTP."""

    def __init__(self, data_dir: Path, now: float = TEST_NOW, **changes: Any) -> None:
        """``changes``: other settings (``clock_mode="manual"`` for the debug routes)."""
        server = TestServer(create_app(settings(data_dir, now, **changes)))
        self.client: TestClient[Any, Any] = _client_cls[0](server)

    async def __aenter__(self) -> Served:
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def get(self, path: str, **params: str | int) -> Any:
        response = await self.client.get(path, params={k: str(v) for k, v in params.items()})
        assert response.status == 200, await response.text()
        return await response.json()

    async def rest_bars(self, symbol: str, resolution: str, **params: int) -> list[dict[str, Any]]:
        query = {"from_time": 0, "to_time": 4_000_000_000_000, **params}
        body = await self.get(
            "/api/v1/datafeed/bars", symbol=symbol, resolution=resolution, **query
        )
        bars: list[dict[str, Any]] = body["bars"]
        return bars

    async def udf_history(self, symbol: str, resolution: str, **params: int) -> Any:
        query = {"from": 0, "to": 4_000_000_000, **params}
        return await self.get("/api/v1/udf/history", symbol=symbol, resolution=resolution, **query)
