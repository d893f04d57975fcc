"""The HTTP listener: aiohttp's server with the service's limits and JSON parser errors.

aiohttp parses the request line and headers before any middleware runs, and answers what it
cannot parse (a URL longer than ``max_line_size``, too many headers, a bad method) from
``RequestHandler.handle_error`` with a ``text/plain`` body. There is no application-level hook
for that answer (aiohttp issue #3287), so the connection protocol here is a one-method subclass
of :class:`~aiohttp.web_protocol.RequestHandler` whose ``handle_error`` answers
``{"detail": ...}`` like every other error of the API (rest.md §1) and names the setting that
set the limit. :class:`ServiceRunner` is an :class:`~aiohttp.web.AppRunner` whose server builds
those protocols; ``python -m trading serve`` runs it (:func:`serve`).

The limits themselves reach aiohttp through ``Application(handler_args=...)`` (see
:func:`handler_args`), so every runner, the test server included, enforces them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from contextlib import suppress
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from trading.logs import access_log_args
from trading.security import secure
from trading.settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 5.0


def handler_args(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of aiohttp's connection protocol: our limits and access log."""
    return {
        "max_line_size": settings.http_max_line_bytes,
        "max_field_size": settings.http_max_field_bytes,
        "max_headers": settings.http_max_headers,
        # aiohttp's keep-alive timer starts when the connection opens and again after each
        # response, and closes the connection if no complete request head arrived by then:
        # that is the header timeout (slowloris), and the idle keep-alive limit with it.
        "keepalive_timeout": settings.http_header_timeout_s,
        **access_log_args(settings),
    }


def parser_error_detail(exc: BaseException | None, status: int, protocol: RequestHandler) -> str:
    """What went wrong, in words a client can act on (the limit and its setting named)."""
    if isinstance(exc, http_exceptions.LineTooLong):
        # aiohttp raises the same error for both limits; the limit it carries tells which
        # (the two settings differ by default; when an operator makes them equal, name both)
        limit = exc.args[1] if len(exc.args) > 1 else None
        line, field = protocol.max_line_size, protocol.max_field_size
        if limit == line and line != field:
            return (
                "Request line (method, URL and query string) too long: the limit is "
                f"{line} bytes (TRADING_HTTP_MAX_LINE_BYTES)"
            )
        if limit == field and line != field:
            return (
                f"Request header line too long: the limit is {field} bytes "
                "(TRADING_HTTP_MAX_FIELD_BYTES)"
            )
        return (
            f"Request line or header line too long: the limit is {limit} bytes "
            "(TRADING_HTTP_MAX_LINE_BYTES, TRADING_HTTP_MAX_FIELD_BYTES)"
        )
    if isinstance(exc, http_exceptions.BadHttpMessage):
        if "too many headers" in exc.message.lower():
            return (
                f"Too many request headers: the limit is {protocol.max_headers} "
                "(TRADING_HTTP_MAX_HEADERS)"
            )
        return f"Malformed HTTP request: {exc.message}" if exc.message else "Malformed HTTP request"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's connection protocol, answering its own errors in JSON (``{"detail": ...}``)."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # as aiohttp's version: nothing can be answered once a response was started
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            self.logger.error("error handling request from %s", request.remote, exc_info=exc)
        else:  # the client's mistake: worth a line, not a traceback at ERROR
            reason = exc.message if isinstance(exc, http_exceptions.HttpProcessingError) else exc
            self.logger.info("bad request from %s: %s", request.remote, reason)
        response = web.Response(
            status=status,
            body=orjson.dumps({"detail": parser_error_detail(exc, status, self)}),
            content_type="application/json",
        )
        response.force_close()
        secure(response)
        return response


class JsonErrorServer(web.Server):
    """The protocol factory of the listening socket: one :class:`JsonErrorRequestHandler` per
    connection, built with the same arguments aiohttp's own would get."""

    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class ServiceRunner(web.AppRunner):
    """An :class:`~aiohttp.web.AppRunner` whose connections answer parser errors in JSON."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The application builds a plain web.Server (Application._make_handler); give it our
        # protocol factory. JsonErrorServer adds no state, so the object stays valid.
        server.__class__ = JsonErrorServer
        return server


async def start(
    app: web.Application, host: str, port: int, *, reuse_port: bool = False, **runner_kwargs: Any
) -> ServiceRunner:
    """Set up ``app`` and listen on ``host:port`` (0: a free port; see ``runner.addresses``).

    ``reuse_port``: bind with ``SO_REUSEPORT``, so the workers of ``serve --workers N`` share
    the port, each with its own accept queue (the kernel spreads connections by their
    addresses' hash). Only the cluster's workers set it: a lone server must keep refusing a
    port that is busy, instead of silently sharing it with whatever holds it."""
    runner = ServiceRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, **runner_kwargs)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


Started = Callable[[asyncio.Event], None]
"""Called once the server listens, with the event that stops it (a cluster worker tells its
supervisor it is ready here, and stops when the supervisor is gone)."""


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    started: Started | None = None,
    **runner_kwargs: Any,
) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully (``python -m trading serve``).

    The shutdown stops listening first, then closes every WebSocket with 1001 (the streaming
    side's ``on_shutdown``), so clients reconnect at once, to the other workers of a cluster;
    it is logged with the time it took."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runner = await start(app, host, port, reuse_port=reuse_port, **runner_kwargs)
    try:
        for host_, port_, *_ in runner.addresses:
            log.info("serving on http://%s:%s", f"[{host_}]" if ":" in host_ else host_, port_)
        if started is not None:
            started(stop)
        await stop.wait()
        log.info("shutting down")
    finally:
        begun = time.monotonic()
        await runner.cleanup()
        log.info("shut down in %.3f s", time.monotonic() - begun)
