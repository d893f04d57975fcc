"""Properties of the synthetic series (market.md §2-§6), tested on the domain object directly."""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.clock import ManualClock
from trading.market.resolution import Resolution, ny_day_start, ny_ordinal, ordinal_label
from trading.market.series import SyntheticMarket
from trading.market.source import Bars
from trading.market.symbols import DEFAULT_SYMBOLS, SymbolSpec
from trading.settings import Settings
from trading.testing import TEST_NOW

NOW = int(TEST_NOW)
FAR = 2**40
NAMES = [s.name for s in DEFAULT_SYMBOLS]
INTRADAY = [Resolution.M5, Resolution.M15, Resolution.M30, Resolution.M60]


def market(now: float = TEST_NOW, **changes: object) -> SyntheticMarket:
    return SyntheticMarket(Settings(clock=ManualClock(now)).replace(**changes).market_config())


MARKET = market()


def spec(name: str) -> SymbolSpec:
    found = MARKET.catalog.lookup(name)
    assert found is not None
    return found


def rows(bars: Bars) -> list[tuple[int, int, int, int, int, int]]:
    cols = (bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume)
    return [tuple(int(v) for v in row) for row in zip(*cols, strict=True)]  # type: ignore[misc]


def aggregate(bars: Bars) -> tuple[int, int, int, int, int]:
    return (
        int(bars.open[0]),
        int(bars.high.max()),
        int(bars.low.min()),
        int(bars.close[-1]),
        int(bars.volume.sum()),
    )


def bar_at(bars: Bars, i: int) -> tuple[int, int, int, int, int]:
    return (
        int(bars.open[i]),
        int(bars.high[i]),
        int(bars.low[i]),
        int(bars.close[i]),
        int(bars.volume[i]),
    )


def assert_invariants(bars: Bars) -> None:
    assert len(bars) > 0
    assert (np.diff(bars.time) > 0).all(), "times strictly increasing"
    assert (bars.low > 0).all()
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    assert (bars.volume >= 1).all()


names = st.sampled_from(NAMES)


@settings(max_examples=25, deadline=None)
@given(name=names, res=st.sampled_from(INTRADAY), offset=st.integers(0, 5 * 86_400))
def test_intraday_bars_aggregate_their_minutes(name: str, res: Resolution, offset: int) -> None:
    step = res.seconds
    start = (NOW - 6 * 86_400 + offset) // step * step
    coarse = MARKET.history(spec(name), res, start, start + 3 * step)
    fine = MARKET.history(spec(name), Resolution.M1, start, start + 3 * step)
    assert len(coarse.bars) == 3
    for i, label in enumerate(coarse.bars.time):
        inside = (fine.bars.time >= label) & (fine.bars.time < label + step)
        assert int(inside.sum()) == res.minutes
        assert bar_at(coarse.bars, i) == aggregate(select(fine.bars, inside))


def select(b: Bars, mask: npt.NDArray[np.bool_]) -> Bars:
    return Bars(
        b.time[mask], b.open[mask], b.high[mask], b.low[mask], b.close[mask], b.volume[mask], 100
    )


@settings(max_examples=15, deadline=None)
@given(name=names, days_back=st.integers(1, 360))
def test_daily_bar_aggregates_the_hours_of_its_new_york_day(name: str, days_back: int) -> None:
    day = ny_ordinal(NOW) - days_back
    hours = MARKET.history(spec(name), Resolution.M60, ny_day_start(day), ny_day_start(day + 1))
    daily = MARKET.history(spec(name), Resolution.D1, ordinal_label(day), ordinal_label(day + 1))
    assert len(daily.bars) == 1
    assert len(hours.bars) in (23, 24, 25)
    assert bar_at(daily.bars, 0) == aggregate(hours.bars)


@settings(max_examples=15, deadline=None)
@given(name=names, res=st.sampled_from([Resolution.W1, Resolution.MN1]), n=st.integers(0, 80))
def test_weeks_and_months_aggregate_their_days(name: str, res: Resolution, n: int) -> None:
    periods = MARKET.history(spec(name), res, 0, FAR).bars
    i = n % (len(periods) - 1)  # completed periods only
    start, end = int(periods.time[i]), int(periods.time[i + 1])
    days = MARKET.history(spec(name), Resolution.D1, start, end).bars
    assert bar_at(periods, i) == aggregate(days)


