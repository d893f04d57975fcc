"""Trading API: market data, TradingView UDF, live streaming and a paper broker on aiohttp."""

from importlib.metadata import version

__version__ = version("trading")
"""The package version, read from the installed distribution: ``pyproject.toml`` is its one
definition (the OpenAPI/AsyncAPI ``info.version`` and the root index show it)."""
