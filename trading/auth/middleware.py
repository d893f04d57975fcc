"""Credentials on REST requests in keys mode: who may call which path, 401s and 429s.

Which paths need credentials is decided by the path alone (before any handler, and for paths
that do not exist too, so a 404 under ``/broker/`` says nothing to an anonymous caller):
everything under ``/api/v1/broker/`` and ``/api/v1/replay``, the session routes of
``/api/v1/auth/`` except login, and the market paths when ``TRADING_AUTH_MARKET=private``.
The WebSocket authenticates in its own handler (an anonymous socket may be allowed), the
admin API with its own key.

Credentials are ``Authorization: Bearer <key>`` or the session cookie. Missing ones and bad
ones get different messages (a client needs to know whether it sent anything) but never say
why a key was refused: unknown and revoked are one answer, taking the same path.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from trading.auth.authenticator import Authenticator
from trading.auth.principal import Principal
from trading.auth.ratelimit import retry_after
from trading.auth.sessions import COOKIE_NAME
from trading.errors import error_response
from trading.keys import PRINCIPAL

API = "/api/v1"
BROKER_PREFIX = f"{API}/broker"
REPLAY_PREFIX = f"{API}/replay"
"""Replay sessions belong to accounts (docs/replay.md §3): credentials, like the broker's."""
MARKET_PREFIXES = (f"{API}/datafeed", f"{API}/udf")
SESSION_ROUTES = frozenset({f"{API}/auth/logout", f"{API}/auth/me", f"{API}/auth/ws-ticket"})
REALM = 'Bearer realm="trading"'
AUTH_REQUIRED = "Authentication required"
INVALID = "Invalid credentials"


class Unauthenticated(Exception):
    """No principal: ``missing`` tells whether nothing was sent or what was sent is bad."""

    def __init__(self, missing: bool) -> None:
        super().__init__(AUTH_REQUIRED if missing else INVALID)
        self.missing = missing


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def needs_credentials(path: str, market_private: bool) -> bool:
    if _under(path, BROKER_PREFIX) or _under(path, REPLAY_PREFIX) or path in SESSION_ROUTES:
        return True
    return market_private and any(_under(path, p) for p in MARKET_PREFIXES)


def principal_of(request: web.Request, auth: Authenticator) -> Principal | None:
    """The caller's principal from the bearer key or the session cookie; None when neither
    was sent; :class:`Unauthenticated` when what was sent is not valid."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        principal = auth.by_key(value.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise Unauthenticated(missing=False)
        return principal
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        principal = auth.by_session(cookie)
        if principal is None:
            raise Unauthenticated(missing=False)
        return principal
    return None


def unauthorized(missing: bool) -> web.Response:
    return error_response(401, AUTH_REQUIRED if missing else INVALID, {"WWW-Authenticate": REALM})


def too_many(wait_s: float) -> web.Response:
    return error_response(
        429, "Rate limit exceeded: slow down", {hdrs.RETRY_AFTER: retry_after(wait_s)}
    )


def credentials_refusal(request: web.Request, auth: Authenticator) -> web.Response | None:
    """401 or 429 for a request to a path that needs credentials, else None (the principal,
    when there is one, is then ``request[PRINCIPAL]``). Applied by the front middleware
    (trading/front.py) inside its error shaping, after the CSRF and host checks, before
    routing's slash redirects, so ``/broker/x/`` is refused too."""
    if request.method == hdrs.METH_OPTIONS or not needs_credentials(
        request.path, auth.market_private
    ):
        return None
    try:
        principal = principal_of(request, auth)
    except Unauthenticated as exc:
        return unauthorized(exc.missing)
    if principal is None:
        return unauthorized(missing=True)
    wait = auth.rest_limits.check(principal.key_id)
    if wait > 0:
        return too_many(wait)
    request[PRINCIPAL] = principal
    return None
