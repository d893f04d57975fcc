"""Imported history as a :class:`~trading.market.source.MarketSource` (docs/history.md §5).

The bars are the tables an import wrote (:mod:`trading.market.bar_store`), mapped read-only at
start: a history request is a binary search and slices of them, at every resolution, and the
answer is exactly what was imported (1-minute or daily) or its aggregates.

Imported history does not continue in real time. A bar exists once its interval has started
by the source's clock (market.md §2, so a clock set inside the history sees no later bar);
with the wall clock every imported bar is in the past, the last one is the latest price, and
quotes, the broker's prices and the streams stay there: a ``bars`` topic sends the last bar
and then nothing, a ``quotes`` topic its one quote.

**Prices of one second.** The broker's (:meth:`ImportedMarket.touch`) follow a deterministic
path inside each base bar, through open, high, low and close (:mod:`trading.market.bar_seconds`),
so a resting order fills at the second and price the bar's range reaches it. Quotes keep the
close of the last base bar *completed* by that second (a 1-minute bar at its label + 60 s, a
daily one when its local day is over), or the first bar's open before that: a quote, like the
chart, shows no bar that has not ended (docs/replay.md §4).
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

from trading.clock import Clock
from trading.market.aggregate import CLOSE, HIGH, LOW, OPEN, TIME, VOLUME, Table
from trading.market.bar_seconds import BarSeconds
from trading.market.bar_store import StoredSymbol, load_all
from trading.market.resolution import DAY_S, EPOCH_ORDINAL, Resolution
from trading.market.series import half_spread, make_quote
from trading.market.sessions import (
    local_midnight,
    local_ordinals,
    parse_session,
    parse_timezone,
)
from trading.market.source import (
    Bars,
    History,
    IntArray,
    Quote,
    Touch,
    Window,
    select_window,
    windowed_history,
)
from trading.market.symbols import SymbolCatalog, SymbolSpec

FINAL = 2**62
"""``final_before`` of every window: the snapshot a server loaded never changes."""

_HALVES_KEPT = 65_536
"""Most half spreads remembered (a few hundred kB; far more prices than a day's range)."""


class _Symbol:
    def __init__(self, stored: StoredSymbol) -> None:
        meta = stored.meta
        self.tables = {r: np.asarray(t) for r, t in stored.tables.items()}
        self.base = Resolution(meta.base)
        self.zone = parse_timezone(meta.timezone)
        base = self.tables[self.base]
        self.days = np.asarray(stored.days) if stored.days is not None else base[TIME]
        self.seconds = BarSeconds(base, self.base, parse_session(meta.session), self.zone)
        resolutions = tuple(r.value for r in Resolution if r in self.tables)
        self.spec = SymbolSpec(
            name=meta.name,
            description=meta.description,
            exchange=meta.exchange,
            base_price=int(base[CLOSE, -1]) / meta.pricescale if base.shape[1] else 0.0,
            base_volume=0,
            type=meta.type,
            session=meta.session,
            timezone=meta.timezone,
            pricescale=meta.pricescale,
            resolutions=resolutions,
            data_status="endofday",
        )

    def ends(self, times: IntArray) -> IntArray:
        """When each base bar is over (label + 60 s, or its local day's end)."""
        if self.base is Resolution.M1:
            return times + 60
        return np.asarray(
            [local_midnight(int(t) // DAY_S + EPOCH_ORDINAL + 1, self.zone) for t in times],
            dtype=np.int64,
        )


class ImportedMarket:
    """The imported symbols of a data dir (loaded once, at construction)."""

    def __init__(self, data_dir: Path, clock: Clock, spread_bps: float) -> None:
        self._clock = clock
        self._spread_bps = Decimal(str(spread_bps))
        self._halves: dict[int, int] = {}
        self._symbols = {s.meta.name: _Symbol(s) for s in load_all(data_dir)}
        self._catalog = SymbolCatalog(s.spec for s in self._symbols.values())

    def __len__(self) -> int:
        return len(self._symbols)

    @property
    def catalog(self) -> SymbolCatalog:
        return self._catalog

    def holds(self, symbol: SymbolSpec) -> bool:
        return symbol.name in self._symbols

    def now(self) -> float:
        return self._clock.now()

    # -- bars ---------------------------------------------------------------------------------

    def _available(self, sym: _Symbol, resolution: Resolution, now_s: int) -> IntArray:
        """Labels of the bars whose interval has started by ``now_s``."""
        table = sym.tables.get(resolution)
        if table is None:
            return np.zeros(0, dtype=np.int64)
        labels: IntArray = table[TIME]
        if resolution.is_intraday:
            cutoff = now_s
        else:  # 1D/1W/1M labels are dates: a date has started once its local midnight has
            today = int(local_ordinals(np.asarray([now_s], dtype=np.int64), sym.zone)[0])
            cutoff = (today - EPOCH_ORDINAL) * DAY_S
        return labels[: int(np.searchsorted(labels, cutoff, side="right"))]

    def window(
        self,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int = 0,
        limit: int | None = None,
    ) -> Window:
        now_s = math.floor(self.now())
        labels = self._available(self._symbols[symbol.name], resolution, now_s)
        return select_window(labels, start, end, count_back, limit, FINAL, now_s)

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
        """As of ``now_s`` for a replay: only the bars *over* by then. Unlike :meth:`window`
        (a bar exists once started), a bar still forming at ``now_s`` is left out: its stored
        high, low and close are of later seconds (docs/replay.md §4)."""
        sym = self._symbols[symbol.name]
        labels = self._available(sym, resolution, now_s)
        if len(labels):
            over = self._over(sym, resolution, labels[-1:])[0] <= now_s
            labels = labels if over else labels[:-1]
        return select_window(labels, start, end, count_back, limit, FINAL, now_s)

    def _over(self, sym: _Symbol, resolution: Resolution, labels: IntArray) -> IntArray:
        """When each bar of ``labels`` (of ``resolution``) is over: its label plus its length,
        for 1D/1W/1M the local midnight that ends its last day."""
        if resolution.is_intraday:
            return labels + resolution.seconds
        ends = []
        for t in labels:
            first = int(t) // DAY_S + EPOCH_ORDINAL
            if resolution is Resolution.D1:
                after = first + 1
            elif resolution is Resolution.W1:
                after = first + 7
            else:
                day = date.fromordinal(first)
                after = date(day.year + day.month // 12, day.month % 12 + 1, 1).toordinal()
            ends.append(local_midnight(after, sym.zone))
        return np.asarray(ends, dtype=np.int64)

    def bars(self, symbol: SymbolSpec, resolution: Resolution, labels: IntArray, at: int) -> Bars:
        table = self._symbols[symbol.name].tables[resolution]
        i = int(np.searchsorted(table[TIME], labels[0]))
        rows = table[:, i : i + len(labels)]
        return Bars(
            rows[TIME], rows[OPEN], rows[HIGH], rows[LOW], rows[CLOSE], rows[VOLUME],
            symbol.pricescale,
        )  # fmt: skip

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

    def daily_bar_count(self, symbol: SymbolSpec) -> int:
        sym = self._symbols[symbol.name]
        return len(self._available(sym, Resolution.D1, math.floor(self.now())))

    # -- prices ---------------------------------------------------------------------------------

    def _completed(self, sym: _Symbol, second: int) -> int:
        """Index of the last base bar over by ``second`` (-1: none yet)."""
        table = sym.tables[sym.base]
        times = table[TIME]
        # bars are over in label order: search by label, then step back over the few (one
        # for 1-minute bars) that started but have not ended
        i = int(np.searchsorted(times, second, side="right")) - 1
        while i >= 0 and int(sym.ends(times[i : i + 1])[0]) > second:
            i -= 1
        return i

    def _half_spread(self, lp: int) -> int:
        """:func:`half_spread`, remembered per price: it is a Decimal computation, and the
        path of a second asks for it once per second per symbol (bounded: the prices of the
        imported ranges, cleared if they ever exceed the bound)."""
        half = self._halves.get(lp)
        if half is None:
            if len(self._halves) >= _HALVES_KEPT:
                self._halves.clear()
            half = self._halves[lp] = half_spread(lp, self._spread_bps)
        return half

    def _touch(self, second: int, lp: int) -> Touch:
        half = self._half_spread(lp)
        return Touch(time=second, lp=lp, bid=lp - half, ask=lp + half)

    def touch(self, symbol: SymbolSpec, second: int) -> Touch:
        """The broker's prices: the point of the bar's path at ``second`` (docs/history.md §6)."""
        return self._touch(second, self._symbols[symbol.name].seconds.price(second))

    def quote(self, symbol: SymbolSpec) -> Quote:
        """The last completed bar's close; open/high/low/volume of its trading day up to it,
        and the previous trading day's close (real history has gaps: not today's open)."""
        return self.quote_at(symbol, math.floor(self.now()))

    def quote_at(self, symbol: SymbolSpec, now_s: int) -> Quote:
        sym = self._symbols[symbol.name]
        table: Table = sym.tables[sym.base]
        # the close of the last base bar over by now_s, not the path of the bar forming:
        # a quote shows no price of a bar the chart does not show yet (docs/replay.md §4)
        i = self._completed(sym, now_s)
        if i < 0:
            o = int(table[OPEN, 0])
            return make_quote(symbol, self._touch(now_s, o), o, o, o, 0, o)
        touch = self._touch(now_s, int(table[CLOSE, i]))
        day = int(sym.days[i])
        first = int(np.searchsorted(sym.days, day, side="left"))
        rows = table[:, first : i + 1]
        prev_close = int(table[CLOSE, first - 1]) if first > 0 else int(rows[OPEN, 0])
        return make_quote(
            symbol,
            touch,
            int(rows[OPEN, 0]),
            int(rows[HIGH].max()),
            int(rows[LOW].min()),
            int(rows[VOLUME].sum()),
            prev_close,
        )
