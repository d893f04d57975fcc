"""TradingView UDF routes under ``/api/v1/udf`` (udf.md). Times are epoch SECONDS.

TradingView's stock ``UDFCompatibleDatafeed`` ignores HTTP status codes and parses every body
as JSON, so every answer here is a 200 and a bad parameter is ``{"s":"error","errmsg":...}``
naming it (never the 422 of the REST API). Parameters are therefore parsed by hand.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from trading.api.history import history_body
from trading.api.io import json_response, model_response, models_response
from trading.errors import json_bytes_response
from trading.keys import MARKET
from trading.market.limits import MAX_QUOTE_SYMBOLS
from trading.market.resolution import parse_resolution
from trading.market.source import MarketSource
from trading.models.market import (
    SearchSymbolResultItem,
    UdfConfiguration,
    UdfError,
    UdfHistory,
    UdfNoData,
    UdfQuotes,
    UdfSymbolInfo,
)
from trading.models.queries import (
    UdfHistoryQuery,
    UdfQuotesQuery,
    UdfSearchQuery,
    UdfSymbolsQuery,
)
from trading.specs.operation import Content, operation
from trading.wire.bar_bytes import Shape
from trading.wire.market import (
    SEARCH_RESULTS,
    quote_items,
    search_results,
    udf_configuration,
    udf_symbol_info,
)

routes = web.RouteTableDef()

PREFIX = "/api/v1/udf"
SEARCH_DEFAULT_LIMIT = 30
SEARCH_MAX_LIMIT = 100
UNKNOWN_SYMBOL = "unknown_symbol"

_INTEGER = re.compile(r"[+-]?[0-9]{1,64}")  # ASCII, and far below int()'s 4300-digit limit

UdfHandler = Callable[[web.Request], Awaitable[web.Response]]


class UdfRequestError(Exception):
    """A request the adapter should see as ``{"s":"error","errmsg":<message>}``."""


def udf_errors(handler: UdfHandler) -> UdfHandler:
    """Answer :class:`UdfRequestError` with a 200 UDF error body (the adapter ignores status)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except UdfRequestError as exc:
            return model_response(UdfError(errmsg=str(exc)))

    return wrapper


