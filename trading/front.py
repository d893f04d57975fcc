"""The front door: every rule a request passes before its handler, in one middleware.

Each rule lives in the module of its concern (request ids in :mod:`trading.logs`, metrics in
:mod:`trading.metrics`, the Host check and the write protection in :mod:`trading.security`,
CORS in :mod:`trading.cors`, JSON errors in :mod:`trading.errors`, credentials in
:mod:`trading.auth.middleware`); this module only applies them, in this order:

1. the request id (first: every log line of the request carries it);
2. metrics, around everything below (they see the final status, redirects and a client that
   went away included);
3. the Host check (DNS rebinding): a 421 before anything else, without CORS headers;
4. CORS: a preflight is answered here; the ``Access-Control-*`` headers are added to every
   answer from below;
5. the write protection (CSRF): 403/415 for a refused state change;
6. JSON errors, around what follows: a failure there still answers ``{"detail": ...}``;
7. credentials (keys mode only), then routing's slash redirects (so ``/broker/x/`` is
   refused too), then the handler.

They were eight middlewares, and aiohttp calls each through its own coroutine frame (and a
``functools.partial``) on every request; one pass costs one frame, and a WebSocket keeps one
frame suspended for its lifetime instead of eight. ``on_response_prepare`` gets one hook for
the request id and the security headers likewise.
"""

from __future__ import annotations

import asyncio
import re
import time

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_urldispatcher import SystemRoute

from trading.auth.authenticator import Authenticator
from trading.auth.middleware import credentials_refusal
from trading.cors import CorsPolicy
from trading.errors import close_if_body_broken, error_answer
from trading.logs import echo_request_id, start_request
from trading.metrics import Metrics
from trading.security import HostPolicy, secure, write_refusal
from trading.settings import Settings

_MANY_SLASHES = re.compile("//+")
_LEADING_SLASHES = re.compile("^//+")


async def _unrouted(request: web.Request) -> web.Response | None:
    """A request no route matched: its slash redirect (raised), else the JSON answer to the
    404 or 405 the router already made, without raising it through the route's handler (which
    only re-raises it) first."""
    await _slash_redirect(request)
    refusal = request.match_info.http_exception
    return None if refusal is None else error_answer(request, refusal)


async def _slash_redirect(request: web.Request) -> None:
    """For a request no route matched: raise a 307 to the first of aiohttp's candidate paths
    that a route matches, exactly as ``web.normalize_path_middleware(append_slash=False,
    remove_slash=True)`` tries them (slashes merged, the trailing slash removed, both — which
    also tries the path minus its last character, so ``/api/v1/healthx`` redirects to
    ``/api/v1/health`` as it always did). A candidate that is the path already resolved is
    not resolved again (it cannot match now): aiohttp clones the request for each, and the
    common miss, a path without ``//`` or a trailing slash, costs one resolve instead of two."""
    raw, sep, query = request.raw_path.partition("?")
    merged = _MANY_SLASHES.sub("/", raw)
    candidates = [merged]
    if request.path.endswith("/"):
        candidates.append(raw[:-1])
    candidates.append(merged[:-1])
    for candidate in candidates:
        candidate = _LEADING_SLASHES.sub("/", candidate)  # aiohttp's GHSA-v6wp-4m6f-gcjg
        if candidate == raw:
            continue
        alt = request.clone(rel_url=candidate)
        if (await request.app.router.resolve(alt)).http_exception is None:
            raise web.HTTPTemporaryRedirect(alt.raw_path + sep + query)


def front_middleware(
    settings: Settings, metrics: Metrics, auth: Authenticator | None
) -> Middleware:
    """The one middleware of the app, for these settings (``auth``: keys mode only)."""
    host = HostPolicy(settings.allowed_hosts, settings.host)
    cors = CorsPolicy(settings.cors_origins)
    cors_origins = settings.cors_origins
    perf_counter = time.perf_counter

    @web.middleware
    async def front(request: web.Request, handler: Handler) -> web.StreamResponse:
        start_request(request)
        started = perf_counter()
        status = 500
        try:
            response: web.StreamResponse | None = host.refusal(request)
            if response is None:
                origin = request.headers.get(hdrs.ORIGIN)
                preflight = cors.is_preflight(request)
                if preflight:
                    response = cors.preflight_response(request)
                else:
                    response = write_refusal(request, cors_origins)
                    if response is None:
                        try:
                            if auth is not None:
                                response = credentials_refusal(request, auth)
                            if response is None:
                                if isinstance(request.match_info.route, SystemRoute):
                                    response = await _unrouted(request)
                                if response is None:
                                    response = await handler(request)
                        except Exception as exc:
                            response = error_answer(request, exc)
                            if response is None:  # a redirect: aiohttp answers it
                                raise
                        close_if_body_broken(request, response)
                if origin is not None:
                    cors.add_headers(response, origin, preflight)
            status = response.status
            return response
        except web.HTTPException as exc:  # redirects raised past the error shaping
            status = exc.status
            raise
        except asyncio.CancelledError:  # the client went away first (nginx's 499)
            status = 499
            raise
        finally:
            metrics.observe_request(request, status, perf_counter() - started)

    return front


async def prepare_response(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the request id and the security headers on every response,
    files, errors and WebSocket upgrades included."""
    echo_request_id(request, response)
    secure(response)
