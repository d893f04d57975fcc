"""A synthetic market whose last prices can be set by hand (tests, demos, broker examples).

Symbols without a script follow the synthetic series. A symbol's script is a list of steps,
each a price from a second on: a *pin* (:meth:`ScriptedMarket.set_price`) is one step from
the beginning of time, so every second, past ones included, trades at it (a replay sees the
same price); a *path* (:meth:`ScriptedMarket.set_path`) starts at its first step's second
(before it the synthetic series still holds) and each step holds until the next. Bars stay
synthetic: only quotes and the broker's fills follow the script (docs/scenarios.md §3).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence

from trading.market.config import MarketConfig
from trading.market.resolution import ny_day_start, ny_ordinal
from trading.market.series import SyntheticMarket, half_spread, make_quote
from trading.market.source import Quote, Touch, TouchRange, touch_range_of_seconds
from trading.market.symbols import SymbolCatalog, SymbolSpec

MAX_SCRIPTED_PRICE = 1e9
"""Highest price a script may set: its ticks (price × pricescale) stay far inside the integers
every price computation uses, and no symbol of the catalogue trades near it."""

BEGINNING = -(2**62)
"""The second a pin starts at: before every second the market can be asked about."""


class ScriptError(ValueError):
    """A script the market cannot follow (an unknown symbol is a ``KeyError`` instead)."""


class ScriptedMarket(SyntheticMarket):
    def __init__(
        self,
        config: MarketConfig,
        prices: Mapping[str, float] | None = None,
        catalog: SymbolCatalog | None = None,
    ) -> None:
        super().__init__(config, catalog)
        self._starts: dict[str, list[int]] = {}
        self._ticks: dict[str, list[int]] = {}
        for name, price in (prices or {}).items():
            self.set_price(name, price)

    def _spec(self, symbol: str) -> SymbolSpec:
        spec = self.catalog.lookup(symbol)
        if spec is None:
            raise KeyError(symbol)
        return spec

    def set_price(self, symbol: str, price: float) -> None:
        """Pin ``symbol`` at ``price`` for every second (replacing any script)."""
        self.set_path(symbol, [(BEGINNING, price)])

    def set_path(self, symbol: str, steps: Sequence[tuple[int, float]]) -> None:
        """Script ``symbol``: each ``(second, price)`` holds from its second until the next
        step's; seconds strictly increasing. Checked whole before anything changes."""
        spec = self._spec(symbol)
        if not steps:
            raise ScriptError("a path needs at least one step")
        starts = [second for second, _ in steps]
        if any(b <= a for a, b in itertools.pairwise(starts)):
            raise ScriptError("the steps' seconds must be strictly increasing")
        ticks = [self.ticks_of(spec, price) for _, price in steps]
        self._starts[spec.name], self._ticks[spec.name] = starts, ticks

    @staticmethod
    def ticks_of(spec: SymbolSpec, price: float) -> int:
        """``price`` in whole ticks of ``spec``, or :class:`ScriptError` when it is not a
        price the symbol can trade at (below one tick, above :data:`MAX_SCRIPTED_PRICE`)."""
        if not (math.isfinite(price) and 0 < price <= MAX_SCRIPTED_PRICE):
            raise ScriptError(f"a price must be above 0 and at most {MAX_SCRIPTED_PRICE:g}")
        ticks = round(price * spec.pricescale)
        if ticks < 1:
            raise ScriptError(f"a price must be at least one tick ({1 / spec.pricescale:g})")
        return ticks

    def clear(self, symbol: str) -> None:
        """Back to the synthetic series for every second."""
        name = self._spec(symbol).name
        self._starts.pop(name, None)
        self._ticks.pop(name, None)

    def script(self, symbol: str) -> list[tuple[int, int]]:
        """``symbol``'s steps as ``(second, ticks)`` (:data:`BEGINNING` for a pin); empty
        when it follows the synthetic series."""
        name = self._spec(symbol).name
        return list(zip(self._starts.get(name, []), self._ticks.get(name, []), strict=True))

    def _scripted_lp(self, name: str, second: int) -> int | None:
        starts = self._starts.get(name)
        if starts is None:
            return None
        i = bisect.bisect_right(starts, second) - 1
        return self._ticks[name][i] if i >= 0 else None

    def touch(self, symbol: SymbolSpec, second: int) -> Touch:
        lp = self._scripted_lp(symbol.name, second)
        if lp is None:
            return super().touch(symbol, second)
        half = half_spread(lp, self._spread_bps)
        return Touch(time=second, lp=lp, bid=lp - half, ask=lp + half)

    def touch_range(self, symbol: SymbolSpec, first: int, last: int) -> TouchRange:
        """The synthetic series' range for a symbol without a script, else second by
        second (a scripted second is not a split of the synthetic minute)."""
        if symbol.name not in self._starts:
            return super().touch_range(symbol, first, last)
        return touch_range_of_seconds(self.touch, symbol, first, last)

    def quote_at(self, symbol: SymbolSpec, now_s: int) -> Quote:
        if self._scripted_lp(symbol.name, now_s) is None:
            return super().quote_at(symbol, now_s)
        touch = self.touch(symbol, now_s)
        day_open, high, low, _, volume = self._partial(
            symbol.name, ny_day_start(ny_ordinal(now_s)), now_s
        )
        return make_quote(symbol, touch, day_open, high, low, volume, day_open)
