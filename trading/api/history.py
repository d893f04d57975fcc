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
import logging
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from trading.keys import MARKET, SETTINGS
from trading.market.resolution import Resolution, parse_resolution
from trading.market.source import MarketSource
from trading.market.symbols import SymbolSpec
from trading.wire.bar_bytes import BarBytes, Shape

BAR_BYTES = web.AppKey("bar_bytes", BarBytes)
BARS_EXECUTOR = web.AppKey("bars_executor", ThreadPoolExecutor)
"""Absent with ``TRADING_BARS_THREADS=0`` (cold history is then computed on the loop)."""

log = logging.getLogger(__name__)

WARM_UP_S = 3_600
"""The warm-up's window: the last hour of one-minute bars of each symbol it warms."""
WARM_UP_SYMBOLS = 16
"""At most this many symbols (the catalog's first) are warmed: ~1.5 ms each at start."""


def setup_history(app: web.Application) -> None:
    """The app's bar cache and worker threads (after ``app[MARKET]`` is set)."""
    settings = app[SETTINGS]
    app[BAR_BYTES] = BarBytes(app[MARKET], settings.bars_cache_bytes)
    if settings.bars_threads > 0:
        # threads start on first use; an app that never serves cold history starts none
        app[BARS_EXECUTOR] = ThreadPoolExecutor(settings.bars_threads, thread_name_prefix="bars")
        app.on_cleanup.append(_stop_threads)
    app.on_startup.append(_warm_up)


async def _warm_up(app: web.Application) -> None:
    """Answer one small history query of each shape before the server listens.

    The first history answer of a process pays costs that no later one does: the worker
    thread's start, the first run of every numpy and orjson path of generation and
    serialization, the series' long-lived levels. Measured, the first cold 10 000-bar answer
    took 14-38 ms where the next cold one (another symbol) took 9-11 (docs/performance.md,
    History); paid here, a few milliseconds of start-up, no client waits for them. A failure
    is logged, never fatal: the warm-up is an optimisation. Each symbol's long-lived levels
    (its daily series, today's hours) are warmed too, so the first chart of any default
    symbol starts from them."""
    market = app[MARKET]
    minute = parse_resolution("1")
    assert minute is not None
    now = int(market.now())
    answers = [
        app[BAR_BYTES].answer(shape, symbol, minute, now - WARM_UP_S, now, 0, None)
        for symbol in market.catalog.symbols[:WARM_UP_SYMBOLS]
        for shape in Shape
    ]

    def complete() -> None:
        for answer in answers:
            answer.complete()

    executor = app.get(BARS_EXECUTOR)
    try:
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, complete)
        else:
            complete()
    except Exception:
        log.exception("the history warm-up failed (the first history request pays it)")


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
    view: MarketSource | None = None,
) -> bytes:
    """The JSON of a history query (times in seconds), capped at ``TRADING_MAX_BARS``;
    ``view``: of that market instead of the app's (a replay session's)."""
    app = request.app
    answer = app[BAR_BYTES].answer(
        shape, symbol, resolution, start, end, count_back, app[SETTINGS].max_bars, view
    )
    executor = app.get(BARS_EXECUTOR)
    if answer.cold and executor is not None:
        await asyncio.get_running_loop().run_in_executor(executor, answer.complete)
    else:
        answer.complete()
    return answer.body
