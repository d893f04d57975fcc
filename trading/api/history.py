"""History answers for ``/datafeed/bars`` and ``/udf/history``: cached bytes, cold work off
the loop.

The bytes come from :class:`~trading.wire.bar_bytes.BarBytes` (segments of final bars spliced
around the forming bar). This module only decides *where* an answer is completed: one that
must build segments or compute uncached history (milliseconds, up to hundreds for a cold year
of 60-minute bars) goes to the ``TRADING_BARS_THREADS`` worker threads so the event loop keeps
serving every other client and WebSocket push meanwhile; a warm one is spliced on the loop,
where a thread hop would cost more than the work.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from trading.keys import MARKET, SETTINGS
from trading.market.resolution import Resolution
from trading.market.symbols import SymbolSpec
from trading.wire.bar_bytes import BarBytes, Shape

BAR_BYTES = web.AppKey("bar_bytes", BarBytes)
BARS_EXECUTOR = web.AppKey("bars_executor", ThreadPoolExecutor)
"""Absent with ``TRADING_BARS_THREADS=0`` (cold history is then computed on the loop)."""


def setup_history(app: web.Application) -> None:
    """The app's bar cache and worker threads (after ``app[MARKET]`` is set)."""
    settings = app[SETTINGS]
    app[BAR_BYTES] = BarBytes(app[MARKET], settings.bars_cache_bytes)
    if settings.bars_threads > 0:
        # threads start on first use; an app that never serves cold history starts none
        app[BARS_EXECUTOR] = ThreadPoolExecutor(settings.bars_threads, thread_name_prefix="bars")
        app.on_cleanup.append(_stop_threads)


async def _stop_threads(app: web.Application) -> None:
    app[BARS_EXECUTOR].shutdown(wait=False, cancel_futures=True)


async def history_body(
    request: web.Request,
    shape: Shape,
    symbol: SymbolSpec,
    resolution: Resolution,
    start: int,
    end: int,
    count_back: int,
) -> bytes:
    """The JSON of a history query (times in seconds), capped at ``TRADING_MAX_BARS``."""
    app = request.app
    answer = app[BAR_BYTES].answer(
        shape, symbol, resolution, start, end, count_back, app[SETTINGS].max_bars
    )
    executor = app.get(BARS_EXECUTOR)
    if answer.cold and executor is not None:
        await asyncio.get_running_loop().run_in_executor(executor, answer.complete)
    else:
        answer.complete()
    return answer.body
