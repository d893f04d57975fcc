"""The extremes of a run of seconds (``touch_range``) are exactly those of its seconds.

The fill loop asks a market for the lowest and highest ask and bid over the seconds a tick
covers (an hour of them per tick for a replay at 3600×, docs/replay.md §5); the synthetic
market answers from its minute bars, so this holds it to the brute force over every second,
across minute, hour and New York day boundaries, with and without a scripted path.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trading.clock import ManualClock
from trading.market.scripted import ScriptedMarket
from trading.market.series import SyntheticMarket
from trading.market.source import touch_range_of_seconds
from trading.settings import Settings
from trading.testing import TEST_NOW

SETTINGS = Settings(clock=ManualClock(TEST_NOW), market_spread_bps=8)
SYNTHETIC = SyntheticMarket(SETTINGS.market_config())
BASE = int(TEST_NOW) - 40 * 86_400  # seconds a month and more back: any past second works


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["AAPL", "MSFT", "GOOGL"]),
    st.integers(0, 3 * 86_400),
    st.integers(0, 3 * 3_600),
)
def test_the_synthetic_range_is_the_range_of_its_seconds(
    name: str, offset: int, length: int
) -> None:
    spec = SYNTHETIC.catalog.lookup(name)
    assert spec is not None
    first = BASE + offset
    last = first + length
    assert SYNTHETIC.touch_range(spec, first, last) == touch_range_of_seconds(
        SYNTHETIC.touch, spec, first, last
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 7_200), st.integers(0, 600), st.integers(1, 900), st.booleans())
def test_a_scripted_symbol_ranges_over_its_script(
    offset: int, length: int, step_at: int, scripted: bool
) -> None:
    market = ScriptedMarket(SETTINGS.market_config())
    spec = market.catalog.lookup("AAPL")
    assert spec is not None
    first = BASE + offset
    if scripted:
        market.set_path("AAPL", [(first + step_at, 123.45), (first + step_at + 30, 99.0)])
    last = first + length
    assert market.touch_range(spec, first, last) == touch_range_of_seconds(
        market.touch, spec, first, last
    )


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["AAPL", "MSFT", "GOOGL"]), st.integers(0, 20 * 1440))
def test_a_minutes_first_second_is_the_same_known_from_its_bar_or_its_seconds(
    name: str, minutes: int
) -> None:
    """The synthetic market answers a minute's first second from the minute bar's open
    unless that minute's seconds are already generated: both ways give the same touch."""
    spec = SYNTHETIC.catalog.lookup(name)
    assert spec is not None
    second = BASE - BASE % 60 + 60 * minutes
    from_bar = SyntheticMarket(SETTINGS.market_config()).touch(spec, second)
    generated = SyntheticMarket(SETTINGS.market_config())
    generated.touch(spec, second + 1)
    assert generated.touch(spec, second) == from_bar
