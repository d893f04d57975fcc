"""Limits of the market's requests, defined once for the domain, the routes and the models.

Imports nothing: wire models and the API edge may import it (a leaf, docs/architecture.md).
"""

from __future__ import annotations

MAX_QUOTE_SYMBOLS = 200
"""Most distinct symbols one quote request names: REST ``/quotes`` (``GetQuotesRequest``), UDF
``/quotes`` and a WebSocket ``quotes`` subscription (rest.md §3, websocket.md §3)."""

MAX_REPLAY_SYMBOLS = 50
"""Most symbols one replay session names (docs/replay.md §3): a chart workspace, not the
catalogue."""
