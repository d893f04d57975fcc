"""Route metadata for the OpenAPI document, attached to handlers by a small typed decorator.

Why: the OpenAPI builder (``trading.specs.openapi``) walks the router and needs, for each
handler, the operationId, tags, parameters and response schemas. Keeping them next to the handler
(instead of in a separate spec file) means a new route cannot be added without its documentation:
the builder fails on any non-hidden REST route whose handler carries no :func:`operation`.

Usage (place it *under* the route decorator)::

    from trading.models.broker import PlaceOrderResult, PlacedOrder, PreOrder
    from trading.models.meta import HTTPError, HTTPValidationError
    from trading.specs.operation import operation

    @routes.post("/api/v1/broker/orders")
    @operation(
        "placeOrder",
        tag="broker",
        summary="Place an order",
        body=PreOrder,
        responses={200: PlaceOrderResult, 400: HTTPError, 422: HTTPValidationError},
    )
    async def place_order(request: web.Request) -> web.Response: ...

    @routes.get("/api/v1/broker/orders")
    @operation("getOrders", tag="broker", summary="List orders", responses={200: list[PlacedOrder]})
    async def get_orders(request: web.Request) -> web.Response: ...

    @routes.post("/api/v1/broker/debug/reset")
    @operation("resetBrokerState", tag="broker", summary="Reset the account", hidden=True)
    async def reset_broker_state(request: web.Request) -> web.Response: ...

- ``tag="broker"`` gives the tags ``["v1", "broker"]`` (rest.md §1); ``tags=[...]`` overrides
  them verbatim (the root route uses ``tags=["root"]``).
- ``query`` / ``path`` take the pydantic model the handler validates with (``parse_query``);
  each field becomes one parameter (name, type, enum, required, description). Path parameters
  without a model are documented as required strings, named from the route's ``{name}``.
  ``headers`` takes a model of the request headers the handler reads (field aliases are the
  header names), documented as header parameters after the query ones.
- ``responses`` maps a status to a model class, any type pydantic can build a schema for
  (``list[PlacedOrder]``, a ``TypeAdapter``), :class:`Content` for another media type or a
  custom description, or ``None`` for a body-less response. Error bodies are ``HTTPError``
  (``{"detail": str}``) and ``HTTPValidationError`` (422). Declare every 4xx the route returns.
- ``hidden=True`` keeps the route out of the document (debug routes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pydantic
from aiohttp import web

API_TAG = "v1"
_ATTRIBUTE = "__trading_operation__"

Handler = Callable[..., Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Content:
    """A response (or body) schema with an explicit media type and/or description."""

    schema: Any
    media_type: str = "application/json"
    description: str | None = None


ResponseSpec = object
"""A model class, a type such as ``list[Model]``, a ``TypeAdapter``, :class:`Content`, or None
(typed ``object`` because ``list[Model]`` and ``A | B`` are not ``type`` instances for mypy)."""


@dataclass(frozen=True)
class Operation:
    """Everything the OpenAPI builder needs to describe one handler."""

    operation_id: str
    tags: tuple[str, ...]
    summary: str
    description: str | None = None
    body: type[pydantic.BaseModel] | None = None
    query: type[pydantic.BaseModel] | None = None
    path: type[pydantic.BaseModel] | None = None
    headers: type[pydantic.BaseModel] | None = None
    responses: Mapping[int, ResponseSpec] = field(default_factory=dict)
    hidden: bool = False
    deprecated: bool = False


def operation(
    operation_id: str,
    *,
    tag: str | None = None,
    tags: Sequence[str] | None = None,
    summary: str,
    description: str | None = None,
    body: type[pydantic.BaseModel] | None = None,
    query: type[pydantic.BaseModel] | None = None,
    path: type[pydantic.BaseModel] | None = None,
    headers: type[pydantic.BaseModel] | None = None,
    responses: Mapping[int, ResponseSpec] | None = None,
    hidden: bool = False,
    deprecated: bool = False,
) -> Callable[[H], H]:
    """Attach OpenAPI metadata to a handler; returns the handler itself, unchanged."""
    if (tag is None) == (tags is None):
        raise TypeError(f"{operation_id}: give exactly one of tag= or tags=")
    resolved_tags = (API_TAG, tag) if tag is not None else tuple(tags or ())
    meta = Operation(
        operation_id=operation_id,
        tags=resolved_tags,
        summary=summary,
        description=description,
        body=body,
        query=query,
        path=path,
        headers=headers,
        responses=dict(responses if responses is not None else {200: None}),
        hidden=hidden,
        deprecated=deprecated,
    )

    def attach(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, meta)
        return handler

    return attach


def operation_of(handler: object) -> Operation | None:
    """The metadata attached by :func:`operation`, or None (follows ``functools.wraps``)."""
    meta = getattr(handler, _ATTRIBUTE, None)
    if meta is None:
        wrapped = getattr(handler, "__wrapped__", None)
        if wrapped is not None and wrapped is not handler:
            return operation_of(wrapped)
        return None
    if not isinstance(meta, Operation):
        raise TypeError(f"{handler!r}.{_ATTRIBUTE} is not an Operation")
    return meta
