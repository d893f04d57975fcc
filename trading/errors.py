"""JSON errors everywhere: ``{"detail": ...}`` bodies as FastAPI's clients expect (rest.md §1).

Handlers raise :class:`ApiError` (a refused but well-formed request) or
:class:`RequestValidationError` (422 with one item per offending field); :func:`error_answer`
(applied by :func:`trading.front.front_middleware`) turns those, aiohttp's own HTTP exceptions
and any bug into JSON. No HTML page ever leaves the app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import Any

import orjson
import pydantic
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from trading.broker.errors import StorageError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A request the current state refuses (400), or an unknown resource (404)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class RequestValidationError(Exception):
    """422: the request violates the schema or a field rule; ``errors`` lists every field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


def _jsonable(value: Any) -> Any:
    """``value`` if orjson can write it, else its text (never raising: this builds errors)."""
    try:
        orjson.dumps(value)
    except TypeError:  # not serializable, or nested past orjson's limit
        try:
            return str(value)
        except RecursionError:
            return f"<{type(value).__name__} too deeply nested to show>"
    return value


def error_item(
    location: Iterable[str | int],
    msg: str,
    *,
    type_: str = "value_error",
    input_: Any = None,
    ctx: dict[str, Any] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": type_,
        "loc": list(location),
        "msg": msg,
        "input": _jsonable(input_),
    }
    if ctx:
        item["ctx"] = {key: _jsonable(val) for key, val in ctx.items()}
    return item


def validation_items(exc: pydantic.ValidationError, location: str) -> list[dict[str, Any]]:
    """pydantic's errors as FastAPI items, ``loc`` prefixed with ``query``/``path``/``body``."""
    items = []
    for err in exc.errors(include_url=False):
        missing = err["type"] == "missing"
        items.append(
            error_item(
                [location, *err["loc"]],
                err["msg"],
                type_=err["type"],
                input_=None if missing else err.get("input"),
                ctx=err.get("ctx"),
            )
        )
    return items


def payload_problem(exc: web.RequestPayloadError) -> str:
    """aiohttp's reason for an unreadable body: bad gzip/deflate, broken chunked encoding."""
    cause = exc.__cause__
    return cause.message if isinstance(cause, HttpProcessingError) else str(exc)


def json_bytes_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def error_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> web.Response:
    response = json_bytes_response(orjson.dumps({"detail": detail}), status)
    if headers:
        response.headers.update(headers)
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_answer(request: web.Request, exc: Exception) -> web.Response | None:
    """The JSON answer to what a handler raised, or None for what must travel on: redirects
    and other HTTP exceptions below 400 (aiohttp answers those itself). Called from inside
    the ``except`` clause that caught ``exc`` (the traceback of a bug is logged from it)."""
    if isinstance(exc, RequestValidationError):
        return error_response(422, exc.errors)
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.detail)
    if isinstance(exc, StorageError):
        # the database refused the write (disk full, read-only, deleted): nothing was stored,
        # and the next request retries it; a client can try again later
        return error_response(503, exc.detail, {"Retry-After": "5"})
    if isinstance(exc, web.RequestPayloadError):
        # a handler read a body that cannot be decoded as sent (JSON bodies: api.io, 422)
        return error_response(400, f"Request body could not be read: {payload_problem(exc)}")
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return None
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        detail = _phrase(exc.status)
        if exc.status not in (404, 405) and exc.text and not exc.text.startswith(f"{exc.status}"):
            detail = exc.text
        return error_response(exc.status, detail, headers)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "Internal Server Error")


def close_if_body_broken(request: web.Request, response: web.StreamResponse) -> None:
    """After the answer to a request whose body stream broke (bad gzip, broken chunking): the
    HTTP parser of this connection is lost, so answer and close. Marking the stream finished
    also stops aiohttp from reading the rest of the body after the answer, which re-raised the
    decode error and logged it as an "Unhandled exception" although the client already had
    its 4xx."""
    if request.content.exception() is not None and not response.prepared:
        request.content.feed_eof()
        response.force_close()