def required_param(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise UdfRequestError(f"Missing required parameter: {name}")
    return value


def int_param(request: web.Request, name: str, default: int | None = None) -> int:
    """An integer parameter; absent or empty gives ``default`` (an error when there is none)."""
    raw = request.query.get(name, "").strip()
    if not raw:
        if default is None:
            raise UdfRequestError(f"Missing required parameter: {name}")
        return default
    if not _INTEGER.fullmatch(raw):
        raise UdfRequestError(f"Invalid parameter {name}: expected an integer, got {raw[:32]!r}")
    return int(raw)


@routes.get(f"{PREFIX}/config")
@operation(
    "udfConfig",
    tag="udf",
    summary="UDF datafeed configuration",
    responses={200: UdfConfiguration},
)
async def udf_config(request: web.Request) -> web.Response:
    return config_answer(request.app[MARKET])


def config_answer(market: MarketSource) -> web.Response:
    return model_response(udf_configuration(market.catalog))


@routes.get(f"{PREFIX}/symbols")
@operation(
    "udfSymbols",
    tag="udf",
    summary="UDF symbol information (unknown symbol: s=error)",
    query=UdfSymbolsQuery,
    responses={200: UdfSymbolInfo | UdfError},
)
@udf_errors
async def udf_symbols(request: web.Request) -> web.Response:
    return symbols_answer(request, request.app[MARKET])


def symbols_answer(request: web.Request, market: MarketSource) -> web.Response:
    spec = market.catalog.lookup(required_param(request, "symbol"))
    if spec is None:
        raise UdfRequestError(UNKNOWN_SYMBOL)
    return model_response(udf_symbol_info(spec))


@routes.get(f"{PREFIX}/search")
@operation(
    "udfSearch",
    tag="udf",
    summary="UDF symbol search",
    query=UdfSearchQuery,
    responses={200: list[SearchSymbolResultItem] | UdfError},
)
@udf_errors
async def udf_search(request: web.Request) -> web.Response:
    return search_answer(request, request.app[MARKET])


def search_answer(request: web.Request, market: MarketSource) -> web.Response:
    limit = int_param(request, "limit", SEARCH_DEFAULT_LIMIT)
    results = search_results(
        market.catalog,
        request.query.get("query", ""),
        request.query.get("exchange", ""),
        request.query.get("type", ""),
        min(max(limit, 1), SEARCH_MAX_LIMIT),
    )
    return models_response(SEARCH_RESULTS, results)


@routes.get(f"{PREFIX}/history")
@operation(
    "udfHistory",
    tag="udf",
    summary="UDF bars in columns (times in epoch seconds)",
    query=UdfHistoryQuery,
    responses={200: UdfHistory | UdfNoData | UdfError},
)
@udf_errors
async def udf_history(request: web.Request) -> web.Response:
    return await history_answer(request, request.app[MARKET], None)


async def history_answer(
    request: web.Request, market: MarketSource, view: MarketSource | None
) -> web.Response:
    """``/history`` of ``market`` (``view``: a replay session's, also ``market``)."""
    symbol = required_param(request, "symbol")
    resolution_text = required_param(request, "resolution")
    start = int_param(request, "from")
    end = int_param(request, "to")
    count_back = int_param(request, "countback", 0)
    if start > end:
        raise UdfRequestError(f"Invalid parameters from/to: from ({start}) is after to ({end})")
    if count_back < 0:
        raise UdfRequestError(f"Invalid parameter countback: {count_back} is negative")
    resolution = parse_resolution(resolution_text)
    if resolution is None:
        raise UdfRequestError(f"Unsupported resolution: {resolution_text}")
    spec = market.catalog.lookup(symbol)
    if spec is None:
        raise UdfRequestError(UNKNOWN_SYMBOL)
    body = await history_body(request, Shape.UDF, spec, resolution, start, end, count_back, view)
    return json_bytes_response(body)


@routes.get(f"{PREFIX}/quotes")
@operation(
    "udfQuotes",
    tag="udf",
    summary="UDF quotes",
    query=UdfQuotesQuery,
    responses={200: UdfQuotes | UdfError},
)
@udf_errors
async def udf_quotes(request: web.Request) -> web.Response:
    return quotes_answer(request, request.app[MARKET])


def quotes_answer(request: web.Request, market: MarketSource) -> web.Response:
    symbols = [s.strip() for s in request.query.get("symbols", "").split(",") if s.strip()]
    if not symbols:
        raise UdfRequestError("Missing required parameter: symbols")
    if len(symbols) > MAX_QUOTE_SYMBOLS:
        raise UdfRequestError(
            f"Invalid parameter symbols: {len(symbols)} given, at most {MAX_QUOTE_SYMBOLS}"
        )
    return model_response(UdfQuotes(d=quote_items(market, symbols)))


@routes.get(f"{PREFIX}/time")
@operation(
    "udfTime",
    tag="udf",
    summary="Server time in epoch seconds (text/plain)",
    responses={200: Content(int, media_type="text/plain")},
)
async def udf_time(request: web.Request) -> web.Response:
    """Bare integer seconds, ``text/plain`` (udf.md §7)."""
    return time_answer(request.app[MARKET])


def time_answer(market: MarketSource) -> web.Response:
    return web.Response(text=str(math.floor(market.now())), content_type="text/plain")


@routes.get(f"{PREFIX}/marks")
@operation("udfMarks", tag="udf", summary="Marks (not advertised)", hidden=True)
async def udf_marks(request: web.Request) -> web.Response:
    """Not advertised (``supports_marks`` false); answers an empty list if called."""
    return json_response([])


@routes.get(f"{PREFIX}/timescale_marks")
@operation("udfTimescaleMarks", tag="udf", summary="Timescale marks (not advertised)", hidden=True)
async def udf_timescale_marks(request: web.Request) -> web.Response:
    """Not advertised (``supports_timescale_marks`` false); answers an empty list if called."""
    return json_response([])


@routes.get(f"{PREFIX}/symbol_info")
@operation("udfSymbolInfo", tag="udf", summary="Group symbol info (not advertised)", hidden=True)
async def udf_symbol_info_group(request: web.Request) -> web.Response:
    """Group requests are not advertised (``supports_group_request`` false)."""
    return model_response(UdfError(errmsg="group requests are not supported"))
