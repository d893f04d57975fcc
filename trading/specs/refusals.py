"""The answers the service's guards give before a handler runs, as OpenAPI responses: one
description each, shared by every operation that can get them.

The rules themselves live where they run: write protection in :mod:`trading.security`,
credentials and rate limits in :mod:`trading.auth.middleware`.
"""

from __future__ import annotations

from trading.models.meta import HTTPError
from trading.specs.operation import Content

FORBIDDEN_ORIGIN = Content(
    HTTPError, description="A browser page from an origin that may not change state here"
)
NOT_JSON = Content(HTTPError, description="The request does not say Content-Type: application/json")
JSON_WRITE = {403: FORBIDDEN_ORIGIN, 415: NOT_JSON}
"""What trading/security.py answers on write routes (DELETE has no body: 403 only)."""
UNAUTHORIZED = Content(
    HTTPError,
    description="TRADING_AUTH=keys: no credentials (`Authentication required`) or bad, unknown, "
    'revoked or expired ones (`Invalid credentials`); `WWW-Authenticate: Bearer realm="trading"`',
)
RATE_LIMITED = Content(
    HTTPError,
    description="TRADING_AUTH=keys: too many requests with this key; retry after `Retry-After` "
    "seconds",
)
