"""The paper broker: orders that fill against the simulated market, netting positions, P&L,
leverage, persisted in SQLite. Plain Python: nothing here imports aiohttp, the API or the hub.
"""
