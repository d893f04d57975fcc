"""The deterministic synthetic market (market.md §3-§6): the default :class:`MarketSource`.

Construction, top-down and O(1) per bar:

- **Days.** The close of New York day ``d`` is ``base · exp(L(d))`` where ``L`` is a bounded sum
  of smooth value-noise terms (scales of 1 to ~400 days) keyed by (seed, symbol); the open is the
  previous close (no gaps), high/low add hashed wicks, volume is hashed around the symbol's
  base volume. The bound on ``L`` keeps every price within [0.70, 1.40] × base.
- **Hours → minutes → seconds.** Each parent is split by a bridge (:mod:`trading.market.noise`)
  that keeps its open, high, low, close and volume exactly; seconds are single prices.
- **Every other resolution** is an aggregate: 5/15/30 of minutes, 60 = the hour split,
  1W/1M of days, and a forming bar of the seconds up to now.

Completed pieces are cached (LRU); correctness never depends on the caches.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, TypeVar

import numpy as np

from trading.market import noise
from trading.market.config import MarketConfig
from trading.market.noise import F64, I64
from trading.market.resolution import (
    DAY_S,
    Resolution,
    label_ordinal,
    next_period_start,
    ny_day_start,
    ny_ordinal,
    period_start,
)
from trading.market.source import (
    Bars,
    History,
    Quote,
    Touch,
    TouchRange,
    Window,
    select_window,
    windowed_history,
)
from trading.market.symbols import SymbolCatalog, SymbolSpec

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# (scale in days, amplitude of log-price); amplitudes sum to 0.29 so that with the centre and
# the widest daily wick (0.8 %) prices stay inside [0.70, 1.40] × base price.
_NOISE_TERMS = ((1, 0.010), (5, 0.025), (23, 0.050), (97, 0.090), (401, 0.115))
_CENTER = -0.0101
_DAY_WICK = 0.008
_BLOCK = 512  # days per cached block of daily bars

_LEVEL_DAY, _LEVEL_HOUR, _LEVEL_MINUTE, _LEVEL_DAILY = 1, 2, 3, 4
_LEVEL_NOISE = 10

# Aggregated OHLCV columns of one piece of the series.
Ohlcv = tuple[I64, I64, I64, I64, I64]
Agg = tuple[int, int, int, int, int]


def half_spread(lp: int, spread_bps: Decimal) -> int:
    """Half the bid/ask spread in ticks: ``lp·bps/20000`` rounded half up, at least 1 tick
    when the spread is on (market.md §5; AAPL at 260.00 with 5 bps gives 6.5 → 7)."""
    if spread_bps <= 0:
        return 0
    return max(1, int((Decimal(lp) * spread_bps / 20000).quantize(Decimal(1), ROUND_HALF_UP)))


def make_quote(
    symbol: SymbolSpec,
    touch: Touch,
    day_open: int,
    day_high: int,
    day_low: int,
    day_volume: int,
    prev_close: int,
) -> Quote:
    """A Quote from tick prices (market.md §5), rounded to 2 decimals."""
    scale = symbol.pricescale
    ch = (touch.lp - prev_close) / scale
    return Quote(
        symbol=symbol,
        lp=touch.lp / scale,
        bid=touch.bid / scale,
        ask=touch.ask / scale,
        spread=(touch.ask - touch.bid) / scale,
        open=day_open / scale,
        high=max(day_high, touch.lp) / scale,
        low=min(day_low, touch.lp) / scale,
        prev_close=prev_close / scale,
        volume=day_volume,
        ch=round(ch, 2),
        chp=round(ch / (prev_close / scale) * 100, 2),
    )


class _LRU(Generic[K, V]):
    """A small least-recently-used cache of computed (immutable) pieces of the series.

    Thread-safe: the API computes cold history in a worker thread while the event loop reads
    quotes. The lock guards the bookkeeping only, never ``compute``: two threads missing the
    same key both compute it (the same value, the pieces are pure) rather than wait.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is not _MISSING:
                self._data.move_to_end(key)
                return value  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self._size:
                self._data.popitem(last=False)
        return value

    def has(self, key: K) -> bool:
        with self._lock:
            return key in self._data

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self._size:
                self._data.popitem(last=False)


