"""The admin API (``/api/v1/admin``): users and keys over HTTP, guarded by TRADING_ADMIN_KEY.

Without the setting (or in off mode, where there are no users) every admin route answers 404
as if it did not exist: an admin API that is not configured must not be an attack surface.
The admin key is compared in constant time; a wrong one is 401. The same operations are on
the command line (:mod:`trading.auth.cli`), which needs file access instead of a key.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from trading.api.io import json_response, model_response, parse_body
from trading.auth import tokens
from trading.auth.middleware import INVALID, REALM
from trading.auth.userstore import UserError, UserRow
from trading.errors import ApiError, error_response
from trading.keys import AUTH, SETTINGS
from trading.models.auth import (
    CreatedKey,
    CreatedUser,
    CreateUserRequest,
    KeyInfo,
    UserInfo,
    UserWithKeys,
)
from trading.models.broker import SuccessResponse
from trading.models.meta import HTTPError, HTTPValidationError
from trading.specs.operation import Content, operation
from trading.specs.refusals import FORBIDDEN_ORIGIN, JSON_WRITE

routes = web.RouteTableDef()
PREFIX = "/api/v1/admin"
ABSENT = Content(
    HTTPError, description="No admin API on this server (TRADING_ADMIN_KEY unset, or "
    "TRADING_AUTH=off); also an unknown user or key"
)  # fmt: skip
WRONG_KEY = Content(
    HTTPError, description="Missing or wrong admin key (`Bearer <TRADING_ADMIN_KEY>`)"
)
GUARD = {401: WRONG_KEY, 404: ABSENT}


def admin_refusal(request: web.Request) -> web.Response | None:
    """404 when there is no admin API, 401 unless the bearer token is the admin key (also
    the guard of the scenario routes in keys mode: trading/api/scenario.py)."""
    settings = request.app[SETTINGS]
    if settings.auth != "keys" or settings.admin_key is None:
        raise web.HTTPNotFound()
    scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
    expected = settings.admin_key.get_secret_value()
    if scheme.lower() != "bearer" or not tokens.same_secret(given.strip(), expected):
        return error_response(401, INVALID, {"WWW-Authenticate": REALM})
    return None


@routes.post(f"{PREFIX}/users")
@operation(
    "adminCreateUser",
    tag="admin",
    summary="Create a user with a first API key (shown once)",
    body=CreateUserRequest,
    responses={201: CreatedUser, 400: HTTPError, **GUARD, 422: HTTPValidationError, **JSON_WRITE},
)
async def create_user(request: web.Request) -> web.Response:
    if (refused := admin_refusal(request)) is not None:
        return refused
    body = await parse_body(request, CreateUserRequest)
    try:
        user, key = await request.app[AUTH].create_user(body.name)
    except UserError as exc:
        raise ApiError(400, str(exc)) from None
    return model_response(CreatedUser(user=UserInfo(id=user.id, name=user.name), key=key), 201)


@routes.get(f"{PREFIX}/users")
@operation(
    "adminListUsers",
    tag="admin",
    summary="Every user with its keys (ids and dates, never secrets)",
    responses={200: list[UserWithKeys], **GUARD},
)
async def list_users(request: web.Request) -> web.Response:
    if (refused := admin_refusal(request)) is not None:
        return refused
    users = await request.app[AUTH].users()
    return json_response([_listed(u).model_dump(mode="json") for u in users])


def _listed(user: UserRow) -> UserWithKeys:
    keys = [KeyInfo(id=k.id, created=k.created, revoked=k.revoked) for k in user.keys]
    return UserWithKeys(id=user.id, name=user.name, created=user.created, keys=keys)


@routes.post(f"{PREFIX}/users/{{user_id}}/keys")
@operation(
    "adminAddKey",
    tag="admin",
    summary="Another API key for a user (shown once)",
    responses={201: CreatedKey, **GUARD, **JSON_WRITE},
)
async def add_key(request: web.Request) -> web.Response:
    if (refused := admin_refusal(request)) is not None:
        return refused
    try:
        key, text = await request.app[AUTH].add_key(request.match_info["user_id"])
    except UserError as exc:
        raise ApiError(404, str(exc)) from None
    return model_response(CreatedKey(keyId=key.id, key=text), 201)


@routes.delete(f"{PREFIX}/keys/{{key_id}}")
@operation(
    "adminRevokeKey",
    tag="admin",
    summary="Revoke a key: its requests fail, its sessions end, its sockets close (1008)",
    responses={200: SuccessResponse, **GUARD, 403: FORBIDDEN_ORIGIN},
)
async def revoke_key(request: web.Request) -> web.Response:
    if (refused := admin_refusal(request)) is not None:
        return refused
    key_id = request.match_info["key_id"]
    try:
        changed = await request.app[AUTH].revoke(key_id)
    except UserError as exc:
        raise ApiError(404, str(exc)) from None
    message = f"Key {key_id} revoked" if changed else f"Key {key_id} was revoked already"
    return model_response(SuccessResponse(message=message))
