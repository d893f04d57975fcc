"""What the OpenAPI document says of access (issue 14): which operations need credentials in
``TRADING_AUTH=keys``, the answers that brings, and the account a broker request acts on.

Derived from the auth middleware's own rule (:func:`trading.auth.middleware.needs_credentials`)
rather than restated per route, so a new broker route is documented as protected by being one.
Market data is documented as it is with ``TRADING_AUTH_MARKET=private`` (it may answer 401).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from trading.api.account_scope import ACCOUNT_HEADER
from trading.api.broker import PREFIX as BROKER_PREFIX
from trading.api.scenario import PREFIX as DEBUG_PREFIX
from trading.auth.admin import PREFIX as ADMIN_PREFIX
from trading.auth.middleware import REPLAY_PREFIX, needs_credentials
from trading.models.meta import HTTPError
from trading.specs.operation import Content, Operation
from trading.specs.refusals import RATE_LIMITED, UNAUTHORIZED

UNKNOWN_ACCOUNT = Content(
    HTTPError,
    description="TRADING_AUTH=keys: `X-Account-Id` names no account of the caller; any "
    "mode: it names a replay session (`RPL-…`) that is not of the caller's account "
    "(`Account <id> not found`)",
)
SECURITY: list[dict[str, list[str]]] = [{}, {"bearer": []}, {"cookie": []}]
"""None needed (off mode, the default), or an API key, or the session cookie."""
ADMIN_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]
"""The admin API: ``Bearer <TRADING_ADMIN_KEY>``, always (without the setting it is 404). A
generated client sends its configured bearer token only on operations that declare it."""
DEBUG_SECURITY: list[dict[str, list[str]]] = [{}, {"bearer": []}]
"""Scenario control: nothing in off mode (loopback only), ``Bearer <TRADING_ADMIN_KEY>`` in
keys mode (the clock and the prices are the whole server's)."""
ACCOUNT_PARAMETER: dict[str, Any] = {
    "name": ACCOUNT_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "TRADING_AUTH=keys: the caller's account to act on (TradingView "
    "setCurrentAccount); default the first of GET /broker/accounts. Ignored in off mode, "
    "except a replay session's id (`RPL-…`, any mode): the request acts on that session's "
    "book, at its replay time (docs/replay.md §5).",
}


def protected(path: str) -> bool:
    return needs_credentials(path, market_private=True)


def broker_path(path: str) -> bool:
    """A path that acts on an account (``X-Account-Id``): the broker's and replay sessions'."""
    return any(path == p or path.startswith(p + "/") for p in (BROKER_PREFIX, REPLAY_PREFIX))


def admin_path(path: str) -> bool:
    return path.startswith(ADMIN_PREFIX + "/")


def debug_path(path: str) -> bool:
    return path.startswith(DEBUG_PREFIX + "/")


def security_of(path: str) -> list[dict[str, list[str]]] | None:
    """The operation's ``security``: none declared for what is always open."""
    if protected(path):
        return SECURITY
    if admin_path(path):
        return ADMIN_SECURITY
    if debug_path(path):
        return DEBUG_SECURITY
    return None


def with_access(path: str, op: Operation) -> Operation:
    """``op`` with the answers access adds (those it declares itself are kept)."""
    if not protected(path):
        return op
    extra: dict[int, Any] = {401: UNAUTHORIZED, 429: RATE_LIMITED}
    if broker_path(path):
        extra[404] = UNKNOWN_ACCOUNT
    return dataclasses.replace(op, responses={**extra, **op.responses})
