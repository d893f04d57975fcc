"""The WebSocket route registry and the topic-string rule (websocket.md §3-§4).

:data:`ROUTES` is the single source for dispatch, payload validation, topic keys and the
AsyncAPI document: route name → request model, update model, tag, and which queued update a
newer one may replace under back-pressure (its coalescing rule, websocket.md §7). Code that
means one route names it through the constants below, not a string literal.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import orjson
import pydantic

from trading.models.broker import (
    BrokerConnectionStatus,
    EquityData,
    Execution,
    MarginData,
    PlacedOrder,
    Position,
    PositionPL,
)
from trading.models.market import Bar, QuoteData
from trading.models.replay import ReplayUpdate
from trading.models.ws import (
    BarsSubscriptionRequest,
    BrokerConnectionSubscriptionRequest,
    EquitySubscriptionRequest,
    ExecutionSubscriptionRequest,
    MarginSubscriptionRequest,
    OrderSubscriptionRequest,
    PLSubscriptionRequest,
    PositionSubscriptionRequest,
    QuoteDataSubscriptionRequest,
    ReplaySubscriptionRequest,
    StrictRequest,
    SubscriptionStatus,
    WsError,
    WsErrorCode,
)

BARS = "bars"
QUOTES = "quotes"
ORDERS = "orders"
POSITIONS = "positions"
EXECUTIONS = "executions"
EQUITY = "equity"
BROKER_CONNECTION = "broker-connection"
PL = "pl"
MARGIN = "margin"
REPLAY = "replay"
BROKER_TAG = "broker"
REPLAY_TAG = "replay"
ACCOUNT_TAGS = frozenset({BROKER_TAG, REPLAY_TAG})
"""The tags of routes that follow an account (its broker changes, its replay sessions): in
keys mode an anonymous socket may subscribe to none."""
ACCOUNT_ROUTES = (ORDERS, POSITIONS, EXECUTIONS, EQUITY, PL, MARGIN)
"""The routes of the paper account's own changes (``broker-connection`` is the link's)."""

CoalesceRule = Callable[[str, dict[str, Any]], Hashable]
"""(topic, update item) → the key a newer update with the same key may replace."""


def latest_per_topic(topic: str, item: dict[str, Any]) -> Hashable:
    """State of the whole topic (equity, connection status): only the latest matters."""
    return topic


def latest_per_position(topic: str, item: dict[str, Any]) -> Hashable:
    """A newer P&L of the same position replaces the queued one."""
    return (topic, item["id"])


def latest_bar(topic: str, item: dict[str, Any]) -> Hashable:
    """A newer form of the same bar (same label) replaces the queued one; a new bar does not."""
    return (topic, item["time"])


def latest_quote(topic: str, item: dict[str, Any]) -> Hashable:
    """A newer quote of the same symbol replaces the queued one."""
    return (topic, item["n"])


@dataclass(frozen=True)
class WsRoute:
    name: str
    request_model: type[StrictRequest]
    update_model: type[pydantic.BaseModel]
    tag: str
    summary: str
    coalesce: CoalesceRule | None
    """Which queued update a newer one may replace; None = every update is an event, kept."""

    @property
    def market_state(self) -> bool:
        """Updates carry state (latest wins), so a full queue may replace a queued twin."""
        return self.coalesce is not None

    def topic(self, request: StrictRequest) -> str:
        """``<route>:`` + the request without nulls, keys sorted, compact, non-ASCII as-is."""
        fields = request.model_dump(mode="json", exclude_none=True)
        return f"{self.name}:{orjson.dumps(fields, option=orjson.OPT_SORT_KEYS).decode()}"


ROUTES: dict[str, WsRoute] = {
    r.name: r
    for r in (
        WsRoute(BARS, BarsSubscriptionRequest, Bar, "datafeed",
                "Live bars of one symbol at one resolution", latest_bar),
        WsRoute(QUOTES, QuoteDataSubscriptionRequest, QuoteData, "datafeed",
                "Live quotes of a list of symbols", latest_quote),
        WsRoute(ORDERS, OrderSubscriptionRequest, PlacedOrder, "broker",
                "Order changes of the paper account", None),
        WsRoute(POSITIONS, PositionSubscriptionRequest, Position, "broker",
                "Position changes of the paper account", None),
        WsRoute(EXECUTIONS, ExecutionSubscriptionRequest, Execution, "broker",
                "Fills of the paper account", None),
        WsRoute(EQUITY, EquitySubscriptionRequest, EquityData, "broker",
                "Balance, equity and P&L of the paper account", latest_per_topic),
        WsRoute(BROKER_CONNECTION, BrokerConnectionSubscriptionRequest,
                BrokerConnectionStatus, "broker", "Broker connection status", latest_per_topic),
        # added by this backend (issue 13): after the reference's routes, so its order stays
        WsRoute(PL, PLSubscriptionRequest, PositionPL, "broker",
                "Unrealized P&L of each open position (plUpdate)", latest_per_position),
        WsRoute(MARGIN, MarginSubscriptionRequest, MarginData, "broker",
                "Margin used, available and buying power (marginAvailableUpdate)",
                latest_per_topic),
        # added by this backend (issue 17): a replay session's clock, bars and quotes; each
        # push carries the bars completed since the previous one, so none may replace another
        WsRoute(REPLAY, ReplaySubscriptionRequest, ReplayUpdate, REPLAY_TAG,
                "A replay session's state, bars and quotes at replay speed", None),
    )
}  # fmt: skip

OPERATIONS = ("subscribe", "unsubscribe")
"""What a client may send per route; the server answers ``<op>.response`` and pushes ``update``."""
UPDATE = "update"
MAX_ECHO_DEPTH = 253
"""Deepest ``ping`` payload a ``pong`` can echo: orjson writes at most 254 levels, and the
envelope takes one."""


def parse_type(message_type: str) -> tuple[WsRoute, str] | None:
    """``"bars.subscribe"`` → (bars route, "subscribe"); None for anything a client can't send."""
    name, _, operation = message_type.rpartition(".")
    route = ROUTES.get(name)
    if route is None or operation not in OPERATIONS:
        return None
    return route, operation


