"""The orders history (broker.md §16): final orders, newest first, in keyset pages.

"Newest" is the order in which orders became final: the store numbers each order once, when
it is first written with a final status (``order_history.hseq``, never reused). A page ends
at the number of its last order and the next page starts below it, so orders that finish
while a client reads pages are numbered above every page it has: they never shift a later
page (no order skipped, none seen twice), unlike an offset. The cursor is that number,
opaque to clients (base64url of ``h1:<hseq>``).
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from trading.broker.enums import OrderStatus
from trading.broker.state import Order

FINAL_STATUSES: tuple[OrderStatus, ...] = (
    OrderStatus.FILLED,
    OrderStatus.CANCELED,
    OrderStatus.REJECTED,
)
"""The statuses an order never leaves: the history lists these and only these."""

_CURSOR = re.compile(r"h1:([1-9][0-9]{0,17})")


class BadCursor(ValueError):
    """A cursor this server did not make (HTTP 422)."""


def encode_cursor(hseq: int) -> str:
    return base64.urlsafe_b64encode(f"h1:{hseq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("cursor is not one this server returned") from None
    found = _CURSOR.fullmatch(raw)
    if found is None or encode_cursor(int(found.group(1))) != cursor:
        raise BadCursor("cursor is not one this server returned")
    return int(found.group(1))


@dataclass(frozen=True)
class HistoryQuery:
    statuses: frozenset[OrderStatus] = frozenset(FINAL_STATUSES)
    from_time: int | None = None
    """Epoch ms, inclusive, on the order's last update (when it became final)."""
    to_time: int | None = None
    """Epoch ms, inclusive."""
    limit: int = 100
    before: int | None = None
    """The decoded cursor: only orders numbered below it."""


@dataclass(frozen=True)
class HistoryPage:
    orders: list[Order]
    next_cursor: str | None
    """None on the last page."""


FinalRow = tuple[str, str, int, int]
"""(account, order id, update time, status) of an order that is final now."""


def final_rows(account: str, orders: Iterable[Order]) -> list[FinalRow]:
    """What :func:`record_finals` stores of a mutation's orders (read before the write leaves
    the event loop's thread, as every row of a commit)."""
    return [
        (account, o.id, o.update_time, int(o.status)) for o in orders if o.status in FINAL_STATUSES
    ]


def record_finals(db: sqlite3.Connection, rows: list[FinalRow]) -> None:
    """Number the orders that are final now and were not yet (in the given order); called
    in the transaction that stores them, so the history never lags the orders."""
    if rows:
        db.executemany(
            "INSERT OR IGNORE INTO order_history (account, order_id, update_time, status) "
            "VALUES (?,?,?,?)",
            rows,
        )


def page_ids(
    db: sqlite3.Connection, account: str, query: HistoryQuery
) -> tuple[list[str], int | None]:
    """The ids of one page of ``account``'s history, newest first, and the number to continue
    below (None: last). A cursor numbers orders of all accounts, so another account's cursor
    only ever selects this account's own orders below it."""
    where = ["account = ?", f"status IN ({', '.join('?' * len(query.statuses))})"]
    args: list[object] = [account, *(int(s) for s in sorted(query.statuses))]
    if query.before is not None:
        where.append("hseq < ?")
        args.append(query.before)
    if query.from_time is not None:
        where.append("update_time >= ?")
        args.append(query.from_time)
    if query.to_time is not None:
        where.append("update_time <= ?")
        args.append(query.to_time)
    rows = db.execute(
        f"SELECT hseq, order_id FROM order_history WHERE {' AND '.join(where)} "
        "ORDER BY hseq DESC LIMIT ?",
        (*args, query.limit + 1),
    ).fetchall()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return [r[1] for r in rows], (rows[-1][0] if more and rows else None)
