"""The price path inside imported bars (docs/history.md §6): hand-computed
paths of a rising and a falling 1-minute bar and of a daily bar over its session, and the
rule's properties for every bar, session and order of asking."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.market.bar_path import MIN_LENGTH, path_price, waypoints
from trading.market.bar_seconds import BarSeconds
from trading.market.resolution import DAY_S, EPOCH_ORDINAL, Resolution
from trading.market.sessions import parse_session, session_ranges

NEW_YORK = ZoneInfo("America/New_York")
MINUTE = parse_session("0930-1600")
OHLC = tuple[int, int, int, int]


def table(rows: Sequence[tuple[int, int, int, int, int]]) -> np.ndarray:
    """A base table of ``(time, open, high, low, close)`` rows (volume 0)."""
    return np.asarray([(*r, 0) for r in rows], dtype=np.int64).T.copy()


def ny(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).timestamp())


# -- hand-computed ---------------------------------------------------------------------------------


def test_a_rising_bar_goes_open_low_high_close() -> None:
    # 10.25 → 10.20 (s 20) → 10.70 (s 40) → 10.65 (s 59)
    o, h, lo, c = 1025, 1070, 1020, 1065
    at = {s: path_price(o, h, lo, c, s, 60) for s in (0, 10, 15, 20, 30, 39, 40, 50, 58, 59)}
    assert at == {
        0: 1025,
        10: 1023,  # 1025 - 5·10/20 = 1022.5: a half tick rounds up
        15: 1021,  # 1021.25
        20: 1020,  # the low
        30: 1045,  # 1020 + 50·10/20
        39: 1068,  # 1067.5, up
        40: 1070,  # the high
        50: 1067,  # 1070 - 5·10/19 = 1067.37
        58: 1065,  # 1065.26
        59: 1065,  # the close
    }
    assert waypoints(60) == (0, 20, 40, 59)


def test_a_falling_bar_goes_open_high_low_close() -> None:
    # 10.45 → 10.47 (s 20) → 10.30 (s 40) → 10.35 (s 59)
    o, h, lo, c = 1045, 1047, 1030, 1035
    at = {s: path_price(o, h, lo, c, s, 60) for s in (0, 14, 15, 20, 30, 31, 32, 40, 49, 59)}
    assert at == {
        0: 1045,
        14: 1046,  # 1046.4
        15: 1047,  # 1046.5, up: the high is first touched at s 15
        20: 1047,
        30: 1039,  # 1047 - 17·10/20 = 1038.5, up
        31: 1038,  # 1037.65
        32: 1037,  # 1036.8
        40: 1030,  # the low
        49: 1032,  # 1030 + 5·9/19 = 1032.37
        59: 1035,
    }


def test_a_flat_bar_counts_as_rising() -> None:
    assert [path_price(500, 510, 490, 500, s, 60) for s in (0, 20, 40, 59)] == [500, 490, 510, 500]


def test_a_daily_bar_runs_over_its_session_and_holds_the_close_after_it() -> None:
    """Mon 2024-03-11 (New York, UTC-4), session 09:30-16:00: 23 400 seconds, waypoints at
    +0, +7800 (11:40), +15 600 (13:50), +23 399 (15:59:59). A rising day, 100 → 99 → 102 → 101."""
    monday = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp())
    friday = monday - 3 * DAY_S
    bars = table([(friday, 9800, 10050, 9700, 10000), (monday, 10000, 10200, 9900, 10100)])
    prices = BarSeconds(bars, Resolution.D1, MINUTE, NEW_YORK)
    at = {
        "2024-03-08T09:29:59": 9800,  # before the first session: the first open
        "2024-03-08T09:30:00": 9800,
        "2024-03-08T16:00:00": 10000,  # Friday's session is over: its close
        "2024-03-10T12:00:00": 10000,  # the weekend holds it
        "2024-03-11T09:29:59": 10000,
        "2024-03-11T09:30:00": 10000,  # Monday's open
        "2024-03-11T10:35:00": 9950,  # +3900: half way down to the low
        "2024-03-11T11:40:00": 9900,  # the low
        "2024-03-11T12:00:00": 9946,  # +9000: 9900 + 300·1200/7800 = 9946.15
        "2024-03-11T13:50:00": 10200,  # the high
        "2024-03-11T15:59:59": 10100,  # the close at the session's last second
        "2024-03-11T20:00:00": 10100,
        "2024-03-20T12:00:00": 10100,  # after the last bar
    }
    assert {t: prices.price(ny(t)) for t in at} == at


def test_a_session_with_a_break_pauses_the_path() -> None:
    """09:30-12:00 and 13:00-16:00: 19 800 session seconds; the break holds 11:59:59's price
    and the path resumes at 13:00 where it stopped."""
    day = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp())
    prices = BarSeconds(
        table([(day, 10000, 10330, 9670, 10100)]), Resolution.D1,
        parse_session("0930-1200,1300-1600"), NEW_YORK,
    )  # fmt: skip
    # a rising day: waypoints +0, +6600 (11:20, the low), +13 200 (14:10, the high), +19 799
    assert prices.price(ny("2024-03-11T11:20:00")) == 9670
    last_morning = prices.price(ny("2024-03-11T11:59:59"))  # +8999: 9670 + 660·2399/6600
    assert last_morning == 9910
    assert prices.price(ny("2024-03-11T12:30:00")) == last_morning
    assert prices.price(ny("2024-03-11T13:00:00")) == 9910  # +9000: 9910.0
    assert prices.price(ny("2024-03-11T14:10:00")) == 10330  # +13 200 = 13:00 + 4200 s
    assert prices.price(ny("2024-03-11T15:59:59")) == 10100


# -- properties ------------------------------------------------------------------------------------

bars = st.tuples(
    st.integers(1, 10**9), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)
).map(lambda t: (t[0], t[0] + t[1], max(1, t[0] - t[2]), t[3]))


def ohlc(raw: tuple[int, int, int, int]) -> OHLC:
    """A valid bar: low ≤ min(open, close), max(open, close) ≤ high."""
    o, h, lo, pick = raw
    c = lo + pick % (h - lo + 1)
    return o, h, lo, c


@settings(max_examples=150, deadline=None)
@given(bars.map(ohlc), st.integers(MIN_LENGTH, 100_000), st.randoms(use_true_random=False))
def test_the_path_stays_in_range_and_reaches_every_price(
    bar: OHLC, length: int, rng: random.Random
) -> None:
    o, h, lo, c = bar
    seconds = sorted({*range(min(length, 400)), *waypoints(length),
                      *(rng.randrange(length) for _ in range(400))})  # fmt: skip
    path = {s: path_price(o, h, lo, c, s, length) for s in seconds}
    assert all(lo <= p <= h for p in path.values())
    assert path[0] == o
    assert path[length - 1] == c
    assert h in path.values()
    assert lo in path.values()
    # linear between waypoints: within half a tick of the exact line, and the same every time
    marks = waypoints(length)
    rising = c >= o
    prices = (o, lo, h, c) if rising else (o, h, lo, c)
    for s, p in path.items():
        k = next(i for i in range(3) if s <= marks[i + 1])
        a, b = marks[k], marks[k + 1]
        exact = prices[k] + (prices[k + 1] - prices[k]) * (s - a) / (b - a)
        assert abs(p - exact) <= 0.5 + 1e-9 * abs(exact), (s, p, exact)
        assert path_price(o, h, lo, c, s, length) == p
    # before and after the bar
    assert path_price(o, h, lo, c, -5, length) == o
    assert path_price(o, h, lo, c, length + 5, length) == c


minute_bars = st.lists(
    st.tuples(st.integers(1, 3), bars.map(ohlc)),  # minutes after the previous bar, prices
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(minute_bars, st.randoms(use_true_random=False))
def test_every_second_of_minute_bars_follows_its_bar_and_gaps_hold_the_close(
    rows: list[tuple[int, OHLC]], rng: random.Random
) -> None:
    t = ny("2024-03-11T09:30:00")
    laid = []
    for gap, (o, h, lo, c) in rows:
        t += 60 * gap
        laid.append((t, o, h, lo, c))
    first, last = laid[0][0] - 120, laid[-1][0] + 180
    seconds = list(range(first, last))
    in_order = BarSeconds(table(laid), Resolution.M1, MINUTE, NEW_YORK)
    expected = [in_order.price(s) for s in seconds]
    shuffled = seconds[:]
    rng.shuffle(shuffled)
    # the span it keeps never shows: any order of asking gives the same prices
    asked = BarSeconds(table(laid), Resolution.M1, MINUTE, NEW_YORK)
    assert {s: asked.price(s) for s in shuffled} == dict(zip(seconds, expected, strict=True))
    by_second = dict(zip(seconds, expected, strict=True))
    assert all(by_second[s] == laid[0][1] for s in range(first, laid[0][0]))
    for i, (start, o, h, lo, c) in enumerate(laid):
        inside = [by_second[s] for s in range(start, start + 60)]
        assert inside[0] == o
        assert inside[-1] == c
        assert {h, lo} <= set(inside)
        assert all(lo <= p <= h for p in inside)
        following = laid[i + 1][0] if i + 1 < len(laid) else last
        assert all(by_second[s] == c for s in range(start + 60, following))  # constant in gaps


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 4), bars.map(ohlc)), min_size=1, max_size=6),
    st.sampled_from(["0930-1600", "0930-1200,1300-1600", "24x7", "0000-2400:1234567"]),
    st.sampled_from(["America/New_York", "Europe/London", "Asia/Tokyo"]),
    st.randoms(use_true_random=False),
)
def test_a_daily_bar_follows_its_path_over_its_session_seconds_only(
    days: list[tuple[int, OHLC]], session_text: str, zone_name: str, rng: random.Random
) -> None:
    """Around the 2024 daylight-saving switches: each trading date's session seconds start
    at its open, end at its close, stay within and reach its high and low; every second
    outside the session holds the price of the last session second before it."""
    session, zone = parse_session(session_text), ZoneInfo(zone_name)
    ordinal = dt.date(2024, 3, 7).toordinal()
    laid = []
    for gap, (o, h, lo, c) in days:
        ordinal += gap
        while dt.date.fromordinal(ordinal).weekday() not in session.weekdays:
            ordinal += 1
        laid.append(((ordinal - EPOCH_ORDINAL) * DAY_S, o, h, lo, c))
    ordinals = [t // DAY_S + EPOCH_ORDINAL for t, *_ in laid]
    ranges = session_ranges(session, zone, ordinals[0], ordinals[-1])
    prices = BarSeconds(table(laid), Resolution.D1, session, zone)
    traded = np.isin(ranges.ordinals, ordinals)
    span_starts = [*ranges.starts[traded].tolist(), 2**62]  # every span, then none
    for (_, o, h, lo, c), day in zip(laid, ordinals, strict=True):
        mine = ranges.ordinals == day
        starts, ends = ranges.starts[mine].tolist(), ranges.ends[mine].tolist()
        session_seconds = [s for a, b in zip(starts, ends, strict=True) for s in range(a, b)]
        n = len(session_seconds)
        # the waypoints of the day's path, counted in session seconds, and a sample of the rest
        marks = [prices.price(session_seconds[k]) for k in waypoints(n)]
        assert marks == ([o, lo, h, c] if c >= o else [o, h, lo, c])
        sample = [prices.price(session_seconds[rng.randrange(n)]) for _ in range(300)]
        assert all(lo <= p <= h for p in sample)
        # from a range's end to the next span (a break, the night, days without a bar, after
        # the last bar): the last session second's price
        for a in ends:
            b = min(next(s for s in span_starts if s >= a), a + 4 * DAY_S)
            held = prices.price(a - 1)
            assert all(prices.price(s) == held for s in range(a, b, 97))
    assert prices.price(int(ranges.starts[0]) - 1) == laid[0][1]
    # any order of asking gives the same prices (the kept span never shows)
    probe = [rng.randrange(int(ranges.starts[0]) - DAY_S, int(ranges.ends[-1]) + DAY_S)
             for _ in range(300)]  # fmt: skip
    again = BarSeconds(table(laid), Resolution.D1, session, zone)
    assert {s: again.price(s) for s in probe} == {s: prices.price(s) for s in sorted(probe)}
