"""Decimal money: booked amounts are rounded to 0.01 half-up (ties away from zero)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)


def round2(value: Decimal) -> Decimal:
    """Round to cents, half away from zero: ``-0.005 → -0.01``, ``1.255 → 1.26``."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value: float) -> Decimal:
    """A wire float as the decimal a person typed (``0.1`` → ``Decimal('0.1')``)."""
    return Decimal(repr(value))


def price_from_ticks(ticks: int, pricescale: int) -> Decimal:
    return Decimal(ticks) / pricescale


def to_tick(price: Decimal, pricescale: int) -> Decimal:
    """Round a price to the nearest tick (``minmov = 1``)."""
    return (price * pricescale).quantize(Decimal(1), rounding=ROUND_HALF_UP) / pricescale


def money(value: Decimal) -> str:
    """``$25002.00``: two decimals, no thousands separator (broker.md §8)."""
    return f"${round2(value):.2f}"


def one_decimal(value: Decimal | float) -> str:
    """At least one decimal, as the reference prints floats (``20.0``, ``50.0``, ``2.5``)."""
    return str(float(value))
