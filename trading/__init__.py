"""Trading API: market data, TradingView UDF, live streaming and a paper broker on aiohttp."""

__version__ = "1.0.0"
