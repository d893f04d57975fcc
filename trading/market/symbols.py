"""Instrument catalogue and symbol lookup (market.md §1)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trading.market.resolution import SUPPORTED_RESOLUTIONS


@dataclass(frozen=True)
class SymbolSpec:
    name: str
    description: str
    exchange: str
    base_price: float
    base_volume: int
    type: str = "stock"
    session: str = "24x7"
    timezone: str = "America/New_York"
    pricescale: int = 100
    minmov: int = 1
    resolutions: tuple[str, ...] = SUPPORTED_RESOLUTIONS
    """The resolutions it has bars in (a daily import has no intraday ones)."""
    data_status: str = "streaming"
    """TradingView's ``data_status``: ``endofday`` for an imported history, which does not
    continue in real time."""

    @property
    def ticker(self) -> str:
        return self.name


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("AAPL", "Apple Inc.", "NASDAQ", 250.0, 48_000_000),
    SymbolSpec("GOOGL", "Alphabet Inc. Class A", "NASDAQ", 180.0, 26_000_000),
    SymbolSpec("MSFT", "Microsoft Corporation", "NASDAQ", 420.0, 21_000_000),
    SymbolSpec("AMZN", "Amazon.com, Inc.", "NASDAQ", 200.0, 38_000_000),
    SymbolSpec("IBM", "International Business Machines Corporation", "NYSE", 230.0, 4_500_000),
    SymbolSpec("JPM", "JPMorgan Chase & Co.", "NYSE", 240.0, 9_000_000),
)


class SymbolCatalog:
    """Resolves what clients type (``AAPL``, ``aapl``, ``NASDAQ:AAPL``) to a symbol."""

    def __init__(self, symbols: Iterable[SymbolSpec] = DEFAULT_SYMBOLS) -> None:
        self._symbols = tuple(symbols)
        self._by_name = {s.name.upper(): s for s in self._symbols}

    @property
    def symbols(self) -> Sequence[SymbolSpec]:
        return self._symbols

    def __len__(self) -> int:
        return len(self._symbols)

    def lookup(self, text: str) -> SymbolSpec | None:
        key = text.upper()
        found = self._by_name.get(key)
        if found is not None:
            return found
        exchange, sep, name = key.partition(":")
        if not sep:
            return None
        found = self._by_name.get(name)
        if found is not None and found.exchange.upper() == exchange:
            return found
        return None

    def search(
        self, user_input: str, exchange: str = "", symbol_type: str = "", limit: int = 50
    ) -> list[SymbolSpec]:
        """Substring search over name, description and ticker; exact, then prefix, then rest."""
        query = user_input.strip().upper()
        exchange = exchange.strip().upper()
        if ":" in query:
            prefix, _, query = query.partition(":")
            exchange = exchange or prefix.strip()
            query = query.strip()
        kind = symbol_type.strip().lower()

        def rank(s: SymbolSpec) -> int:
            name = s.name.upper()
            if name == query:
                return 0
            return 1 if name.startswith(query) else 2

        hits = [
            s
            for s in self._symbols
            if (not exchange or s.exchange.upper() == exchange)
            and (not kind or s.type.lower() == kind)
            and (
                not query
                or query in s.name.upper()
                or query in s.description.upper()
                or query in s.ticker.upper()
            )
        ]
        hits.sort(key=lambda s: (rank(s), s.name))
        return hits[:limit]
