"""A replay session's report, computed (trading/broker/report.py, docs/replay.md "The report").

Hand-computed cases on hand-written fills and prices, then properties over books that the
real :class:`~trading.broker.engine.Engine` filled on scripted prices: whatever the trades,
the report's totals and its equity at replay-now are the book's own, and the curve keeps its
rules (ordered, within the session, within the budget, ending at the book's equity).
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_broker_properties import Tape, make_engine, market_order
from trading.broker.enums import Side
from trading.broker.matching import Prices
from trading.broker.report import (
    CurvePoint,
    Drawdown,
    PriceAt,
    kept_fills,
    max_drawdown,
    sample_times,
    session_report,
)
from trading.broker.state import Fill

D = Decimal
INITIAL = D(100_000)


def fill(seq: int, side: Side, qty: int, price: str, t: int, commission: str,
         realized: str = "0", symbol: str = "AAPL") -> Fill:  # fmt: skip
    return Fill(seq, f"ORDER-{seq}", symbol, side, D(qty), D(price), t, D(commission), D(realized))


def steps(*changes: tuple[int, str]) -> PriceAt:
    """A last price (= bid = ask) that becomes ``price`` from second ``s`` on."""

    def at(symbol: str, second: int) -> Prices:
        lp = D(100)
        for s, price in changes:
            if second >= s:
                lp = D(price)
        return Prices(lp, lp, lp)

    return at


def curve(points: list[CurvePoint]) -> list[tuple[int, str]]:
    return [(p.time, f"{p.equity:.2f}") for p in points]


def test_a_buy_then_a_sell_at_a_profit() -> None:
    """Buy 10 at 100 (commission 0.1 %: 1.00), price 105 from second 3, sell 10 at 110 at
    5 s (1.10, realized 10 · 10 = 100): balance 100 000 + 100 − 2.10."""
    fills = [fill(1, Side.BUY, 10, "100", 1000, "1.00"),
             fill(2, Side.SELL, 10, "110", 5000, "1.10", "100.00")]  # fmt: skip
    r = session_report(INITIAL, fills, 0, 10_000, steps((3, "105"), (5, "110")), 500)
    assert (r.realized, r.commissions, r.balance) == (D("100.00"), D("2.10"), D("100097.90"))
    assert (r.unrealized, r.equity) == (D("0.00"), D("100097.90"))
    assert (r.outcomes.closing, r.outcomes.wins, r.outcomes.losses) == (1, 1, 0)
    assert r.outcomes.win_rate == 1
    assert r.trades == fills
    # the start, each fill, a sample every second (after a fill at the same instant), now
    assert curve(r.curve) == [
        (0, "100000.00"), (1000, "99999.00"), (1000, "99999.00"), (2000, "99999.00"),
        (3000, "100049.00"), (4000, "100049.00"), (5000, "100097.90"), (5000, "100097.90"),
        (6000, "100097.90"), (7000, "100097.90"), (8000, "100097.90"), (9000, "100097.90"),
        (10_000, "100097.90"),
    ]  # fmt: skip
    # the deepest fall: the entry's commission, 1.00 from the 100 000 peak
    assert r.drawdown == Drawdown(D("1.00"), D("0.000010"))


def test_a_loss() -> None:
    """Buy 10 at 100, sell 10 at 95: realized −50, commissions 1.00 + 0.95."""
    fills = [fill(1, Side.BUY, 10, "100", 1000, "1.00"),
             fill(2, Side.SELL, 10, "95", 2000, "0.95", "-50.00")]  # fmt: skip
    r = session_report(INITIAL, fills, 0, 3000, steps((2, "95")), 500)
    assert (r.realized, r.commissions, r.balance, r.equity) == (
        D("-50.00"), D("1.95"), D("99948.05"), D("99948.05"),
    )  # fmt: skip
    assert (r.outcomes.closing, r.outcomes.wins, r.outcomes.losses) == (1, 0, 1)
    assert r.outcomes.win_rate == 0
    assert r.drawdown == Drawdown(D("51.95"), D("0.000520"))  # 51.95 / 100 000 = 0.0005195


def test_a_flip_long_to_short_then_a_close_at_the_entry_price() -> None:
    """Buy 10 at 100; sell 15 at 110 realizes 10 · 10 = 100 and leaves 5 short at 110 (the
    flip is a closing trade, won); marked at 120 that is −50. Buying the 5 back at exactly
    110 is a closing trade too, neither won nor lost."""
    fills = [fill(1, Side.BUY, 10, "100", 1000, "1.00"),
             fill(2, Side.SELL, 15, "110", 2000, "1.65", "100.00")]  # fmt: skip
    prices = steps((2, "110"), (3, "120"))
    r = session_report(INITIAL, fills, 0, 4000, prices, 500)
    assert (r.balance, r.unrealized, r.equity) == (D("100097.35"), D("-50.00"), D("100047.35"))
    assert (r.outcomes.closing, r.outcomes.wins, r.outcomes.losses) == (1, 1, 0)
    back = [*fills, fill(3, Side.BUY, 5, "110", 4000, "0.55")]
    r = session_report(INITIAL, back, 0, 4000, prices, 500)
    assert (r.balance, r.unrealized, r.equity) == (D("100096.80"), D("0.00"), D("100096.80"))
    assert (r.outcomes.closing, r.outcomes.wins, r.outcomes.losses) == (2, 1, 0)
    assert r.outcomes.win_rate == D("0.5")
    # at 3 s the short was marked at 120: −50 from the 100 097.35 after the flip
    assert r.drawdown.amount == D("50.00")


def test_a_position_open_at_replay_now_is_marked_at_its_second() -> None:
    """Long 10 at 100.00 at replay-now 61.5 s: marked at second 61's last price, 101.23."""
    asked: list[tuple[str, int]] = []

    def at(symbol: str, second: int) -> Prices:
        asked.append((symbol, second))
        lp = D("101.23") if second >= 61 else D(100)
        return Prices(lp, lp - D("0.01"), lp + D("0.01"))

    fills = [fill(1, Side.BUY, 10, "100.00", 1000, "1.00")]
    r = session_report(INITIAL, fills, 0, 61_500, at, 3)
    assert (r.realized, r.unrealized, r.equity) == (D("0.00"), D("12.30"), D("100011.30"))
    assert r.outcomes.win_rate is None  # no closing trade: no rate
    assert curve(r.curve) == [(0, "100000.00"), (1000, "99999.00"), (61_500, "100011.30")]
    assert asked[-1] == ("AAPL", 61)


