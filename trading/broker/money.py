"""Decimal money: booked amounts are rounded to 0.01 half-up (ties away from zero)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, getcontext, localcontext

CENT = Decimal("0.01")
ZERO = Decimal(0)


def _quantize(value: Decimal, exp: Decimal) -> Decimal:
    """``value.quantize(exp)`` half-up; absurdly large inputs (a limit price of 1e300) get a
    context wide enough for all their digits instead of raising InvalidOperation."""
    digits = value.adjusted() - exp.adjusted() + 2
    if digits <= getcontext().prec:
        return value.quantize(exp, rounding=ROUND_HALF_UP)
    with localcontext() as ctx:
        ctx.prec = digits
        return value.quantize(exp, rounding=ROUND_HALF_UP)


def round2(value: Decimal) -> Decimal:
    """Round to cents, half away from zero: ``-0.005 → -0.01``, ``1.255 → 1.26``."""
    return _quantize(value, CENT)


def to_decimal(value: float) -> Decimal:
    """A wire float as the decimal a person typed (``0.1`` → ``Decimal('0.1')``)."""
    return Decimal(repr(value))


def price_from_ticks(ticks: int, pricescale: int) -> Decimal:
    return Decimal(ticks) / pricescale


def to_tick(price: Decimal, pricescale: int) -> Decimal:
    """Round a price to the nearest tick (``minmov = 1``)."""
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, price.adjusted() + len(str(pricescale)) + 2)
        return _quantize(price * pricescale, Decimal(1)) / pricescale


def money(value: Decimal) -> str:
    """``$25002.00``: two decimals, no thousands separator (broker.md §8)."""
    return f"${round2(value):.2f}"


def one_decimal(value: Decimal | float) -> str:
    """At least one decimal, as the reference prints floats (``20.0``, ``50.0``, ``2.5``)."""
    return str(float(value))
