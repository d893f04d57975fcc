"""TradingView UDF routes under /api/v1/udf (udf.md) and their agreement with the REST datafeed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient

from trading.app import create_app
from trading.clock import ManualClock
from trading.keys import MARKET
from trading.market.series import SyntheticMarket
from trading.market.symbols import SymbolCatalog, SymbolSpec
from trading.models.market import UdfHistory
from trading.settings import Settings
from trading.testing import TEST_NOW

Client = TestClient[web.Request, web.Application]

UDF = "/api/v1/udf"
REST = "/api/v1/datafeed"
DAY = 86_400
NOW_S = int(TEST_NOW)
TODAY = 1_761_264_000  # 1D label of 2025-10-24
HISTORY_START = 1_514_764_800  # 2018-01-01
FORMING_MINUTE = 1_761_309_240
FAR_FUTURE = 4_000_000_000
HISTORY_KEYS = {"s", "t", "o", "h", "l", "c", "v"}


async def udf(client: Client, route: str, **params: str | int) -> Any:
    """A UDF answer: always HTTP 200 and JSON."""
    response = await client.get(f"{UDF}/{route}", params={k: str(v) for k, v in params.items()})
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def rest(client: Client, path: str, **params: str | int) -> Any:
    response = await client.get(f"{REST}/{path}", params={k: str(v) for k, v in params.items()})
    assert response.status == 200, await response.text()
    return await response.json()


async def history(client: Client, **params: str | int) -> Any:
    return await udf(client, "history", **params)


def assert_columns(body: Any) -> None:
    """Field-exact ``s:ok`` history: six equal-length columns, ascending unique int ``t``."""
    assert set(body) == HISTORY_KEYS
    assert body["s"] == "ok"
    count = len(body["t"])
    assert count > 0
    assert all(len(body[key]) == count for key in "tohlcv")
    assert all(type(t) is int for t in body["t"])
    assert body["t"] == sorted(set(body["t"]))
    assert all(type(v) is int and v >= 1 for v in body["v"])
    for key in "ohlc":
        assert all(type(p) is float and p > 0 for p in body[key])
    for o, h, low, c in zip(body["o"], body["h"], body["l"], body["c"], strict=True):
        assert low <= min(o, c) <= max(o, c) <= h


def rest_as_columns(bars: list[Any]) -> dict[str, list[Any]]:
    """REST bars in UDF's column layout (seconds), for equality checks."""
    return {
        "t": [b["time"] // 1000 for b in bars],
        "o": [b["open"] for b in bars],
        "h": [b["high"] for b in bars],
        "l": [b["low"] for b in bars],
        "c": [b["close"] for b in bars],
        "v": [b["volume"] for b in bars],
    }


def assert_same_bars(udf_body: Any, rest_body: Any) -> None:
    """udf.md §9: ``udf.t[i] * 1000 == rest.bars[i].time`` and identical prices and volumes."""
    if udf_body["s"] == "no_data":
        assert rest_body["bars"] == []
        if rest_body["no_data"]:
            assert "nextTime" not in udf_body  # nothing before `to`, so nothing before `from`
        return
    assert [t * 1000 for t in udf_body["t"]] == [b["time"] for b in rest_body["bars"]]
    assert {k: udf_body[k] for k in "tohlcv"} == rest_as_columns(rest_body["bars"])


# --- config, symbols, search -------------------------------------------------------------


async def test_config_is_exact(trading_client: Client) -> None:
    body = await udf(trading_client, "config")
    assert body == {
        "supported_resolutions": ["1", "5", "15", "30", "60", "1D", "1W", "1M"],
        "supports_search": True,
        "supports_group_request": False,
        "supports_marks": False,
        "supports_timescale_marks": False,
        "supports_time": True,
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
    rest_config = await rest(trading_client, "config")
    assert {k: v for k, v in body.items() if k in rest_config and k != "supports_time"} == {
        k: v for k, v in rest_config.items() if k != "supports_time"
    }


@pytest.mark.parametrize("symbol", ["AAPL", "aapl", "NASDAQ:AAPL", "NYSE:IBM", "jpm"])
async def test_symbols_is_rest_symbol_info_plus_library_fields(
    trading_client: Client, symbol: str
) -> None:
    body = await udf(trading_client, "symbols", symbol=symbol, currencyCode="USD", unitId="x")
    info = await rest(trading_client, f"resolve/{symbol}")
    assert body == {
        **info,
        "has_weekly_and_monthly": True,
        "intraday_multipliers": ["1", "5", "15", "30", "60"],
        "has_empty_bars": False,
        "visible_plots_set": "ohlcv",
    }
    assert body["ticker"] == body["name"]


@pytest.mark.parametrize("symbol", ["NOPE", "NYSE:AAPL", "AAPL:"])
async def test_symbols_unknown(trading_client: Client, symbol: str) -> None:
    body = await udf(trading_client, "symbols", symbol=symbol)
    assert body == {"s": "error", "errmsg": "unknown_symbol"}


async def test_symbols_missing_parameter(trading_client: Client) -> None:
    body = await udf(trading_client, "symbols")
    assert set(body) == {"s", "errmsg"}
    assert body["s"] == "error"
    assert "symbol" in body["errmsg"]


@pytest.mark.parametrize(
    ("udf_params", "rest_params"),
    [
        ({"query": "A"}, {"user_input": "A"}),
        ({"query": ""}, {"user_input": ""}),
        ({"query": "NYSE:"}, {"user_input": "NYSE:"}),
        ({"query": "", "exchange": "NYSE"}, {"user_input": "", "exchange": "NYSE"}),
        ({"query": "", "type": "stock"}, {"user_input": "", "symbol_type": "stock"}),
        ({"query": "", "type": "forex"}, {"user_input": "", "symbol_type": "forex"}),
        ({"query": "M", "limit": "2"}, {"user_input": "M", "max_results": "2"}),
    ],
)
async def test_search_matches_rest_search(
    trading_client: Client, udf_params: dict[str, str], rest_params: dict[str, str]
) -> None:
    body = await udf(trading_client, "search", **udf_params)
    assert isinstance(body, list)
    assert body == await rest(trading_client, "search", **rest_params)


@pytest.fixture
async def big_catalog_client(aiohttp_client: AiohttpClient, trading_settings: Settings) -> Client:
    catalog = SymbolCatalog(
        SymbolSpec(f"S{i:03d}", f"Symbol {i}", "NASDAQ", 100.0, 1000) for i in range(140)
    )
    app = create_app(trading_settings)
    app[MARKET] = SyntheticMarket(trading_settings.market_config(), catalog)
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    ("limit", "count"), [(None, 30), ("0", 1), ("-7", 1), ("1", 1), ("100", 100), ("1000", 100)]
)
async def test_search_limit_default_and_clamp(
    big_catalog_client: Client, limit: str | None, count: int
) -> None:
    params = {"query": "s"} if limit is None else {"query": "s", "limit": limit}
    body = await udf(big_catalog_client, "search", **params)
    assert [item["symbol"] for item in body] == [f"S{i:03d}" for i in range(count)]


async def test_search_bad_limit_names_it(trading_client: Client) -> None:
    body = await udf(trading_client, "search", query="A", limit="many")
    assert body["s"] == "error"
    assert "limit" in body["errmsg"]


# --- history -----------------------------------------------------------------------------


async def test_history_example_shape(trading_client: Client) -> None:
    body = await history(
        trading_client, symbol="AAPL", resolution="1D", **{"from": 1_761_004_800, "to": TODAY}
    )
    assert_columns(body)
    assert UdfHistory.model_validate(body).model_dump() == body
    assert body["t"] == [1_761_004_800, 1_761_091_200, 1_761_177_600]


@pytest.mark.parametrize("resolution", ["1", "5", "15", "30", "60", "1D", "1W", "1M", "D", "W"])
async def test_history_equals_rest_bars(trading_client: Client, resolution: str) -> None:
    start, end = NOW_S - 40 * DAY, NOW_S + DAY
    body = await history(
        trading_client, symbol="AAPL", resolution=resolution, **{"from": start, "to": end}
    )
    assert_columns(body)
    bars = await rest(
        trading_client,
        "bars",
        symbol="AAPL",
        resolution=resolution,
        from_time=start * 1000,
        to_time=end * 1000,
    )
    assert_same_bars(body, bars)


async def test_history_full_range_equals_rest_and_contains_forming_bar(
    trading_client: Client,
) -> None:
    body = await history(trading_client, symbol="MSFT", resolution="1", **{"from": 0, "to": 2**40})
    assert_columns(body)
    assert body["t"][-1] == FORMING_MINUTE
    bars = await rest(
        trading_client, "bars", symbol="MSFT", resolution="1", from_time=0, to_time=2**40 * 1000
    )
    assert_same_bars(body, bars)


async def test_history_before_first_bar_has_no_next_time(trading_client: Client) -> None:
    body = await history(trading_client, symbol="AAPL", resolution="1D", **{"from": 0, "to": 1000})
    assert body == {"s": "no_data"}
    body = await history(
        trading_client, symbol="AAPL", resolution="D", **{"from": 0, "to": HISTORY_START}
    )
    assert body == {"s": "no_data"}


@pytest.mark.parametrize(
    ("start", "end", "next_time"),
    [
        (TODAY + 1, TODAY + 2, TODAY),  # inside today's bar: the forming bar is older
        (TODAY - DAY, TODAY - DAY, TODAY - 2 * DAY),  # empty range on a label
        (TODAY + 10 * DAY, TODAY + 20 * DAY, TODAY),  # the future
    ],
)
async def test_history_empty_range_points_to_next_time(
    trading_client: Client, start: int, end: int, next_time: int
) -> None:
    body = await history(
        trading_client, symbol="AAPL", resolution="1D", **{"from": start, "to": end}
    )
    assert body == {"s": "no_data", "nextTime": next_time}


async def test_history_countback_wins_over_from(trading_client: Client) -> None:
    body = await history(
        trading_client,
        symbol="AAPL",
        resolution="1D",
        countback=3,
        **{"from": TODAY - 1, "to": TODAY},
    )
    assert_columns(body)
    assert body["t"] == [TODAY - 3 * DAY, TODAY - 2 * DAY, TODAY - DAY]


async def test_history_countback_zero_is_a_range_query(trading_client: Client) -> None:
    params: dict[str, str | int] = {
        "symbol": "AAPL",
        "resolution": "60",
        "from": TODAY,
        "to": NOW_S,
    }
    assert await history(trading_client, countback=0, **params) == await history(
        trading_client, **params
    )


async def test_history_realtime_polling_moves_the_forming_bar(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    params: dict[str, str | int] = {"symbol": "AAPL", "resolution": "1", "countback": 2}
    first = await history(trading_client, **params, **{"from": NOW_S - 3600, "to": NOW_S})
    assert first["t"] == [FORMING_MINUTE - 60, FORMING_MINUTE]

    trading_clock.advance(2)  # 12:34:58.25, same minute
    later = await history(trading_client, **params, **{"from": NOW_S - 3600, "to": NOW_S + 2})
    assert later["t"] == first["t"]
    assert [later[k][0] for k in "ohlcv"] == [first[k][0] for k in "ohlcv"]  # completed bar
    assert later["o"][1] == first["o"][1]
    assert later["h"][1] >= first["h"][1]
    assert later["l"][1] <= first["l"][1]
    assert later["v"][1] > first["v"][1]

    trading_clock.advance(60)  # the next minute has started
    rolled = await history(trading_client, **params, **{"from": NOW_S - 3600, "to": NOW_S + 62})
    assert rolled["t"] == [FORMING_MINUTE, FORMING_MINUTE + 60]


async def test_history_ignores_unknown_parameters_and_accepts_negative_from(
    trading_client: Client,
) -> None:
    body = await history(
        trading_client,
        symbol="NASDAQ:AAPL",
        resolution="M",
        currencyCode="USD",
        unitId="x",
        **{"from": -(10**12), "to": 10**30},
    )
    assert_columns(body)
    assert body["t"][0] == HISTORY_START


VALID: dict[str, str] = {"symbol": "AAPL", "resolution": "1D", "from": "0", "to": str(TODAY)}


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"from": None}, "from"),
        ({"to": None}, "to"),
        ({"from": "abc"}, "from"),
        ({"from": "1.5"}, "from"),
        ({"to": ""}, "to"),
        ({"from": "2000", "to": "1000"}, "from"),
        ({"countback": "-1"}, "countback"),
        ({"countback": "two"}, "countback"),
        ({"to": "9" * 5000}, "to"),
        ({"from": "\u0663"}, "from"),  # a non-ASCII digit
        ({"symbol": None}, "symbol"),
        ({"resolution": None}, "resolution"),
        ({"resolution": "2"}, "Unsupported resolution: 2"),
        ({"resolution": "1d"}, "Unsupported resolution: 1d"),
        ({"symbol": "NOPE"}, "unknown_symbol"),
    ],
)
async def test_history_errors_are_200_with_errmsg(
    trading_client: Client, changes: dict[str, str | None], needle: str
) -> None:
    params = {k: v for k, v in {**VALID, **changes}.items() if v is not None}
    body = await history(trading_client, **params)
    assert set(body) == {"s", "errmsg"}
    assert body["s"] == "error"
    assert needle in body["errmsg"]


