"""A synthetic market whose last prices can be set by hand (tests, demos, broker examples).

Symbols without a scripted price follow the synthetic series; a scripted symbol trades at its
set price for every second (past seconds included, so a replay sees the same price) until it
is set again. Bars stay synthetic: only quotes and the broker's fills follow the script.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from trading.market.config import MarketConfig
from trading.market.resolution import ny_day_start, ny_ordinal
from trading.market.series import SyntheticMarket, half_spread, make_quote
from trading.market.source import Quote, Touch
from trading.market.symbols import SymbolCatalog, SymbolSpec


class ScriptedMarket(SyntheticMarket):
    def __init__(
        self,
        config: MarketConfig,
        prices: Mapping[str, float] | None = None,
        catalog: SymbolCatalog | None = None,
    ) -> None:
        super().__init__(config, catalog)
        self._scripted: dict[str, int] = {}
        for name, price in (prices or {}).items():
            self.set_price(name, price)

    def set_price(self, symbol: str, price: float) -> None:
        spec = self.catalog.lookup(symbol)
        if spec is None:
            raise KeyError(symbol)
        self._scripted[spec.name] = round(price * spec.pricescale)

    def touch(self, symbol: SymbolSpec, second: int) -> Touch:
        lp = self._scripted.get(symbol.name)
        if lp is None:
            return super().touch(symbol, second)
        half = half_spread(lp, self._spread_bps)
        return Touch(time=second, lp=lp, bid=lp - half, ask=lp + half)

    def quote(self, symbol: SymbolSpec) -> Quote:
        if symbol.name not in self._scripted:
            return super().quote(symbol)
        now_s = math.floor(self.now())
        touch = self.touch(symbol, now_s)
        day_open, high, low, _, volume = self._partial(
            symbol.name, ny_day_start(ny_ordinal(now_s)), now_s
        )
        return make_quote(symbol, touch, day_open, high, low, volume, day_open)
