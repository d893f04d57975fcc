"""The clock of a bar-replay session (docs/replay.md §2): where in the past a session is, and
how it moves.

A session is anchored to the wall clock, so nothing has to tick it: while it runs,
``replay-now = anchor_replay + speed × (wall-now − anchor_wall)``; every change (pause,
resume, speed, step, jump) re-anchors it at the replay time it showed, so the replay time is
continuous across changes and only ever moves forward. It never shows a time after the wall
clock (a session that catches up with the present stays there): the past is the only thing a
replay may show. All times are integer epoch **milliseconds** (exact arithmetic, the same in
every worker that reads the stored state).

Pure: the wall time is an argument, never read here (the API passes the market's clock, so a
``TRADING_CLOCK=manual`` test moves a session by moving that clock).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

SPEEDS: tuple[int, ...] = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
"""The speeds a session may run at (replay seconds per wall second): a named set, so a typo
(6000 for 600) is refused rather than run."""


class ReplayState(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"


class ReplayError(ValueError):
    """A replay request its rules refuse; ``field`` names the input at fault."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def check_speed(speed: int) -> int:
    if speed not in SPEEDS:
        raise ReplayError("speed", f"speed {speed} is not one of {', '.join(map(str, SPEEDS))}")
    return speed


@dataclass(frozen=True)
class ReplayClock:
    """The state of one session's clock (what the store keeps)."""

    speed: int
    state: ReplayState
    anchor_wall: int
    """Wall time (ms) at which the session showed ``anchor_replay``."""
    anchor_replay: int
    trade_from: int = 0
    """Replay time (ms) before which the session's book is not evaluated: the start, or
    where the last jump landed. A jump moves the clock without trading through the time it
    skips (docs/replay.md §5); a step or the clock running does trade through."""

    @classmethod
    def start(
        cls, start: int, speed: int, wall: int, earliest: int, state: ReplayState
    ) -> ReplayClock:
        """A session showing ``start`` now; ``start`` must lie in ``[earliest, wall]``."""
        check_speed(speed)
        if start > wall:
            raise ReplayError("start_time", f"start time {start} is in the future (now {wall})")
        if start < earliest:
            raise ReplayError(
                "start_time", f"start time {start} is before the history start {earliest}"
            )
        return cls(
            speed=speed, state=state, anchor_wall=wall, anchor_replay=start, trade_from=start
        )

    def now(self, wall: int) -> int:
        """The replay time at wall time ``wall`` (ms): never after ``wall``, and never before
        the anchor (a wall clock read earlier than the anchor counts as the anchor)."""
        if self.state is ReplayState.PAUSED:
            return self.anchor_replay
        moved = self.anchor_replay + self.speed * max(0, wall - self.anchor_wall)
        return min(moved, max(wall, self.anchor_wall))

    def _at(
        self,
        wall: int,
        replay_ms: int,
        state: ReplayState | None = None,
        speed: int | None = None,
        trade_from: int | None = None,
    ) -> ReplayClock:
        """Re-anchored at ``wall`` showing ``replay_ms`` (the anchor never moves back)."""
        return ReplayClock(
            speed=self.speed if speed is None else speed,
            state=self.state if state is None else state,
            anchor_wall=max(wall, self.anchor_wall),
            anchor_replay=replay_ms,
            trade_from=self.trade_from if trade_from is None else trade_from,
        )

    def pause(self, wall: int) -> ReplayClock:
        return self._at(wall, self.now(wall), state=ReplayState.PAUSED)

    def resume(self, wall: int) -> ReplayClock:
        return self._at(wall, self.now(wall), state=ReplayState.RUNNING)

    def with_speed(self, speed: int, wall: int) -> ReplayClock:
        return self._at(wall, self.now(wall), speed=check_speed(speed))

    def jump(self, ms: int, wall: int) -> ReplayClock:
        """Forward by ``ms`` (> 0), at most to the present; the state stays."""
        if ms <= 0:
            raise ReplayError("ms", f"a jump moves forward: {ms} is not positive")
        now = self.now(wall)
        landing = min(now + ms, max(wall, self.anchor_wall))
        return self._at(wall, landing, trade_from=landing)

    def step(self, bar_ms: int, wall: int) -> ReplayClock:
        """Pause at the start of the next bar of ``bar_ms`` milliseconds (the bar that was
        forming is then complete), at most at the present."""
        if bar_ms <= 0:
            raise ReplayError("resolution", "a step needs an intraday resolution")
        now = self.now(wall)
        nxt = now - now % bar_ms + bar_ms
        return self._at(wall, min(nxt, max(wall, self.anchor_wall)), state=ReplayState.PAUSED)


@dataclass(frozen=True)
class ReplaySession:
    """One account's replay session: its symbols and its clock (what the store keeps)."""

    id: str
    account: str
    symbols: tuple[str, ...]
    created: int
    """Wall time (ms) the session was started."""
    clock: ReplayClock
    version: int = 0
    """Bumped by every stored change: a change read before another's is refused, not lost."""
    start: int = 0
    """Replay time (ms) the session started at: where its report begins (docs/replay.md)."""


SESSION_PREFIX = "RPL-"
"""What every session id starts with: the broker knows a session's book by it."""


def new_session_id() -> str:
    """An id no one guesses (another account's session answers as a missing one anyway)."""
    return f"{SESSION_PREFIX}{secrets.token_hex(8)}"


class ReplayLimitReached(ReplayError):
    """The account already has as many sessions as ``TRADING_REPLAY_MAX_SESSIONS`` allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            "account",
            f"this account already has {limit} replay sessions (TRADING_REPLAY_MAX_SESSIONS); "
            "end one first",
        )


class ReplayConflict(ReplayError):
    """Other workers changed the session every time this one tried to (409: try again)."""

    def __init__(self, session_id: str) -> None:
        super().__init__("id", f"replay session {session_id} kept changing meanwhile; try again")
