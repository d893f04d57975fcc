"""Idempotent order placement (broker.md §15): an ``Idempotency-Key`` names one placement.

A client that retries a placement after a timeout cannot know whether the first attempt was
stored; with a key it does not have to: the first placement under a key is remembered with
its order id, and every later placement under the same key within the retention window gets
that order back instead of a new one. A retry with a *different* request under the same key is
a client bug (two orders sharing a name), refused with :class:`KeyReused`.

The decision is the domain's (here); the API only reads the header. The record is added to the
placement's :class:`~trading.broker.changes.Changes`, so the store writes it in the very
transaction that writes the order: a crash never leaves an order without its key, nor a key
without its order. A refused placement raises before anything is recorded, so it is not
remembered and a retry may succeed later.

Requests are compared by a fingerprint of the parsed request (:func:`fingerprint`), not the
raw bytes: ``{"qty": 3}`` and ``{"qty": 3.0, "limitPrice": null}`` are the same order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from trading.broker.changes import Changes
from trading.broker.enums import DurationType
from trading.broker.errors import BrokerError
from trading.broker.requests import Duration, OrderRequest
from trading.broker.state import Order

if TYPE_CHECKING:
    from trading.broker.engine import Engine


class KeyReused(BrokerError):
    """The key was used within the retention window for a different request (HTTP 422)."""


@dataclass(frozen=True)
class KeyRecord:
    """One remembered placement: the stored row of ``idempotency_keys``."""

    account: str
    key: str
    fingerprint: str
    order_id: str
    created: int
    """Epoch milliseconds of the first placement (the retention window starts here)."""


@dataclass(frozen=True)
class Placement:
    """The answer to a placement: the order, and whether it was placed by an earlier call."""

    order: Order
    replayed: bool


def _canonical(value: Any) -> Any:
    if isinstance(value, Enum):
        return _canonical(value.value)
    if isinstance(value, Decimal):
        # 3, 3.0 and 3.00 are one quantity; normalize() would print 1E+2 for 100, so the
        # exponent form is spelled out with the 'f' format
        return format(value.normalize(), "f")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def fingerprint(request: OrderRequest) -> str:
    """The request as canonical JSON (every field of the parsed request, sorted keys,
    quantities without trailing zeros), hashed: equal for equal orders whatever the bytes.
    A duration of ``gtc`` given without a datetime is the default one, the same order as none
    (broker.md §18): a client that adds it on a retry still gets its first placement."""
    if request.duration == Duration(DurationType.GTC):
        request = dataclasses.replace(request, duration=None)
    text = json.dumps(_canonical(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class KeyRegistry:
    """The placements remembered within the retention window, oldest first.

    Changed only under the service's lock, like the engine; restored from the store after
    a failed commit, like the engine, so it never holds a key whose order was not stored."""

    def __init__(self, ttl_ms: int) -> None:
        self.ttl_ms = ttl_ms
        self._records: OrderedDict[tuple[str, str], KeyRecord] = OrderedDict()

    def restore(self, records: Iterable[KeyRecord]) -> None:
        self._records = OrderedDict(
            ((r.account, r.key), r) for r in sorted(records, key=lambda r: r.created)
        )

    def restore_account(self, account: str, records: Iterable[KeyRecord]) -> None:
        """Replace ``account``'s keys by those stored (another process placed under them)."""
        self.forget_account(account)
        for r in sorted(records, key=lambda r: r.created):
            self._records[(account, r.key)] = r

    def forget_account(self, account: str) -> None:
        """Drop ``account``'s keys (its reset: their orders are gone)."""
        for key in [k for k in self._records if k[0] == account]:
            del self._records[key]

    def __len__(self) -> int:
        return len(self._records)

    def cutoff(self, now_ms: int) -> int:
        """Records created before this instant have expired."""
        return now_ms - self.ttl_ms

    def purge(self, now_ms: int) -> None:
        """Forget the expired records (oldest first: stops at the first live one)."""
        cutoff = self.cutoff(now_ms)
        while self._records:
            first = next(iter(self._records.values()))
            if first.created >= cutoff:
                break
            self._records.popitem(last=False)

    def find(self, account: str, key: str, now_ms: int) -> KeyRecord | None:
        record = self._records.get((account, key))
        if record is None or record.created < self.cutoff(now_ms):
            return None
        return record

    def place(
        self,
        engine: Engine,
        request: OrderRequest,
        account: str,
        key: str,
        now: float,
        *,
        wall: float | None = None,
    ) -> tuple[Placement, Changes]:
        """Place ``request`` under ``key``, or answer the order an earlier placement under it
        made (nothing changes then); :class:`KeyReused` for another request under the key.
        ``now`` is the account's time; keys age by ``wall`` (the wall clock, when the account
        is a replay session's book living in the past), so every key expires alike."""
        now_ms = int((now if wall is None else wall) * 1000)
        self.purge(now_ms)
        print_ = fingerprint(request)
        record = self.find(account, key, now_ms)
        if record is not None:
            if record.fingerprint != print_:
                raise KeyReused(
                    "Idempotency-Key was already used for a different order request "
                    f"(order {record.order_id}); use a new key for a new order"
                )
            order = engine.orders.get(record.order_id)
            if order is not None:
                return Placement(order, replayed=True), Changes()
        order, changes = engine.place(request, now)
        record = KeyRecord(account, key, print_, order.id, now_ms)
        self._records[(account, key)] = record
        self._records.move_to_end((account, key))
        changes.keys.append(record)
        changes.keys_expire_before = self.cutoff(now_ms)
        return Placement(order, replayed=False), changes
