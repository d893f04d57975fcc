"""The ``trading`` pytest plugin (entry point ``pytest11``): fixtures for testing against the
service from any project that installs ``trading``.

pytest loads every installed ``pytest11`` plugin in every run of that environment, so this
module must import with nothing but pytest and the standard library: the service (aiohttp
app, numpy, pydantic) is imported only when a fixture is used, and the async fixtures need
the ``testing`` extra (``pip install 'trading[testing]'``: pytest-aiohttp, pytest-asyncio).
Without it, ``trading_clock``/``trading_settings``/``trading_app`` still work and
``trading_client``/``trading_server`` fail with a message that says what to install.

- ``trading_clock``: a :class:`~trading.clock.ManualClock` at :data:`TEST_NOW`;
- ``trading_settings``: Settings with a temporary data dir and that clock, plus the changes of
  any ``@pytest.mark.trading_settings(...)`` marker;
- ``trading_app`` / ``trading_client``: the app from ``create_app`` and an aiohttp test client;
- ``trading_server``: a live server on a free loopback port (for non-aiohttp clients).

To change settings for a whole module or project and keep the temporary data dir and the
manual clock, override the fixture on top of the plugin's one::

    @pytest.fixture
    def trading_settings(trading_settings: Settings) -> Settings:
        return trading_settings.replace(market_spread_bps=0)

Helpers and re-exports for the tests themselves live in :mod:`trading.testing`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiohttp import web

    from trading.clock import ManualClock
    from trading.settings import Settings

TEST_NOW = 1_761_309_296.25
"""2025-10-24 12:34:56.25 UTC, a Friday: intraday, mid-minute, mid-month."""

SETTINGS_MARKER = "trading_settings"

try:  # the async fixtures need the ``testing`` extra; the rest of the plugin does not
    from trading._pytest_async import trading_client, trading_server
except ImportError as exc:  # pytest-aiohttp or pytest-asyncio is not installed
    from trading._pytest_missing import missing_extra

    trading_client = missing_extra("trading_client", exc)
    trading_server = missing_extra("trading_server", exc)

__all__ = [
    "TEST_NOW",
    "trading_app",
    "trading_client",
    "trading_clock",
    "trading_server",
    "trading_settings",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{SETTINGS_MARKER}(**changes): Settings fields that this test's trading_settings "
        "changes (the temporary data dir and the manual clock stay unless named)",
    )


@pytest.fixture
def trading_clock() -> ManualClock:
    from trading.clock import ManualClock

    return ManualClock(TEST_NOW)


@pytest.fixture
def trading_settings(
    request: pytest.FixtureRequest, tmp_path: Path, trading_clock: ManualClock
) -> Settings:
    from trading.settings import Settings

    changes: dict[str, Any] = {}
    # outermost marker first (module, class, function), so the closest one wins
    for marker in reversed(list(request.node.iter_markers(SETTINGS_MARKER))):
        if marker.args:
            raise pytest.UsageError(
                f"@pytest.mark.{SETTINGS_MARKER} takes Settings fields as keywords only, "
                f"got positional {marker.args!r}"
            )
        changes.update(marker.kwargs)
    return Settings(data_dir=tmp_path / "data", clock=trading_clock).replace(**changes)


@pytest.fixture
def trading_app(trading_settings: Settings) -> web.Application:
    from trading.app import create_app

    return create_app(trading_settings)
