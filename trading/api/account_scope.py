"""Which paper account a broker request acts on (broker.md §20, rest.md §14).

``TRADING_AUTH=off``: the one account ``DEMO-ACCOUNT``, whatever the request says (the
reference contract has no account selection), except that ``X-Account-Id`` naming one of
its replay sessions acts on that session's book (docs/replay.md §5; in keys mode likewise,
for a session of one of the caller's accounts). ``keys``: one of the authenticated user's
accounts, chosen with ``X-Account-Id`` (TradingView's ``setCurrentAccount``) and otherwise
their first. An id that is not one of theirs answers 404 exactly as an id that does not exist,
so no one can learn which ids exist elsewhere.
"""

from __future__ import annotations

from aiohttp import web

from trading.auth.principal import Principal
from trading.broker.accounts import AccountInfo, is_session_book
from trading.errors import ApiError
from trading.keys import BROKER, PRINCIPAL, REPLAYS, SETTINGS

ACCOUNT_HEADER = "X-Account-Id"
ACCOUNT_KEY = web.RequestKey("account", AccountInfo)
"""The account resolved for this request (resolved once, read by every step after)."""


def keys_mode(app: web.Application) -> bool:
    return app[SETTINGS].auth == "keys"


def caller_of(request: web.Request) -> Principal:
    """The authenticated caller; the auth middleware lets no broker request through without
    one in keys mode, so its absence here is a wiring fault, refused rather than served."""
    if PRINCIPAL not in request:
        raise ApiError(401, "Authentication required")
    return request[PRINCIPAL]


def not_found(account: str) -> ApiError:
    return ApiError(404, f"Account {account} not found")


async def accounts_of_caller(request: web.Request) -> list[AccountInfo]:
    """The accounts the caller may use, in opening order."""
    broker = request.app[BROKER]
    if not keys_mode(request.app):
        return [broker.default_account()]
    return await broker.accounts_of(caller_of(request).user_id)


async def current_account(request: web.Request) -> AccountInfo:
    """The account this request acts on (see the module docstring)."""
    if ACCOUNT_KEY in request:
        return request[ACCOUNT_KEY]
    found: AccountInfo | None
    wanted = request.headers.get(ACCOUNT_HEADER)
    if wanted is not None and is_session_book(wanted):
        found = await session_book(request, wanted)
    elif not keys_mode(request.app):
        found = request.app[BROKER].default_account()
    else:
        mine = await accounts_of_caller(request)
        if wanted is None:
            found = mine[0]
        else:
            found = next((a for a in mine if a.id == wanted), None)
            if found is None:
                raise not_found(wanted)
    request[ACCOUNT_KEY] = found
    return found


async def session_book(request: web.Request, session_id: str) -> AccountInfo:
    """The book of replay session ``session_id`` if the session is one of an account the
    caller may use (off mode: DEMO-ACCOUNT's), else 404 as for any account not theirs. The
    session is read from the store, so its clock is the one stored now (any worker)."""
    session = await request.app[REPLAYS].find(session_id)
    mine = {info.id for info in await accounts_of_caller(request)}
    if session is None or session.account not in mine:
        raise not_found(session_id)
    return await request.app[BROKER].open_session_book(session)


async def account_id(request: web.Request) -> str:
    return (await current_account(request)).id


async def owned_account(request: web.Request, account: str) -> AccountInfo:
    """``account`` if the caller may use it (off mode: only DEMO-ACCOUNT), else 404."""
    for info in await accounts_of_caller(request):
        if info.id == account:
            return info
    raise not_found(account)