_MISSING = object()


def _aggregate(parts: list[Agg]) -> Agg:
    return (
        parts[0][0],
        max(p[1] for p in parts),
        min(p[2] for p in parts),
        parts[-1][3],
        sum(p[4] for p in parts),
    )


def _agg_cols(cols: Ohlcv, start: int, stop: int) -> Agg:
    o, h, lo, c, v = cols
    return (
        int(o[start]),
        int(h[start:stop].max()),
        int(lo[start:stop].min()),
        int(c[stop - 1]),
        int(v[start:stop].sum()),
    )


def _group(cols: Ohlcv, starts: I64) -> Ohlcv:
    """Aggregate consecutive runs of bars beginning at the indices ``starts``."""
    o, h, lo, c, v = cols
    ends = np.append(starts[1:], len(o)) - 1
    return (
        o[starts],
        np.maximum.reduceat(h, starts),
        np.minimum.reduceat(lo, starts),
        c[ends],
        np.add.reduceat(v, starts),
    )


class SyntheticMarket:
    """Random-access synthetic bars and quotes for every symbol of the catalog."""

    def __init__(self, config: MarketConfig, catalog: SymbolCatalog | None = None) -> None:
        self._catalog = catalog or SymbolCatalog()
        self._clock = config.clock
        self._seed = config.seed
        self._start_ordinal = config.history_start.toordinal()
        self._depth = dict(config.intraday_depth_days)
        self._spread_bps = Decimal(str(config.spread_bps))
        self._keys = {s.name: noise.symbol_key(self._seed, s.name) for s in self._catalog.symbols}
        self._daily_blocks: _LRU[tuple[str, int], Ohlcv] = _LRU(256)
        self._hours: _LRU[tuple[str, int], tuple[int, Ohlcv]] = _LRU(4096)
        self._minutes: _LRU[tuple[str, int], tuple[int, Ohlcv]] = _LRU(256)
        self._day_bars: _LRU[tuple[str, int, int], tuple[I64, Ohlcv]] = _LRU(4096)
        self._seconds: _LRU[tuple[str, int], tuple[I64, I64]] = _LRU(1024)
        self._label_memo: dict[Resolution, tuple[tuple[int, int], I64]] = {}

    # -- MarketSource -------------------------------------------------------------------------

    @property
    def catalog(self) -> SymbolCatalog:
        return self._catalog

    def now(self) -> float:
        return self._clock.now()

    def daily_bar_count(self, symbol: SymbolSpec) -> int:
        return ny_ordinal(self.now()) - self._start_ordinal + 1

    def history(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int = 0,
        limit: int | None = None,
    ) -> History:
        return windowed_history(self, symbol, resolution, start, end, count_back, limit)

    # -- WindowedSource -----------------------------------------------------------------------

    def window(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int = 0,
        limit: int | None = None,
    ) -> Window:
        return self.window_at(
            symbol, resolution, start, end, count_back, limit, math.floor(self.now())
        )

    def window_at(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int,
        limit: int | None,
        now_s: int,
    ) -> Window:
        labels = self._labels(resolution, now_s)
        # the last label is the forming bar: every bar before it is complete (and, being a
        # pure function of seed, symbol and time, final)
        final_before = int(labels[-1]) if len(labels) else now_s
        return select_window(labels, start, end, count_back, limit, final_before, now_s)

    def bars(self, symbol: SymbolSpec, resolution: Resolution, labels: I64, at: int) -> Bars:
        return self._bars(symbol, resolution, labels, at)

    def touch(self, symbol: SymbolSpec, second: int) -> Touch:
        if second % 60 == 0 and not self._seconds.has((symbol.name, second)):
            # a minute's first second is its bar's open (the seconds are split from the
            # bar): no need to generate the minute's seconds (what a report's samples ask)
            start, cols = self._minute_cols(symbol.name, ny_ordinal(second))
            lp = int(cols[0][(second - start) // 60])
        else:
            prices, _ = self._second_cols(symbol.name, second - second % 60)
            lp = int(prices[second % 60])
        half = half_spread(lp, self._spread_bps)
        return Touch(time=second, lp=lp, bid=lp - half, ask=lp + half)

    def touch_range(self, symbol: SymbolSpec, first: int, last: int) -> TouchRange:
        """The extremes of ``first..last`` from the minute bars where whole minutes are
        covered (a minute's high and low are exactly those of its seconds: the seconds are
        split from the minute bar) and from the seconds only at the ends. Bid and ask are
        the last price less and plus the half spread, both non-decreasing in the last price,
        so the extremes of the last price give theirs."""
        name = symbol.name
        low, high = None, None
        s = first
        while s <= last:
            minute = s - s % 60
            if s == minute and minute + 59 <= last:
                start, cols = self._minute_cols(name, ny_ordinal(minute))
                i = (minute - start) // 60
                j = min(((last + 1) - start) // 60, len(cols[1]))
                part_low, part_high = int(cols[2][i:j].min()), int(cols[1][i:j].max())
                s = start + 60 * j
            else:
                prices, _ = self._second_cols(name, minute)
                end = min(last, minute + 59)
                part = prices[s - minute : end - minute + 1]
                part_low, part_high = int(part.min()), int(part.max())
                s = end + 1
            low = part_low if low is None else min(low, part_low)
            high = part_high if high is None else max(high, part_high)
        if low is None or high is None:
            raise ValueError(f"an empty run of seconds: {first}..{last}")
        half_low = half_spread(low, self._spread_bps)
        half_high = half_spread(high, self._spread_bps)
        return TouchRange(low + half_low, high + half_high, low - half_low, high - half_high)

    def quote(self, symbol: SymbolSpec) -> Quote:
        return self.quote_at(symbol, math.floor(self.now()))

    def quote_at(self, symbol: SymbolSpec, now_s: int) -> Quote:
        touch = self.touch(symbol, now_s)
        day_open, day_high, day_low, _, day_volume = self._partial(
            symbol.name, ny_day_start(ny_ordinal(now_s)), now_s
        )
        # the market has no gaps: today's open is yesterday's close
        return make_quote(symbol, touch, day_open, day_high, day_low, day_volume, day_open)

    # -- labels -------------------------------------------------------------------------------

    def _labels(self, resolution: Resolution, now_s: int) -> I64:
        """Labels of every available bar, ascending; the last one is the forming bar.

        They change only when a new bar starts, so the last grid of each resolution is kept
        (read-only: windows hand out slices of it) and a history request is a searchsorted.
        """
        today = ny_ordinal(now_s)
        step = resolution.seconds
        key = (today, now_s - now_s % step if step else 0)
        memo = self._label_memo.get(resolution)
        if memo is not None and memo[0] == key:
            return memo[1]
        labels = self._label_grid(resolution, today, now_s)
        labels.flags.writeable = False
        self._label_memo[resolution] = (key, labels)
        return labels

    def _label_grid(self, resolution: Resolution, today: int, now_s: int) -> I64:
        if resolution.is_intraday:
            step = resolution.seconds
            first = ny_day_start(today - self._depth[resolution.minutes])
            return np.arange(first, now_s - now_s % step + 1, step, dtype=np.int64)
        first = period_start(resolution, self._start_ordinal)
        if resolution is Resolution.MN1:
            months = [first]
            while (nxt := next_period_start(resolution, months[-1])) <= today:
                months.append(nxt)
            ordinals = np.asarray(months, dtype=np.int64)
        else:
            step = 7 if resolution is Resolution.W1 else 1
            ordinals = np.arange(first, today + 1, step, dtype=np.int64)
        return (ordinals - label_ordinal(0)) * DAY_S

    # -- bars ---------------------------------------------------------------------------------

    def _bars(self, symbol: SymbolSpec, resolution: Resolution, labels: I64, now_s: int) -> Bars:
        name = symbol.name
        if resolution.is_intraday:
            times, cols = self._intraday(name, resolution.minutes, labels)
            step = resolution.seconds
            if times[-1] == now_s - now_s % step:
                cols = self._with_forming(cols, self._partial(name, int(times[-1]), now_s))
        else:
            times, cols = self._periodic(name, resolution, labels, now_s)
        return Bars(times, *cols, pricescale=symbol.pricescale)

    @staticmethod
    def _with_forming(cols: Ohlcv, forming: Agg) -> Ohlcv:
        out = tuple(col.copy() for col in cols)
        for col, value in zip(out, forming, strict=True):
            col[-1] = value
        return out  # type: ignore[return-value]

    def _intraday(self, name: str, minutes: int, labels: I64) -> tuple[I64, Ohlcv]:
        first_day = ny_ordinal(int(labels[0]))
        last_day = ny_ordinal(int(labels[-1]))
        self._prefetch(name, range(first_day, last_day + 1), minutes)
        pieces = [self._day_res(name, day, minutes) for day in range(first_day, last_day + 1)]
        times = np.concatenate([p[0] for p in pieces])
        lo = int(np.searchsorted(times, labels[0]))
        hi = int(np.searchsorted(times, labels[-1], side="right"))
        cols = tuple(np.concatenate([p[1][i] for p in pieces])[lo:hi] for i in range(5))
        return times[lo:hi], cols  # type: ignore[return-value]

    def _periodic(
        self, name: str, resolution: Resolution, labels: I64, now_s: int
    ) -> tuple[I64, Ohlcv]:
        """1D/1W/1M bars: days (the current one up to now) grouped into their periods."""
        today = ny_ordinal(now_s)
        first = label_ordinal(int(labels[0]))
        last = min(next_period_start(resolution, label_ordinal(int(labels[-1]))), today + 1)
        cols = self._daily(name, first, last)
        if last == today + 1:
            cols = self._with_forming(cols, self._partial(name, ny_day_start(today), now_s))
        if resolution is Resolution.D1:
            return labels.copy(), cols
        starts = np.asarray([label_ordinal(int(t)) - first for t in labels], dtype=np.int64)
        return labels.copy(), _group(cols, starts)

    def _partial(self, name: str, start: int, now_s: int) -> Agg:
        """Aggregate of the seconds in ``[start, now_s]``; ``start`` is minute-aligned."""
        parts: list[Agg] = []
        hour = now_s - now_s % 3600
        minute = now_s - now_s % 60
        day = ny_ordinal(now_s)
        if start < hour:
            day_start, hours = self._hour_cols(name, day)
            a, b = (start - day_start) // 3600, (hour - day_start) // 3600
            parts.append(_agg_cols(hours, a, b))
        if max(start, hour) < minute:
            day_start, mins = self._minute_cols(name, day)
            a, b = (max(start, hour) - day_start) // 60, (minute - day_start) // 60
            parts.append(_agg_cols(mins, a, b))
        prices, volumes = self._second_cols(name, minute)
        k = now_s - minute + 1
        parts.append(
            (
                int(prices[0]),
                int(prices[:k].max()),
                int(prices[:k].min()),
                int(prices[k - 1]),
                int(volumes[:k].sum()),
            )
        )
        return _aggregate(parts)

    # -- the pieces of the series -------------------------------------------------------------

    def _daily(self, name: str, first: int, last: int) -> Ohlcv:
        """Daily bars for ordinals ``[first, last)``."""
        blocks = range(first // _BLOCK, (last - 1) // _BLOCK + 1)
        parts = [self._daily_block(name, b) for b in blocks]
        offset = first - blocks[0] * _BLOCK
        return tuple(  # type: ignore[return-value]
            np.concatenate([p[i] for p in parts])[offset : offset + last - first] for i in range(5)
        )

    def _log_level(self, key: int, ordinals: I64) -> F64:
        total = np.full(ordinals.shape, _CENTER)
        for term, (scale, amplitude) in enumerate(_NOISE_TERMS):
            cell = ordinals // scale
            frac = (ordinals - cell * scale) / scale
            smooth = frac * frac * (3.0 - 2.0 * frac)
            left, right = (
                noise.uniforms(noise.keys_for(key, _LEVEL_NOISE + term, c), 1, 0)[:, 0] * 2 - 1
                for c in (cell, cell + 1)
            )
            total += amplitude * (left + (right - left) * smooth)
        return total

    def _daily_block(self, name: str, block: int) -> Ohlcv:
        return self._daily_blocks.get((name, block), lambda: self._compute_daily_block(name, block))

    def _compute_daily_block(self, name: str, block: int) -> Ohlcv:
        spec = self._catalog.lookup(name)
        assert spec is not None
        key = self._keys[name]
        ordinals = np.arange(block * _BLOCK - 1, (block + 1) * _BLOCK, dtype=np.int64)
        base_ticks = spec.base_price * spec.pricescale
        closes = np.rint(base_ticks * np.exp(self._log_level(key, ordinals))).astype(np.int64)
        o, c = closes[:-1], closes[1:]
        u = noise.uniforms(noise.keys_for(key, _LEVEL_DAILY, ordinals[1:]), 3, 0)
        top, bottom = np.maximum(o, c), np.minimum(o, c)
        h = top + np.maximum(1, np.rint(top * _DAY_WICK * u[:, 0])).astype(np.int64)
        lo = bottom - np.maximum(1, np.rint(bottom * _DAY_WICK * u[:, 1])).astype(np.int64)
        move = np.abs(c - o) / o
        v = np.rint(spec.base_volume * (0.55 + 0.9 * u[:, 2]) * (1.0 + 25.0 * move))
        return o, h, lo, c, v.astype(np.int64)

    def _prefetch(self, name: str, days: range, minutes: int) -> None:
        """Split the uncached days of a range in one vectorised call per level and hour count.

        Per day it takes two small splits (day → hours, hours → minutes) whose cost is
        numpy's per-call overhead, not the data: a cold year of 60-minute bars was 365 calls.
        The splits are row-wise (a child row depends on its parent row and key only), so a
        batch gives the very bars the per-day path gives; the per-day pieces are then cached
        as if computed one by one.
        """
        missing = [d for d in days if not self._day_bars.has((name, d, minutes))]
        if minutes != 60:
            missing = [d for d in missing if not self._minutes.has((name, d))]
        if len(missing) < 2:
            return
        key = self._keys[name]
        self._prefetch_hours(name, key, [d for d in missing if not self._hours.has((name, d))])
        if minutes == 60:
            return
        hours = [self._hour_cols(name, d) for d in missing]
        o, h, lo, c, v = (np.concatenate([cols[i] for _, cols in hours]) for i in range(5))
        hour_starts = np.concatenate(
            [start + 3600 * np.arange(len(cols[0]), dtype=np.int64) for start, cols in hours]
        )
        keys = noise.keys_for(key, _LEVEL_HOUR, hour_starts)
        split = (*noise.split_path(o, h, lo, c, 60, keys), noise.split_volume(v, 60, 60, keys))
        row = 0
        for day, (start, cols) in zip(missing, hours, strict=True):
            rows = slice(row, row + len(cols[0]))
            row = rows.stop
            mo, mh, ml, mc, mv = (part[rows].ravel() for part in split)
            self._minutes.put((name, day), (start, (mo, mh, ml, mc, mv)))

    def _prefetch_hours(self, name: str, key: int, days: list[int]) -> None:
        if not days:
            return
        daily = self._daily(name, days[0], days[-1] + 1)
        by_length: dict[int, list[int]] = {}
        for day in days:  # 23, 24 or 25 hours: one batch per length
            n = (ny_day_start(day + 1) - ny_day_start(day)) // 3600
            by_length.setdefault(n, []).append(day)
        for n, group in by_length.items():
            ordinals = np.asarray(group, dtype=np.int64)
            o, h, lo, c, v = (col[ordinals - days[0]] for col in daily)
            keys = noise.keys_for(key, _LEVEL_DAY, ordinals)
            split = (*noise.split_path(o, h, lo, c, n, keys), noise.split_volume(v, n, 3600, keys))
            for r, day in enumerate(group):
                co, ch, cl, cc, cv = (part[r].copy() for part in split)
                self._hours.put((name, day), (ny_day_start(day), (co, ch, cl, cc, cv)))

    def _hour_cols(self, name: str, day: int) -> tuple[int, Ohlcv]:
        """(day start, hour bars of that New York day: 23, 24 or 25 of them)."""

        def compute() -> tuple[int, Ohlcv]:
            start = ny_day_start(day)
            n = (ny_day_start(day + 1) - start) // 3600
            o, h, lo, c, v = self._daily(name, day, day + 1)
            keys = noise.keys_for(self._keys[name], _LEVEL_DAY, day)
            co, ch, cl, cc = noise.split_path(o, h, lo, c, n, keys)
            cv = noise.split_volume(v, n, 3600, keys)
            return start, (co[0], ch[0], cl[0], cc[0], cv[0])

        return self._hours.get((name, day), compute)

    def _minute_cols(self, name: str, day: int) -> tuple[int, Ohlcv]:
        """(day start, minute bars of that New York day)."""

        def compute() -> tuple[int, Ohlcv]:
            start, (o, h, lo, c, v) = self._hour_cols(name, day)
            hour_starts = start + 3600 * np.arange(len(o), dtype=np.int64)
            keys = noise.keys_for(self._keys[name], _LEVEL_HOUR, hour_starts)
            co, ch, cl, cc = noise.split_path(o, h, lo, c, 60, keys)
            cv = noise.split_volume(v, 60, 60, keys)
            return start, (co.ravel(), ch.ravel(), cl.ravel(), cc.ravel(), cv.ravel())

        return self._minutes.get((name, day), compute)

    def _second_cols(self, name: str, minute: int) -> tuple[I64, I64]:
        """(prices, volumes) of the 60 seconds of the minute starting at ``minute``."""

        def compute() -> tuple[I64, I64]:
            start, (o, h, lo, c, v) = self._minute_cols(name, ny_ordinal(minute))
            i = (minute - start) // 60
            keys = noise.keys_for(self._keys[name], _LEVEL_MINUTE, minute)
            prices = noise.split_points(
                o[i : i + 1], h[i : i + 1], lo[i : i + 1], c[i : i + 1], 60, keys
            )
            volumes = noise.split_volume(v[i : i + 1], 60, 1, keys)
            return prices[0], volumes[0]

        return self._seconds.get((name, minute), compute)

    def _day_res(self, name: str, day: int, minutes: int) -> tuple[I64, Ohlcv]:
        """(labels, bars) of one New York day at an intraday resolution (complete bars)."""

        def compute() -> tuple[I64, Ohlcv]:
            if minutes == 60:
                start, cols = self._hour_cols(name, day)
            else:
                start, cols = self._minute_cols(name, day)
                if minutes > 1:
                    starts = np.arange(0, len(cols[0]), minutes, dtype=np.int64)
                    cols = _group(cols, starts)
            times = start + minutes * 60 * np.arange(len(cols[0]), dtype=np.int64)
            return times, cols

        return self._day_bars.get((name, day, minutes), compute)
