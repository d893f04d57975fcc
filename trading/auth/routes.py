"""``/api/v1/auth``: login (key → session cookie), logout, who am I, WebSocket tickets.

The routes exist in both modes so the OpenAPI document is one: in off mode ``/me`` says so and
lists the demo account, logout has nothing to end, and login and tickets answer 404 (there is
nothing to log in to). The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict``
(no other site's page sends it) and ``Secure`` when ``TRADING_COOKIE_SECURE=1``.
"""

from __future__ import annotations

from aiohttp import web

from trading.api.io import model_response, parse_body
from trading.auth.middleware import too_many, unauthorized
from trading.auth.principal import DEMO_ACCOUNT, AccountView, Principal
from trading.auth.sessions import COOKIE_NAME
from trading.auth.tickets import TicketStoreDown
from trading.errors import ApiError
from trading.keys import ACCOUNTS, AUTH, PRINCIPAL, SETTINGS
from trading.models.auth import LoginRequest, Me, MessageResponse, UserInfo, WsTicket
from trading.models.broker import AccountMetainfo
from trading.models.meta import HTTPError, HTTPValidationError
from trading.specs.operation import Content, operation
from trading.specs.refusals import JSON_WRITE, RATE_LIMITED, UNAUTHORIZED

routes = web.RouteTableDef()
PREFIX = "/api/v1/auth"
OFF = "TRADING_AUTH=off: this server has no logins"

OFF_MODE = Content(HTTPError, description="TRADING_AUTH=off: no logins on this server")
SESSION_ERRORS = {401: UNAUTHORIZED, 429: RATE_LIMITED}


def _account(view: AccountView) -> AccountMetainfo:
    # validated from a dict: the currency is kept once the broker's model declares it
    return AccountMetainfo.model_validate(
        {"id": view.id, "name": view.name, "currency": view.currency}
    )


async def _me(request: web.Request, principal: Principal) -> Me:
    accounts = await request.app[ACCOUNTS].accounts_of(principal.user_id)
    return Me(
        auth="keys",
        user=UserInfo(id=principal.user_id, name=principal.user_name),
        accounts=[_account(a) for a in accounts],
    )


def _keys_mode(request: web.Request) -> bool:
    return request.app[SETTINGS].auth == "keys"


@routes.post(f"{PREFIX}/login")
@operation(
    "login",
    tag="auth",
    summary="Log in with an API key: sets the session cookie",
    description="Answers who the key belongs to and sets `trading_session` (HttpOnly, "
    "SameSite=Strict, Secure with TRADING_COOKIE_SECURE=1, Max-Age TRADING_SESSION_TTL_S). "
    "Browsers use the cookie; scripts can send `Authorization: Bearer <key>` instead.",
    body=LoginRequest,
    responses={
        200: Me,
        401: UNAUTHORIZED,
        404: OFF_MODE,
        422: HTTPValidationError,
        429: RATE_LIMITED,
        **JSON_WRITE,
    },
)
async def login(request: web.Request) -> web.StreamResponse:
    if not _keys_mode(request):
        raise ApiError(404, OFF)
    body = await parse_body(request, LoginRequest)
    auth = request.app[AUTH]
    known = auth.by_key(body.key)
    if known is not None and (wait := auth.rest_limits.check(known.key_id)) > 0:
        return too_many(wait)  # each login is a session row: counted like any request
    session = await auth.login(body.key)
    if session is None:
        return unauthorized(missing=False)
    principal, token = session
    response = model_response(await _me(request, principal))
    settings = request.app[SETTINGS]
    response.set_cookie(
        COOKIE_NAME, token, max_age=settings.session_ttl_s, path="/", httponly=True,
        samesite="Strict", secure=settings.cookie_secure,
    )  # fmt: skip
    return response


@routes.post(f"{PREFIX}/logout")
@operation(
    "logout",
    tag="auth",
    summary="End the session of the cookie and expire the cookie",
    responses={200: MessageResponse, **SESSION_ERRORS, **JSON_WRITE},
)
async def logout(request: web.Request) -> web.StreamResponse:
    if not _keys_mode(request):
        return model_response(MessageResponse(message="TRADING_AUTH=off: no session to end"))
    auth = request.app[AUTH]
    token = request.cookies.get(COOKIE_NAME)
    session_id = auth.session_id(token) if token else None
    if session_id is not None:
        await auth.logout(session_id)
    response = model_response(
        MessageResponse(message="Logged out" if session_id else "No session to end")
    )
    settings = request.app[SETTINGS]
    response.del_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="Strict", secure=settings.cookie_secure
    )
    return response


@routes.get(f"{PREFIX}/me")
@operation(
    "getMe",
    tag="auth",
    summary="The server's auth mode, the caller and the caller's accounts",
    responses={200: Me, **SESSION_ERRORS},
)
async def me(request: web.Request) -> web.Response:
    principal = request.get(PRINCIPAL)
    if principal is None:  # off mode (keys mode has a principal here: the middleware)
        return model_response(Me(auth="off", user=None, accounts=[_account(DEMO_ACCOUNT)]))
    return model_response(await _me(request, principal))


TICKETS_DOWN = Content(
    HTTPError,
    description="Several workers (`TRADING_REDIS_URL` set) share tickets through Redis, and "
    "Redis did not answer within TRADING_REDIS_TIMEOUT_S: retry later. `detail` says why.",
)


@routes.post(f"{PREFIX}/ws-ticket")
@operation(
    "createWsTicket",
    tag="auth",
    summary="A one-time ticket for the WebSocket upgrade (`/api/v1/ws?ticket=...`)",
    description="For clients that can send neither the cookie nor an Authorization header at "
    "the upgrade. Valid once, for TRADING_WS_TICKET_TTL_S seconds.",
    responses={200: WsTicket, **SESSION_ERRORS, 404: OFF_MODE, **JSON_WRITE, 503: TICKETS_DOWN},
)
async def ws_ticket(request: web.Request) -> web.Response:
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise ApiError(404, "TRADING_AUTH=off: the WebSocket needs no ticket")
    auth = request.app[AUTH]
    try:
        ticket = await auth.issue_ticket(principal)
    except TicketStoreDown as exc:
        raise ApiError(503, str(exc)) from None
    return model_response(WsTicket(ticket=ticket, expiresIn=int(auth.tickets.ttl_s)))