def test_dst_days_have_23_and_25_hours() -> None:
    far_clock = market(dt.datetime(2025, 12, 1, tzinfo=dt.UTC).timestamp())
    for date, hours in ((dt.date(2025, 3, 9), 23), (dt.date(2025, 11, 2), 25)):
        day = date.toordinal()
        got = far_clock.history(
            spec("AAPL"), Resolution.M60, ny_day_start(day), ny_day_start(day + 1)
        )
        assert len(got.bars) == hours
        daily = far_clock.history(
            spec("AAPL"), Resolution.D1, ordinal_label(day), ordinal_label(day + 1)
        )
        assert bar_at(daily.bars, 0) == aggregate(got.bars)


@pytest.mark.parametrize("res", list(Resolution))
def test_invariants_and_alignment_for_every_resolution(res: Resolution) -> None:
    for name in NAMES:
        bars = MARKET.history(spec(name), res, 0, FAR).bars
        assert_invariants(bars)
        if res.is_intraday:
            assert (bars.time % res.seconds == 0).all()
        else:
            assert (bars.time % 86_400 == 0).all()
        if res is Resolution.W1:
            weekdays = {dt.datetime.fromtimestamp(int(t), dt.UTC).weekday() for t in bars.time}
            assert weekdays == {0}
        if res is Resolution.MN1:
            assert {dt.datetime.fromtimestamp(int(t), dt.UTC).day for t in bars.time} == {1}


def test_history_depth_per_resolution() -> None:
    today = ny_ordinal(NOW)
    for res, days in ((Resolution.M1, 7), (Resolution.M5, 30), (Resolution.M60, 365)):
        bars = MARKET.history(spec("AAPL"), res, 0, FAR).bars
        assert int(bars.time[0]) == ny_day_start(today - days)
        assert int(bars.time[-1]) == NOW // res.seconds * res.seconds  # the forming bar
    daily = MARKET.history(spec("AAPL"), Resolution.D1, 0, FAR).bars
    assert int(daily.time[0]) == ordinal_label(dt.date(2018, 1, 1).toordinal())
    assert int(daily.time[-1]) == ordinal_label(today)


def test_prices_stay_in_their_band_for_decades() -> None:
    future = market(dt.datetime(2045, 1, 1, tzinfo=dt.UTC).timestamp())
    for s in DEFAULT_SYMBOLS:
        bars = future.history(s, Resolution.D1, 0, FAR).bars
        base = s.base_price * s.pricescale
        assert bars.low.min() >= 0.70 * base
        assert bars.high.max() <= 1.40 * base
        moves = np.abs(np.diff(bars.close)) / bars.close[:-1]
        assert 0.004 < float(np.median(moves)) < 0.02, "daily moves of roughly 1-2 %"
        assert bars.volume.min() >= 1_000_000
    aapl = future.history(spec("AAPL"), Resolution.D1, 0, FAR).bars
    assert aapl.low.min() > 160_00, "the reference's tests park a BUY LIMIT at 150"


def test_continuous_open_equals_previous_close() -> None:
    for res in Resolution:
        bars = MARKET.history(spec("MSFT"), res, 0, FAR).bars
        assert (bars.open[1:] == bars.close[:-1]).all(), res


def test_no_flat_runs_of_identical_minutes() -> None:
    bars = MARKET.history(spec("JPM"), Resolution.M1, 0, FAR).bars
    same = (np.diff(bars.open) == 0) & (np.diff(bars.close) == 0) & (np.diff(bars.high) == 0)
    assert float(same.mean()) < 0.05


@settings(max_examples=20, deadline=None)
@given(
    name=names,
    res=st.sampled_from(list(Resolution)),
    a=st.integers(0, 10**6),
    b=st.integers(0, 10**6),
)
def test_deterministic_and_independent_of_the_query(
    name: str, res: Resolution, a: int, b: int
) -> None:
    full = MARKET.history(spec(name), res, 0, FAR).bars
    lo, hi = sorted((a % len(full), b % len(full)))
    start, end = int(full.time[lo]), int(full.time[hi]) + 1
    part = market().history(spec(name), res, start, end).bars  # a fresh instance: no caches
    assert rows(part) == rows(full)[lo : hi + 1]


def test_seed_changes_the_data() -> None:
    one = MARKET.history(spec("AAPL"), Resolution.D1, 0, FAR).bars
    other = market(market_seed=2).history(spec("AAPL"), Resolution.D1, 0, FAR).bars
    assert rows(one) != rows(other)


