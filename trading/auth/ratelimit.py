"""Token buckets per key: ``burst`` requests at once, ``rate`` per second sustained.

A bucket holds at most ``burst`` tokens and gains ``rate`` per second of a monotonic clock (the
wall clock can jump; tests inject time). Over any window of ``t`` seconds a key is therefore
admitted at most ``burst + rate·t`` times. A refused request learns how long until one token is
there: the deficit divided by the rate, which is what ``Retry-After`` says (rounded up).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable


class TokenBucket:
    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> float:
        """0.0 if one token was taken, else the seconds until one will be there."""
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


class RateLimiter:
    """One bucket per key id, made on first use and dropped when the key is revoked."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key_id: str) -> float:
        """0.0 when the key may go on, else the seconds it must wait."""
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket(self._rate, self._burst, now)
        return bucket.take(now)

    def forget(self, key_ids: Iterable[str]) -> None:
        for key_id in key_ids:
            self._buckets.pop(key_id, None)


def retry_after(wait_s: float) -> str:
    """``Retry-After`` in whole seconds, at least 1 (a client must not retry at once)."""
    return str(max(1, math.ceil(wait_s)))
