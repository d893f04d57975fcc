"""CORS (rest.md §1): any origin by default, no credentials, preflight answered with 200.

Which origins may *change state* is decided by trading/security.py (same-origin, listed, or
loopback under ``*``); which may open the WebSocket by :func:`trading.security.read_origin_allowed`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import hdrs, web

from trading.logs import REQUEST_ID_HEADER

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
EXPOSED_HEADERS = f"{REQUEST_ID_HEADER}, {hdrs.RETRY_AFTER}"
"""Response headers a page on another origin may read (beyond the CORS-safelisted ones): the
request id to quote in a bug report, and when to retry a 503."""


class CorsPolicy:
    """The CORS answer of this server: preflights, and the headers added to every answer a
    page on another origin may read. Applied by :func:`trading.front.front_middleware`: the
    preflight is answered before the write protection and the handler, the headers are added
    to every answer from inside (refusals and JSON errors included, not the Host check's 421)."""

    def __init__(self, allowed: Sequence[str]) -> None:
        self.allowed = frozenset(allowed)
        self.any_origin = "*" in self.allowed

    @staticmethod
    def is_preflight(request: web.Request) -> bool:
        return (
            request.method == hdrs.METH_OPTIONS
            and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
        )

    @staticmethod
    def preflight_response(request: web.Request) -> web.Response:
        """200 with the methods and headers a browser may use (its origin is added after)."""
        response = web.Response(status=200)
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOWED_METHODS
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = request.headers.get(
            hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "*"
        )
        response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
        return response

    def add_headers(self, response: web.StreamResponse, origin: str, preflight: bool) -> None:
        """The ``Access-Control-*`` headers for a request from ``origin`` (none for an origin
        that is not allowed; nothing once the response was sent, e.g. a WebSocket)."""
        if response.prepared:
            return
        headers = response.headers
        if self.any_origin:
            headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = "*"
        elif origin in self.allowed:
            headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            headers[hdrs.VARY] = hdrs.ORIGIN
        else:
            return
        if not preflight:
            headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSED_HEADERS
