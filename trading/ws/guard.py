"""Keys mode on the WebSocket: who opens a socket, and closing the sockets of revoked keys.

A socket authenticates once, at the upgrade, so a refusal is an HTTP 401 the client can read
(after the upgrade only a close code would be left). Credentials, in this order: ``?ticket=``
(one-time, for clients that can send nothing else), ``Authorization: Bearer``, the session
cookie. A cookie is sent by the browser whichever page opens the socket, so a cookie upgrade
must come from an origin allowed to write (cross-site WebSocket hijacking); the other two
credentials are something the page itself had to hold. Without credentials the socket is
anonymous, allowed only while market data is public: it may watch bars and quotes, and the
handler refuses its broker subscriptions.
"""

from __future__ import annotations

from aiohttp import WSCloseCode, hdrs, web

from trading.auth.authenticator import Authenticator
from trading.auth.middleware import Unauthenticated, principal_of, unauthorized
from trading.auth.principal import Principal
from trading.auth.tickets import TicketStoreDown
from trading.errors import error_response
from trading.security import write_origin_allowed
from trading.ws.connection import Connection

TICKET_PARAM = "ticket"
REVOKED = "Credentials revoked"


async def upgrade_principal(
    request: web.Request, auth: Authenticator, cors_origins: tuple[str, ...]
) -> Principal | web.Response | None:
    """The principal of the upgrade, None for an allowed anonymous one, else the refusal."""
    ticket = request.query.get(TICKET_PARAM)
    if ticket is not None:
        try:
            principal = await auth.take_ticket(ticket)
        except TicketStoreDown as exc:
            return error_response(503, str(exc))
        return principal if principal is not None else unauthorized(missing=False)
    try:
        principal = principal_of(request, auth)
    except Unauthenticated as exc:
        return unauthorized(exc.missing)
    if principal is None:
        return unauthorized(missing=True) if auth.market_private else None
    origin = request.headers.get(hdrs.ORIGIN)
    by_cookie = hdrs.AUTHORIZATION not in request.headers
    if by_cookie and origin is not None and not write_origin_allowed(request, origin, cors_origins):
        return error_response(403, f"Origin {origin!r} may not use the session cookie here")
    return principal


class KeySockets:
    """The open sockets of each key, so a revocation can close them (1008)."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[Connection]] = {}

    def add(self, conn: Connection) -> None:
        if conn.principal is not None:
            self._by_key.setdefault(conn.principal.key_id, set()).add(conn)

    def discard(self, conn: Connection) -> None:
        if conn.principal is None:
            return
        sockets = self._by_key.get(conn.principal.key_id)
        if sockets is not None:
            sockets.discard(conn)
            if not sockets:
                del self._by_key[conn.principal.key_id]

    def revoked(self, key_ids: set[str]) -> None:
        """The :meth:`Authenticator.on_revoked` listener."""
        for key_id in key_ids:
            for conn in self._by_key.pop(key_id, set()):
                conn.close_soon(WSCloseCode.POLICY_VIOLATION, REVOKED)

    def __len__(self) -> int:
        return sum(map(len, self._by_key.values()))


KEY_SOCKETS = web.AppKey("ws_key_sockets", KeySockets)
