"""Everything a test against the service imports, from one place (the fixtures themselves come
from the ``trading`` pytest plugin, :mod:`trading.pytest_plugin`).

Re-exports: :class:`Settings`, :class:`ManualClock`, :class:`ScriptedMarket` and the
:class:`MarketConfig` a ``market_factory`` receives, the app keys
:data:`MARKET`, :data:`BROKER`, :data:`SETTINGS`, :func:`create_app`, :data:`TEST_NOW`.

Helpers, all without sleeping or polling:

- :func:`advance`: move the app's manual clock and run one fill-loop evaluation now, so an
  order that the new price crosses fills at once instead of at the next real second;
- :func:`scripted_market`: the app's :class:`ScriptedMarket`, typed, to ``set_price`` on;
- :func:`subscribe` / :func:`next_update`: subscribe on ``/api/v1/ws`` and wait for the next
  ``<route>.update`` that matches a predicate. Frames read while waiting for something else
  are kept for the socket, so the order of your ``await`` s does not have to follow the order
  of the pushes (a fill pushes executions, positions, orders, equity in that order).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from trading.app import create_app
from trading.broker.enums import OrderStatus, OrderType, ParentType, Side, StopType
from trading.clock import ManualClock
from trading.keys import BROKER, MARKET, SETTINGS
from trading.market.config import MarketConfig
from trading.market.scripted import ScriptedMarket
from trading.pytest_plugin import TEST_NOW
from trading.settings import Settings

__all__ = [
    "BROKER",
    "DEFAULT_TIMEOUT_S",
    "MARKET",
    "SETTINGS",
    "TEST_NOW",
    "WS_PATH",
    "Frame",
    "ManualClock",
    "MarketConfig",
    "OrderStatus",
    "OrderType",
    "ParentType",
    "ScriptedMarket",
    "Settings",
    "Side",
    "StopType",
    "TradingClient",
    "advance",
    "create_app",
    "next_update",
    "scripted_market",
    "subscribe",
]

WS_PATH = "/api/v1/ws"
DEFAULT_TIMEOUT_S = 5.0
"""How long :func:`subscribe` and :func:`next_update` wait before they fail the test."""

TradingClient = TestClient[web.Request, web.Application]
"""The type of the ``trading_client`` fixture."""

Frame = dict[str, Any]
"""One decoded WebSocket frame: ``{"type": ..., "payload": ...}``."""

Predicate = Callable[[Any], bool]

_unread: weakref.WeakKeyDictionary[aiohttp.ClientWebSocketResponse, deque[Frame]] = (
    weakref.WeakKeyDictionary()
)
"""Per socket: frames received while waiting for another one, oldest first."""


def scripted_market(app: web.Application) -> ScriptedMarket:
    """The app's market, when ``market_factory`` built a :class:`ScriptedMarket`."""
    market = app[MARKET]
    if not isinstance(market, ScriptedMarket):
        raise TypeError(
            f"the app's market is a {type(market).__name__}, not a ScriptedMarket: set "
            "market_factory=lambda config: ScriptedMarket(config, {...}) in trading_settings"
        )
    return market


async def advance(app: web.Application, seconds: float = 1.0) -> None:
    """Move the app's :class:`ManualClock` by ``seconds`` and evaluate working orders now.

    The fill loop evaluates once per real second, at the clock's time; a test that moved the
    manual clock would otherwise wait up to a second for the fill it caused. The broker
    commits and pushes the resulting events before this returns."""
    clock = app[SETTINGS].clock
    if not isinstance(clock, ManualClock):
        raise TypeError(
            f"advance() needs the app to run on a ManualClock, not a {type(clock).__name__}: "
            "keep the trading_settings fixture's clock (override it with .replace(...))"
        )
    clock.advance(seconds)
    await app[BROKER].evaluate()


async def subscribe(
    ws: aiohttp.ClientWebSocketResponse,
    route: str,
    payload: Any,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Send ``<route>.subscribe`` and wait for its reply; return the subscription's topic.

    The snapshot that follows the reply is left for :func:`next_update` (it arrives as
    ordinary updates). A refused subscription raises ``AssertionError`` with the server's
    message."""
    message = {"type": f"{route}.subscribe", "payload": payload}
    await ws.send_str(orjson.dumps(message).decode())
    reply_type = f"{route}.subscribe.response"
    frame = await _next_frame(ws, lambda f: f.get("type") == reply_type, reply_type, timeout)
    reply = frame.get("payload") or {}
    if reply.get("status") != "ok":
        raise AssertionError(f"{route}.subscribe {payload!r} was refused: {reply!r}")
    topic: str = reply["topic"]
    return topic


async def next_update(
    ws: aiohttp.ClientWebSocketResponse,
    route: str,
    where: Predicate | None = None,
    *,
    topic: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """Wait for the next ``<route>.update`` whose item satisfies ``where`` (and whose topic is
    ``topic``, if given) and return that item: the PlacedOrder, Position, Execution,
    EquityData, Bar or QuoteData itself, as decoded JSON.

    Frames already received and not yet taken are looked at first; others that arrive while
    waiting are kept for later calls. Fails with ``TimeoutError`` after ``timeout`` seconds,
    naming what it waited for and what it saw."""
    update_type = f"{route}.update"

    def matches(frame: Frame) -> bool:
        if frame.get("type") != update_type:
            return False
        body = frame.get("payload") or {}
        if topic is not None and body.get("topic") != topic:
            return False
        return where is None or bool(where(body.get("payload")))

    what = update_type if where is None else f"{update_type} matching {where!r}"
    if topic is not None:
        what += f" on {topic}"
    frame = await _next_frame(ws, matches, what, timeout)
    return frame["payload"]["payload"]


async def _next_frame(
    ws: aiohttp.ClientWebSocketResponse,
    matches: Callable[[Frame], bool],
    what: str,
    timeout: float,
) -> Frame:
    unread = _unread.setdefault(ws, deque())
    for kept in unread:
        if matches(kept):
            unread.remove(kept)
            return kept
    seen = len(unread)
    try:
        async with asyncio.timeout(timeout):
            while True:
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise AssertionError(
                        f"waiting for {what}: the socket sent {msg.type.name} "
                        f"({msg.data!r}, {msg.extra!r}) instead"
                    )
                frame: Frame = orjson.loads(msg.data)
                if matches(frame):
                    return frame
                unread.append(frame)
    except TimeoutError:
        got = [f.get("type") for f in list(unread)[seen:]]
        raise TimeoutError(
            f"no {what} within {timeout} s; received meanwhile: {got or 'nothing'}"
        ) from None
