"""The backplane's publisher: broker pushes to Redis without ever making the server wait.

:meth:`Publisher.publish` appends to a bounded queue; :meth:`Publisher.run` (one task) sends
everything pending per wake, in order, on one connection, each flush bounded by
``timeout_s``. A failed or timed-out flush, or a full queue, drops the pushes (counted, the
first of a run logged) and marks their accounts; once a flush succeeds again, an empty message
(:data:`RESYNC`) on each marked channel asks every subscribing process for fresh snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

from redis.asyncio import Redis
from redis.exceptions import RedisError

from trading.ws.remote import BackplaneCounters

log = logging.getLogger(__name__)

PREFIX = b"trading:"
ACCOUNT_PREFIX = PREFIX + b"acct:"
RESYNC = b""
"""The message that asks every subscribing process for fresh snapshots of the account (a
publisher dropped pushes of it); a real push is never empty."""
ERRORS = (RedisError, OSError, TimeoutError)

PUBLISH_MANY = "for i = 1, #KEYS do redis.call('PUBLISH', KEYS[i], ARGV[i]) end return #KEYS"
"""Many PUBLISHes as one command: redis-py's cost is per command and reply (about 25 µs of
publisher CPU each, pipelined or not), Redis' for a PUBLISH inside a script about 1 µs."""
SCRIPT_CHUNK = 256
"""PUBLISHes per script call: Redis runs a script atomically, so a long one would delay
every other client of it."""
FLUSH_MAX = 4096
"""Pushes per flush: a backlog is sent in several flushes, each within ``timeout_s``."""


def channel_of(account: str) -> bytes:
    return ACCOUNT_PREFIX + account.encode()


class Publisher:
    def __init__(
        self,
        redis: Redis,
        counters: BackplaneCounters,
        *,
        timeout_s: float,
        queue_size: int,
        retry_s: float,
    ) -> None:
        self._redis = redis
        self.counters = counters
        self._timeout = timeout_s
        self._queue_size = queue_size
        self._retry = retry_s
        self._pending: deque[tuple[str, bytes]] = deque()
        self._dirty: set[str] = set()
        """Accounts whose pushes were dropped: their channels get a RESYNC once Redis is back."""
        self._wake = asyncio.Event()
        self._failing = False

    def publish(self, account: str, data: bytes) -> None:
        """Queue a push of ``account`` (never waits; a full queue drops it, counted)."""
        if len(self._pending) >= self._queue_size:
            self.counters.dropped += 1
            self._dirty.add(account)
            self._report_failure("publish queue full")
            return
        self._pending.append((account, data))
        self._wake.set()

    async def run(self) -> None:
        with contextlib.suppress(*ERRORS):  # connected before the first push needs it
            async with asyncio.timeout(self._timeout):
                await self._redis.ping()
        while True:
            if self._dirty and not self._pending:
                with contextlib.suppress(TimeoutError):  # retry the RESYNCs from time to time
                    async with asyncio.timeout(self._retry):
                        await self._wake.wait()
            else:
                await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        take = min(len(self._pending), FLUSH_MAX)
        batch = [self._pending.popleft() for _ in range(take)]
        if self._pending:
            self._wake.set()  # the rest in the next flush, each bounded by timeout_s
        dirty = list(self._dirty)
        if not batch and not dirty:
            return
        # first the RESYNCs: the fresh snapshot then precedes the pushes after it
        channels = [channel_of(account) for account in dirty]
        channels += [channel_of(account) for account, _ in batch]
        payloads = [RESYNC] * len(dirty) + [data for _, data in batch]
        pipe = self._redis.pipeline(transaction=False)
        for i in range(0, len(channels), SCRIPT_CHUNK):
            keys = channels[i : i + SCRIPT_CHUNK]
            if len(keys) == 1:
                pipe.publish(keys[0], payloads[i])
            else:  # one command and one reply for many PUBLISHes (in order)
                pipe.eval(PUBLISH_MANY, len(keys), *keys, *payloads[i : i + SCRIPT_CHUNK])
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                await pipe.execute()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever it was, the server goes on (pitfall 4)
            self.counters.dropped += len(batch)
            self._dirty.update(account for account, _ in batch)
            self._report_failure(f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc))
            return
        self.counters.published += len(batch)
        self._dirty.difference_update(dirty)
        if self._failing:
            self._failing = False
            log.warning(
                "Redis takes publishes again (%.0f ms); %d accounts get fresh snapshots",
                (time.monotonic() - started) * 1000, len(dirty),
            )  # fmt: skip

    def _report_failure(self, why: str) -> None:
        """Log the first failure of a run of them (the counter has the rest)."""
        if not self._failing:
            self._failing = True
            log.warning("Redis backplane publish failed, pushes dropped: %s", why)