@settings(max_examples=20, deadline=None)
@given(name=names, res=st.sampled_from(list(Resolution)), second=st.integers(0, 3 * 86_400))
def test_forming_bar_grows_and_ends_as_history(name: str, res: Resolution, second: int) -> None:
    """The forming bar at t is the aggregate of the seconds so far: high never falls, low never
    rises, volume never falls; at the bar's last second it equals the completed bar."""
    t = NOW - second
    first = market(t).history(spec(name), res, 0, FAR, count_back=1).bars
    later = market(t + 1).history(spec(name), res, 0, FAR, count_back=2).bars
    label = int(first.time[0])
    if int(later.time[-1]) == label:  # still the same bar one second later
        assert later.open[-1] == first.open[0]
        assert later.high[-1] >= first.high[0]
        assert later.low[-1] <= first.low[0]
        assert later.volume[-1] > first.volume[0]
    else:  # rolled over: the second-to-last is the final form of our bar
        assert int(later.time[-2]) == label
        final = market(t + 61).history(spec(name), res, label, label + 1).bars
        assert bar_at(later, 0) == bar_at(final, 0)
        assert later.open[-1] == later.close[-2]


def test_forming_minute_at_its_last_second_equals_the_completed_minute() -> None:
    minute = NOW // 60 * 60 - 600
    at_end = market(minute + 59.9).history(spec("AAPL"), Resolution.M1, minute, minute + 60)
    afterwards = MARKET.history(spec("AAPL"), Resolution.M1, minute, minute + 60)
    assert rows(at_end.bars) == rows(afterwards.bars)


def test_count_back_cap_no_data_and_next_time() -> None:
    aapl = spec("AAPL")
    all_daily = MARKET.history(aapl, Resolution.D1, 0, FAR).bars
    today = int(all_daily.time[-1])
    last3 = MARKET.history(aapl, Resolution.D1, today, today, count_back=3)
    assert rows(last3.bars) == rows(all_daily)[-4:-1], "count_back wins over from; to exclusive"
    with_forming = MARKET.history(aapl, Resolution.D1, FAR, FAR, count_back=2)
    assert rows(with_forming.bars) == rows(all_daily)[-2:]
    capped = market().history(aapl, Resolution.D1, 0, FAR, limit=100)
    assert rows(capped.bars) == rows(all_daily)[-100:]
    before = MARKET.history(aapl, Resolution.D1, 0, 1000)
    assert len(before.bars) == 0
    assert before.no_data
    assert before.next_time is None
    first = int(all_daily.time[0])
    at_first = MARKET.history(aapl, Resolution.D1, 0, first)
    assert at_first.no_data, "to is exclusive: nothing lies before the first bar"
    gap = MARKET.history(aapl, Resolution.D1, first + 3600, first + 7200)
    assert len(gap.bars) == 0
    assert not gap.no_data
    assert gap.next_time == first
    future = MARKET.history(aapl, Resolution.M1, NOW + 3600, NOW + 7200)
    assert len(future.bars) == 0
    assert not future.no_data
    assert future.next_time == NOW // 60 * 60


def test_quote_is_consistent_with_the_forming_bars() -> None:
    for s in DEFAULT_SYMBOLS:
        q = MARKET.quote(s)
        minute = MARKET.history(s, Resolution.M1, 0, FAR, count_back=1).bars
        day = MARKET.history(s, Resolution.D1, 0, FAR, count_back=2).bars
        assert q.lp == minute.close[-1] / 100
        assert (q.open, q.high, q.low, q.volume) == (
            day.open[-1] / 100,
            day.high[-1] / 100,
            day.low[-1] / 100,
            int(day.volume[-1]),
        )
        assert q.prev_close == day.close[-2] / 100
        assert q.bid <= q.lp <= q.ask
        assert q.low <= q.lp <= q.high
        assert q.ch == round(q.lp - q.prev_close, 2)
        assert q.spread == round(q.ask - q.bid, 2)


def test_spread_rounds_half_up_and_can_be_zero() -> None:
    aapl = spec("AAPL")
    q = MARKET.quote(aapl)
    half = round(q.lp * 5 / 20000 / 0.01 + 1e-9)
    assert round((q.ask - q.lp) * 100) == max(1, half)
    flat = market(market_spread_bps=0).quote(aapl)
    assert flat.bid == flat.lp == flat.ask
    assert flat.spread == 0
