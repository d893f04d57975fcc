"""Query-string models of the JSON datafeed (rest.md §6). Times are epoch milliseconds.

Query values arrive as strings; pydantic's lax mode turns ``"42"`` into 42 and reports
``int_parsing`` / ``greater_than_equal`` / ``missing`` items that the error middleware returns
as a 422. ``resolution`` stays a plain string in the schema (generated clients pass ``"D"`` as
well as ``"1D"``, and the reference declares no enum) but is checked and normalized here so that
a bad one is listed with the other offending fields.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from trading.market.limits import MAX_QUOTE_SYMBOLS
from trading.market.resolution import RESOLUTION_ALIASES, SUPPORTED_RESOLUTIONS
from trading.models.base import WireModel


def canonical_resolution(value: str) -> str:
    """``value`` with its alias resolved (``D`` → ``1D``); unsupported → ``enum`` error."""
    canonical = RESOLUTION_ALIASES.get(value, value)
    if canonical not in SUPPORTED_RESOLUTIONS:
        expected = ", ".join(f"'{r}'" for r in (*SUPPORTED_RESOLUTIONS, *RESOLUTION_ALIASES))
        raise PydanticCustomError(
            "enum", "Input should be one of {expected}", {"expected": expected}
        )
    return canonical


class SearchQuery(WireModel):
    user_input: str = Field(description="Text to look for; may be empty (then every symbol)")
    exchange: str = Field(default="", description="Exchange filter, case-insensitive")
    symbol_type: str = Field(default="", description="Symbol type filter (stock, ...)")
    max_results: int = Field(default=50, ge=1, le=100)


RESOLUTION_DESCRIPTION = (
    f"One of {', '.join(SUPPORTED_RESOLUTIONS)} (aliases {', '.join(RESOLUTION_ALIASES)})"
)
"""The accepted values are documented in words, not as a schema ``enum``: the reference
declares ``resolution`` a plain string, and an inline enum on a parameter makes
openapi-generator export one ``…ResolutionEnum`` per API file (the operation has two tags), a
duplicate declaration that does not compile, and rejects the ``string`` a reference client
passes."""


class GetBarsQuery(WireModel):
    symbol: str = Field(description="AAPL, aapl or NASDAQ:AAPL")
    resolution: str = Field(
        description=f"{RESOLUTION_DESCRIPTION}; any other value is a 422",
    )
    from_time: int = Field(ge=0, description="Epoch milliseconds, inclusive")
    to_time: int = Field(ge=0, description="Epoch milliseconds, exclusive")
    count_back: int | None = Field(
        default=None, ge=0, description="When > 0: that many bars before to_time; wins over from"
    )

    @field_validator("resolution")
    @classmethod
    def _known_resolution(cls, value: str) -> str:
        return canonical_resolution(value)

    @field_validator("to_time")
    @classmethod
    def _not_before_from(cls, value: int, info: ValidationInfo) -> int:
        start = info.data.get("from_time")
        if start is not None and start > value:
            raise PydanticCustomError(
                "value_error",
                "from_time ({start}) must not be greater than to_time ({end})",
                {"start": start, "end": value},
            )
        return value


class SymbolPath(WireModel):
    symbol: str = Field(description="AAPL, aapl or NASDAQ:AAPL")


# --- TradingView UDF (udf.md) -------------------------------------------------------------
# The UDF handlers parse their parameters by hand (errors are 200 ``{"s":"error"}`` bodies, never
# a 422), so these models only describe the parameters in the OpenAPI document.


class UdfSymbolsQuery(WireModel):
    symbol: str = Field(description="AAPL, aapl or NASDAQ:AAPL")


class UdfSearchQuery(WireModel):
    query: str = Field(default="", description="Text to look for (case-insensitive)")
    type: str = Field(default="", description="Symbol type filter (stock, ...)")
    exchange: str = Field(default="", description="Exchange filter, case-insensitive")
    limit: int = Field(default=30, description="Maximum number of results, clamped to 1-100")


class UdfHistoryQuery(WireModel):
    symbol: str = Field(description="AAPL, aapl or NASDAQ:AAPL")
    resolution: str = Field(
        description=f"{RESOLUTION_DESCRIPTION}; any other value is an `s: error` answer",
    )
    from_: int = Field(alias="from", description="Epoch seconds, inclusive")
    to: int = Field(description="Epoch seconds, exclusive")
    countback: int = Field(
        default=0, description="When > 0: that many bars before `to`; wins over `from`"
    )


class UdfQuotesQuery(WireModel):
    symbols: str = Field(description=f"Comma-separated symbols (at most {MAX_QUOTE_SYMBOLS})")
