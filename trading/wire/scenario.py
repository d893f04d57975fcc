"""Scenario control's domain values as wire models (trading/models/scenario.py)."""

from __future__ import annotations

import datetime as dt
import math

from trading.broker.changes import Changes
from trading.broker.events import Executed, OrderChanged, PositionChanged
from trading.market.scripted import BEGINNING, ScriptedMarket
from trading.market.symbols import SymbolSpec
from trading.models.scenario import (
    AccountChanges,
    ClockState,
    EvaluationResult,
    PricesState,
    ScriptedStep,
)
from trading.wire import broker as views


def clock_state(time_ms: int) -> ClockState:
    iso = dt.datetime.fromtimestamp(time_ms / 1000, dt.UTC).isoformat(timespec="milliseconds")
    return ClockState(time=time_ms, iso=iso.replace("+00:00", "Z"))


def prices_state(market: ScriptedMarket, spec: SymbolSpec, time_ms: int) -> PricesState:
    touch = market.touch(spec, math.floor(time_ms / 1000))
    scale = spec.pricescale
    steps = [
        ScriptedStep(time=None if second == BEGINNING else second * 1000, price=ticks / scale)
        for second, ticks in market.script(spec.name)
    ]
    return PricesState(
        symbol=spec.name, time=time_ms, lp=touch.lp / scale, bid=touch.bid / scale,
        ask=touch.ask / scale, steps=steps,
    )  # fmt: skip


def account_changes(account: str, changes: Changes) -> AccountChanges:
    orders, positions, executions = [], [], []
    for event in changes.events:
        if isinstance(event, OrderChanged):
            orders.append(views.placed_order(event.order))
        elif isinstance(event, PositionChanged):
            positions.append(views.position(event.position))
        elif isinstance(event, Executed):
            executions.append(views.execution(event.fill))
    return AccountChanges(
        accountId=account, orders=orders, positions=positions, executions=executions
    )


def evaluation(time_ms: int, changed: list[tuple[str, Changes]]) -> EvaluationResult:
    return EvaluationResult(time=time_ms, accounts=[account_changes(a, c) for a, c in changed])
