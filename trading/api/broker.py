"""Paper-broker routes under ``/api/v1/broker`` (rest.md §7). Rules live in trading.broker."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pydantic
from aiohttp import web

from trading.api import broker_views as views
from trading.api.io import (
    json_response,
    model_response,
    parse_query,
    read_json,
    validate_body,
)
from trading.broker.engine import BracketRequest
from trading.broker.money import to_decimal, to_tick
from trading.broker.preview import leverage_preview, order_preview
from trading.broker.rules import BrokerError, RuleViolations, required_price_items_raw
from trading.errors import ApiError, RequestValidationError, error_item, validation_items
from trading.keys import BROKER, SETTINGS
from trading.models.broker import (
    AccountMetainfo,
    Body_editPositionBrackets,
    ClosePositionQuery,
    EquityData,
    Execution,
    LeverageInfo,
    LeverageInfoQuery,
    LeveragePreviewResult,
    LeverageSetParams,
    LeverageSetResult,
    OrderPreviewResult,
    PlacedOrder,
    PlaceOrderResult,
    Position,
    PreOrder,
    SuccessResponse,
)
from trading.models.meta import HTTPError, HTTPValidationError
from trading.security import forwarded, read_only
from trading.specs.operation import Content, operation

routes = web.RouteTableDef()
STORAGE_UNAVAILABLE = Content(
    HTTPError,
    description="The broker database cannot take the write now (disk full, read-only, deleted "
    "file): nothing was changed; retry later (`Retry-After`). `detail` says why.",
)
PREFIX = "/api/v1/broker"
ACCOUNT = AccountMetainfo(id="DEMO-ACCOUNT", name="Demo Trading Account")

FORBIDDEN_ORIGIN = Content(
    HTTPError, description="A browser page from an origin that may not change state here"
)
NOT_JSON = Content(HTTPError, description="The request does not say Content-Type: application/json")
JSON_WRITE = {403: FORBIDDEN_ORIGIN, 415: NOT_JSON}
"""What trading/security.py answers on write routes (DELETE has no body: 403 only)."""


@contextmanager
def domain_errors() -> Iterator[None]:
    """Broker refusals as HTTP errors: rule violations → 422, state refusals → 400/404."""
    try:
        yield
    except RuleViolations as exc:
        raise RequestValidationError(exc.errors) from None
    except BrokerError as exc:
        raise ApiError(exc.status, exc.detail) from None


async def parse_pre_order(request: web.Request) -> PreOrder:
    """PreOrder with every failing field reported, type-specific prices included."""
    raw = await read_json(request)
    try:
        return PreOrder.model_validate(raw)
    except pydantic.ValidationError as exc:
        items = validation_items(exc, "body")
        seen = {tuple(i["loc"]) for i in items}
        items += [i for i in required_price_items_raw(raw) if tuple(i["loc"]) not in seen]
        raise RequestValidationError(items) from None


@routes.post(f"{PREFIX}/orders")
@operation(
    "placeOrder",
    tag="broker",
    summary="Place an order",
    body=PreOrder,
    responses={
        200: PlaceOrderResult,
        400: HTTPError,
        422: HTTPValidationError,
        **JSON_WRITE,
        503: STORAGE_UNAVAILABLE,
    },
)
async def place_order(request: web.Request) -> web.Response:
    pre = await parse_pre_order(request)
    with domain_errors():
        order = await request.app[BROKER].place(pre)
    return model_response(PlaceOrderResult(orderId=order.id))


@routes.post(f"{PREFIX}/orders/preview")
@operation(
    "previewOrder",
    tag="broker",
    summary="Preview an order (nothing is stored)",
    body=PreOrder,
    responses={200: OrderPreviewResult, 422: HTTPValidationError},
)
@read_only
async def preview_order(request: web.Request) -> web.Response:
    pre = validate_body(await read_json(request), PreOrder)
    broker = request.app[BROKER]
    result = await broker.read(lambda e: order_preview(e, pre, broker.clock.now()))
    return model_response(views.order_preview(result))


@routes.put(f"{PREFIX}/orders/{{order_id}}")
@operation(
    "modifyOrder",
    tag="broker",
    summary="Modify a working order",
    body=PreOrder,
    responses={
        200: SuccessResponse,
        400: HTTPError,
        422: HTTPValidationError,
        **JSON_WRITE,
        503: STORAGE_UNAVAILABLE,
    },
)
async def modify_order(request: web.Request) -> web.Response:
    pre = await parse_pre_order(request)
    with domain_errors():
        await request.app[BROKER].modify(request.match_info["order_id"], pre)
    return model_response(SuccessResponse())


@routes.delete(f"{PREFIX}/orders/{{order_id}}")
@operation(
    "cancelOrder",
    tag="broker",
    summary="Cancel an order",
    responses={
        200: SuccessResponse,
        400: HTTPError,
        403: FORBIDDEN_ORIGIN,
        503: STORAGE_UNAVAILABLE,
    },
)
async def cancel_order(request: web.Request) -> web.Response:
    with domain_errors():
        await request.app[BROKER].cancel(request.match_info["order_id"])
    return model_response(SuccessResponse())


@routes.get(f"{PREFIX}/orders")
@operation(
    "getOrders",
    tag="broker",
    summary="Every order, creation order",
    responses={200: list[PlacedOrder]},
)
async def get_orders(request: web.Request) -> web.Response:
    orders = await request.app[BROKER].orders()
    return json_response([views.placed_order(o).model_dump(mode="json") for o in orders])


@routes.get(f"{PREFIX}/positions")
@operation("getPositions", tag="broker", summary="Open positions", responses={200: list[Position]})
async def get_positions(request: web.Request) -> web.Response:
    positions = await request.app[BROKER].positions()
    return json_response([views.position(p).model_dump(mode="json") for p in positions])


@routes.get(f"{PREFIX}/executions/{{symbol}}")
@operation(
    "getExecutions",
    tag="broker",
    summary="Executions of a symbol, oldest first",
    responses={200: list[Execution]},
)
async def get_executions(request: web.Request) -> web.Response:
    broker = request.app[BROKER]
    spec = broker.engine.catalog.lookup(request.match_info["symbol"])
    fills = await broker.executions(spec.name) if spec else []
    return json_response([views.execution(f).model_dump(mode="json") for f in fills])


@routes.get(f"{PREFIX}/account")
@operation(
    "getAccountInfo", tag="broker", summary="Account information", responses={200: AccountMetainfo}
)
async def get_account_info(request: web.Request) -> web.Response:
    return model_response(ACCOUNT)


@routes.get(f"{PREFIX}/equity")
@operation(
    "getEquity", tag="broker", summary="Balance, equity and P&L", responses={200: EquityData}
)
async def get_equity(request: web.Request) -> web.Response:
    return model_response(views.equity(await request.app[BROKER].equity()))


@routes.delete(f"{PREFIX}/positions/{{position_id}}")
@operation(
    "closePosition",
    tag="broker",
    summary="Close a position, fully or partly",
    query=ClosePositionQuery,
    responses={
        200: SuccessResponse,
        400: HTTPError,
        404: HTTPError,
        422: HTTPValidationError,
        403: FORBIDDEN_ORIGIN,
        503: STORAGE_UNAVAILABLE,
    },
)
async def close_position(request: web.Request) -> web.Response:
    query = parse_query(request, ClosePositionQuery)
    amount = None if query.amount is None else to_decimal(query.amount)
    # to_integral_value, not `% 1`: a huge amount (1e300) has no remainder in 28 digits
    if amount is not None and amount != amount.to_integral_value():
        raise RequestValidationError(
            [error_item(["query", "amount"], "amount must be a multiple of 1", input_=query.amount)]
        )
    position_id = request.match_info["position_id"]
    with domain_errors():
        await request.app[BROKER].close_position(position_id, amount)
    if amount is None:
        return model_response(SuccessResponse(message=f"Closed position {position_id}"))
    return model_response(
        SuccessResponse(message=f"Partially closed position {position_id} ({float(amount)} units)")
    )


@routes.put(f"{PREFIX}/positions/{{position_id}}/brackets")
@operation(
    "editPositionBrackets",
    tag="broker",
    summary="Replace a position's brackets",
    body=Body_editPositionBrackets,
    responses={
        200: SuccessResponse,
        404: HTTPError,
        422: HTTPValidationError,
        **JSON_WRITE,
        503: STORAGE_UNAVAILABLE,
    },
)
async def edit_position_brackets(request: web.Request) -> web.Response:
    body = validate_body(await read_json(request), Body_editPositionBrackets)
    position_id = request.match_info["position_id"]
    broker = request.app[BROKER]
    b = body.brackets

    def price(value: float | None) -> Decimal | None:
        return None if value is None else to_tick(to_decimal(value), 100)

    brackets = BracketRequest(
        take_profit=price(b.takeProfit),
        stop_loss=price(b.stopLoss),
        guaranteed_stop=price(b.guaranteedStop),
        trailing_stop_pips=None if b.trailingStopPips is None else to_decimal(b.trailingStopPips),
    )
    with domain_errors():
        await broker.edit_brackets(position_id, brackets)
    return model_response(SuccessResponse(message=f"Updated brackets for position {position_id}"))


@routes.get(f"{PREFIX}/leverage/info")
@operation(
    "leverageInfo",
    tag="broker",
    summary="Leverage of a symbol and its bounds",
    query=LeverageInfoQuery,
    responses={200: LeverageInfo, 400: HTTPError, 422: HTTPValidationError},
)
async def leverage_info(request: web.Request) -> web.Response:
    query = parse_query(request, LeverageInfoQuery)
    broker = request.app[BROKER]
    spec = broker.engine.catalog.lookup(query.symbol)
    if spec is None:
        raise ApiError(400, f"Symbol {query.symbol} not found")
    value = await broker.read(lambda e: e.leverage_of(spec.name))
    return model_response(
        LeverageInfo(
            title=f"Leverage for {spec.name}", leverage=float(value), min=1.0, max=100.0, step=1.0
        )
    )


@routes.put(f"{PREFIX}/leverage/set")
@operation(
    "setLeverage",
    tag="broker",
    summary="Set the leverage of a symbol",
    body=LeverageSetParams,
    responses={
        200: LeverageSetResult,
        400: HTTPError,
        422: HTTPValidationError,
        **JSON_WRITE,
        503: STORAGE_UNAVAILABLE,
    },
)
async def set_leverage(request: web.Request) -> web.Response:
    params = validate_body(await read_json(request), LeverageSetParams)
    with domain_errors():
        await request.app[BROKER].set_leverage(params.symbol, to_decimal(params.leverage))
    return model_response(LeverageSetResult(leverage=params.leverage))


@routes.post(f"{PREFIX}/leverage/preview")
@operation(
    "previewLeverage",
    tag="broker",
    summary="Preview a leverage change",
    body=LeverageSetParams,
    responses={200: LeveragePreviewResult, 422: HTTPValidationError},
)
@read_only
async def preview_leverage(request: web.Request) -> web.Response:
    params = validate_body(await read_json(request), LeverageSetParams)
    result = await request.app[BROKER].read(
        lambda e: leverage_preview(e, to_decimal(params.leverage))
    )
    return model_response(views.leverage_preview(result))


def debug_allowed(request: web.Request) -> bool:
    """``loopback`` trusts the peer address; behind a reverse proxy on this machine every
    remote client's peer is loopback, so a request carrying proxy headers (``Forwarded``,
    ``X-Forwarded-For``, ``X-Real-IP``) is refused unless ``TRADING_DEBUG_ROUTES=on``."""
    mode = request.app[SETTINGS].debug_routes
    if mode != "loopback":
        return mode == "on"
    if forwarded(request):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


@routes.post(f"{PREFIX}/debug/reset")
@operation(
    "resetBrokerState",
    tag="broker",
    summary="Reset the paper account (debug)",
    responses={200: SuccessResponse, 404: HTTPError, **JSON_WRITE, 503: STORAGE_UNAVAILABLE},
    hidden=True,
)
async def reset_broker_state(request: web.Request) -> web.Response:
    if not debug_allowed(request):
        raise ApiError(404, "Not Found")
    await request.app[BROKER].reset()
    return model_response(SuccessResponse(message="Broker service state reset successfully"))
