"""Leverage and margin (broker.md §6, §8): equity, margin used and the buying-power check.

``unrealized = round2((lp − A) · q)`` per position, ``equity = balance + Σ unrealized``,
``margin used = Σ round2(|q| · lp / leverage)``, ``available = equity − margin used``. An order
may only add exposure its margin ``round2(increase · price / leverage)`` fits in
``round2(available)``; the part of an order that reduces a position needs no margin.
So the most an order may still add is ``buying power = max(0, round2(available)) · leverage``
of notional (:func:`margin_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from trading.broker.enums import Side
from trading.broker.money import ZERO, round2
from trading.broker.rules import exposure_increase
from trading.broker.state import Account, Equity, Position

LEVERAGE_MIN, LEVERAGE_MAX, LEVERAGE_STEP = Decimal(1), Decimal(100), Decimal(1)


def leverage_problem(value: Decimal) -> str | None:
    """Why ``value`` is no valid leverage, or None."""
    if value.is_nan():  # lax input accepts "nan"; it is no multiple of the step
        return f"Leverage must be a multiple of {float(LEVERAGE_STEP)}"
    if value < LEVERAGE_MIN:
        return f"Leverage must be at least {float(LEVERAGE_MIN)}"
    if value > LEVERAGE_MAX:
        return f"Leverage cannot exceed {float(LEVERAGE_MAX)}"
    if value % LEVERAGE_STEP != 0:
        return f"Leverage must be a multiple of {float(LEVERAGE_STEP)}"
    return None


def equity_of(
    account: Account,
    positions: Iterable[Position],
    last_price: Callable[[str], Decimal],
    leverage_of: Callable[[str], Decimal],
) -> Equity:
    unrealized = margin = ZERO
    for pos in positions:
        lp = last_price(pos.symbol)
        unrealized += pos.unrealized(lp)
        margin += round2(abs(pos.q) * lp / leverage_of(pos.symbol))
    balance = account.balance
    return Equity(balance + unrealized, balance, unrealized, account.realized, margin)


def buying_power_problem(
    q: Decimal, side: Side, qty: Decimal, price: Decimal, leverage: Decimal, equity: Equity
) -> str | None:
    """Why an order of ``qty`` at ``price`` on a position of ``q`` does not fit, or None."""
    increase = exposure_increase(q, side, qty)
    if increase == 0:
        return None
    required = round2(increase * price / leverage)
    available = round2(equity.available)
    if required > available:
        return f"Insufficient buying power: required {required:.2f}, available {available:.2f}"
    return None


@dataclass(frozen=True)
class Margin:
    """The account's margin now (broker.md §19): what is used, what is left, and the notional
    an order may still add at ``leverage``."""

    used: Decimal
    available: Decimal
    buying_power: Decimal
    leverage: Decimal


def margin_of(equity: Equity, leverage: Decimal) -> Margin:
    """Margin of ``equity``. Buying power is the notional ``N = max(0, round2(available)) ·
    leverage`` whose margin ``N / leverage`` is exactly what :func:`buying_power_problem`
    still lets an order add at ``leverage``."""
    available = round2(equity.available)
    room = max(ZERO, available)
    return Margin(round2(equity.margin_used), available, round2(room * leverage), leverage)
