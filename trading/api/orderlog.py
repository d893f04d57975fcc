"""The order log routes of issue 13: idempotent placement's header, the orders history
(rest.md §11, broker.md §15-§16). The rules are the broker's (idempotency, history)."""

from __future__ import annotations

import pydantic
from aiohttp import web

from trading.api.account_scope import account_id
from trading.api.io import model_response
from trading.broker.history import FINAL_STATUSES, BadCursor, HistoryQuery, decode_cursor
from trading.errors import RequestValidationError, error_item, validation_items
from trading.keys import BROKER, SETTINGS
from trading.models.broker import OrdersHistory, OrdersHistoryQuery
from trading.models.meta import HTTPValidationError
from trading.specs.operation import operation
from trading.wire import broker as views

routes = web.RouteTableDef()
PREFIX = "/api/v1/broker"
IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
"""Response header set to ``true`` on an answer repeated for a key (as Stripe's API does)."""


def idempotency_key(request: web.Request) -> tuple[str | None, list[dict[str, object]]]:
    """The request's key (None when absent) and what is wrong with it (422 items)."""
    values = request.headers.getall(IDEMPOTENCY_KEY, [])
    if not values:
        return None, []
    loc = ["header", IDEMPOTENCY_KEY]
    if len(values) > 1:
        return None, [error_item(loc, f"{IDEMPOTENCY_KEY} must be given once", input_=values)]
    key = values[0]
    limit = request.app[SETTINGS].idempotency_key_max_bytes
    if not key:
        return None, [error_item(loc, f"{IDEMPOTENCY_KEY} must not be empty", input_=key)]
    if not all(" " <= c <= "~" for c in key):
        msg = f"{IDEMPOTENCY_KEY} must be printable ASCII (no control or non-ASCII characters)"
        return None, [error_item(loc, msg, input_=key)]
    if len(key) > limit:  # ASCII: one byte per character
        return None, [
            error_item(loc, f"{IDEMPOTENCY_KEY} must be at most {limit} bytes",
                       type_="string_too_long", input_=key, ctx={"max_length": limit})
        ]  # fmt: skip
    return key, []


def history_query(request: web.Request) -> HistoryQuery:
    """The query as the broker's: ``status`` repeated or comma-separated, only final ones,
    ``limit`` within the settings, the cursor one this server made; 422 otherwise."""
    data: dict[str, object] = {k: request.query[k] for k in request.query if k != "status"}
    statuses = [p.strip() for v in request.query.getall("status", []) for p in v.split(",")]
    if statuses:
        data["status"] = statuses
    try:
        query = OrdersHistoryQuery.model_validate(data)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(validation_items(exc, "query")) from None
    settings = request.app[SETTINGS]
    problems = []
    for i, status in enumerate(query.status or ()):
        if status not in FINAL_STATUSES:
            problems.append(error_item(
                ["query", "status", i],
                "status must be a final status: 2 (filled), 1 (canceled) or 5 (rejected)",
                input_=int(status),
            ))  # fmt: skip
    limit = settings.orders_history_limit if query.limit is None else query.limit
    if limit > settings.orders_history_max_limit:
        problems.append(error_item(
            ["query", "limit"], f"limit must be at most {settings.orders_history_max_limit}",
            type_="less_than_equal", input_=limit,
            ctx={"le": settings.orders_history_max_limit},
        ))  # fmt: skip
    before = None
    if query.cursor is not None:
        try:
            before = decode_cursor(query.cursor)
        except BadCursor as exc:
            problems.append(error_item(["query", "cursor"], str(exc), input_=query.cursor))
    start, end = query.from_time, query.to_time
    if start is not None and end is not None and start > end:
        problems.append(error_item(["query", "to_time"], "to_time must not be before from_time",
                                   input_=query.to_time))  # fmt: skip
    if problems:
        raise RequestValidationError(problems)
    return HistoryQuery(
        statuses=frozenset(query.status or FINAL_STATUSES),
        from_time=query.from_time, to_time=query.to_time, limit=limit, before=before,
    )  # fmt: skip


@routes.get(f"{PREFIX}/orders/history")
@operation(
    "getOrdersHistory",
    tag="broker",
    summary="Final orders (filled, canceled, rejected), most recently finished first, paged",
    description="Keyset pages: follow `nextCursor` until it is null. Orders that finish while "
    "a client pages appear only before its first page, never in a later one (broker.md §16).",
    query=OrdersHistoryQuery,
    responses={200: OrdersHistory, 422: HTTPValidationError},
)
async def get_orders_history(request: web.Request) -> web.Response:
    page = await request.app[BROKER].orders_history(
        await account_id(request), history_query(request)
    )
    return model_response(
        OrdersHistory(
            orders=[views.placed_order(o) for o in page.orders], nextCursor=page.next_cursor
        )
    )