def test_no_fills_is_a_flat_curve_at_the_initial_balance() -> None:
    r = session_report(INITIAL, [], 5000, 8000, steps(), 4)
    assert curve(r.curve) == [(5000, "100000.00"), (6000, "100000.00"), (7000, "100000.00"),
                              (8000, "100000.00")]  # fmt: skip
    assert (r.equity, r.balance, r.drawdown) == (INITIAL, INITIAL, Drawdown(D(0), D(0)))
    assert r.outcomes.closing == 0
    assert r.outcomes.win_rate is None


def test_the_budget_thins_samples_first_then_fills() -> None:
    """Room for the start, now and ``points − 2`` others: fills before samples; too many
    fills are spread evenly, the last one kept."""
    assert sample_times(0, 10_000, 3) == [2500, 5000, 7500]
    assert sample_times(0, 2500, 10) == [1000, 2000]  # never closer than a second
    assert sample_times(0, 0, 10) == []
    # a minute apart or more: whole minutes, on minute starts
    assert sample_times(90_000, 400_000, 3) == [180_000, 300_000]
    assert all(t % 60_000 == 0 for t in sample_times(12_345, 86_400_000, 500))
    # a start 20 s into a minute: 5-minute steps from its minute would fit 2, so 6 minutes
    # (CI found this one: the curve had one point more than asked for)
    assert sample_times(20_000, 601_000, 1) == [360_000]
    assert kept_fills(3, 5) == [0, 1, 2]
    assert kept_fills(5, 2) == [2, 4]
    assert kept_fills(4, 0) == []
    fills = [fill(i, Side.BUY, 1, "100", 1000 * i, "0.10") for i in range(1, 6)]
    r = session_report(INITIAL, fills, 0, 10_000, steps(), 4)
    assert [p.time for p in r.curve] == [0, 3000, 5000, 10_000]
    r = session_report(INITIAL, fills, 0, 10_000, steps(), 9)
    # 7 places: the 5 fills, then 2 samples every ⌈10 000 / 3⌉ ms
    assert [p.time for p in r.curve] == [0, 1000, 2000, 3000, 3334, 4000, 5000, 6668, 10_000]
    with pytest.raises(ValueError, match="at least 2 points"):
        session_report(INITIAL, fills, 0, 10_000, steps(), 1)


# -- properties ---------------------------------------------------------------------------------


