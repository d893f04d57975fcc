"""One-time WebSocket tickets in Redis, for a cluster (``TRADING_REDIS_URL`` set): a ticket
issued by one worker is redeemed at an upgrade that SO_REUSEPORT may hand to any other.

Redis holds the SHA-256 of each ticket (a look at Redis yields nothing usable) with the
ticket's principal, expiring after ``TRADING_WS_TICKET_TTL_S``; ``GETDEL`` takes it, so a
ticket opens one socket however many workers race for it. Every call is bounded by
``TRADING_REDIS_TIMEOUT_S``: an unreachable Redis is a 503, never a hung upgrade.
"""

from __future__ import annotations

import hashlib
import secrets

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from trading.auth.principal import Principal
from trading.auth.tickets import TicketStoreDown

PREFIX = "trading:ticket:"


def _name(ticket: str) -> str:
    return PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


class RedisTickets:
    def __init__(self, url: str, ttl_s: int, timeout_s: float) -> None:
        self.ttl_s = ttl_s
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    async def issue(self, principal: Principal) -> str:
        ticket = secrets.token_urlsafe(32)
        value = orjson.dumps([principal.user_id, principal.user_name, principal.key_id])
        try:
            await self._redis.set(_name(ticket), value, ex=self.ttl_s)
        except (RedisError, OSError) as exc:
            raise TicketStoreDown(f"the ticket store (Redis) is unavailable: {exc}") from None
        return ticket

    async def take(self, ticket: str) -> Principal | None:
        """The ticket's principal, once; None when unknown, used or expired."""
        try:
            raw = await self._redis.getdel(_name(ticket))
        except (RedisError, OSError) as exc:
            raise TicketStoreDown(f"the ticket store (Redis) is unavailable: {exc}") from None
        if raw is None:
            return None
        user_id, user_name, key_id = orjson.loads(raw)
        return Principal(user_id=user_id, user_name=user_name, key_id=key_id)

    async def close(self) -> None:
        await self._redis.aclose()
