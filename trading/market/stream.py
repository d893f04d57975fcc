"""Real-time continuation of the series for what someone watches (market.md §4, §5).

One ticker task runs while at least one bars or quotes topic is watched; each tick it asks
the source for the forming bar of every watched (symbol, resolution) and the quote of every
watched symbol, and emits only what changed. A crossed boundary emits the final form of the
completed bar before the new one. Topics that name the same data (``D``/``1D``,
``aapl``/``AAPL``) share one computation. Nothing here knows about sockets: updates leave
through the ``emit_*`` callbacks the application wires to the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trading.market.limits import MAX_QUOTE_SYMBOLS
from trading.market.resolution import Resolution, parse_resolution
from trading.market.source import Bars, MarketSource, Quote
from trading.market.symbols import SymbolSpec

log = logging.getLogger(__name__)

_FAR = 2**62

BarKey = tuple[str, Resolution]
EmitBar = Callable[[str, Bars], None]
"""(topic, a one-bar Bars) — the forming or final form of one bar."""
EmitQuote = Callable[[str, str, Quote | None], None]
"""(topic, the symbol string as requested, its quote or None when unknown)."""


@dataclass
class _BarFeed:
    spec: SymbolSpec
    resolution: Resolution
    topics: set[str] = field(default_factory=set)
    last: tuple[int, ...] | None = None


@dataclass
class _QuoteWatch:
    requested: str
    fast: bool
    last_sent: float = -math.inf


@dataclass
class _QuoteFeed:
    spec: SymbolSpec
    watchers: dict[str, list[_QuoteWatch]] = field(default_factory=dict)
    last: Quote | None = None


def _row(bars: Bars, i: int) -> tuple[int, ...]:
    return (
        int(bars.time[i]),
        int(bars.open[i]),
        int(bars.high[i]),
        int(bars.low[i]),
        int(bars.close[i]),
        int(bars.volume[i]),
    )


def _one(bars: Bars, i: int) -> Bars:
    s = slice(i, i + 1 if i != -1 else None)
    return Bars(
        bars.time[s], bars.open[s], bars.high[s], bars.low[s], bars.close[s], bars.volume[s],
        bars.pricescale,
    )  # fmt: skip


def distinct_quote_symbols(symbols: Sequence[str], fast_symbols: Sequence[str]) -> list[str]:
    """Requested strings once each: ``symbols`` order, then new ones from ``fast_symbols``."""
    return list(dict.fromkeys([*symbols, *fast_symbols]))


class MarketStream:
    def __init__(
        self,
        source: MarketSource,
        *,
        tick_interval_s: float,
        quotes_slow_interval_s: float,
        emit_bar: EmitBar,
        emit_quote: EmitQuote,
        throttle_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``throttle_clock`` measures the slow quotes' interval: wall time by default; the
        market's own clock when that is a manual one (docs/scenarios.md §4), so a slow quote
        is pushed when the scenario moved time on, however fast the test runs."""
        self._source = source
        self._throttle_clock = throttle_clock
        self._interval = tick_interval_s
        self._slow = quotes_slow_interval_s
        self._emit_bar = emit_bar
        self._emit_quote = emit_quote
        self._bars: dict[BarKey, _BarFeed] = {}
        self._bar_topics: dict[str, BarKey] = {}
        self._quotes: dict[str, _QuoteFeed] = {}
        self._quote_topics: dict[str, list[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.last_tick = time.monotonic()
        """When the ticker last ran (readiness: a watched stream that stopped ticking)."""

    # -- bars ---------------------------------------------------------------------------------

    def bars_problem(self, symbol: str, resolution: str) -> str | None:
        spec = self._source.catalog.lookup(symbol)
        if spec is None:
            return f"Symbol not found: {symbol}"
        res = parse_resolution(resolution)
        if res is None or res.value not in spec.resolutions:
            # a daily import has no intraday bars to stream (docs/history.md §5)
            return f"Unsupported resolution: {resolution}"
        return None

    def current_bar(self, symbol: str, resolution: str) -> Bars:
        """The forming bar (a one-bar Bars); the caller has checked ``bars_problem``."""
        spec, res = self._bar_key(symbol, resolution)
        return _one(self._source.history(spec, res, _FAR, _FAR, count_back=1).bars, -1)

    def watch_bars(self, topic: str, symbol: str, resolution: str) -> None:
        spec, res = self._bar_key(symbol, resolution)
        feed = self._bars.get((spec.name, res))
        if feed is None:
            feed = self._bars[(spec.name, res)] = _BarFeed(spec, res)
            feed.last = _row(self.current_bar(symbol, resolution), 0)
        feed.topics.add(topic)
        self._bar_topics[topic] = (spec.name, res)
        self._ensure_running()

    def _bar_key(self, symbol: str, resolution: str) -> tuple[SymbolSpec, Resolution]:
        spec = self._source.catalog.lookup(symbol)
        res = parse_resolution(resolution)
        if spec is None or res is None:
            raise ValueError(self.bars_problem(symbol, resolution))
        return spec, res

    # -- quotes -------------------------------------------------------------------------------

    @staticmethod
    def quotes_problem(symbols: Sequence[str], fast_symbols: Sequence[str]) -> str | None:
        if len(distinct_quote_symbols(symbols, fast_symbols)) > MAX_QUOTE_SYMBOLS:
            return f"Too many symbols (max {MAX_QUOTE_SYMBOLS})"
        return None

    def quote_snapshot(
        self, symbols: Sequence[str], fast_symbols: Sequence[str]
    ) -> list[tuple[str, Quote | None]]:
        out: list[tuple[str, Quote | None]] = []
        for text in distinct_quote_symbols(symbols, fast_symbols):
            spec = self._source.catalog.lookup(text)
            out.append((text, None if spec is None else self._source.quote(spec)))
        return out

    def watch_quotes(self, topic: str, symbols: Sequence[str], fast_symbols: Sequence[str]) -> None:
        fast = set(fast_symbols)
        names: list[str] = []
        now = self._throttle_clock()
        for text in distinct_quote_symbols(symbols, fast_symbols):
            spec = self._source.catalog.lookup(text)
            if spec is None:
                continue  # unknown symbols got their error item in the snapshot; never again
            feed = self._quotes.get(spec.name)
            if feed is None:
                feed = self._quotes[spec.name] = _QuoteFeed(spec, last=self._source.quote(spec))
            feed.watchers.setdefault(topic, []).append(_QuoteWatch(text, text in fast, now))
            names.append(spec.name)
        self._quote_topics[topic] = names
        if names:  # a topic of unknown symbols only has nothing to produce
            self._ensure_running()

    # -- both ---------------------------------------------------------------------------------

    def unwatch(self, topic: str) -> None:
        key = self._bar_topics.pop(topic, None)
        if key is not None:
            feed = self._bars[key]
            feed.topics.discard(topic)
            if not feed.topics:
                del self._bars[key]
        for name in self._quote_topics.pop(topic, []):
            quote_feed = self._quotes.get(name)
            if quote_feed is None:
                continue
            quote_feed.watchers.pop(topic, None)
            if not quote_feed.watchers:
                del self._quotes[name]
        if not self._bars and not self._quotes:
            self._stop()

    @property
    def active(self) -> bool:
        return self._task is not None

    def stall(self, limit_s: float) -> str | None:
        """Readiness: why the stream is not ticking while watched, or None."""
        if self._task is None:
            return None
        if self._task.done():
            return "the market stream's ticker task has ended"
        age = time.monotonic() - self.last_tick
        if age > limit_s:
            return f"the market stream has not ticked for {age:.1f} s"
        return None

    def watched(self) -> tuple[int, int]:
        """(bar feeds, quote feeds) being computed: the CPU the stream costs."""
        return len(self._bars), len(self._quotes)

    def tick(self) -> None:
        """Emit every watched bar and quote that changed since the previous tick."""
        self.ticks += 1
        self.last_tick = time.monotonic()
        for feed in list(self._bars.values()):
            self._tick_bar(feed)
        now = self._throttle_clock()
        for quote_feed in list(self._quotes.values()):
            self._tick_quote(quote_feed, now)

    def _tick_bar(self, feed: _BarFeed) -> None:
        recent = self._source.history(feed.spec, feed.resolution, _FAR, _FAR, count_back=2).bars
        current = _row(recent, -1)
        if current == feed.last:
            return
        previous = feed.last
        feed.last = current
        if previous is not None and previous[0] != current[0]:
            label = previous[0]
            if len(recent) == 2 and int(recent.time[0]) == label:
                final = _one(recent, 0)
            else:  # several boundaries crossed at once (a stalled loop): fetch it
                final = self._source.history(feed.spec, feed.resolution, label, label + 1).bars
            if len(final):
                self._emit_bars(feed, final)
        self._emit_bars(feed, _one(recent, -1))

    def _emit_bars(self, feed: _BarFeed, bar: Bars) -> None:
        for topic in feed.topics:
            self._emit_bar(topic, bar)

    def _tick_quote(self, feed: _QuoteFeed, now: float) -> None:
        quote = self._source.quote(feed.spec)
        if quote == feed.last:
            return
        feed.last = quote
        for topic, watches in feed.watchers.items():
            for watch in watches:
                if watch.fast or now - watch.last_sent >= self._slow:
                    watch.last_sent = now
                    self._emit_quote(topic, watch.requested, quote)

    # -- the ticker task ----------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._task is None:
            self.last_tick = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="market-stream")

    def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            # wake up on whole multiples of the interval (whole seconds by default)
            await asyncio.sleep(self._interval - time.time() % self._interval)
            try:
                self.tick()
            except Exception:
                log.exception("market stream tick failed")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
