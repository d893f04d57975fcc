"""``GET /api/v1/ws``: one socket, a read loop that dispatches requests in order, and a writer
task per connection (:class:`~trading.ws.connection.Connection`).

Every request is answered without yielding between its parts: validation, hub registration,
the reply and the snapshot are queued atomically, so no update can precede its reply and none
can slip between the snapshot and the first live push (websocket.md §5). A broker subscribe
first waits (without holding the connection) for an instant when no broker change is
half-committed (:meth:`Feed.attach <trading.ws.hub.Feed.attach>`), then does the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pydantic
from aiohttp import WSCloseCode, WSMsgType, web

from trading.auth.principal import Principal
from trading.auth.ratelimit import RateLimiter, retry_after
from trading.errors import ApiError
from trading.keys import AUTH, FLUSHER, HUB, SETTINGS
from trading.models.ws import WsErrorCode
from trading.security import read_origin_allowed
from trading.settings import Settings
from trading.specs.operation import operation
from trading.ws import protocol
from trading.ws.connection import Connection
from trading.ws.guard import KEY_SOCKETS, upgrade_principal
from trading.ws.hub import FeedUnavailable, Hub, Item

log = logging.getLogger(__name__)

WS_PATH = "/api/v1/ws"
routes = web.RouteTableDef()


@routes.get(WS_PATH)
@operation("websocket", tag="ws", summary="WebSocket (AsyncAPI document)", hidden=True)
async def websocket(request: web.Request) -> web.StreamResponse:
    settings, hub = request.app[SETTINGS], request.app[HUB]
    origin = request.headers.get("Origin")
    # same-origin always passes: /app/ must keep its socket whatever TRADING_CORS_ORIGINS lists
    if origin and not read_origin_allowed(request, origin, settings.cors_origins):
        raise ApiError(403, "Origin not allowed")
    ws = web.WebSocketResponse(
        heartbeat=settings.ws_heartbeat_s or None,
        max_msg_size=settings.ws_max_message_bytes,
        compress=settings.ws_compress,
        timeout=2.0,
    )
    if not ws.can_prepare(request).ok:
        raise ApiError(426, "WebSocket upgrade required")
    if len(hub.connections) >= settings.ws_max_connections:
        raise ApiError(503, "Too many WebSocket connections")
    auth = request.app.get(AUTH)
    principal: Principal | None = None
    if auth is not None:  # keys mode: credentials are checked before the upgrade (401)
        found = await upgrade_principal(request, auth, settings.cors_origins)
        if isinstance(found, web.StreamResponse):
            return found
        principal = found
    await ws.prepare(request)
    conn = Connection(
        ws,
        request,
        hub.counters,
        request.app[FLUSHER],
        queue_size=settings.ws_send_queue,
        queue_bytes=settings.ws_send_queue_bytes,
        send_timeout_s=settings.ws_send_timeout_s,
        on_close=hub.drop,
    )
    conn.principal = principal
    hub.connections.add(conn)
    sockets = request.app.get(KEY_SOCKETS)
    if sockets is not None:
        sockets.add(conn)
    lifetime = None
    if settings.ws_max_lifetime_s > 0:
        lifetime = asyncio.get_running_loop().call_later(
            settings.ws_max_lifetime_s, conn.close_soon, WSCloseCode.GOING_AWAY,
            "Max connection lifetime reached",
        )  # fmt: skip
    limits = auth.ws_limits if auth is not None and principal is not None else None
    try:
        await _read_loop(
            ws, conn, hub, settings, limits, anonymous=auth is not None and not principal
        )
    finally:
        if lifetime is not None:
            lifetime.cancel()
        if sockets is not None:
            sockets.discard(conn)
        hub.drop(conn)
        await conn.stop()
    return ws


async def _read_loop(
    ws: web.WebSocketResponse,
    conn: Connection,
    hub: Hub,
    settings: Settings,
    limits: RateLimiter | None = None,
    *,
    anonymous: bool = False,
) -> None:
    """``limits``: the key's message budget (keys mode); ``anonymous``: a keys-mode socket
    without credentials, which may not subscribe to broker routes."""
    idle = settings.ws_idle_timeout_s or None
    while True:
        try:
            msg = await ws.receive(timeout=idle)
        except TimeoutError:
            await conn.close(WSCloseCode.GOING_AWAY, "Idle timeout")
            return
        if limits is not None and conn.principal is not None and msg.type in DATA_FRAMES:
            wait = limits.check(conn.principal.key_id)
            if wait > 0:  # answered, not processed: the budget is per key, not per socket
                _error(hub, conn, WsErrorCode.RATE_LIMITED,
                       f"Rate limit exceeded: retry in {retry_after(wait)} s")  # fmt: skip
                continue
        if msg.type is WSMsgType.TEXT:
            await handle_text(
                hub, conn, msg.data, settings.ws_max_subscriptions, broker_allowed=not anonymous
            )
        elif msg.type is WSMsgType.BINARY:
            _error(hub, conn, WsErrorCode.UNSUPPORTED_FRAME, "Binary frames are not supported")
        else:  # CLOSE, CLOSING, CLOSED, ERROR (e.g. a frame over the size limit: 1009)
            return


DATA_FRAMES = frozenset({WSMsgType.TEXT, WSMsgType.BINARY})
ANONYMOUS_BROKER = (
    "Authentication required: broker and replay routes need credentials at the upgrade"
)


def _error(hub: Hub, conn: Connection, code: WsErrorCode, message: str, rtype: Any = None) -> None:
    hub.counters.protocol_errors += 1
    conn.send(protocol.error(code, message, rtype if isinstance(rtype, str) else None))


async def handle_text(
    hub: Hub, conn: Connection, text: str, max_subscriptions: int, *, broker_allowed: bool = True
) -> None:
    try:
        envelope = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        _error(hub, conn, WsErrorCode.INVALID_JSON, f"Invalid JSON: {exc.msg}")
        return
    if not isinstance(envelope, dict) or not isinstance(envelope.get("type"), str):
        _error(hub, conn, WsErrorCode.INVALID_ENVELOPE, 'Expected {"type": string, "payload": ...}')
        return
    message_type: str = envelope["type"]
    conn.hold()
    try:
        pending = _dispatch(
            hub, conn, message_type, envelope.get("payload"), max_subscriptions, broker_allowed
        )
        if pending is not None:
            # the feed waits for a consistent instant (the broker's): live traffic flows
            # meanwhile, and what the feed answers then holds the connection again
            await conn.release()
            await pending
    except Exception:
        conn.hold()
        log.exception("WebSocket request %s failed", message_type)
        _error(hub, conn, WsErrorCode.INTERNAL_ERROR, "Internal error", message_type)
    await conn.release()  # the answer is written now, after everything it queued
    await conn.answered()  # the next request waits until this answer is out (bounded memory)


def _dispatch(
    hub: Hub,
    conn: Connection,
    message_type: str,
    payload: Any,
    max_subscriptions: int,
    broker_allowed: bool = True,
) -> Awaitable[None] | None:
    """Validate and answer one request; returns what is left to await for a subscribe whose
    feed must wait before its snapshot (everything else is answered synchronously)."""
    if message_type == "ping":
        try:
            pong = protocol.encode("pong", payload)
        except orjson.JSONEncodeError:  # parsed, but deeper than a reply can nest
            _error(hub, conn, WsErrorCode.INVALID_ENVELOPE,
                   f"Invalid payload: nested deeper than {protocol.MAX_ECHO_DEPTH} levels",
                   message_type)  # fmt: skip
            return None
        conn.send(pong)
        return None
    parsed = protocol.parse_type(message_type)
    if parsed is None:
        _error(hub, conn, WsErrorCode.UNKNOWN_TYPE, f"No matching type: {message_type}",
               message_type)  # fmt: skip
        return None
    route, operation = parsed

    def reply(ok: bool, message: str, topic: str) -> None:
        if not ok:
            hub.counters.protocol_errors += 1
        conn.send(protocol.response(route.name, operation, ok, message, topic))

    try:
        request = route.request_model.model_validate(payload)
    except pydantic.ValidationError as exc:
        reply(False, protocol.payload_problem(exc), "")
        return None
    topic = route.topic(request)
    feed = hub.feed(route.name)
    if topic in conn.topics:
        conn.settle(topic)  # deferred updates of the topic go before the answer about it
    if operation == "unsubscribe":
        if topic not in conn.topics:
            reply(False, "Not subscribed", topic)
            return None
        hub.unsubscribe(conn, topic)
        reply(True, "Unsubscribed", topic)
        return None
    if not broker_allowed and route.tag in protocol.ACCOUNT_TAGS:
        reply(False, ANONYMOUS_BROKER, topic)
        return None
    caller = conn.principal.user_id if conn.principal else None
    problem = feed.check(request, caller)
    if problem is None and topic not in conn.topics and len(conn.topics) >= max_subscriptions:
        problem = f"Subscription limit reached ({max_subscriptions})"
    if problem is not None:
        reply(False, problem, topic)
        return None

    def start(snapshot: list[Item], since: int | None = None) -> None:
        conn.hold()  # the reply and the snapshot are the answer, written together
        hub.subscribe(conn, route.name, topic, request, since)
        reply(True, "Subscribed", topic)
        for item in snapshot:
            conn.send(protocol.update(route.name, topic, item),
                      protocol.coalesce_key(route.name, topic, item))  # fmt: skip

    pending = feed.attach(topic, request, start, caller)
    if pending is None:
        return None

    def refuse(message: str) -> None:
        conn.hold()
        reply(False, message, topic)

    return _refusable(pending, refuse)


async def _refusable(pending: Awaitable[None], refuse: Callable[[str], None]) -> None:
    try:
        await pending
    except FeedUnavailable as exc:
        refuse(str(exc))
