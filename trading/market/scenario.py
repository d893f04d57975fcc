"""Scenario control (``TRADING_CLOCK=manual``): the rules of moving the shared manual clock
and of scripting prices, for the debug routes that let a test in any language steer the
market over the wire (docs/scenarios.md).

The clock only moves forward. Everything that reads it assumes so: the broker's evaluator
remembers the last second it evaluated per symbol (a clock set back would re-enter seconds it
has done, or skip none it has not, only once it caught up again), an order's ``since`` would
lie in the future, and the market stream's throttle of slow quotes counts time since the last
push. Rather than make each of them cope, a step back is refused (:class:`ClockBackwards`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from trading.clock import ManualClock
from trading.market.scripted import ScriptedMarket

LATEST_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z: the latest instant the manual clock may show. The synthetic market
has no end, but a clock far beyond it is a typo, not a scenario."""


class ScenarioError(Exception):
    """A scenario request refused by its rules; ``detail`` says why, for the client."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ClockBackwards(ScenarioError):
    """The clock was asked to show a time before the one it shows."""


class ClockOutOfRange(ScenarioError):
    """The clock was asked to show a time beyond :data:`LATEST_MS`."""


def step_second(time_ms: int) -> int:
    """The second a price step at ``time_ms`` takes effect: the market prices whole seconds,
    and a step inside a second applies from the next one (never to a second that began
    before it)."""
    return math.ceil(time_ms / 1000)


class Scenario:
    """The manual clock and the scripted market of one process, moved only by request."""

    def __init__(self, clock: ManualClock, market: ScriptedMarket | None) -> None:
        self.clock = clock
        self.market = market
        """None when the app's market is not a :class:`ScriptedMarket` (a code-level
        ``market_factory``): the clock moves, prices cannot be scripted."""

    def now_ms(self) -> int:
        return round(self.clock.now() * 1000)

    def set_time(self, time_ms: int) -> int:
        """Show ``time_ms`` (not before now, not after :data:`LATEST_MS`); the time shown."""
        now = self.now_ms()
        if time_ms < now:
            raise ClockBackwards(
                f"the manual clock only moves forward: {time_ms} is before its time {now}"
            )
        if time_ms > LATEST_MS:
            raise ClockOutOfRange(f"{time_ms} is after the latest time allowed, {LATEST_MS}")
        self.clock.set(time_ms / 1000)
        return self.now_ms()

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` milliseconds (0 or more); the time shown."""
        if ms < 0:
            raise ClockBackwards(f"the manual clock only moves forward: cannot advance by {ms}")
        return self.set_time(self.now_ms() + ms)

    def pin(self, symbol: str, price: float) -> None:
        self._market().set_price(symbol, price)

    def script(self, symbol: str, steps_ms: Sequence[tuple[int, float]]) -> None:
        """Script ``symbol`` with steps at epoch-ms times (see :func:`step_second`)."""
        seconds = [(step_second(t), price) for t, price in steps_ms]
        self._market().set_path(symbol, seconds)

    def clear(self, symbol: str) -> None:
        self._market().clear(symbol)

    def _market(self) -> ScriptedMarket:
        if self.market is None:
            raise ScenarioError(
                "this server's market is not a ScriptedMarket (a code-level market_factory): "
                "prices cannot be scripted"
            )
        return self.market
