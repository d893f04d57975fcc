"""Replay sessions as wire models (trading/models/replay.py)."""

from __future__ import annotations

from pydantic import TypeAdapter

from trading.market.replay import ReplaySession
from trading.models.replay import ReplaySessionState
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
