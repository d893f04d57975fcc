"""Cold intraday history splits many days in one vectorised call (issue 16): the bars must be
the very bars the day-by-day path gives, DST days (23 and 25 hours) included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.clock import ManualClock
from trading.market.resolution import Resolution, ny_day_start, ny_ordinal
from trading.market.series import SyntheticMarket
from trading.settings import Settings

NOW = 1_762_300_000  # 2025-11-04, two days after the end of daylight saving time in New York
DEPTH = {1: 40, 5: 40, 15: 40, 30: 40, 60: 400}


def market() -> SyntheticMarket:
    return SyntheticMarket(
        Settings(clock=ManualClock(NOW), intraday_depth_days=DEPTH).market_config()
    )


@settings(max_examples=12, deadline=None)
@given(
    st.sampled_from(["AAPL", "MSFT", "JPM"]),
    st.sampled_from([Resolution.M1, Resolution.M15, Resolution.M60]),
    st.integers(2, 30),
    st.integers(0, 240),
)
def test_a_batch_of_days_gives_the_day_by_day_bars(
    name: str, resolution: Resolution, days: int, back: int
) -> None:
    batched, daily = market(), market()
    spec = batched.catalog.lookup(name)
    assert spec is not None
    last = ny_ordinal(NOW) - back
    if resolution is not Resolution.M60:
        last = ny_ordinal(NOW) - back % 38
    first = last - days + 1
    start, end = ny_day_start(first), ny_day_start(last + 1)
    one_call = batched.history(spec, resolution, start, end).bars
    # one New York day per call: nothing to batch
    parts = [
        daily.history(spec, resolution, ny_day_start(d), ny_day_start(d + 1)).bars
        for d in range(first, last + 1)
    ]
    assert len(one_call) > 0
    assert len(one_call) == sum(len(p) for p in parts)
    for column in ("time", "open", "high", "low", "close", "volume"):
        expected = np.concatenate([getattr(p, column) for p in parts])
        assert np.array_equal(getattr(one_call, column), expected), column
