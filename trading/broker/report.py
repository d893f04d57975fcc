"""A replay session's results (docs/replay.md "The report"): its trades, what they booked, how
many won, and the equity curve with its deepest fall.

Pure: everything is computed from the session book's initial balance and fills, the session's
start and replay-now, and a price function (the book's own
:meth:`PriceFeed.at <trading.broker.matching.PriceFeed.at>`). Nothing is restated: the fills
are netted again through :meth:`Position.apply <trading.broker.state.Position.apply>` (so the
report knows the positions at every instant, and which fills closed something), the totals
are an :class:`~trading.broker.state.Account`'s, and equity is
:func:`~trading.broker.margin.equity_of` marked at a second's last price, exactly as the book
marks itself. So the report's equity at replay-now is what the book's account shows then.

The curve has at most ``points`` points: the start, after every fill, regular samples between
them, and replay-now, always; when the budget is short, samples go first, then fills are
thinned evenly (:func:`sample_times`, :func:`kept_fills`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from trading.broker.margin import equity_of
from trading.broker.matching import Prices
from trading.broker.money import ZERO, round2
from trading.broker.state import Account, Fill, Position

PriceAt = Callable[[str, int], Prices]
"""The prices of a symbol at one second (epoch s): the book's ``PriceFeed.at``."""

SAMPLE_MIN_MS = 1000
MINUTE_MS = 60_000
"""Samples lie at least a second apart: prices change per second, a denser sample repeats."""

PCT_PLACES = Decimal("0.000001")
"""The drawdown fraction is given to 6 decimals (0.0001 %)."""

_NO_MARGIN = Decimal(1)
"""The leverage handed to :func:`equity_of`: the report uses its equity, never its margin."""


@dataclass(frozen=True)
class BookRecord:
    """What a report is made of from a book: its initial balance, every fill in fill order,
    and the prices the book marks itself with."""

    initial_balance: Decimal
    fills: list[Fill]
    prices: PriceAt


@dataclass(frozen=True)
class CurvePoint:
    time: int
    """Epoch ms (replay time)."""
    equity: Decimal


@dataclass(frozen=True)
class Drawdown:
    amount: Decimal
    """The largest fall from a peak of the curve to a later point (0: it never falls)."""
    fraction: Decimal
    """That fall as a fraction of its peak (0 when there is none or the peak is not > 0)."""


@dataclass(frozen=True)
class Outcomes:
    """The fills that reduced, closed or flipped a position, and how they ended."""

    closing: int = 0
    wins: int = 0
    losses: int = 0

    @property
    def win_rate(self) -> Decimal | None:
        """``wins / closing`` (None without a closing trade: no rate, not 0 %)."""
        return None if self.closing == 0 else Decimal(self.wins) / Decimal(self.closing)


@dataclass(frozen=True)
class Report:
    start: int
    now: int
    initial_balance: Decimal
    balance: Decimal
    equity: Decimal
    realized: Decimal
    unrealized: Decimal
    commissions: Decimal
    trades: list[Fill]
    outcomes: Outcomes
    drawdown: Drawdown
    curve: list[CurvePoint] = field(default_factory=list)


@dataclass
class _Replay:
    """The book as the fills so far left it: totals, positions and closing trades."""

    account: Account
    positions: dict[str, Position] = field(default_factory=dict)
    closing: int = 0
    wins: int = 0
    losses: int = 0

    def apply(self, fill: Fill) -> None:
        """Net ``fill`` in. It is a closing trade when it meets a position of the other side
        (it reduces, closes or flips it), so a close at exactly the entry price is one, neither
        won nor lost; it won when what it booked is > 0, lost when < 0."""
        position = self.positions.setdefault(fill.symbol, Position(fill.symbol))
        if position.q != 0 and (position.q > 0) != (fill.side.value > 0):
            self.closing += 1
            self.wins += fill.realized > 0
            self.losses += fill.realized < 0
        position.apply(fill.side, fill.qty, fill.price)
        self.account.realized += fill.realized  # what the book booked, summed as the book does
        self.account.commissions += fill.commission

    def equity(self, prices: PriceAt, time_ms: int) -> tuple[Decimal, Decimal]:
        """Equity and unrealized P&L marked at the second of ``time_ms``."""
        second = math.floor(time_ms / 1000)
        marked = equity_of(
            self.account, [p for p in self.positions.values() if p.q != 0],
            lambda symbol: prices(symbol, second).lp, lambda _symbol: _NO_MARGIN,
        )  # fmt: skip
        return marked.equity, marked.unrealized

    def point(self, prices: PriceAt, time_ms: int) -> CurvePoint:
        return CurvePoint(time_ms, self.equity(prices, time_ms)[0])


