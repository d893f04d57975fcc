"""One-time WebSocket tickets: for clients that can send neither a cookie nor a header at the
upgrade (a browser's ``WebSocket`` takes no headers; a page on another origin has no cookie).

A ticket is 256 random bits kept in memory only, valid for ``TRADING_WS_TICKET_TTL_S`` and for
one upgrade: taking it removes it. Expired ones are dropped as new ones are issued (tickets are
issued in time order, so the oldest are at the front).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from trading.auth.principal import Principal


class TicketStoreDown(Exception):
    """The shared ticket store (Redis, in a cluster: trading/auth/shared_tickets.py) did not
    answer: a ticket can neither be issued nor redeemed now (HTTP 503)."""


class TicketBook:
    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._tickets: dict[str, tuple[Principal, float]] = {}

    def issue(self, principal: Principal) -> str:
        now = self._clock()
        self._purge(now)
        ticket = secrets.token_urlsafe(32)
        self._tickets[ticket] = (principal, now + self.ttl_s)
        return ticket

    def take(self, ticket: str) -> Principal | None:
        """The ticket's principal, once; None when unknown, used or expired."""
        entry = self._tickets.pop(ticket, None)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def forget_keys(self, key_ids: set[str]) -> None:
        """Tickets of revoked keys go with them."""
        for ticket in [t for t, (p, _) in self._tickets.items() if p.key_id in key_ids]:
            del self._tickets[ticket]

    def _purge(self, now: float) -> None:
        for ticket, (_, expires) in list(self._tickets.items()):
            if expires > now:
                break
            del self._tickets[ticket]

    def __len__(self) -> int:
        return len(self._tickets)