def payload_problem(exc: pydantic.ValidationError) -> str:
    """``Invalid payload: <field>: <problem>; ...`` (websocket.md §6)."""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{field}: {err['msg']}")
    return "Invalid payload: " + "; ".join(parts)


def encode(message_type: str, payload: Any) -> bytes:
    return orjson.dumps({"type": message_type, "payload": payload})


_OK, _ERROR = SubscriptionStatus.OK.value, SubscriptionStatus.ERROR.value
"""The status strings, read once (an enum member's ``.value`` is a descriptor call)."""


def response(route: str, operation: str, ok: bool, message: str, topic: str) -> bytes:
    """A SubscriptionResponse frame. Built as a dict on this hot path (subscribe churn); the
    model defines the shape for the AsyncAPI document and the tests check every frame."""
    body = {"status": _OK if ok else _ERROR, "message": message, "topic": topic}
    return encode(f"{route}.{operation}.response", body)


def error(code: WsErrorCode, message: str, request_type: str | None) -> bytes:
    body = WsError(code=code, message=message, request_type=request_type)
    return encode("error", body.model_dump(mode="json"))


def update(route: str, topic: str, item: Any) -> bytes:
    """One ``<route>.update`` frame; ``item`` is the route's update model as JSON data."""
    return encode(f"{route}.{UPDATE}", {"topic": topic, "payload": item})


def coalesce_key(route: str, topic: str, item: dict[str, Any]) -> Hashable | None:
    """Which queued update a newer one may replace (websocket.md §7); None = never."""
    rule = ROUTES[route].coalesce
    return None if rule is None else rule(topic, item)
