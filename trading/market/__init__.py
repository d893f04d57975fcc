"""The synthetic market: symbols, resolutions, the random-access series and quotes.

Plain Python + numpy: nothing here imports aiohttp, the API or the broker.
"""
