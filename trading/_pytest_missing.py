"""Stand-ins for the plugin's async fixtures when the ``testing`` extra is not installed: a
test that asks for one fails with what to install; every other test runs as if the plugin
were not there."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest


def missing_extra(name: str, error: ImportError) -> Any:
    message = (
        f"fixture {name!r} of the trading pytest plugin needs pytest-aiohttp and "
        f"pytest-asyncio ({error}); install them with: pip install 'trading[testing]'"
    )

    def fixture() -> NoReturn:
        pytest.fail(message, pytrace=False)

    fixture.__name__ = name
    fixture.__doc__ = message
    return pytest.fixture(name=name)(fixture)
