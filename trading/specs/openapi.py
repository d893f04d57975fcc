"""The OpenAPI 3.1 document, built with apispec from the router and the handlers' metadata.

Walks ``app.router`` (skipping the automatic HEAD routes and static files), reads the
:func:`~trading.specs.operation.operation` metadata of each handler and asks pydantic for the
schemas of the models named there. A non-hidden route without metadata is an error
(:class:`UndocumentedRouteError`): new routes cannot go undocumented.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pydantic
from aiohttp import hdrs, web
from apispec import APISpec

from trading import __version__
from trading.security import JSON_BODY_METHODS
from trading.specs.access import ACCOUNT_PARAMETER, broker_path, security_of, with_access
from trading.specs.operation import API_TAG, Content, Operation, operation_of
from trading.specs.schemas import JsonSchema, SchemaSet, reachable

OPENAPI_VERSION = "3.1.0"
TITLE = "Trading API"
DESCRIPTION = (
    "Market data (JSON datafeed and TradingView UDF), live streaming and a paper-trading broker. "
    "JSON API times are epoch milliseconds, UDF times epoch seconds. Errors are "
    '`{"detail": ...}` bodies (422: a list of validation items). The WebSocket at `/api/v1/ws` '
    "is described by the AsyncAPI document at `/api/v1/ws/asyncapi.json`."
)
TAGS: tuple[tuple[str, str], ...] = (
    (API_TAG, "Version 1 of the API (the first tag of every versioned operation)"),
    ("health", "Liveness and streaming counters"),
    ("versioning", "API versions"),
    ("datafeed", "JSON market data: configuration, symbols, bars, quotes (times in ms)"),
    ("udf", "TradingView UDF datafeed (times in seconds; errors are 200 with s=error)"),
    ("broker", "Paper-trading account: orders, positions, executions, leverage, equity"),
    ("auth", "Sessions of TRADING_AUTH=keys: log in with an API key, who am I, WebSocket tickets"),
    ("admin", "Users and API keys (needs TRADING_ADMIN_KEY; absent: 404)"),
    (
        "debug",
        "Scenario control of TRADING_CLOCK=manual: the clock, scripted prices, an evaluation "
        "now (loopback only by default, like the debug reset; keys mode: TRADING_ADMIN_KEY)",
    ),
    (
        "replay",
        "Bar replay: sessions of an account at a past time and speed, and their market as of "
        "replay-now (docs/replay.md)",
    ),
    ("root", "Service index"),
)
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`trk_...`) or, for the admin API, TRADING_ADMIN_KEY. Needed "
        "in TRADING_AUTH=keys on /broker (and on market data with TRADING_AUTH_MARKET=private).",
    },
    "cookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "trading_session",
        "description": "The session cookie `POST /api/v1/auth/login` sets (browsers).",
    },
}
"""How a client authenticates in keys mode; off mode (the default) needs neither."""
EMPTY_BODY = "EmptyBody"
EMPTY_BODY_SCHEMA: JsonSchema = {
    "title": EMPTY_BODY,
    "description": "The operation reads no body. A browser must still say `Content-Type: "
    "application/json` (trading/security.py; send `{}`), so the body is declared: a generated "
    "client then sends `{}` as JSON rather than its HTTP library's default form type.",
    "examples": [{}],
}
"""The optional body of a POST/PUT that takes none (any JSON, ignored)."""
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


class UndocumentedRouteError(RuntimeError):
    """A route has no :func:`~trading.specs.operation.operation` metadata."""


@dataclass(frozen=True)
class DocumentedRoute:
    method: str
    path: str
    operation: Operation


def documented_routes(app: web.Application) -> Iterator[DocumentedRoute]:
    """Every (method, path, metadata) of the router, hidden ones included, HEAD excluded."""
    for route in app.router.routes():
        if route.method in (hdrs.METH_HEAD, hdrs.METH_ANY):
            continue
        resource = route.resource
        if resource is None or isinstance(resource, web.StaticResource):
            continue
        meta = operation_of(route.handler)
        if meta is None:
            raise UndocumentedRouteError(
                f"{route.method} {resource.canonical} ({route.handler!r}) has no @operation "
                "metadata: document it (trading.specs.operation) or mark it hidden=True"
            )
        path = _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", resource.canonical)
        yield DocumentedRoute(route.method, path, meta)


def build_openapi(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of ``app`` as plain JSON data."""
    routes = [
        DocumentedRoute(r.method, r.path, with_access(r.path, r.operation))
        for r in documented_routes(app)
        if not r.operation.hidden
    ]
    _check_unique_ids(routes)
    schemas = SchemaSet()
    for r in routes:
        _register(schemas, r)
    by_key, definitions = schemas.build()

    spec = APISpec(
        title=TITLE,
        version=__version__,
        openapi_version=OPENAPI_VERSION,
        info={"description": DESCRIPTION},
        tags=[{"name": name, "description": text} for name, text in TAGS],
    )
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, by_key, definitions)
    for path in sorted(paths):
        spec.path(path=path, operations=paths[path])
    document = spec.to_dict()
    definitions = {**definitions, EMPTY_BODY: EMPTY_BODY_SCHEMA}
    for name, schema in reachable([document["paths"]], definitions).items():
        spec.components.schema(name, with_generated_names(schema))
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    return spec.to_dict()


