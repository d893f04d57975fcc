"""Request parsing into pydantic models and model → JSON responses (orjson / pydantic-core)."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import pydantic
from aiohttp import web

from trading.errors import (
    RequestValidationError,
    error_item,
    json_bytes_response,
    payload_problem,
    validation_items,
)
from trading.keys import SETTINGS

M = TypeVar("M", bound=pydantic.BaseModel)


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string (first value of each key) into ``model``; 422 on failure."""
    data = {key: request.query[key] for key in request.query}
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(validation_items(exc, "query")) from None


def _json_invalid(position: int, error: str) -> RequestValidationError:
    return RequestValidationError(
        [
            error_item(
                ["body", position],
                "JSON decode error",
                type_="json_invalid",
                input_={},
                ctx={"error": error},
            )
        ]
    )


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` (a scalar has depth 0).

    Iterative, so no depth can exhaust the interpreter's stack (pydantic and the error
    serializer recurse, which is why a deep body must be refused before them).
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        depth += 1
        if depth > limit:
            return True
        stack.extend((child, depth) for child in item if isinstance(child, dict | list))
    return False


async def read_json(request: web.Request) -> Any:
    """The JSON body; unparsable JSON is one ``json_invalid`` item at ``["body", offset]``.

    An undecodable ``Content-Encoding`` and nesting deeper than ``TRADING_JSON_MAX_DEPTH``
    (no request of this API nests more than a few levels) are refused the same way.
    """
    try:
        raw = await request.read()
    except web.RequestPayloadError as exc:
        # bad gzip/deflate or chunking: unreadable like bad JSON (a server that does not
        # decompress, as the reference, would fail to parse these bytes the same way)
        raise _json_invalid(
            0, f"request body could not be decoded: {payload_problem(exc)}"
        ) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _json_invalid(exc.pos, exc.msg) from None
    limit = request.app[SETTINGS].json_max_depth
    # cheap filter first: with no more brackets than the limit, nothing can nest deeper
    if raw.count(b"[") + raw.count(b"{") > limit and nesting_exceeds(data, limit):
        raise _json_invalid(
            0, f"nesting deeper than {limit} levels (TRADING_JSON_MAX_DEPTH)"
        ) from None
    return data


def validate_body(data: Any, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(validation_items(exc, "body")) from None


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Validate a JSON body into ``model``; 422 lists every offending field."""
    return validate_body(await read_json(request), model)


def model_json(model: pydantic.BaseModel) -> bytes:
    """The model's JSON as every response writes it (pydantic-core, no indentation)."""
    return model.__pydantic_serializer__.to_json(model)


def model_response(model: pydantic.BaseModel, status: int = 200) -> web.Response:
    return json_bytes_response(model_json(model), status)


def models_response(adapter: pydantic.TypeAdapter[Any], items: Any) -> web.Response:
    return json_bytes_response(adapter.dump_json(items))


def json_response(data: Any, status: int = 200) -> web.Response:
    """Plain data (dicts, lists, numpy arrays) serialized by orjson on hot paths."""
    return json_bytes_response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status)