async def test_history_exact_error_messages(trading_client: Client) -> None:
    assert await history(trading_client, **{**VALID, "symbol": "NOPE"}) == {
        "s": "error",
        "errmsg": "unknown_symbol",
    }
    assert await history(trading_client, **{**VALID, "resolution": "3"}) == {
        "s": "error",
        "errmsg": "Unsupported resolution: 3",
    }


# --- quotes, time, unadvertised routes ---------------------------------------------------


async def test_quotes_are_the_rest_items_wrapped(trading_client: Client) -> None:
    requested = ["AAPL", "nope", "NASDAQ:MSFT", "AAPL"]
    body = await udf(trading_client, "quotes", symbols=",".join(requested))
    response = await trading_client.post(f"{REST}/quotes", json={"symbols": requested})
    assert body == {"s": "ok", "d": await response.json()}
    assert [item["n"] for item in body["d"]] == requested
    assert body["d"][1] == {"s": "error", "n": "nope", "v": {"error": "Symbol not found"}}


@pytest.mark.parametrize("symbols", [None, "", ",,", ",".join(["AAPL"] * 201)])
async def test_quotes_bad_symbols(trading_client: Client, symbols: str | None) -> None:
    params = {} if symbols is None else {"symbols": symbols}
    body = await udf(trading_client, "quotes", **params)
    assert set(body) == {"s", "errmsg"}
    assert body["s"] == "error"
    assert "symbols" in body["errmsg"]


