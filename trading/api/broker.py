"""Paper-broker routes under ``/api/v1/broker`` (rest.md §7). Rules live in trading.broker."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pydantic
from aiohttp import web

from trading.api.account_scope import account_id, current_account
from trading.api.io import (
    json_response,
    model_response,
    parse_query,
    read_json,
    validate_body,
)
from trading.api.orderlog import IDEMPOTENCY_KEY, REPLAYED, idempotency_key
from trading.broker.enums import OrderType
from trading.broker.errors import (
    BrokerError,
    RuleViolations,
    UnknownAccount,
    UnknownPosition,
    Violation,
    ViolationKind,
)
from trading.broker.idempotency import KeyReused
from trading.broker.margin import LEVERAGE_MAX, LEVERAGE_MIN, LEVERAGE_STEP
from trading.broker.money import to_decimal
from trading.broker.preview import leverage_preview
from trading.broker.requests import OrderRequest
from trading.broker.rules import required_prices
from trading.errors import ApiError, RequestValidationError, error_item, validation_items
from trading.keys import BROKER, SETTINGS
from trading.market.symbols import SymbolSpec
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
    PlaceOrderHeaders,
    PlaceOrderResult,
    Position,
    PreOrder,
    SuccessResponse,
)
from trading.models.meta import HTTPError, HTTPValidationError
from trading.security import forwarded, read_only
from trading.specs.operation import Content, operation
from trading.specs.refusals import FORBIDDEN_ORIGIN, JSON_WRITE
from trading.wire import broker as views

routes = web.RouteTableDef()
STORAGE_UNAVAILABLE = Content(
    HTTPError,
    description="The broker database cannot take the write now (disk full, read-only, deleted "
    "file): nothing was changed; retry later (`Retry-After`). `detail` says why.",
)
PREFIX = "/api/v1/broker"


def violation_item(v: Violation, location: tuple[str, ...]) -> dict[str, Any]:
    """A broker rule violation as a FastAPI 422 item at ``location`` + its field."""
    value = float(v.value) if v.value is not None else None
    loc = [*location, *v.field.split(".")]  # duration.datetime: ["body", "duration", "datetime"]
    if v.kind is ViolationKind.NOT_POSITIVE:
        return error_item(loc, v.message, type_="greater_than", input_=value,
                          ctx={"gt": 0.0})  # fmt: skip
    return error_item(loc, v.message, input_=value)


def broker_symbol(request: web.Request, text: str) -> SymbolSpec:
    """The symbol a broker request names, else 400 (the broker's answer to an unknown symbol,
    as placing an order on one gets; the datafeed's is 404)."""
    spec = request.app[BROKER].catalog.lookup(text)
    if spec is None:
        raise ApiError(400, f"Symbol {text} not found")
    return spec


@contextmanager
def domain_errors(location: tuple[str, ...] = ("body",)) -> Iterator[None]:
    """Broker refusals as HTTP errors: rule violations → 422 (fields under ``location``),
    an unknown position → 404, any other refusal by the state → 400."""
    try:
        yield
    except RuleViolations as exc:
        raise RequestValidationError(
            [violation_item(v, location) for v in exc.violations]
        ) from None
    except (UnknownPosition, UnknownAccount) as exc:
        raise ApiError(404, exc.detail) from None
    except BrokerError as exc:
        raise ApiError(400, exc.detail) from None


def _raw_price(value: Any) -> Decimal | None:
    """A price from a body pydantic refused: a number as is, absent as None; anything else
    pydantic has reported already, so it passes here (any positive stand-in would do)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return to_decimal(float(value))
    return Decimal(1)


def required_price_items(raw: Any) -> list[dict[str, Any]]:
    """Best effort on a body pydantic refused: still report missing type-specific prices."""
    if not isinstance(raw, dict):
        return []
    try:
        order_type = OrderType(int(raw.get("type")))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []
    found = required_prices(
        order_type, _raw_price(raw.get("limitPrice")), _raw_price(raw.get("stopPrice"))
    )
    items = [violation_item(v, ("body",)) for v in found]
    for item in items:  # the value as the client sent it (an integer stays an integer)
        item["input"] = raw.get(item["loc"][-1])
    return items


async def parse_order_request(request: web.Request) -> OrderRequest:
    """The body as the broker's request, every failing field reported (type-specific prices
    included, which the schema alone cannot require)."""
    raw = await read_json(request)
    try:
        return views.order_request(PreOrder.model_validate(raw))
    except pydantic.ValidationError as exc:
        items = validation_items(exc, "body")
        seen = {tuple(i["loc"]) for i in items}
        items += [i for i in required_price_items(raw) if tuple(i["loc"]) not in seen]
        raise RequestValidationError(items) from None


@routes.post(f"{PREFIX}/orders")
@operation(
    "placeOrder",
    tag="broker",
    summary="Place an order",
    description="With an `Idempotency-Key` header a retry never places a second order: the "
    "same key and order within the retention window answer the first placement again "
    "(broker.md §15).",
    body=PreOrder,
    headers=PlaceOrderHeaders,
    responses={
        200: PlaceOrderResult,
        400: HTTPError,
        422: HTTPValidationError,
        **JSON_WRITE,
        503: STORAGE_UNAVAILABLE,
    },
)
async def place_order(request: web.Request) -> web.Response:
    key, problems = idempotency_key(request)
    try:
        order_request = await parse_order_request(request)
    except RequestValidationError as exc:
        raise RequestValidationError(problems + exc.errors) from None
    if problems:
        raise RequestValidationError(problems)
    broker, account = request.app[BROKER], await account_id(request)
    if key is None:
        with domain_errors():
            order = await broker.place(account, order_request)
        return model_response(PlaceOrderResult(orderId=order.id))
    with domain_errors():
        try:
            placed = await broker.place_with_key(account, order_request, key)
        except KeyReused as exc:  # a BrokerError: caught before domain_errors makes it a 400
            raise RequestValidationError(
                [error_item(["header", IDEMPOTENCY_KEY], exc.detail, input_=key)]
            ) from None
    response = model_response(PlaceOrderResult(orderId=placed.order.id))
    if placed.replayed:
        response.headers[REPLAYED] = "true"
    return response


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
    result = await request.app[BROKER].preview(await account_id(request), views.order_request(pre))
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
    order_request = await parse_order_request(request)
    with domain_errors():
        await request.app[BROKER].modify(
            await account_id(request), request.match_info["order_id"], order_request
        )
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
        await request.app[BROKER].cancel(await account_id(request), request.match_info["order_id"])
    return model_response(SuccessResponse())


@routes.get(f"{PREFIX}/orders")
@operation(
    "getOrders",
    tag="broker",
    summary="Every order, creation order",
    responses={200: list[PlacedOrder]},
)
async def get_orders(request: web.Request) -> web.Response:
    orders = await request.app[BROKER].orders(await account_id(request))
    return json_response([views.placed_order(o).model_dump(mode="json") for o in orders])


@routes.get(f"{PREFIX}/positions")
@operation("getPositions", tag="broker", summary="Open positions", responses={200: list[Position]})
async def get_positions(request: web.Request) -> web.Response:
    positions = await request.app[BROKER].positions(await account_id(request))
    return json_response([views.position(p).model_dump(mode="json") for p in positions])


@routes.get(f"{PREFIX}/executions/{{symbol}}")
@operation(
    "getExecutions",
    tag="broker",
    summary="Executions of a symbol, oldest first",
    responses={200: list[Execution]},
)
async def get_executions(request: web.Request) -> web.Response:
    broker, account = request.app[BROKER], await account_id(request)
    spec = broker.catalog.lookup(request.match_info["symbol"])
    fills = await broker.executions(account, spec.name) if spec else []
    return json_response([views.execution(f).model_dump(mode="json") for f in fills])


@routes.get(f"{PREFIX}/account")
@operation(
    "getAccountInfo", tag="broker", summary="Account information", responses={200: AccountMetainfo}
)
async def get_account_info(request: web.Request) -> web.Response:
    return model_response(views.account_metainfo(await current_account(request), currency=False))


@routes.get(f"{PREFIX}/equity")
@operation(
    "getEquity", tag="broker", summary="Balance, equity and P&L", responses={200: EquityData}
)
async def get_equity(request: web.Request) -> web.Response:
    return model_response(views.equity(await request.app[BROKER].equity(await account_id(request))))


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
        await request.app[BROKER].close_position(await account_id(request), position_id, amount)
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
    with domain_errors(location=("body", "brackets")):
        await request.app[BROKER].edit_brackets(
            await account_id(request), position_id, views.bracket_request(body.brackets)
        )
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
    spec = broker_symbol(request, query.symbol)
    value = await broker.leverage_of(await account_id(request), spec.name)
    return model_response(
        LeverageInfo(
            title=f"Leverage for {spec.name}",
            leverage=float(value),
            min=float(LEVERAGE_MIN),
            max=float(LEVERAGE_MAX),
            step=float(LEVERAGE_STEP),
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
        await request.app[BROKER].set_leverage(
            await account_id(request), params.symbol, to_decimal(params.leverage)
        )
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
    result = leverage_preview(to_decimal(params.leverage))  # a function of the value alone
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
    await request.app[BROKER].reset(await account_id(request))
    return model_response(SuccessResponse(message="Broker service state reset successfully"))
