"""The account routes (rest.md §14, broker.md §20): list, open and reset the caller's paper
accounts. Which account a request acts on is :mod:`trading.api.account_scope`'s."""

from __future__ import annotations

from aiohttp import web

from trading.api.account_scope import accounts_of_caller, caller_of, keys_mode, owned_account
from trading.api.broker import PREFIX, STORAGE_UNAVAILABLE, domain_errors
from trading.api.io import json_response, model_response, read_json, validate_body
from trading.broker.errors import AccountLimit
from trading.broker.money import to_decimal
from trading.errors import ApiError
from trading.keys import BROKER, SETTINGS
from trading.models.broker import AccountMetainfo, NewAccount, SuccessResponse
from trading.models.meta import HTTPError, HTTPValidationError
from trading.specs.operation import Content, operation
from trading.specs.refusals import JSON_WRITE
from trading.wire import broker as views

routes = web.RouteTableDef()
OFF_MODE_ONE_ACCOUNT = "TRADING_AUTH=off serves the one account DEMO-ACCOUNT"
ACCOUNT_LIMIT = Content(
    HTTPError, description="The caller holds TRADING_MAX_ACCOUNTS_PER_USER accounts already"
)


@routes.get(f"{PREFIX}/accounts")
@operation(
    "getAccounts",
    tag="broker",
    summary="The caller's paper accounts (TradingView accountsMetainfo)",
    description="In opening order; the first is the one a request without `X-Account-Id` "
    "acts on. `TRADING_AUTH=off` has one account, `DEMO-ACCOUNT`.",
    responses={200: list[AccountMetainfo]},
)
async def get_accounts(request: web.Request) -> web.Response:
    accounts = await accounts_of_caller(request)
    return json_response([views.account_metainfo(a).model_dump(mode="json") for a in accounts])


@routes.post(f"{PREFIX}/accounts")
@operation(
    "openAccount",
    tag="broker",
    summary="Open a new paper account (keys mode)",
    body=NewAccount,
    responses={
        201: AccountMetainfo,
        403: HTTPError,
        409: ACCOUNT_LIMIT,
        415: JSON_WRITE[415],
        422: HTTPValidationError,
        503: STORAGE_UNAVAILABLE,
    },
)
async def open_account(request: web.Request) -> web.Response:
    body = validate_body(await read_json(request), NewAccount)
    if not keys_mode(request.app):
        raise ApiError(403, OFF_MODE_ONE_ACCOUNT)
    balance = None if body.initialBalance is None else to_decimal(body.initialBalance)
    limit = request.app[SETTINGS].max_accounts_per_user
    with domain_errors():
        try:
            info = await request.app[BROKER].open_account(
                caller_of(request).user_id, body.name, balance, limit=limit
            )
        except AccountLimit as exc:  # a BrokerError: answered before domain_errors' 400
            raise ApiError(409, exc.detail) from None
    return model_response(views.account_metainfo(info), status=201)


@routes.post(f"{PREFIX}/accounts/{{account_id}}/reset")
@operation(
    "resetAccount",
    tag="broker",
    summary="Reset one of the caller's accounts to its initial balance",
    description="Cancels its orders, closes its positions without trading, forgets its "
    "executions, history and leverage settings.",
    responses={200: SuccessResponse, 404: HTTPError, **JSON_WRITE, 503: STORAGE_UNAVAILABLE},
)
async def reset_account(request: web.Request) -> web.Response:
    info = await owned_account(request, request.match_info["account_id"])
    with domain_errors():
        await request.app[BROKER].reset(info.id)
    return model_response(SuccessResponse(message=f"Account {info.id} reset"))