async def test_quotes_accept_200_symbols(trading_client: Client) -> None:
    body = await udf(trading_client, "quotes", symbols=",".join(["MSFT"] * 200))
    assert len(body["d"]) == 200


async def test_time_is_the_clock_in_bare_seconds(
    trading_client: Client, trading_clock: ManualClock
) -> None:
    response = await trading_client.get(f"{UDF}/time")
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == str(NOW_S)
    trading_clock.advance(3600.9)
    response = await trading_client.get(f"{UDF}/time")
    assert await response.text() == str(NOW_S + 3601)


@pytest.mark.parametrize("route", ["marks", "timescale_marks"])
async def test_marks_are_empty(trading_client: Client, route: str) -> None:
    params = {"symbol": "AAPL", "from": "0", "to": "1", "resolution": "1D"}
    assert await udf(trading_client, route, **params) == []


async def test_group_requests_are_refused(trading_client: Client) -> None:
    body = await udf(trading_client, "symbol_info", group="NASDAQ")
    assert body == {"s": "error", "errmsg": "group requests are not supported"}


async def test_unknown_udf_path_is_json_404(trading_client: Client) -> None:
    response = await trading_client.get(f"{UDF}/nope")
    assert response.status == 404
    assert await response.json() == {"detail": "Not Found"}


