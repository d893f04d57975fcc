"""JSON datafeed under /api/v1/datafeed (rest.md §6, market.md §1, §5, §6), black-box."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from trading.app import create_app
from trading.keys import MARKET
from trading.market.resolution import RESOLUTION_ALIASES, SUPPORTED_RESOLUTIONS
from trading.market.series import SyntheticMarket
from trading.market.symbols import SymbolCatalog, SymbolSpec
from trading.models.market import GetBarsResponse
from trading.models.queries import RESOLUTION_DESCRIPTION
from trading.settings import Settings
from trading.testing import TEST_NOW

Client = TestClient[web.Request, web.Application]

BASE = "/api/v1/datafeed"
DAY_MS = 86_400_000
NOW_S = int(TEST_NOW)  # 2025-10-24 12:34:56 UTC, 08:34:56 in New York (EDT)
TODAY_MS = 1_761_264_000_000  # the 1D label of 2025-10-24
HISTORY_START_MS = 1_514_764_800_000  # 2018-01-01, the first 1D/1W/1M bar
FORMING_MINUTE_MS = 1_761_309_240_000  # the 1-minute bar holding TEST_NOW
FIRST_MINUTE_MS = 1_760_673_600_000  # 00:00 New York seven days before today
FAR_FUTURE_MS = 4_000_000_000_000
DAILY_BARS = (dt.date(2025, 10, 24) - dt.date(2018, 1, 1)).days + 1

BAR_KEYS = {"time", "open", "high", "low", "close", "volume"}
QUOTE_KEYS = {
    "lp",
    "ask",
    "bid",
    "spread",
    "open_price",
    "high_price",
    "low_price",
    "prev_close_price",
    "volume",
    "ch",
    "chp",
    "short_name",
    "exchange",
    "description",
    "original_name",
}
AAPL_INFO = {
    "name": "AAPL",
    "description": "Apple Inc.",
    "type": "stock",
    "session": "24x7",
    "timezone": "America/New_York",
    "ticker": "AAPL",
    "exchange": "NASDAQ",
    "listed_exchange": "NASDAQ",
    "format": "price",
    "pricescale": 100,
    "minmov": 1,
    "has_intraday": True,
    "has_daily": True,
    "supported_resolutions": ["1", "5", "15", "30", "60", "1D", "1W", "1M"],
    "volume_precision": 0,
    "data_status": "streaming",
}


async def get_json(
    client: Client, path: str, params: Mapping[str, str | int], status: int = 200
) -> Any:
    response = await client.get(path, params={k: str(v) for k, v in params.items()})
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def bars(client: Client, status: int = 200, **params: str | int) -> Any:
    return await get_json(client, f"{BASE}/bars", params, status)


async def all_bars(client: Client, resolution: str, symbol: str = "AAPL") -> list[Any]:
    body = await bars(
        client, symbol=symbol, resolution=resolution, from_time=0, to_time=FAR_FUTURE_MS
    )
    return list(body["bars"])


def assert_bar(bar: Any) -> None:
    """Field-exact Bar: int time, float prices on the tick grid, OHLC ordering, volume >= 1."""
    assert set(bar) == BAR_KEYS
    assert type(bar["time"]) is int
    assert type(bar["volume"]) is int
    assert bar["volume"] >= 1
    for key in ("open", "high", "low", "close"):
        assert type(bar[key]) is float
        assert bar[key] > 0
        assert round(bar[key] * 100) == pytest.approx(bar[key] * 100, abs=1e-6)
    assert bar["low"] <= min(bar["open"], bar["close"])
    assert max(bar["open"], bar["close"]) <= bar["high"]


def error_types(body: Any) -> dict[str, str]:
    """``{field: type}`` of a 422 body (query fields)."""
    return {item["loc"][-1]: item["type"] for item in body["detail"]}


# --- config, health ----------------------------------------------------------------------


async def test_config_is_exact(trading_client: Client) -> None:
    assert await get_json(trading_client, f"{BASE}/config", {}) == {
        "supported_resolutions": ["1", "5", "15", "30", "60", "1D", "1W", "1M"],
        "supports_marks": False,
        "supports_timescale_marks": False,
        "supports_time": False,
        "exchanges": [
            {"value": "", "name": "All Exchanges", "desc": ""},
            {"value": "NASDAQ", "name": "NASDAQ", "desc": "NASDAQ"},
            {"value": "NYSE", "name": "NYSE", "desc": "NYSE"},
        ],
        "symbols_types": [
            {"name": "All types", "value": ""},
            {"name": "Stock", "value": "stock"},
            {"name": "Crypto", "value": "crypto"},
            {"name": "Forex", "value": "forex"},
        ],
    }


async def test_health_is_exact(trading_client: Client) -> None:
    assert await get_json(trading_client, f"{BASE}/health", {}) == {
        "status": "ok",
        "message": "Datafeed service is running",
        "symbols_loaded": len(SymbolCatalog()),
        "bars_count": DAILY_BARS,
        "timestamp": "2025-10-24T12:34:56.250Z",
    }


def test_query_model_resolutions_come_from_the_market() -> None:
    assert set(RESOLUTION_ALIASES.values()) <= set(SUPPORTED_RESOLUTIONS)
    assert all(r in RESOLUTION_DESCRIPTION for r in (*SUPPORTED_RESOLUTIONS, *RESOLUTION_ALIASES))


# --- search ------------------------------------------------------------------------------


def search_item(spec: SymbolSpec) -> dict[str, str]:
    return {
        "symbol": spec.name,
        "description": spec.description,
        "exchange": spec.exchange,
        "ticker": spec.name,
        "type": "stock",
    }


async def search(client: Client, status: int = 200, **params: str | int) -> Any:
    return await get_json(client, f"{BASE}/search", params, status)


async def names(client: Client, **params: str | int) -> list[str]:
    return [item["symbol"] for item in await get_json(client, f"{BASE}/search", params)]


async def test_search_empty_input_lists_every_symbol_alphabetically(trading_client: Client) -> None:
    body = await search(trading_client, user_input="")
    assert body == [search_item(s) for s in sorted(SymbolCatalog().symbols, key=lambda s: s.name)]


async def test_search_matches_name_description_and_ticker_case_insensitively(
    trading_client: Client,
) -> None:
    assert await names(trading_client, user_input="aapl") == ["AAPL"]
    assert await names(trading_client, user_input="  apple ") == ["AAPL"]
    assert await names(trading_client, user_input="MICROSOFT") == ["MSFT"]
    assert await names(trading_client, user_input="zzz-nothing") == []


async def test_search_filters_by_exchange_type_and_exchange_prefix(trading_client: Client) -> None:
    nyse = ["IBM", "JPM"]
    assert await names(trading_client, user_input="", exchange="nyse") == nyse
    assert await names(trading_client, user_input="NYSE:") == nyse
    assert await names(trading_client, user_input="nyse:ibm") == ["IBM"]
    assert await names(trading_client, user_input="NYSE:AAPL") == []
    assert await names(trading_client, user_input="NASDAQ:AAPL") == ["AAPL"]
    assert await names(trading_client, user_input="", symbol_type="STOCK") == sorted(
        s.name for s in SymbolCatalog().symbols
    )
    assert await names(trading_client, user_input="", symbol_type="crypto") == []


async def test_search_orders_exact_then_prefix_then_rest_alphabetically(
    aiohttp_client: AiohttpClient, trading_settings: Settings
) -> None:
    catalog = SymbolCatalog(
        [
            SymbolSpec("ZAB", "Zed", "NASDAQ", 10.0, 1000),
            SymbolSpec("AAA", "Lab Corp", "NASDAQ", 10.0, 1000),
            SymbolSpec("ABC", "Alpha", "NYSE", 10.0, 1000),
            SymbolSpec("AB", "Exact", "NASDAQ", 10.0, 1000),
            SymbolSpec("ABA", "Another", "NASDAQ", 10.0, 1000),
            SymbolSpec("QQQ", "Nothing", "NASDAQ", 10.0, 1000),
        ]
    )
    app = create_app(trading_settings)
    app[MARKET] = SyntheticMarket(trading_settings.market_config(), catalog)
    client = await aiohttp_client(app)
    assert await names(client, user_input="ab") == ["AB", "ABA", "ABC", "AAA", "ZAB"]
    assert await names(client, user_input="ab", max_results=2) == ["AB", "ABA"]
    assert await names(client, user_input="ab", exchange="NYSE") == ["ABC"]


async def test_search_max_results_limits(trading_client: Client) -> None:
    assert len(await search(trading_client, user_input="", max_results=1)) == 1
    assert len(await search(trading_client, user_input="", max_results=100)) == len(SymbolCatalog())


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"user_input": "missing"}),
        ({"user_input": "a", "max_results": "0"}, {"max_results": "greater_than_equal"}),
        ({"user_input": "a", "max_results": "101"}, {"max_results": "less_than_equal"}),
        ({"user_input": "a", "max_results": "ten"}, {"max_results": "int_parsing"}),
        ({"user_input": "a", "max_results": "-5"}, {"max_results": "greater_than_equal"}),
        ({"max_results": "1000"}, {"user_input": "missing", "max_results": "less_than_equal"}),
    ],
)
async def test_search_bad_parameters_are_422(
    trading_client: Client, params: dict[str, str], expected: dict[str, str]
) -> None:
    body = await search(trading_client, 422, **params)
    assert error_types(body) == expected
    assert all(item["loc"][0] == "query" for item in body["detail"])


# --- resolve -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["AAPL", "aapl", "NASDAQ:AAPL", "nasdaq:aapl", "Nasdaq:Aapl"])
async def test_resolve_follows_lookup_rules(trading_client: Client, text: str) -> None:
    assert await get_json(trading_client, f"{BASE}/resolve/{text}", {}) == AAPL_INFO


async def test_resolve_nyse_symbol(trading_client: Client) -> None:
    info = await get_json(trading_client, f"{BASE}/resolve/NYSE:IBM", {})
    assert (info["name"], info["exchange"], info["listed_exchange"]) == ("IBM", "NYSE", "NYSE")


@pytest.mark.parametrize("text", ["NOPE", "NYSE:AAPL", "AAPL:NASDAQ", ":AAPL", "NASDAQ:", "AAPL "])
async def test_resolve_unknown_symbol_is_404(trading_client: Client, text: str) -> None:
    body = await get_json(trading_client, f"{BASE}/resolve/{text}", {}, 404)
    assert body == {"detail": "Symbol not found"}


# --- bars: shapes and ranges -------------------------------------------------------------


async def test_bars_daily_example_shape(trading_client: Client) -> None:
    body = await bars(
        trading_client,
        symbol="AAPL",
        resolution="1D",
        from_time=1_761_004_800_000,
        to_time=1_761_264_000_000,
    )
    assert set(body) == {"bars", "no_data"}
    assert GetBarsResponse.model_validate(body).model_dump() == body
    assert body["no_data"] is False
    assert [b["time"] for b in body["bars"]] == [
        1_761_004_800_000,
        1_761_091_200_000,
        1_761_177_600_000,
    ]
    for bar in body["bars"]:
        assert_bar(bar)


async def test_bars_before_history_is_empty_with_no_data(trading_client: Client) -> None:
    body = await bars(trading_client, symbol="AAPL", resolution="1D", from_time=0, to_time=1000)
    assert body == {"bars": [], "no_data": True}
    body = await bars(
        trading_client, symbol="AAPL", resolution="1D", from_time=0, to_time=HISTORY_START_MS
    )
    assert body == {"bars": [], "no_data": True}


@pytest.mark.parametrize(
    ("from_time", "to_time"),
    [
        (TODAY_MS - DAY_MS + 1, TODAY_MS - 1),  # between two labels
        (TODAY_MS, TODAY_MS),  # empty range at a label
        (TODAY_MS + DAY_MS, TODAY_MS + 5 * DAY_MS),  # the future
    ],
)
async def test_bars_empty_range_after_history_start_is_not_no_data(
    trading_client: Client, from_time: int, to_time: int
) -> None:
    body = await bars(
        trading_client, symbol="AAPL", resolution="1D", from_time=from_time, to_time=to_time
    )
    assert body == {"bars": [], "no_data": False}


async def test_bars_intraday_before_the_window_is_no_data(trading_client: Client) -> None:
    body = await bars(
        trading_client,
        symbol="AAPL",
        resolution="1",
        from_time=FIRST_MINUTE_MS - 10 * DAY_MS,
        to_time=FIRST_MINUTE_MS,
    )
    assert body == {"bars": [], "no_data": True}


async def test_bars_from_is_inclusive_and_to_exclusive_in_milliseconds(
    trading_client: Client,
) -> None:
    async def times(from_time: int, to_time: int) -> list[int]:
        body = await bars(
            trading_client, symbol="AAPL", resolution="1", from_time=from_time, to_time=to_time
        )
        return [b["time"] for b in body["bars"]]

    t = FORMING_MINUTE_MS - 10 * 60_000
    assert await times(t, t + 60_000) == [t]
    assert await times(t - 1, t + 1) == [t]
    assert await times(t + 1, t + 60_000) == []
    assert await times(t - 59_999, t) == []
    assert await times(t, t + 60_001) == [t, t + 60_000]
    assert await times(t + 1, t + 120_000) == [t + 60_000]


async def test_bars_daily_series_covers_history_with_forming_last_bar(
    trading_client: Client,
) -> None:
    daily = await all_bars(trading_client, "1D")
    assert len(daily) == DAILY_BARS
    assert daily[0]["time"] == HISTORY_START_MS
    assert daily[-1]["time"] == TODAY_MS
    times = [b["time"] for b in daily]
    assert times == sorted(set(times))
    assert all(b - a == DAY_MS for a, b in itertools.pairwise(times))
    for previous, bar in itertools.pairwise(daily):
        assert_bar(bar)
        assert bar["open"] == previous["close"]


async def test_bars_intraday_window_and_forming_bar(trading_client: Client) -> None:
    minutes = await all_bars(trading_client, "1")
    assert minutes[0]["time"] == FIRST_MINUTE_MS
    assert minutes[-1]["time"] == FORMING_MINUTE_MS
    assert len(minutes) == (FORMING_MINUTE_MS - FIRST_MINUTE_MS) // 60_000 + 1
    for bar in minutes[-5:]:
        assert_bar(bar)


@pytest.mark.parametrize(("alias", "resolution"), [("D", "1D"), ("W", "1W"), ("M", "1M")])
async def test_bars_aliases_equal_canonical_resolutions(
    trading_client: Client, alias: str, resolution: str
) -> None:
    assert await all_bars(trading_client, alias) == await all_bars(trading_client, resolution)


async def test_bars_weekly_and_monthly_labels(trading_client: Client) -> None:
    for bar in await all_bars(trading_client, "1W"):
        label = dt.datetime.fromtimestamp(bar["time"] / 1000, dt.UTC)
        assert (label.weekday(), label.hour, label.minute) == (0, 0, 0)
    monthly = await all_bars(trading_client, "1M")
    assert len(monthly) == (2025 - 2018) * 12 + 10
    for bar in monthly:
        label = dt.datetime.fromtimestamp(bar["time"] / 1000, dt.UTC)
        assert (label.day, label.hour, label.minute) == (1, 0, 0)


@pytest.mark.parametrize("symbol", ["aapl", "NASDAQ:AAPL"])
async def test_bars_symbol_lookup(trading_client: Client, symbol: str) -> None:
    assert await all_bars(trading_client, "1D", symbol) == await all_bars(trading_client, "1D")


# --- bars: count_back, cap, huge values --------------------------------------------------


async def test_count_back_wins_over_from_time(trading_client: Client) -> None:
    daily = await all_bars(trading_client, "1D")
    body = await bars(
        trading_client,
        symbol="AAPL",
        resolution="1D",
        from_time=TODAY_MS - 1,
        to_time=TODAY_MS,
        count_back=5,
    )
    assert body == {"bars": daily[-6:-1], "no_data": False}


async def test_count_back_zero_means_absent(trading_client: Client) -> None:
    params: dict[str, str | int] = {
        "symbol": "AAPL",
        "resolution": "60",
        "from_time": FORMING_MINUTE_MS - 5 * DAY_MS,
        "to_time": FORMING_MINUTE_MS,
    }
    path = f"{BASE}/bars"
    assert await get_json(trading_client, path, {**params, "count_back": 0}) == await get_json(
        trading_client, path, params
    )


async def test_count_back_beyond_history_returns_everything(trading_client: Client) -> None:
    body = await bars(
        trading_client,
        symbol="AAPL",
        resolution="1D",
        from_time=0,
        to_time=FAR_FUTURE_MS,
        count_back=10**30,
    )
    assert body == {"bars": await all_bars(trading_client, "1D"), "no_data": False}


async def test_count_back_before_history_is_no_data(trading_client: Client) -> None:
    body = await bars(
        trading_client, symbol="AAPL", resolution="1D", from_time=0, to_time=1000, count_back=10
    )
    assert body == {"bars": [], "no_data": True}


@pytest.mark.parametrize(
    ("from_time", "to_time"), [("0", str(10**30)), (str(10**25), str(10**26)), ("1.0", "2e0")]
)
async def test_huge_or_lax_times_never_fail(
    trading_client: Client, from_time: str, to_time: str
) -> None:
    response = await trading_client.get(
        f"{BASE}/bars",
        params={"symbol": "AAPL", "resolution": "1D", "from_time": from_time, "to_time": to_time},
    )
    assert response.status in (200, 422)
    body = await response.json()
    if response.status == 200:
        assert set(body) == {"bars", "no_data"}


async def test_integral_float_strings_are_accepted(trading_client: Client) -> None:
    body = await bars(
        trading_client, symbol="AAPL", resolution="1D", from_time="0.0", to_time="1000.0"
    )
    assert body == {"bars": [], "no_data": True}


async def test_max_bars_caps_to_the_most_recent(
    aiohttp_client: AiohttpClient, trading_settings: Settings, trading_client: Client
) -> None:
    capped = await aiohttp_client(
        create_app(
            # its own data dir: one server per data dir
            trading_settings.replace(max_bars=100, data_dir=trading_settings.data_dir / "other")
        )
    )
    full = await all_bars(trading_client, "1")
    assert len(full) > 100
    assert await all_bars(capped, "1") == full[-100:]
    body = await bars(
        capped,
        symbol="AAPL",
        resolution="1D",
        from_time=0,
        to_time=TODAY_MS,
        count_back=500,
    )
    assert body["bars"] == (await all_bars(trading_client, "1D"))[-101:-1]


# --- bars: errors ------------------------------------------------------------------------

GOOD: dict[str, str] = {
    "symbol": "AAPL",
    "resolution": "1D",
    "from_time": "0",
    "to_time": str(FAR_FUTURE_MS),
}


@pytest.mark.parametrize("resolution", ["2", "1H", "1d", "d", "", "1440", "D1", "1S", "60 "])
async def test_unsupported_resolution_is_422(trading_client: Client, resolution: str) -> None:
    body = await bars(trading_client, 422, **{**GOOD, "resolution": resolution})
    [item] = body["detail"]
    assert item["type"] == "enum"
    assert item["loc"] == ["query", "resolution"]
    assert item["input"] == resolution


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"from_time": "-1"}, {"from_time": "greater_than_equal"}),
        ({"to_time": "-1"}, {"to_time": "greater_than_equal"}),
        ({"from_time": "1.5"}, {"from_time": "int_parsing"}),
        ({"from_time": "abc"}, {"from_time": "int_parsing"}),
        ({"to_time": ""}, {"to_time": "int_parsing"}),
        ({"to_time": "9" * 5000}, {"to_time": "int_parsing_size"}),
        ({"count_back": "-1"}, {"count_back": "greater_than_equal"}),
        ({"count_back": "2.5"}, {"count_back": "int_parsing"}),
        ({"count_back": ""}, {"count_back": "int_parsing"}),
        ({"from_time": "2000", "to_time": "1000"}, {"to_time": "value_error"}),
        (
            {"resolution": "7", "from_time": "-5", "count_back": "x"},
            {"resolution": "enum", "from_time": "greater_than_equal", "count_back": "int_parsing"},
        ),
    ],
)
async def test_bad_bars_parameters_are_422_with_one_item_per_field(
    trading_client: Client, changes: dict[str, str], expected: dict[str, str]
) -> None:
    body = await bars(trading_client, 422, **{**GOOD, **changes})
    assert error_types(body) == expected
    for item in body["detail"]:
        assert item["loc"][0] == "query"
        assert {"type", "loc", "msg", "input"} <= set(item)


async def test_missing_bars_parameters_are_listed(trading_client: Client) -> None:
    body = await bars(trading_client, 422)
    assert body["detail"] == [
        {"type": "missing", "loc": ["query", field], "msg": "Field required", "input": None}
        for field in ("symbol", "resolution", "from_time", "to_time")
    ]


async def test_bars_unknown_symbol_is_404(trading_client: Client) -> None:
    body = await bars(trading_client, 404, **{**GOOD, "symbol": "NYSE:AAPL"})
    assert body == {"detail": "Symbol not found"}


# --- quotes ------------------------------------------------------------------------------


async def quotes(client: Client, payload: Any, status: int = 200) -> Any:
    response = await client.post(f"{BASE}/quotes", json=payload)
    assert response.status == status, await response.text()
    return await response.json()


def assert_quote_values(values: Any, spec: SymbolSpec) -> None:
    assert set(values) == QUOTE_KEYS
    for key in QUOTE_KEYS - {"volume", "short_name", "exchange", "description", "original_name"}:
        assert type(values[key]) is float, key
        assert round(values[key], 2) == values[key], key
    assert type(values["volume"]) is int
    assert values["volume"] >= 1
    assert values["short_name"] == values["original_name"] == spec.name
    assert (values["exchange"], values["description"]) == (spec.exchange, spec.description)
    lp, prev = values["lp"], values["prev_close_price"]
    assert values["bid"] <= lp <= values["ask"]
    assert values["low_price"] <= lp <= values["high_price"]
    assert values["spread"] == round(values["ask"] - values["bid"], 2)
    assert values["ch"] == round(lp - prev, 2)
    assert values["chp"] == round((lp - prev) / prev * 100, 2)
    # default 5 bps: half-spread h = round_half_up(lp_ticks * 5 / 20000), at least one tick
    half = Decimal(round(lp * 100)) * 5 / 20000
    ticks = max(1, int(half.quantize(Decimal(1), ROUND_HALF_UP)))
    assert values["spread"] == round(2 * ticks / 100, 2)


async def test_quotes_example_shape(trading_client: Client) -> None:
    body = await quotes(trading_client, {"symbols": ["AAPL", "NOPE"]})
    assert len(body) == 2
    ok, error = body
    assert set(ok) == {"s", "n", "v"}
    assert (ok["s"], ok["n"]) == ("ok", "AAPL")
    assert_quote_values(ok["v"], SymbolCatalog().symbols[0])
    assert error == {"s": "error", "n": "NOPE", "v": {"error": "Symbol not found"}}


async def test_quotes_keep_order_duplicates_and_requested_names(trading_client: Client) -> None:
    requested = ["MSFT", "aapl", "NASDAQ:AAPL", "nope", "AAPL", "MSFT", "NYSE:AAPL"]
    body = await quotes(trading_client, {"symbols": requested})
    assert [item["n"] for item in body] == requested
    assert [item["s"] for item in body] == ["ok", "ok", "ok", "error", "ok", "ok", "error"]
    assert body[1]["v"] == body[2]["v"] == body[4]["v"]
    assert body[0]["v"] == body[5]["v"]


async def test_quotes_invariants_for_every_symbol(trading_client: Client) -> None:
    catalog = SymbolCatalog()
    body = await quotes(trading_client, {"symbols": [s.name for s in catalog.symbols]})
    for item, spec in zip(body, catalog.symbols, strict=True):
        assert item["s"] == "ok"
        assert_quote_values(item["v"], spec)


async def test_quotes_agree_with_the_bars(trading_client: Client) -> None:
    [item] = await quotes(trading_client, {"symbols": ["AAPL"]})
    values = item["v"]
    minute = (await all_bars(trading_client, "1"))[-1]
    *_, yesterday, today = await all_bars(trading_client, "1D")
    assert values["lp"] == minute["close"]
    assert (
        values["open_price"],
        values["high_price"],
        values["low_price"],
        values["volume"],
    ) == (today["open"], today["high"], today["low"], today["volume"])
    assert values["prev_close_price"] == yesterday["close"]


async def test_quotes_empty_and_maximum(trading_client: Client) -> None:
    assert await quotes(trading_client, {"symbols": []}) == []
    body = await quotes(trading_client, {"symbols": ["AAPL"] * 200, "extra": 1})
    assert len(body) == 200


@pytest.mark.parametrize(
    ("payload", "loc", "type_"),
    [
        ({"symbols": ["A"] * 201}, ["body", "symbols"], "too_long"),
        ({}, ["body", "symbols"], "missing"),
        ({"symbols": [5]}, ["body", "symbols", 0], "string_type"),
        ({"symbols": "AAPL"}, ["body", "symbols"], "list_type"),
        ({"symbols": None}, ["body", "symbols"], "list_type"),
        ([], ["body"], "model_type"),
    ],
)
async def test_bad_quotes_body_is_422(
    trading_client: Client, payload: Any, loc: list[str | int], type_: str
) -> None:
    body = await quotes(trading_client, payload, 422)
    [item] = body["detail"]
    assert (item["loc"], item["type"]) == (loc, type_)


async def test_unparsable_quotes_body_is_json_invalid(trading_client: Client) -> None:
    response = await trading_client.post(f"{BASE}/quotes", data=b'{"symbols": [')
    assert response.status == 422
    [item] = (await response.json())["detail"]
    assert item["type"] == "json_invalid"
    assert item["loc"][0] == "body"
