"""Meta routes (rest.md §5) and application-wide HTTP behaviour: JSON errors, redirects, CORS,
and ``create_app`` honouring its Settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from trading.app import create_app
from trading.settings import Settings

Client = TestClient[web.Request, web.Application]

WS_ROUTES = ["bars", "quotes", "orders", "positions", "executions", "equity", "broker-connection"]
WS_ROUTES += ["pl", "margin"]  # this backend's own (issue 13), after the reference's
WS_ROUTES += ["replay"]  # issue 17: a replay session's stream
V1: dict[str, Any] = {
    "version": "v1",
    "release_date": "2025-10-04",
    "status": "stable",
    "breaking_changes": [],
    "deprecation_notice": None,
    "sunset_date": None,
}
BARS_1D = {"symbol": "AAPL", "resolution": "1D", "from_time": "0", "to_time": "4000000000000"}
BARS_1M = {**BARS_1D, "resolution": "1"}


async def get_json(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


# --- meta routes -------------------------------------------------------------------------


async def test_root_index(trading_client: Client) -> None:
    body = await get_json(trading_client, "/")
    assert body == {
        "name": "Trading API",
        "version": "1.0.0",
        "current_api_version": "v1",
        "documentation": "/api/v1/docs",
        "health": "/api/v1/health",
        "versions": "/api/v1/versions",
        "datafeed": "/api/v1/datafeed",
        "udf": "/api/v1/udf",
        "websockets": {
            route: {
                "endpoint": "/api/v1/ws",
                "docs": "/api/v1/ws/asyncapi",
                "spec": "/api/v1/ws/asyncapi.json",
                "operations": [f"{route}.subscribe", f"{route}.unsubscribe", f"{route}.update"],
                "note": "WebSocket endpoints use AsyncAPI spec, not OpenAPI/Swagger",
            }
            for route in WS_ROUTES
        },
    }
    assert list(body["websockets"]) == WS_ROUTES


async def test_health(trading_client: Client) -> None:
    assert await get_json(trading_client, "/api/v1/health") == {
        "status": "ok",
        "message": "Trading API is running",
        "timestamp": "2025-10-24T12:34:56.250Z",
        "api_version": "v1",
        "version_info": {
            "version": "v1",
            "release_date": "2025-10-04",
            "status": "stable",
            "deprecation_notice": None,
        },
    }


async def test_versions(trading_client: Client) -> None:
    assert await get_json(trading_client, "/api/v1/versions") == {
        "current_version": "v1",
        "available_versions": [
            V1,
            {
                "version": "v2",
                "release_date": "TBD",
                "status": "planned",
                "breaking_changes": [
                    "Authentication required for all endpoints",
                    "New response format for error messages",
                    "Renamed health endpoint to status",
                ],
                "deprecation_notice": None,
                "sunset_date": None,
            },
        ],
        "documentation_url": "/api/v1/docs",
        "support_contact": "support@trading-pro.nodomainyet",
    }


async def test_version(trading_client: Client) -> None:
    assert await get_json(trading_client, "/api/v1/version") == V1


# --- errors and redirects ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v2/health", "/api/v1/datafeed"])
async def test_unknown_path_is_json_404(trading_client: Client, path: str) -> None:
    assert await get_json(trading_client, path, 404) == {"detail": "Not Found"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/api/v1/health", "GET"),
        ("DELETE", "/api/v1/datafeed/bars", "GET"),
        ("GET", "/api/v1/datafeed/quotes", "POST"),
        ("PUT", "/api/v1/udf/history", "GET"),
    ],
)
async def test_wrong_method_is_json_405_with_allow(
    trading_client: Client, method: str, path: str, allowed: str
) -> None:
    response = await trading_client.request(method, path)
    assert response.status == 405
    assert await response.json() == {"detail": "Method Not Allowed"}
    assert allowed in {m.strip() for m in response.headers["Allow"].split(",")}


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/api/v1/health/", "/api/v1/health"),
        ("/api/v1/datafeed/search/?user_input=a", "/api/v1/datafeed/search?user_input=a"),
        ("/api/v1/udf/time/", "/api/v1/udf/time"),
    ],
)
async def test_trailing_slash_redirects_with_307(
    trading_client: Client, path: str, location: str
) -> None:
    response = await trading_client.get(path, allow_redirects=False)
    assert response.status == 307
    assert response.headers["Location"] == location


# --- CORS --------------------------------------------------------------------------------


async def test_cors_allows_any_origin_without_credentials(trading_client: Client) -> None:
    response = await trading_client.get(
        "/api/v1/datafeed/config", headers={"Origin": "http://app.example"}
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_cors_headers_on_errors_too(trading_client: Client) -> None:
    response = await trading_client.get(
        "/api/v1/datafeed/bars", headers={"Origin": "http://app.example"}
    )
    assert response.status == 422
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_cors_preflight(trading_client: Client) -> None:
    response = await trading_client.options(
        "/api/v1/datafeed/quotes",
        headers={
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_cors_restricted_origins(
    aiohttp_client: AiohttpClient, trading_settings: Settings
) -> None:
    client = await aiohttp_client(
        create_app(trading_settings.replace(cors_origins=("http://good.example",)))
    )
    good = await client.get("/api/v1/health", headers={"Origin": "http://good.example"})
    assert good.headers["Access-Control-Allow-Origin"] == "http://good.example"
    assert "Origin" in good.headers.get("Vary", "")
    bad = await client.get("/api/v1/health", headers={"Origin": "http://evil.example"})
    assert bad.status == 200
    assert "Access-Control-Allow-Origin" not in bad.headers


# --- create_app honours its Settings -----------------------------------------------------


async def bars_of(client: Client, params: dict[str, str]) -> list[Any]:
    response = await client.get("/api/v1/datafeed/bars", params=params)
    assert response.status == 200
    return list((await response.json())["bars"])


async def test_same_settings_give_the_same_bars(
    aiohttp_client: AiohttpClient, trading_settings: Settings, trading_client: Client
) -> None:
    # a second app beside the first needs its own data dir (one server per data dir)
    again = await aiohttp_client(
        create_app(trading_settings.replace(data_dir=trading_settings.data_dir / "other"))
    )
    assert await bars_of(again, BARS_1D) == await bars_of(trading_client, BARS_1D)


async def test_seed_changes_the_bars(
    aiohttp_client: AiohttpClient, trading_settings: Settings, trading_client: Client
) -> None:
    other = await aiohttp_client(
        create_app(
            trading_settings.replace(market_seed=7, data_dir=trading_settings.data_dir / "other")
        )
    )
    seeded = await bars_of(other, BARS_1D)
    default = await bars_of(trading_client, BARS_1D)
    assert [b["time"] for b in seeded] == [b["time"] for b in default]
    assert [b["close"] for b in seeded] != [b["close"] for b in default]


async def test_max_bars_caps_rest_and_udf(
    aiohttp_client: AiohttpClient, trading_settings: Settings, trading_client: Client
) -> None:
    capped = await aiohttp_client(
        create_app(
            trading_settings.replace(max_bars=50, data_dir=trading_settings.data_dir / "other")
        )
    )
    full = await bars_of(trading_client, BARS_1M)
    assert await bars_of(capped, BARS_1M) == full[-50:]
    assert await bars_of(capped, {**BARS_1M, "count_back": "1000"}) == full[-50:]
    response = await capped.get(
        "/api/v1/udf/history",
        params={"symbol": "AAPL", "resolution": "1", "from": "0", "to": "4000000000"},
    )
    body = await response.json()
    assert [t * 1000 for t in body["t"]] == [b["time"] for b in full[-50:]]


async def test_history_start_and_intraday_depth_settings(
    aiohttp_client: AiohttpClient, trading_settings: Settings
) -> None:
    custom = trading_settings.replace(
        history_start=dt.date(2024, 1, 1),
        intraday_depth_days={1: 1, 5: 2, 15: 3, 30: 4, 60: 5},
    )
    client = await aiohttp_client(create_app(custom))
    daily = await bars_of(client, BARS_1D)
    assert daily[0]["time"] == 1_704_067_200_000  # 2024-01-01
    minutes = await bars_of(client, BARS_1M)
    assert minutes[0]["time"] == 1_761_192_000_000  # 2025-10-23 00:00 New York