# --- property: UDF and REST serve the same bars ------------------------------------------

LiveClient = tuple[asyncio.AbstractEventLoop, Client]


@pytest.fixture(scope="module")
def live_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveClient]:
    """One server for every hypothesis example, on a loop of its own (the test is sync)."""
    loop = asyncio.new_event_loop()
    settings = Settings(data_dir=tmp_path_factory.mktemp("udf"), clock=ManualClock(TEST_NOW))

    async def start() -> Client:
        client: Client = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        return client

    client = loop.run_until_complete(start())
    yield loop, client
    loop.run_until_complete(client.close())
    loop.close()


async def compare(
    client: Client, symbol: str, resolution: str, start: int, end: int, count_back: int, ms: int
) -> None:
    query: dict[str, str | int] = {"symbol": symbol, "resolution": resolution}
    body = await history(client, **query, countback=count_back, **{"from": start, "to": end})
    # REST in milliseconds, up to 999 ms before each UDF second: the same bars must qualify
    from_ms, to_ms = max(0, start * 1000 - ms), max(0, end * 1000 - ms)
    bars = await rest(
        client, "bars", **query, from_time=from_ms, to_time=to_ms, count_back=count_back
    )
    assert_same_bars(body, bars)


TODAY_UTC = NOW_S - NOW_S % DAY
# Instants on day and minute boundaries (where 1D/1W/1M and intraday labels sit) half the time,
# most of them within the 1-minute window, then nudged onto, just before or just after them.
days = st.one_of(st.integers(-2, 8), st.integers(-2, 400))
minutes_of_day = st.one_of(st.just(0), st.integers(0, 1439))
jitters = st.sampled_from([-1, 0, 0, 1, 29])


@settings(max_examples=30, deadline=None)
@given(
    symbol=st.sampled_from(["AAPL", "msft", "NYSE:IBM"]),
    resolution=st.sampled_from(["1", "5", "15", "30", "60", "1D", "1W", "1M", "D", "W", "M"]),
    end_days=days,
    end_minutes=minutes_of_day,
    end_jitter=jitters,
    span_days=st.integers(0, 40),
    span_minutes=minutes_of_day,
    start_jitter=jitters,
    count_back=st.one_of(st.just(0), st.integers(1, 400)),
    ms=st.integers(0, 999),
)
def test_udf_and_rest_return_the_same_bars(
    live_client: LiveClient,
    symbol: str,
    resolution: str,
    end_days: int,
    end_minutes: int,
    end_jitter: int,
    span_days: int,
    span_minutes: int,
    start_jitter: int,
    count_back: int,
    ms: int,
) -> None:
    loop, client = live_client
    end = TODAY_UTC - end_days * DAY + end_minutes * 60
    start = end - span_days * DAY - span_minutes * 60
    end, start = end + end_jitter, max(0, start + start_jitter)
    start = min(start, end)
    loop.run_until_complete(compare(client, symbol, resolution, start, end, count_back, ms))
