"""Request parsing into pydantic models and model → JSON responses (orjson / pydantic-core)."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import pydantic
from aiohttp import web

from trading.errors import RequestValidationError, error_item, json_bytes_response, validation_items

M = TypeVar("M", bound=pydantic.BaseModel)


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string (first value of each key) into ``model``; 422 on failure."""
    data = {key: request.query[key] for key in request.query}
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(validation_items(exc, "query")) from None


async def read_json(request: web.Request) -> Any:
    """The JSON body; unparsable JSON is one ``json_invalid`` item at ``["body", offset]``."""
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                error_item(
                    ["body", exc.pos],
                    "JSON decode error",
                    type_="json_invalid",
                    input_={},
                    ctx={"error": exc.msg},
                )
            ]
        ) from None


def validate_body(data: Any, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(validation_items(exc, "body")) from None


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Validate a JSON body into ``model``; 422 lists every offending field."""
    return validate_body(await read_json(request), model)


def model_response(model: pydantic.BaseModel, status: int = 200) -> web.Response:
    return json_bytes_response(model.__pydantic_serializer__.to_json(model), status)


def models_response(adapter: pydantic.TypeAdapter[Any], items: Any) -> web.Response:
    return json_bytes_response(adapter.dump_json(items))


def json_response(data: Any, status: int = 200) -> web.Response:
    """Plain data (dicts, lists, numpy arrays) serialized by orjson on hot paths."""
    return json_bytes_response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status)
