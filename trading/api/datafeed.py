"""JSON datafeed routes under ``/api/v1/datafeed`` (rest.md §6). Times are epoch milliseconds.

Handlers parse, call the market source and shape the answer; selection rules (count_back, cap,
no_data) live in the source. ``/bars`` is a hot path: bars go from numpy columns straight to
orjson instead of through thousands of pydantic models (the shape is still ``GetBarsResponse``).
"""

from __future__ import annotations

from functools import lru_cache

from aiohttp import web

from trading.api.history import history_body
from trading.api.io import (
    model_json,
    model_response,
    models_response,
    parse_body,
    parse_query,
)
from trading.errors import ApiError, json_bytes_response
from trading.keys import MARKET
from trading.market.resolution import Resolution
from trading.market.source import MarketSource
from trading.market.symbols import SymbolCatalog, SymbolSpec
from trading.models.market import (
    DatafeedConfiguration,
    DatafeedHealthResponse,
    GetBarsResponse,
    GetQuotesRequest,
    QuoteData,
    SearchSymbolResultItem,
    SymbolInfo,
)
from trading.models.meta import HTTPError, HTTPValidationError
from trading.models.queries import GetBarsQuery, SearchQuery, SymbolPath
from trading.security import read_only
from trading.specs.operation import operation
from trading.timefmt import iso_ms
from trading.wire.bar_bytes import Shape
from trading.wire.market import (
    QUOTE_ITEMS,
    SEARCH_RESULTS,
    SYMBOL_NOT_FOUND,
    datafeed_configuration,
    quote_items,
    search_results,
    symbol_info,
)

routes = web.RouteTableDef()


def require_symbol(catalog: SymbolCatalog, text: str) -> SymbolSpec:
    """The symbol ``text`` names (market.md §1), else 404 ``Symbol not found``."""
    spec = catalog.lookup(text)
    if spec is None:
        raise ApiError(404, SYMBOL_NOT_FOUND)
    return spec


PREFIX = "/api/v1/datafeed"


def ms_to_s_ceil(ms: int) -> int:
    """First whole second at or after ``ms``: ``time_ms >= from_ms`` ⇔ ``time_s >= ceil``, and
    ``time_ms < to_ms`` ⇔ ``time_s < ceil`` (labels are whole seconds)."""
    return -(-ms // 1000)


@routes.get(f"{PREFIX}/config")
@operation(
    "getConfig",
    tag="datafeed",
    summary="Datafeed configuration (resolutions, exchanges, symbol types)",
    responses={200: DatafeedConfiguration},
)
async def get_config(request: web.Request) -> web.Response:
    return json_bytes_response(config_body(request.app[MARKET].catalog))


@lru_cache(maxsize=16)
def config_body(catalog: SymbolCatalog) -> bytes:
    """The configuration's JSON: a function of the catalog alone, which never changes, so it
    is made once per catalog (building and dumping the model was most of the route's cost)."""
    return model_json(datafeed_configuration(catalog))


@lru_cache(maxsize=1024)
def symbol_body(spec: SymbolSpec) -> bytes:
    """A symbol's ``resolve`` answer, made once per symbol (specs are frozen)."""
    return model_json(symbol_info(spec))


@routes.get(f"{PREFIX}/search")
@operation(
    "searchSymbols",
    tag="datafeed",
    summary="Search symbols by name, description or ticker",
    query=SearchQuery,
    responses={200: list[SearchSymbolResultItem], 422: HTTPValidationError},
)
async def search_symbols(request: web.Request) -> web.Response:
    query = parse_query(request, SearchQuery)
    results = search_results(
        request.app[MARKET].catalog,
        query.user_input,
        query.exchange,
        query.symbol_type,
        query.max_results,
    )
    return models_response(SEARCH_RESULTS, results)


@routes.get(f"{PREFIX}/resolve/{{symbol}}")
@operation(
    "resolveSymbol",
    tag="datafeed",
    summary="Symbol information",
    path=SymbolPath,
    responses={200: SymbolInfo, 404: HTTPError},
)
async def resolve_symbol(request: web.Request) -> web.Response:
    spec = require_symbol(request.app[MARKET].catalog, request.match_info["symbol"])
    return json_bytes_response(symbol_body(spec))


@routes.get(f"{PREFIX}/bars")
@operation(
    "getBars",
    tag="datafeed",
    summary="Historical bars (times in epoch milliseconds)",
    query=GetBarsQuery,
    responses={200: GetBarsResponse, 404: HTTPError, 422: HTTPValidationError},
)
async def get_bars(request: web.Request) -> web.Response:
    return await bars_answer(request, request.app[MARKET], None)


async def bars_answer(
    request: web.Request, market: MarketSource, view: MarketSource | None
) -> web.Response:
    """``/bars`` of ``market`` (``view``: a replay session's, also ``market``)."""
    query = parse_query(request, GetBarsQuery)
    spec = require_symbol(market.catalog, query.symbol)
    body = await history_body(
        request,
        Shape.REST,
        spec,
        Resolution(query.resolution),
        ms_to_s_ceil(query.from_time),
        ms_to_s_ceil(query.to_time),
        query.count_back or 0,
        view,
    )
    return json_bytes_response(body)


@routes.post(f"{PREFIX}/quotes")
@operation(
    "getQuotes",
    tag="datafeed",
    summary="Quotes of a list of symbols, one item per requested symbol",
    body=GetQuotesRequest,
    responses={200: list[QuoteData], 422: HTTPValidationError},
)
@read_only
async def get_quotes(request: web.Request) -> web.Response:
    return await quotes_answer(request, request.app[MARKET])


async def quotes_answer(request: web.Request, market: MarketSource) -> web.Response:
    body = await parse_body(request, GetQuotesRequest)
    return models_response(QUOTE_ITEMS, quote_items(market, body.symbols))


@routes.get(f"{PREFIX}/health")
@operation(
    "datafeedHealthCheck",
    tag="datafeed",
    summary="Datafeed health",
    responses={200: DatafeedHealthResponse},
)
async def datafeed_health_check(request: web.Request) -> web.Response:
    market = request.app[MARKET]
    symbols = market.catalog.symbols
    return model_response(
        DatafeedHealthResponse(
            status="ok",
            message="Datafeed service is running",
            symbols_loaded=len(symbols),
            bars_count=market.daily_bar_count(symbols[0]) if symbols else 0,
            timestamp=iso_ms(market.now()),
        )
    )
