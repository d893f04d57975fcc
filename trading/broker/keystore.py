"""The rows of the idempotency keys (broker.md §15), written on the store's thread inside the
transaction of the placement that made them (:meth:`trading.broker.store.Store.commit`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from trading.broker.idempotency import KeyRecord


def write_keys(
    db: sqlite3.Connection, keys: Sequence[KeyRecord], expire_before: int | None
) -> None:
    """Purge the expired keys, then store the new ones (an expired key used again is
    replaced: its first placement is forgotten)."""
    if expire_before is not None:
        db.execute("DELETE FROM idempotency_keys WHERE created < ?", (expire_before,))
    if keys:
        db.executemany(
            "INSERT OR REPLACE INTO idempotency_keys "
            "(account, key, fingerprint, order_id, created) VALUES (?, ?, ?, ?, ?)",
            [(k.account, k.key, k.fingerprint, k.order_id, k.created) for k in keys],
        )


def load_keys(
    db: sqlite3.Connection, where: str = "", args: tuple[str, ...] = ()
) -> list[KeyRecord]:
    """The remembered placements (``where``: of some accounts only)."""
    return [
        KeyRecord(r["account"], r["key"], r["fingerprint"], r["order_id"], r["created"])
        for r in db.execute(f"SELECT * FROM idempotency_keys{where} ORDER BY created", args)
    ]