# drawn as minutes and an offset into one: the offsets decide whether whole-minute steps fit
minute_and_offset = st.tuples(st.integers(0, 10**8), st.integers(0, 59_999))


@given(
    at=minute_and_offset,
    length=minute_and_offset | st.integers(-(10**6), 10**6),
    count=st.integers(-1, 40) | st.integers(0, 6000),  # few: where rounding up leaves no slack
)
def test_samples_are_at_most_as_many_as_asked_strictly_inside_and_regular(
    at: tuple[int, int], length: tuple[int, int] | int, count: int
) -> None:
    start = at[0] * 60_000 + at[1]
    span = length if isinstance(length, int) else length[0] * 60_000 + length[1]
    times = sample_times(start, start + span, count)
    assert len(times) <= max(count, 0)
    assert all(start < t < start + span for t in times)
    gaps = {b - a for a, b in itertools.pairwise(times)}
    assert len(gaps) <= 1
    if gaps and min(gaps) >= 60_000:
        assert all(t % 60_000 == 0 for t in times)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=40))
def test_max_drawdown_is_the_largest_fall_from_an_earlier_peak(cents: list[int]) -> None:
    """Against the definition, every pair: ``max(e_i − e_j, i ≤ j)``; its fraction is that
    fall over the highest equity before it."""
    points = [CurvePoint(i, D(c) / 100) for i, c in enumerate(cents)]
    dd = max_drawdown(points)
    falls = [(points[i].equity - points[j].equity, i, j)
             for j in range(len(points)) for i in range(j + 1)]  # fmt: skip
    assert dd.amount == max(f for f, _, _ in falls) >= 0
    if dd.amount > 0:
        peak = max(p.equity for p in points[: next(j for f, _, j in falls if f == dd.amount)])
        if peak > 0:
            assert dd.fraction == (dd.amount / peak).quantize(D("0.000001"), "ROUND_HALF_UP")
    if all(c >= 0 for c in cents):
        assert 0 <= dd.amount <= max(p.equity for p in points)
        assert 0 <= dd.fraction <= 1


trade = st.tuples(
    st.sampled_from(["AAPL", "MSFT"]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 30),  # qty
    st.integers(9_000, 11_000),  # last price, ticks
    st.integers(0, 5),  # half-spread, ticks
    st.integers(0, 120),  # seconds after the previous trade
)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(trade, max_size=25),
    st.integers(0, 600),  # seconds from the last trade to replay-now
    st.integers(2, 60),  # point budget
    st.integers(8_000, 12_000),  # last price at replay-now
)
def test_the_report_of_any_book_is_the_books_own_and_its_curve_keeps_its_rules(
    trades: list[tuple[str, Side, int, int, int, int]], tail: int, points: int, final: int
) -> None:
    tape = Tape()
    engine = make_engine(tape)
    start_s = 1_700_000_000
    t = start_s
    for symbol, side, qty, lp, half, wait in trades:
        t += wait
        tape.set(symbol, t, lp, half)
        engine.place(market_order(symbol, side, qty), float(t))
    now_s = t + tail
    if tail:
        for symbol in ("AAPL", "MSFT"):
            tape.set(symbol, now_s, final)
    start, now = start_s * 1000, now_s * 1000
    r = session_report(engine.account.initial_balance, engine.fills, start, now,
                       engine.market.at, points)  # fmt: skip
    book = engine.equity(float(now_s))
    assert (r.equity, r.unrealized, r.balance) == (book.equity, book.unrealized, book.balance)
    assert (r.realized, r.commissions) == (engine.account.realized, engine.account.commissions)
    assert r.curve[-1] == CurvePoint(now, r.equity)
    assert r.curve[0].time == start
    times = [p.time for p in r.curve]
    assert times == sorted(times)
    assert start <= times[0]
    assert times[-1] <= now
    assert len(r.curve) <= points
    if len(engine.fills) <= points - 2:  # every fill is on the curve when it fits
        shown = times[1:-1]
        for f in engine.fills:
            assert f.time in shown
            shown.remove(f.time)
    o = r.outcomes
    assert o.wins + o.losses <= o.closing <= len(engine.fills)
    if o.closing == 0:
        assert o.win_rate is None
    else:
        assert o.win_rate is not None
        assert 0 <= o.win_rate <= 1
    assert 0 <= r.drawdown.amount <= max(p.equity for p in r.curve)
    assert 0 <= r.drawdown.fraction <= 1
