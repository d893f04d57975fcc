"""Replay sessions as wire models (trading/models/replay.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from trading.broker.report import Report
from trading.market.replay import ReplaySession
from trading.market.replay_bars import SymbolMoment
from trading.models.replay import EquityPoint, ReplayReport, ReplaySessionState
from trading.wire.broker import execution
from trading.wire.market import bar_dicts, quote_data
from trading.wire.scenario import clock_state

SESSION_LIST: TypeAdapter[list[ReplaySessionState]] = TypeAdapter(list[ReplaySessionState])
"""``GET /api/v1/replay``: serialized by pydantic-core like every other list answer."""


def session_state(session: ReplaySession, wall_ms: int) -> ReplaySessionState:
    """``session`` as it is at wall time ``wall_ms``."""
    now = session.clock.now(wall_ms)
    return ReplaySessionState(
        id=session.id,
        accountId=session.account,
        symbols=list(session.symbols),
        state=session.clock.state.value,
        speed=session.clock.speed,
        time=now,
        iso=clock_state(now).iso,
        created=session.created,
    )


def report(session_id: str, r: Report) -> ReplayReport:
    """Session ``session_id``'s report: money as the book rounds it, fills as executions."""
    win_rate = r.outcomes.win_rate
    return ReplayReport(
        id=session_id, from_=r.start, to=r.now, initialBalance=float(r.initial_balance),
        balance=float(r.balance), equity=float(r.equity), realizedPL=float(r.realized),
        unrealizedPL=float(r.unrealized), commissions=float(r.commissions),
        trades=[execution(f) for f in r.trades], closingTrades=r.outcomes.closing,
        wins=r.outcomes.wins, losses=r.outcomes.losses,
        winRate=None if win_rate is None else float(win_rate),
        maxDrawdown=float(r.drawdown.amount), maxDrawdownPct=float(r.drawdown.fraction),
        equityCurve=[EquityPoint(time=p.time, equity=float(p.equity)) for p in r.curve],
    )  # fmt: skip


def symbol_update(m: SymbolMoment) -> dict[str, Any]:
    """A :class:`~trading.models.replay.ReplaySymbolUpdate` as JSON data, built from the columns
    (a push may carry thousands of bars: no model per bar, as REST ``/bars``)."""
    bars = bar_dicts(m.bars) if m.bars is not None else []
    forming = bars.pop() if m.forming and bars else None
    return {
        "symbol": m.spec.name,
        "bars": bars,
        "truncated": m.truncated,
        "forming": forming,
        "quote": quote_data(m.spec.name, m.quote).model_dump(mode="json"),
    }


def replay_update(
    state: ReplaySessionState,
    resolution: str,
    moments: Sequence[SymbolMoment],
    *,
    ended: bool = False,
) -> dict[str, Any]:
    """A :class:`~trading.models.replay.ReplayUpdate` as JSON data."""
    return {
        "session": state.model_dump(mode="json"),
        "resolution": resolution,
        "ended": ended,
        "symbols": [symbol_update(m) for m in moments],
    }
