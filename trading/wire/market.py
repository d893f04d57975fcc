"""Market wire shapes shared by the JSON datafeed, the UDF routes and the WebSocket.

Each shape is built in exactly one place so that ``/api/v1/datafeed`` and ``/api/v1/udf`` cannot
drift apart (udf.md §9): same configuration lists, same SymbolInfo values, same search results,
same QuoteData items (the WebSocket ``quotes`` route uses :func:`quote_data` too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from trading.market.resolution import INTRADAY_RESOLUTIONS, SUPPORTED_RESOLUTIONS
from trading.market.source import Bars, MarketSource, Quote
from trading.market.symbols import SymbolCatalog, SymbolSpec
from trading.models.market import (
    DatafeedConfiguration,
    DatafeedSymbolType,
    DataStatus,
    Exchange,
    QuoteData,
    QuoteStatus,
    QuoteValues,
    SearchSymbolResultItem,
    SymbolInfo,
    UdfConfiguration,
    UdfSymbolInfo,
)

SYMBOL_NOT_FOUND = "Symbol not found"

SYMBOL_TYPES: tuple[DatafeedSymbolType, ...] = (
    DatafeedSymbolType(name="All types", value=""),
    DatafeedSymbolType(name="Stock", value="stock"),
    DatafeedSymbolType(name="Crypto", value="crypto"),
    DatafeedSymbolType(name="Forex", value="forex"),
)
"""Always the complete list (rest.md §3), whether or not a symbol of each type is listed."""

SEARCH_RESULTS: TypeAdapter[list[SearchSymbolResultItem]] = TypeAdapter(
    list[SearchSymbolResultItem]
)
QUOTE_ITEMS: TypeAdapter[list[QuoteData]] = TypeAdapter(list[QuoteData])


# --- configuration and symbols -------------------------------------------------------------


def exchanges(catalog: SymbolCatalog) -> list[Exchange]:
    """The "All Exchanges" entry, then each exchange of the catalogue in listing order."""
    names = dict.fromkeys(spec.exchange for spec in catalog.symbols)
    return [
        Exchange(value="", name="All Exchanges", desc=""),
        *(Exchange(value=name, name=name, desc=name) for name in names),
    ]


def datafeed_configuration(catalog: SymbolCatalog) -> DatafeedConfiguration:
    return DatafeedConfiguration(
        supported_resolutions=list(SUPPORTED_RESOLUTIONS),
        supports_marks=False,
        supports_timescale_marks=False,
        supports_time=False,
        exchanges=exchanges(catalog),
        symbols_types=list(SYMBOL_TYPES),
    )


def udf_configuration(catalog: SymbolCatalog) -> UdfConfiguration:
    """The REST configuration plus the switches the stock UDF adapter needs (udf.md §2)."""
    base = datafeed_configuration(catalog)
    return UdfConfiguration(
        supported_resolutions=base.supported_resolutions,
        supports_marks=base.supports_marks,
        supports_timescale_marks=base.supports_timescale_marks,
        supports_time=True,
        exchanges=base.exchanges,
        symbols_types=base.symbols_types,
        supports_search=True,
        supports_group_request=False,
    )


def symbol_info(spec: SymbolSpec) -> SymbolInfo:
    return SymbolInfo(
        name=spec.name,
        description=spec.description,
        type=spec.type,
        session=spec.session,
        timezone=spec.timezone,
        ticker=spec.ticker,
        exchange=spec.exchange,
        listed_exchange=spec.exchange,
        format="price",
        pricescale=spec.pricescale,
        minmov=spec.minmov,
        has_intraday=any(r in INTRADAY_RESOLUTIONS for r in spec.resolutions),
        has_daily=True,
        supported_resolutions=list(spec.resolutions),
        volume_precision=0,
        data_status=DataStatus(spec.data_status),
    )


def udf_symbol_info(spec: SymbolSpec) -> UdfSymbolInfo:
    """REST SymbolInfo values plus the library fields of udf.md §3."""
    return UdfSymbolInfo(
        **dict(symbol_info(spec)),
        has_weekly_and_monthly=True,
        intraday_multipliers=[r for r in spec.resolutions if r in INTRADAY_RESOLUTIONS],
        has_empty_bars=False,
        visible_plots_set="ohlcv",
    )


def search_results(
    catalog: SymbolCatalog, user_input: str, exchange: str, symbol_type: str, limit: int
) -> list[SearchSymbolResultItem]:
    return [
        SearchSymbolResultItem(
            symbol=spec.name,
            description=spec.description,
            exchange=spec.exchange,
            ticker=spec.ticker,
            type=spec.type,
        )
        for spec in catalog.search(user_input, exchange, symbol_type, limit)
    ]


# --- quotes ---------------------------------------------------------------------------------


def quote_values(quote: Quote) -> QuoteValues:
    spec = quote.symbol
    return QuoteValues(
        lp=quote.lp,
        ask=quote.ask,
        bid=quote.bid,
        spread=quote.spread,
        open_price=quote.open,
        high_price=quote.high,
        low_price=quote.low,
        prev_close_price=quote.prev_close,
        volume=quote.volume,
        ch=quote.ch,
        chp=quote.chp,
        short_name=spec.name,
        exchange=spec.exchange,
        description=spec.description,
        original_name=spec.name,
    )


def quote_data(requested: str, quote: Quote | None) -> QuoteData:
    """The QuoteData item for one requested string (also the WebSocket ``quotes`` payload).

    ``n`` echoes the request as typed; ``quote`` is None for an unknown symbol.
    """
    if quote is None:
        return QuoteData(s=QuoteStatus.ERROR, n=requested, v={"error": SYMBOL_NOT_FOUND})
    return QuoteData(s=QuoteStatus.OK, n=requested, v=quote_values(quote))


def quote_items(market: MarketSource, requested: Sequence[str]) -> list[QuoteData]:
    """One item per requested string, in order, duplicates kept (market.md §5)."""
    items = []
    for text in requested:
        spec = market.catalog.lookup(text)
        items.append(quote_data(text, None if spec is None else market.quote(spec)))
    return items


# --- bars -----------------------------------------------------------------------------------

BarDict = dict[str, int | float]


def bar_dicts(bars: Bars) -> list[BarDict]:
    """``Bar`` shapes (time in ms, float prices, int volume) straight from the columns: building
    thousands of pydantic models would dominate the request."""
    columns = zip(
        (bars.time * 1000).tolist(),
        bars.prices(bars.open).tolist(),
        bars.prices(bars.high).tolist(),
        bars.prices(bars.low).tolist(),
        bars.prices(bars.close).tolist(),
        bars.volume.tolist(),
        strict=True,
    )
    return [
        {"time": t, "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for t, o, h, lo, c, v in columns
    ]


UDF_COLUMNS = ("t", "o", "h", "l", "c", "v")
"""The UDF history columns, in the order they are written (udf.md §5)."""


def udf_columns(bars: Bars) -> dict[str, Any]:
    """UDF history columns as numpy arrays (times in seconds), written by orjson natively.

    orjson writes numpy arrays only when C-contiguous, hence the (usually no-op)
    ``ascontiguousarray`` on columns a source may hand out as views.
    """
    return {
        "t": np.ascontiguousarray(bars.time),
        "o": bars.prices(bars.open),
        "h": bars.prices(bars.high),
        "l": bars.prices(bars.low),
        "c": bars.prices(bars.close),
        "v": np.ascontiguousarray(bars.volume),
    }
