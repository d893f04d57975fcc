"""The broker's desk routes under ``/api/v1/broker`` (rest.md §13): instrument info, margin,
reverse, cancel-all and flatten. The rules live in trading/broker/desk.py and instrument.py."""

from __future__ import annotations

from aiohttp import web

from trading.api.account_scope import account_id
from trading.api.broker import (
    PREFIX,
    STORAGE_UNAVAILABLE,
    broker_symbol,
    domain_errors,
)
from trading.api.io import model_response, parse_query
from trading.errors import ApiError
from trading.keys import BROKER
from trading.models.broker import (
    CanceledOrders,
    CancelOrdersQuery,
    ClosedPositions,
    InstrumentInfo,
    MarginData,
    MarginQuery,
    PlaceOrderResult,
)
from trading.models.meta import HTTPError, HTTPValidationError
from trading.specs.operation import operation
from trading.specs.refusals import FORBIDDEN_ORIGIN, JSON_WRITE
from trading.wire import broker as views

routes = web.RouteTableDef()


@routes.get(f"{PREFIX}/instruments/{{symbol}}")
@operation(
    "getInstrumentInfo",
    tag="broker",
    summary="What the broker enforces on a symbol's orders (TradingView InstrumentInfo)",
    responses={200: InstrumentInfo, 404: HTTPError},
)
async def get_instrument(request: web.Request) -> web.Response:
    symbol = request.match_info["symbol"]
    info = await request.app[BROKER].instrument(await account_id(request), symbol)
    if info is None:
        raise ApiError(404, f"Symbol {symbol} not found")
    return model_response(views.instrument_info(info))


@routes.get(f"{PREFIX}/margin")
@operation(
    "getMargin",
    tag="broker",
    summary="Margin used, margin available and buying power",
    query=MarginQuery,
    responses={200: MarginData, 400: HTTPError, 422: HTTPValidationError},
)
async def get_margin(request: web.Request) -> web.Response:
    query = parse_query(request, MarginQuery)
    name = None if query.symbol is None else broker_symbol(request, query.symbol).name
    margin = await request.app[BROKER].margin(await account_id(request), name)
    return model_response(views.margin(margin))


@routes.post(f"{PREFIX}/positions/{{position_id}}/reverse")
@operation(
    "reversePosition",
    tag="broker",
    summary="Reverse a position at the market in one execution",
    responses={
        200: PlaceOrderResult,
        400: HTTPError,
        404: HTTPError,
        **JSON_WRITE,
        503: STORAGE_UNAVAILABLE,
    },
)
async def reverse_position(request: web.Request) -> web.Response:
    with domain_errors():
        order = await request.app[BROKER].reverse(
            await account_id(request), request.match_info["position_id"]
        )
    return model_response(PlaceOrderResult(orderId=order.id))


@routes.delete(f"{PREFIX}/orders")
@operation(
    "cancelOrders",
    tag="broker",
    summary="Cancel every working order, or those of a symbol and/or side",
    query=CancelOrdersQuery,
    responses={
        200: CanceledOrders,
        400: HTTPError,
        422: HTTPValidationError,
        403: FORBIDDEN_ORIGIN,
        503: STORAGE_UNAVAILABLE,
    },
)
async def cancel_orders(request: web.Request) -> web.Response:
    query = parse_query(request, CancelOrdersQuery)
    with domain_errors(location=("query",)):
        canceled = await request.app[BROKER].cancel_all(
            await account_id(request), query.symbol, query.side
        )
    return model_response(CanceledOrders(canceled=canceled))


@routes.delete(f"{PREFIX}/positions")
@operation(
    "closePositions",
    tag="broker",
    summary="Close every position at the market (flatten)",
    responses={
        200: ClosedPositions,
        400: HTTPError,
        403: FORBIDDEN_ORIGIN,
        503: STORAGE_UNAVAILABLE,
    },
)
async def close_positions(request: web.Request) -> web.Response:
    with domain_errors():
        closed = await request.app[BROKER].flatten(await account_id(request))
    return model_response(ClosedPositions(closed=closed))