def generated_name(value: int) -> str:
    """The member name openapi-generator gives an unnamed integer enum value
    (``1`` → ``NUMBER_1``, ``-1`` → ``NUMBER_MINUS_1``)."""
    return f"NUMBER_{value}" if value >= 0 else f"NUMBER_MINUS_{-value}"


def with_generated_names(schema: JsonSchema) -> JsonSchema:
    """An integer enum named by ``x-enum-varnames`` (``Side.Buy``) keeps, as aliases, the names
    a client generated from the reference document has (``Side.NUMBER_1``).

    Why: code written against the reference's client must keep compiling against ours
    (docs/api-specs.md). ``x-enum-varnames`` pairs one name with one ``enum`` entry, so each
    value is listed a second time with its generated name: ``enum: [1, -1, 1, -1]``,
    ``x-enum-varnames: [Buy, Sell, NUMBER_1, NUMBER_MINUS_1]``. JSON Schema allows repeated
    ``enum`` entries and the accepted set is unchanged. OpenAPI only: the AsyncAPI document's
    enums keep one entry per value (the reference's WebSocket type generator names members
    by value and would declare them twice).
    """
    names = schema.get("x-enum-varnames")
    values = schema.get("enum")
    if schema.get("type") != "integer" or names is None or values is None:
        return schema
    aliases = [generated_name(v) for v in values]
    return {**schema, "enum": [*values, *values], "x-enum-varnames": [*names, *aliases]}


def _check_unique_ids(routes: list[DocumentedRoute]) -> None:
    seen: dict[str, DocumentedRoute] = {}
    for r in routes:
        other = seen.setdefault(r.operation.operation_id, r)
        if other is not r:
            raise ValueError(
                f"operationId {r.operation.operation_id!r} used by {other.method} {other.path} "
                f"and {r.method} {r.path}"
            )


def _response_schema(spec: object) -> tuple[Any, str, str | None]:
    """(type, media type, description) of one ``responses`` value."""
    if isinstance(spec, Content):
        return spec.schema, spec.media_type, spec.description
    return spec, "application/json", None


def _register(schemas: SchemaSet, r: DocumentedRoute) -> None:
    op = r.operation
    for part in (op.body, op.query, op.path, op.headers):
        if part is not None:
            schemas.add(part, part)
    for status, spec in op.responses.items():
        schema, _media, _ = _response_schema(spec)
        if schema is not None:
            schemas.add((op.operation_id, status), schema)


def _component(schema: JsonSchema, defs: dict[str, Any]) -> JsonSchema:
    """The component schema a ``{"$ref": ...}`` names."""
    component: JsonSchema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return component


