"""Market data wire models (rest.md §3 "Market"). Times are epoch milliseconds."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from trading.market.limits import MAX_QUOTE_SYMBOLS
from trading.models.base import WireModel, inline_enum


class Bar(WireModel):
    time: int = Field(description="Bar label, epoch milliseconds (market.md §2)")
    open: float
    high: float
    low: float
    close: float
    volume: int = 0


class GetBarsResponse(WireModel):
    bars: list[Bar]
    no_data: bool = False


class GetQuotesRequest(WireModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"symbols": ["AAPL", "MSFT"]}]})

    symbols: list[str] = Field(max_length=MAX_QUOTE_SYMBOLS)


class QuoteValues(WireModel):
    lp: float
    ask: float
    bid: float
    spread: float
    open_price: float
    high_price: float
    low_price: float
    prev_close_price: float
    volume: int
    ch: float
    chp: float
    short_name: str
    exchange: str
    description: str
    original_name: str


class QuoteStatus(StrEnum):
    OK = "ok"
    ERROR = "error"


class QuoteData(WireModel):
    s: Annotated[QuoteStatus, inline_enum(QuoteStatus)]
    n: str
    v: QuoteValues | dict[str, str]


class DataStatus(StrEnum):
    STREAMING = "streaming"
    ENDOFDAY = "endofday"
    DELAYED_STREAMING = "delayed_streaming"


class SymbolInfo(WireModel):
    name: str
    description: str
    type: str
    session: str
    timezone: str
    ticker: str = ""
    exchange: str
    listed_exchange: str
    format: str
    pricescale: int
    minmov: int
    has_intraday: bool
    has_daily: bool
    supported_resolutions: list[str]
    volume_precision: int
    data_status: Annotated[DataStatus, inline_enum(DataStatus)]


class SearchSymbolResultItem(WireModel):
    symbol: str
    description: str
    exchange: str
    ticker: str = ""
    type: str


class Exchange(WireModel):
    value: str
    name: str
    desc: str


class DatafeedSymbolType(WireModel):
    name: str
    value: str


class DatafeedConfiguration(WireModel):
    supported_resolutions: list[str]
    supports_marks: bool
    supports_timescale_marks: bool
    supports_time: bool
    exchanges: list[Exchange]
    symbols_types: list[DatafeedSymbolType]


class DatafeedHealthResponse(WireModel):
    status: str
    message: str
    symbols_loaded: int
    bars_count: int
    timestamp: str


# --- TradingView UDF (udf.md) -------------------------------------------------------------


class UdfConfiguration(DatafeedConfiguration):
    supports_search: bool
    supports_group_request: bool


class UdfSymbolInfo(SymbolInfo):
    has_weekly_and_monthly: bool
    intraday_multipliers: list[str]
    has_empty_bars: bool
    visible_plots_set: str


class UdfError(WireModel):
    s: Literal["error"] = "error"
    errmsg: str


class UdfHistory(WireModel):
    s: Literal["ok"] = "ok"
    t: list[int] = Field(description="Bar labels, epoch seconds")
    o: list[float]
    h: list[float]
    l: list[float]  # noqa: E741 - UDF's own column name
    c: list[float]
    v: list[int]


class UdfNoData(WireModel):
    s: Literal["no_data"] = "no_data"
    nextTime: int | None = Field(
        default=None, description="Epoch seconds of the most recent older bar, when one exists"
    )


class UdfQuotes(WireModel):
    s: Literal["ok"] = "ok"
    d: list[QuoteData]
