"""CORS (rest.md §1): any origin by default, no credentials, preflight answered with 200.

Which origins may *change state* is decided by trading/security.py (same-origin, listed, or
loopback under ``*``); which may open the WebSocket by :func:`trading.security.read_origin_allowed`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import hdrs, web

from trading.errors import Handler
from trading.logs import REQUEST_ID_HEADER

ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
EXPOSED_HEADERS = f"{REQUEST_ID_HEADER}, {hdrs.RETRY_AFTER}"
"""Response headers a page on another origin may read (beyond the CORS-safelisted ones): the
request id to quote in a bug report, and when to retry a 503."""


def cors_middleware(allowed: Sequence[str]) -> web.middleware:  # type: ignore[valid-type]
    any_origin = "*" in allowed

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        preflight = (
            request.method == hdrs.METH_OPTIONS
            and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
        )
        if preflight:
            response: web.StreamResponse = web.Response(status=200)
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOWED_METHODS
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = request.headers.get(
                hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "*"
            )
            response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
        else:
            response = await handler(request)
        if origin is None or response.prepared:
            return response
        if any_origin:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = "*"
        elif origin in allowed:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.VARY] = hdrs.ORIGIN
        else:
            return response
        if not preflight:
            response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSED_HEADERS
        return response

    return middleware