def _model_fields(
    model: type[pydantic.BaseModel], by_key: dict[Hashable, JsonSchema], defs: dict[str, Any]
) -> tuple[dict[str, JsonSchema], set[str]]:
    """Properties and required names of a query/path model, from its component schema."""
    schema = _component(by_key[model], defs)
    return schema.get("properties", {}), set(schema.get("required", ()))


def _parameters(
    r: DocumentedRoute, by_key: dict[Hashable, JsonSchema], defs: dict[str, Any]
) -> list[dict[str, Any]]:
    """Path parameters first (route order), then query parameters in model field order, then
    header parameters."""
    params: list[dict[str, Any]] = []
    names = _PATH_PARAM.findall(r.path)
    op = r.operation
    path_fields = _model_fields(op.path, by_key, defs)[0] if op.path is not None else {}
    unknown = set(path_fields) - set(names)
    if unknown:
        raise ValueError(f"{op.operation_id}: path model fields {unknown} are not in {r.path}")
    for name in names:
        prop = dict(path_fields.get(name, {"type": "string"}))
        params.append(_parameter(name, "path", prop, required=True))
    if op.query is not None:
        props, required = _model_fields(op.query, by_key, defs)
        for name, prop in props.items():
            params.append(_parameter(name, "query", dict(prop), required=name in required))
    if op.headers is not None:
        props, required = _model_fields(op.headers, by_key, defs)
        for name, prop in props.items():
            params.append(_parameter(name, "header", dict(prop), required=name in required))
    return params


def _without_null_default(prop: JsonSchema) -> JsonSchema:
    """``T | None`` stays ``anyOf [T, null]`` as in the reference (a generated client's
    parameter type is ``T | null``: code passing ``null`` must keep compiling); only the
    ``default: null`` goes, as in the reference: an absent parameter has no value to show."""
    if "default" in prop and prop["default"] is None:
        prop = {k: v for k, v in prop.items() if k != "default"}
    return prop


def _parameter(name: str, where: str, prop: JsonSchema, *, required: bool) -> dict[str, Any]:
    prop = _without_null_default(prop)
    prop.pop("title", None)
    description = prop.pop("description", None)
    param: dict[str, Any] = {"name": name, "in": where, "required": required, "schema": prop}
    if description:
        param["description"] = description
    return param


def _describe(status: int) -> str:
    if status == 200:
        return "Successful Response"
    if status == 422:
        return "Validation Error"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Response"


def _operation(
    r: DocumentedRoute, by_key: dict[Hashable, JsonSchema], defs: dict[str, Any]
) -> dict[str, Any]:
    op = r.operation
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": list(op.tags),
        "summary": op.summary,
    }
    if op.description:
        out["description"] = op.description
    if op.deprecated:
        out["deprecated"] = True
    params = _parameters(r, by_key, defs)
    if broker_path(r.path):
        params.append(dict(ACCOUNT_PARAMETER))
    security = security_of(r.path)
    if security is not None:
        out["security"] = security
    if params:
        out["parameters"] = params
    if op.body is not None:
        body: dict[str, Any] = {"schema": by_key[op.body]}
        examples = _component(by_key[op.body], defs).get("examples")
        if examples:
            # Swagger UI fills "try it out" with the media type's example (a valid request).
            body["example"] = examples[0]
        out["requestBody"] = {"required": True, "content": {"application/json": body}}
    elif r.method in JSON_BODY_METHODS:
        out["requestBody"] = {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{EMPTY_BODY}"},
                    "example": {},
                }
            },
        }
    responses: dict[str, Any] = {}
    for status, spec in sorted(op.responses.items()):
        schema, media, description = _response_schema(spec)
        response: dict[str, Any] = {"description": description or _describe(status)}
        if schema is not None:
            response["content"] = {media: {"schema": by_key[(op.operation_id, status)]}}
        responses[str(status)] = response
    out["responses"] = responses
    return out
