"""The price path inside one bar: where an imported symbol trades between its open and close.

An imported bar only says open, high, low and close; the broker fills against one price per
second (docs/history.md §6), so each second of the bar needs a price that a backtest would
agree with. The rule is the usual backtester convention:

- the bar's ``length`` seconds are numbered ``0 .. length - 1``; four **waypoints** sit at
  seconds ``0``, ``length // 3``, ``2 * length // 3`` and ``length - 1`` (a 1-minute bar:
  0, 20, 40, 59);
- a **rising** bar (``close >= open``, a flat one included) goes open → low → high → close, a
  **falling** one open → high → low → close: a bar that closed up is taken to have made its
  low first and its high later, one that closed down the reverse;
- between two waypoints the price is linear in the second, rounded to the **nearest tick, a
  half tick up** (``floor(x + 1/2)``), in integers only, so the path is exact and the same on
  every machine.

Every price lies between two waypoint prices, hence within ``[low, high]``; the waypoints are
exactly open, the two extremes and close. Pure integer arithmetic on Python ints: the fill loop
asks once per second per symbol, a replay at high speed thousands of times per tick, and a
numpy scalar costs more than this whole function (``scripts/bench_touch.py``).
"""

from __future__ import annotations

MIN_LENGTH = 4
"""Shortest bar with four distinct waypoints (a 1-minute bar has 60 seconds, a session at
least one minute)."""


def waypoints(length: int) -> tuple[int, int, int, int]:
    """The seconds of the bar at which it is at open, first extreme, second extreme, close."""
    return 0, length // 3, 2 * length // 3, length - 1


def _between(start: int, stop: int, step: int, steps: int) -> int:
    """``start + (stop - start)·step/steps`` rounded to the nearest integer, halves up."""
    return start + (2 * (stop - start) * step + steps) // (2 * steps)


def path_price(o: int, h: int, lo: int, c: int, elapsed: int, length: int) -> int:
    """The price in ticks ``elapsed`` seconds into a bar of ``length`` seconds
    (``length >= MIN_LENGTH``); before the bar it is the open, after it the close."""
    last = length - 1
    if elapsed <= 0:
        return o
    if elapsed >= last:
        return c
    first, second = (lo, h) if c >= o else (h, lo)
    a = length // 3
    if elapsed <= a:
        return _between(o, first, elapsed, a)
    b = 2 * length // 3
    if elapsed <= b:
        return _between(first, second, elapsed - a, b - a)
    return _between(second, c, elapsed - b, last - b)
