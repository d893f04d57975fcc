"""Order durations, time in force (broker.md §18): what each duration accepts, when an order
expires, and what IOC/FOK do at placement.

- GTC (the default) works until filled or canceled.
- DAY works until the end of the New York calendar day it was placed (or last given a
  duration) on: the start of the next New York day, so DST is the market's own
  (:func:`~trading.market.resolution.ny_day_start`).
- GTD works until its ``datetime`` (epoch ms), which must be in the future.
- IOC and FOK fill at placement or are canceled at once (without partial fills they are the
  same rule): a limit or stop order that cannot fill then is canceled, not left working.

An order with an expiry instant ``E`` may fill at the second ``s`` only while ``s · 1000 < E``
(the second starts before it expires); at the first second from ``E`` on the fill loop cancels
it instead, so even a stalled loop that replays seconds never fills it late (:func:`expired`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

from trading.broker import children
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.enums import (
    IMMEDIATE_DURATIONS,
    DurationType,
    MessageType,
    OrderStatus,
    OrderType,
)
from trading.broker.errors import BrokerError, Violation
from trading.broker.requests import Duration
from trading.broker.state import Order, OrderMessage
from trading.market.resolution import ny_day_start, ny_ordinal


@dataclass(frozen=True)
class DurationInfo:
    """How a client presents one duration (TradingView ``OrderDurationMetaInfo``)."""

    type: DurationType
    name: str
    order_types: tuple[OrderType, ...]
    date_picker: bool = False
    time_picker: bool = False

    @property
    def default(self) -> bool:
        return self.type is DEFAULT


DEFAULT = DurationType.GTC
ALL_TYPES = tuple(OrderType)
DURATIONS: tuple[DurationInfo, ...] = (
    DurationInfo(DurationType.GTC, "GTC", ALL_TYPES),
    DurationInfo(DurationType.DAY, "DAY", ALL_TYPES),
    DurationInfo(DurationType.GTD, "GTD", ALL_TYPES, date_picker=True, time_picker=True),
    DurationInfo(DurationType.IOC, "IOC", ALL_TYPES),
    DurationInfo(DurationType.FOK, "FOK", ALL_TYPES),
)
"""Every duration the broker accepts, in menu order; the config route lists exactly these.
The names are the desk's abbreviations, as a TradingView ticket's time-in-force menu shows
them (good till canceled, day, good till date, immediate or cancel, fill or kill)."""
assert {d.type for d in DURATIONS} == set(DurationType)


# -- rules ----------------------------------------------------------------------------------


def duration_rules(duration: Duration | None, now: float) -> list[Violation]:
    """A GTD needs a ``datetime`` after ``now``; other durations take none (it is ignored)."""
    if duration is None or duration.type is not DurationType.GTD:
        return []
    field = "duration.datetime"
    if duration.datetime is None:
        return [Violation(field, f"{field} is required for gtd orders (epoch milliseconds)", None)]
    now_ms = math.floor(now * 1000)
    if duration.datetime <= now_ms:
        return [
            Violation(
                field,
                f"{field} must be in the future (after {now_ms} ms, {_iso(now_ms)})",
                Decimal(duration.datetime),
            )
        ]
    return []


def expiry_of(duration: Duration, now: float) -> int | None:
    """The instant (epoch ms) an order given ``duration`` at ``now`` stops working, or None."""
    if duration.type is DurationType.DAY:
        return ny_day_start(ny_ordinal(now) + 1) * 1000
    if duration.type is DurationType.GTD:
        return duration.datetime
    return None


def assign(order: Order, duration: Duration | None, now: float) -> None:
    """Give ``order`` the (checked) ``duration``; None leaves the order's own (a modify)."""
    if duration is None:
        return
    if duration.type is not DurationType.GTD and duration.datetime is not None:
        duration = Duration(duration.type)  # only a GTD has a datetime
    order.duration = duration
    order.expires_at = expiry_of(duration, now)


def duration_label(duration: Duration) -> str:
    """A duration for a person (the order preview): its name, and a GTD's date."""
    name = next(d.name for d in DURATIONS if d.type is duration.type)
    if duration.type is DurationType.GTD and duration.datetime is not None:
        return f"{name} ({_iso(duration.datetime)})"
    return name


# -- expiry ---------------------------------------------------------------------------------


def expired(order: Order, second: int) -> bool:
    """Whether ``order`` no longer works at ``second`` (the second starts at or after its
    expiry): the fill loop cancels it there instead of evaluating it."""
    return order.expires_at is not None and second * 1000 >= order.expires_at


def refuse_modify(order: Order, duration: Duration | None, now: float) -> None:
    """A modify of an order whose expiry has passed (the fill loop has not seen it yet), or one
    giving a bracket order another duration than GTC (brackets protect until they are used)."""
    if order.parent is not None and duration is not None and duration.type is not DEFAULT:
        raise BrokerError(f"Bracket order {order.id} is good till canceled: its duration is fixed")
    if order.expires_at is not None and now * 1000 >= order.expires_at:
        raise BrokerError(f"Cannot modify order {order.id}: it expired at {_iso(order.expires_at)}")


def expire(book: Book, order: Order, now: float, changes: Changes) -> None:
    assert order.expires_at is not None
    assert order.duration is not None
    if order.duration.type is DurationType.DAY:
        day = dt.date.fromordinal(ny_ordinal(order.expires_at / 1000 - 1)).isoformat()
        text = f"Expired: DAY order, the New York trading day {day} ended"
    else:
        text = f"Expired: GTD order, good till {_iso(order.expires_at)}"
    order.message = OrderMessage(MessageType.INFORMATION, text)
    book.set_status(order, OrderStatus.CANCELED, now, changes)
    children.cancel_of_entry(book, order, now, changes)  # its INACTIVE brackets end with it


# -- immediate or cancel --------------------------------------------------------------------


def settle_immediate(
    book: Book, order: Order, now: float, changes: Changes, at: str = "placement"
) -> None:
    """After the placement (or modify) fill attempt: an IOC/FOK order still working is
    canceled now, with a message saying why."""
    if not order.working or order.duration is None:
        return
    kind = order.duration.type
    if kind not in IMMEDIATE_DURATIONS:
        return
    what = "could not fill" if kind is DurationType.IOC else "could not fill in full"
    order.message = OrderMessage(MessageType.WARNING, f"Canceled: {kind.name} order {what} at {at}")
    book.set_status(order, OrderStatus.CANCELED, now, changes)
    children.cancel_of_entry(book, order, now, changes)  # its INACTIVE brackets end with it


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")
