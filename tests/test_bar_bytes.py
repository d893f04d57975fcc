"""Cached history answers are byte for byte the uncached ones (issue 16).

``trading/wire/bar_bytes.py`` splices REST ``/datafeed/bars`` and UDF ``/history`` bodies from
cached serialized segments of final bars plus the forming bar. Whatever the cache holds, the
bytes must be what the routes wrote without it: for random symbols, resolutions, ranges (ending
inside the forming bar too), count_back and caps, while the manual clock moves on (a forming
bar completes, a new day starts, the clock is set back) and a small byte budget evicts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import event, given, settings
from hypothesis import strategies as st

from trading.app import create_app
from trading.clock import ManualClock
from trading.market.resolution import Resolution
from trading.market.series import SyntheticMarket
from trading.settings import Settings, SettingsError
from trading.wire.bar_bytes import (
    SEGMENT_BARS,
    BarBytes,
    Elements,
    Segment,
    SegmentCache,
    Shape,
    uncached_body,
)

START = 1_764_000_000 + 13  # 2025-11-24 16:00:13 UTC, a Monday
DEPTH = {1: 2, 5: 3, 15: 4, 30: 5, 60: 6}
SYMBOLS = ("AAPL", "MSFT", "JPM")
STEP = {r: (r.seconds or 86_400) for r in Resolution}

# a forming bar that completes, the next minute/hour/day, the clock set back, or no move
advances = st.sampled_from([0, 1, 7, 59, 60, 61, 3_599, 3_600, 86_400, 86_399, -61, -3_600])


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    resolution = draw(st.sampled_from(list(Resolution)))
    step = STEP[resolution]
    # ends around the forming bar (before, inside, after it) or deep in the past
    end_bars = draw(st.one_of(st.integers(-3, 3), st.integers(-3 * SEGMENT_BARS, 0)))
    end_jitter = draw(st.sampled_from([0, 1, step // 2, step - 1]))
    length = draw(st.one_of(st.integers(0, 5), st.integers(0, 3 * SEGMENT_BARS)))
    return {
        "shape": draw(st.sampled_from(list(Shape))),
        "symbol": draw(st.sampled_from(SYMBOLS)),
        "resolution": resolution,
        "end_offset": end_bars * step + end_jitter,
        "length": length * step + draw(st.sampled_from([0, 1, -1])),
        "count_back": draw(st.sampled_from([0, 0, 1, 2, 37, 600, 1_500])),
        "limit": draw(st.sampled_from([None, 1, 50, 20_000])),
    }


def market(clock: ManualClock) -> SyntheticMarket:
    base = Settings(clock=clock, history_start=dt.date(2023, 6, 1), intraday_depth_days=DEPTH)
    return SyntheticMarket(base.market_config())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(advances, queries()), min_size=1, max_size=8))
def test_cached_bodies_are_the_uncached_bytes(steps: list[tuple[int, dict[str, Any]]]) -> None:
    clock = ManualClock(START)
    cached_market, reference = market(clock), market(clock)
    # small enough to evict (a 1-minute segment is ~50 KB REST), large enough to hit
    bar_bytes = BarBytes(cached_market, budget=400_000)
    for advance, q in steps:
        clock.advance(advance)
        spec = cached_market.catalog.lookup(q["symbol"])
        assert spec is not None
        end = int(clock.now()) + q["end_offset"]
        start = end - q["length"]
        args = (spec, q["resolution"], start, end, q["count_back"], q["limit"])
        expected = reference.history(*args)
        for _ in range(2):  # cold, then from the cache
            answer = bar_bytes.answer(q["shape"], *args)
            answer.complete()
            assert answer.body == uncached_body(q["shape"], expected)
        bars = expected.bars
        event(
            "no bar"
            if len(bars) == 0
            else f"bars > {SEGMENT_BARS}"
            if len(bars) > SEGMENT_BARS
            else "bars"
        )
        forming = len(bars) and int(bars.time[-1]) == reference.window(*args).final_before
        event(f"ends with the forming bar: {bool(forming)}")
        assert bar_bytes.cache.used <= bar_bytes.cache.budget


def test_the_cache_is_used_and_stays_within_its_budget() -> None:
    clock = ManualClock(START)
    source = market(clock)
    bar_bytes = BarBytes(source, budget=300_000)
    spec = source.catalog.lookup("AAPL")
    assert spec is not None
    args = (spec, Resolution.M1, 0, START + 60, 2_000, None)
    first = bar_bytes.answer(Shape.REST, *args)
    assert first.cold, "nothing cached yet: segments to build"
    first.complete()
    again = bar_bytes.answer(Shape.REST, *args)
    assert not again.cold, "only the forming bar is left to compute"
    again.complete()
    assert again.body == first.body
    clock.advance(60)  # the forming bar completes: the newest segment is rebuilt once
    assert bar_bytes.answer(Shape.REST, *args[:3], START + 120, *args[4:]).cold
    for res in (Resolution.M5, Resolution.M15, Resolution.M60, Resolution.D1):
        bar_bytes.answer(Shape.UDF, spec, res, 0, START + 60, 0, None).complete()
    assert 0 < bar_bytes.cache.used <= 300_000


def test_segment_cache_evicts_least_recently_used_first() -> None:
    def segment() -> Segment:
        return Segment(np.arange(10, dtype=np.int64), Elements((b"1," * 500,), 10, None))

    size = segment().nbytes
    cache = SegmentCache(budget=int(size * 2.5))
    keys = [("AAPL", "1", "rest", cell) for cell in range(4)]
    cache.put(keys[0], segment())
    cache.put(keys[1], segment())
    cache.get_many([keys[0]])  # used: keys[1] is now the least recently used
    cache.put(keys[2], segment())
    assert [s is not None for s in cache.get_many(keys[:3])] == [True, False, True]
    assert cache.used == 2 * size <= cache.budget
    cache.put(
        keys[3], Segment(np.arange(10, dtype=np.int64), Elements((b"1" * size * 3,), 1, None))
    )
    assert cache.get_many([keys[3]]) == [None], "larger than the whole budget: not kept"


def test_zero_budget_serves_uncached() -> None:
    clock = ManualClock(START)
    source = market(clock)
    bar_bytes = BarBytes(source, budget=0)
    spec = source.catalog.lookup("AAPL")
    assert spec is not None
    args = (spec, Resolution.M1, 0, START, 100, None)
    answer = bar_bytes.answer(Shape.UDF, *args)
    answer.complete()
    assert answer.body == uncached_body(Shape.UDF, source.history(*args))
    assert len(bar_bytes.cache) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bars_cache_bytes", -1, "TRADING_BARS_CACHE_BYTES"),
        ("bars_cache_bytes", 2**41, "TRADING_BARS_CACHE_BYTES"),
        ("bars_threads", -1, "TRADING_BARS_THREADS"),
        ("bars_threads", 65, "TRADING_BARS_THREADS"),
    ],
)
def test_bad_cache_settings_are_refused(field: str, value: int, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings().replace(**{field: value})


async def _bodies(client: TestClient[Any, Any], start_s: int) -> list[bytes]:
    out = []
    for resolution in ("1", "5", "60", "1D", "1W"):
        udf = {"symbol": "AAPL", "resolution": resolution, "from": 0, "to": start_s + 30}
        rest = {
            "symbol": "IBM",
            "resolution": resolution,
            "from_time": (start_s - 3 * 86_400) * 1000,
            "to_time": (start_s + 1) * 1000,
            "count_back": 300,
        }
        for path, params in (("/api/v1/udf/history", udf), ("/api/v1/datafeed/bars", rest)):
            response = await client.get(path, params=params)
            assert response.status == 200
            out.append(await response.read())
    return out


@pytest.mark.parametrize("threads", [0, 2])
async def test_the_routes_answer_the_same_bytes_with_and_without_the_cache(
    aiohttp_client: Any, tmp_path: Any, threads: int
) -> None:
    """Real app, real sockets: the cache (worker threads or not) changes no byte, also once
    the forming bar has moved on."""
    clock = ManualClock(START)
    base = Settings(clock=clock, data_dir=tmp_path / "a", intraday_depth_days=DEPTH)
    cached = await aiohttp_client(create_app(base.replace(bars_threads=threads)))
    plain = await aiohttp_client(
        create_app(base.replace(bars_cache_bytes=0, data_dir=tmp_path / "b"))
    )
    for advance in (0, 0, 45, 3_600):
        clock.advance(advance)
        now = int(clock.now())
        assert await _bodies(cached, now) == await _bodies(plain, now)