def sample_times(start: int, now: int, count: int) -> list[int]:
    """At most ``count`` regular instants strictly between ``start`` and ``now``: every
    ``step = max(1 s, ⌈(now − start) / (count + 1)⌉)`` from ``start``. A step of a minute
    or more is rounded up to whole minutes (one more at most, to keep within ``count`` when
    ``start`` is inside a minute) and the samples fall on minute starts: a market
    knows a minute's first second from its minute bar (its open), while any other second of
    a synthetic minute costs generating that minute's seconds (~1 ms)."""
    span = now - start
    if count <= 0 or span <= 0:
        return []
    step = max(SAMPLE_MIN_MS, -(-span // (count + 1)))
    if step < MINUTE_MS:
        return list(range(start + step, now, step))
    step = -(-step // MINUTE_MS) * MINUTE_MS
    # Counted from the minute ``start`` falls in, the samples are one more than ``count`` when
    # ``(span + start % MINUTE_MS) > (count + 1) · step``: a minute more per step always fits.
    while len(samples := range(start - start % MINUTE_MS + step, now, step)) > count:
        step += MINUTE_MS
    return list(samples)


def kept_fills(count: int, budget: int) -> list[int]:
    """Which of ``count`` fills (indices) a curve with room for ``budget`` of them shows: all
    when they fit, else ``budget`` spread evenly by index, the last fill always among them."""
    if count <= budget:
        return list(range(count))
    if budget <= 0:
        return []
    return [math.ceil((j + 1) * count / budget) - 1 for j in range(budget)]


def max_drawdown(curve: Sequence[CurvePoint]) -> Drawdown:
    """The largest ``peak − later equity`` over ``curve`` and that fall over its peak."""
    best = Drawdown(ZERO, ZERO)
    peak: Decimal | None = None
    for point in curve:
        if peak is None or point.equity > peak:
            peak = point.equity
        fall = peak - point.equity
        if fall > best.amount:
            fraction = (fall / peak).quantize(PCT_PLACES, ROUND_HALF_UP) if peak > 0 else ZERO
            best = Drawdown(fall, fraction)
    return best


def session_report(
    initial_balance: Decimal,
    fills: Sequence[Fill],
    start: int,
    now: int,
    prices: PriceAt,
    points: int,
) -> Report:
    """The report of a session book between ``start`` and replay-now ``now`` (epoch ms).

    ``fills`` are the book's, in fill order; ``points`` (≥ 2) bounds the curve. A point's time
    is its fill's, kept within ``[start, now]`` and never before the point ahead of it (a fill
    is never outside in a session book; the curve stays ordered anyway); a sample at the same
    instant as a fill comes after it."""
    if points < 2:
        raise ValueError(f"a curve needs at least 2 points, not {points}")
    now = max(now, start)
    replay = _Replay(Account(initial_balance))
    room = points - 2  # the start and replay-now are always on the curve
    shown = set(kept_fills(len(fills), room))
    samples = iter(sample_times(start, now, room - len(shown)))
    pending = next(samples, None)
    curve = [replay.point(prices, start)]
    for index, fill in enumerate(fills):
        time = min(max(fill.time, curve[-1].time), now)
        while pending is not None and pending < time:
            curve.append(replay.point(prices, pending))
            pending = next(samples, None)
        replay.apply(fill)
        if index in shown:
            curve.append(replay.point(prices, time))
    while pending is not None:
        curve.append(replay.point(prices, pending))
        pending = next(samples, None)
    equity, unrealized = replay.equity(prices, now)
    curve.append(CurvePoint(now, equity))
    account = replay.account
    return Report(
        start=start, now=now, initial_balance=initial_balance, balance=round2(account.balance),
        equity=round2(equity), realized=round2(account.realized), unrealized=round2(unrealized),
        commissions=round2(account.commissions), trades=list(fills),
        outcomes=Outcomes(replay.closing, replay.wins, replay.losses),
        drawdown=max_drawdown(curve), curve=curve,
    )  # fmt: skip
