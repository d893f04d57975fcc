"""The OpenAPI document (rest.md §1, §4; udf.md §1): valid 3.1, the contract's operationIds,
tags, parameters, component names and declared errors, and no undocumented route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import validate

from trading.app import create_app
from trading.settings import Settings
from trading.specs.openapi import UndocumentedRouteError, build_openapi
from trading.specs.operation import operation, operation_of

# rest.md §4 and udf.md §1: (method, path) → (operationId, tags, error statuses)
V1 = "v1"
JSON_WRITE = {403, 415}  # issue 11, trading/security.py: foreign origin / body not JSON
DELETE_WRITE = {403}  # DELETE has no body: origin check only
ROUTE_INDEX: dict[tuple[str, str], tuple[str, list[str], set[int]]] = {
    ("get", "/"): ("root__get", ["root"], set()),
    ("get", "/api/v1/health"): ("getHealthStatus", [V1, "health"], set()),
    # readiness (issue 11): 503 carries the same body as 200, naming the failed checks
    ("get", "/api/v1/ready"): ("getReadiness", [V1, "health"], {503}),
    ("get", "/api/v1/versions"): ("getAPIVersions", [V1, "versioning"], set()),
    ("get", "/api/v1/version"): ("getCurrentAPIVersion", [V1, "versioning"], set()),
    ("get", "/api/v1/datafeed/config"): ("getConfig", [V1, "datafeed"], set()),
    ("get", "/api/v1/datafeed/search"): ("searchSymbols", [V1, "datafeed"], {422}),
    ("get", "/api/v1/datafeed/resolve/{symbol}"): ("resolveSymbol", [V1, "datafeed"], {404}),
    ("get", "/api/v1/datafeed/bars"): ("getBars", [V1, "datafeed"], {404, 422}),
    ("post", "/api/v1/datafeed/quotes"): ("getQuotes", [V1, "datafeed"], {422}),
    ("get", "/api/v1/datafeed/health"): ("datafeedHealthCheck", [V1, "datafeed"], set()),
    ("post", "/api/v1/broker/orders"): ("placeOrder", [V1, "broker"], {400, 422, *JSON_WRITE, 503}),
    ("post", "/api/v1/broker/orders/preview"): ("previewOrder", [V1, "broker"], {422}),
    ("put", "/api/v1/broker/orders/{order_id}"): (
        "modifyOrder",
        [V1, "broker"],
        {400, 422, *JSON_WRITE, 503},
    ),
    ("delete", "/api/v1/broker/orders/{order_id}"): (
        "cancelOrder",
        [V1, "broker"],
        {400, *DELETE_WRITE, 503},
    ),
    ("get", "/api/v1/broker/orders"): ("getOrders", [V1, "broker"], set()),
    # orders history (issue 13): keyset pages of final orders
    ("get", "/api/v1/broker/orders/history"): ("getOrdersHistory", [V1, "broker"], {422}),
    ("get", "/api/v1/broker/positions"): ("getPositions", [V1, "broker"], set()),
    ("get", "/api/v1/broker/executions/{symbol}"): ("getExecutions", [V1, "broker"], set()),
    ("get", "/api/v1/broker/account"): ("getAccountInfo", [V1, "broker"], set()),
    ("delete", "/api/v1/broker/positions/{position_id}"): (
        "closePosition",
        [V1, "broker"],
        {400, 404, 422, *DELETE_WRITE, 503},
    ),
    ("put", "/api/v1/broker/positions/{position_id}/brackets"): (
        "editPositionBrackets",
        [V1, "broker"],
        {404, 422, *JSON_WRITE, 503},
    ),
    ("get", "/api/v1/broker/leverage/info"): ("leverageInfo", [V1, "broker"], {400, 422}),
    ("put", "/api/v1/broker/leverage/set"): (
        "setLeverage",
        [V1, "broker"],
        {400, 422, *JSON_WRITE, 503},
    ),
    ("post", "/api/v1/broker/leverage/preview"): ("previewLeverage", [V1, "broker"], {422}),
    ("get", "/api/v1/broker/equity"): ("getEquity", [V1, "broker"], set()),
    ("get", "/api/v1/broker/config"): ("getBrokerConfig", [V1, "broker"], set()),
    # the desk operations (issue 13, rest.md §13)
    ("get", "/api/v1/broker/instruments/{symbol}"): ("getInstrumentInfo", [V1, "broker"], {404}),
    ("get", "/api/v1/broker/margin"): ("getMargin", [V1, "broker"], {400, 422}),
    ("post", "/api/v1/broker/positions/{position_id}/reverse"): (
        "reversePosition",
        [V1, "broker"],
        {400, 404, *JSON_WRITE, 503},
    ),
    ("delete", "/api/v1/broker/orders"): (
        "cancelOrders",
        [V1, "broker"],
        {400, 422, *DELETE_WRITE, 503},
    ),
    ("delete", "/api/v1/broker/positions"): (
        "closePositions",
        [V1, "broker"],
        {400, *DELETE_WRITE, 503},
    ),
    # accounts (issue 14, rest.md §14)
    ("get", "/api/v1/broker/accounts"): ("getAccounts", [V1, "broker"], set()),
    ("post", "/api/v1/broker/accounts"): (
        "openAccount",
        [V1, "broker"],
        {403, 409, 415, 422, 503},
    ),
    ("post", "/api/v1/broker/accounts/{account_id}/reset"): (
        "resetAccount",
        [V1, "broker"],
        {404, *JSON_WRITE, 503},
    ),
    ("get", "/api/v1/ws/stats"): ("getStreamingStats", [V1, "health"], set()),
    ("get", "/api/v1/udf/config"): ("udfConfig", [V1, "udf"], set()),
    ("get", "/api/v1/udf/symbols"): ("udfSymbols", [V1, "udf"], set()),
    ("get", "/api/v1/udf/search"): ("udfSearch", [V1, "udf"], set()),
    ("get", "/api/v1/udf/history"): ("udfHistory", [V1, "udf"], set()),
    ("get", "/api/v1/udf/quotes"): ("udfQuotes", [V1, "udf"], set()),
    ("get", "/api/v1/udf/time"): ("udfTime", [V1, "udf"], set()),
    # accounts and authentication (issue 14): sessions, tickets and the admin API
    ("post", "/api/v1/auth/login"): ("login", [V1, "auth"], {401, 404, 422, 429, *JSON_WRITE}),
    ("post", "/api/v1/auth/logout"): ("logout", [V1, "auth"], {401, 429, *JSON_WRITE}),
    ("get", "/api/v1/auth/me"): ("getMe", [V1, "auth"], {401, 429}),
    ("post", "/api/v1/auth/ws-ticket"): (
        "createWsTicket",
        [V1, "auth"],
        {401, 404, 429, 503, *JSON_WRITE},  # 503: a cluster's Redis is down (issue 15)
    ),
    ("post", "/api/v1/admin/users"): (
        "adminCreateUser",
        [V1, "admin"],
        {400, 401, 404, 422, *JSON_WRITE},
    ),
    ("get", "/api/v1/admin/users"): ("adminListUsers", [V1, "admin"], {401, 404}),
    ("post", "/api/v1/admin/users/{user_id}/keys"): (
        "adminAddKey",
        [V1, "admin"],
        {401, 404, *JSON_WRITE},
    ),
    ("delete", "/api/v1/admin/keys/{key_id}"): (
        "adminRevokeKey",
        [V1, "admin"],
        {401, 404, *DELETE_WRITE},
    ),
    # scenario control (issue 17, docs/scenarios.md): TRADING_CLOCK=manual, loopback only
    ("post", "/api/v1/debug/clock"): ("setClock", [V1, "debug"], {401, 404, 409, 422, *JSON_WRITE}),
    ("get", "/api/v1/debug/clock"): ("getClock", [V1, "debug"], {401, 404, 409}),
    ("post", "/api/v1/debug/prices"): (
        "setPrices",
        [V1, "debug"],
        {401, 404, 409, 422, *JSON_WRITE},
    ),
    ("post", "/api/v1/debug/evaluate"): (
        "evaluateOrders",
        [V1, "debug"],
        {401, 404, 409, 503, *JSON_WRITE},
    ),
    # bar replay (issue 17, docs/replay.md): sessions of an account, their market at replay-now
    ("post", "/api/v1/replay"): ("startReplay", [V1, "replay"], {409, 422, *JSON_WRITE, 503}),
    ("get", "/api/v1/replay"): ("listReplays", [V1, "replay"], set()),
    ("get", "/api/v1/replay/{replay_id}"): ("getReplay", [V1, "replay"], set()),
    ("patch", "/api/v1/replay/{replay_id}"): (
        "changeReplay",
        [V1, "replay"],
        {409, 422, *JSON_WRITE, 503},
    ),
    ("delete", "/api/v1/replay/{replay_id}"): ("endReplay", [V1, "replay"], {*DELETE_WRITE, 503}),
    ("get", "/api/v1/replay/{replay_id}/report"): ("getReplayReport", [V1, "replay"], {503}),
    ("get", "/api/v1/replay/{replay_id}/udf/config"): ("replayUdfConfig", [V1, "replay"], set()),
    ("get", "/api/v1/replay/{replay_id}/udf/symbols"): ("replayUdfSymbols", [V1, "replay"], set()),
    ("get", "/api/v1/replay/{replay_id}/udf/search"): ("replayUdfSearch", [V1, "replay"], set()),
    ("get", "/api/v1/replay/{replay_id}/udf/history"): ("replayUdfHistory", [V1, "replay"], set()),
    ("get", "/api/v1/replay/{replay_id}/udf/quotes"): ("replayUdfQuotes", [V1, "replay"], set()),
    ("get", "/api/v1/replay/{replay_id}/udf/time"): ("replayUdfTime", [V1, "replay"], set()),
    ("get", "/api/v1/replay/{replay_id}/datafeed/bars"): ("replayGetBars", [V1, "replay"], {422}),
    ("post", "/api/v1/replay/{replay_id}/datafeed/quotes"): (
        "replayGetQuotes",
        [V1, "replay"],
        {422},
    ),
}

CREATED = {
    ("post", "/api/v1/admin/users"),
    ("post", "/api/v1/admin/users/{user_id}/keys"),
    ("post", "/api/v1/broker/accounts"),
    ("post", "/api/v1/replay"),
}
NO_CONTENT = {("delete", "/api/v1/replay/{replay_id}")}
"""Routes whose success is 204 No Content (ending a replay session)."""

"""Routes whose success is 201 Created (issue 14's admin API), not 200."""


def access_errors(path: str) -> set[int]:
    """What TRADING_AUTH=keys adds (issue 14, docs/security.md): broker routes need credentials
    (401), are rate-limited per key (429) and name an account that may not be the caller's
    (404); market data may need credentials (TRADING_AUTH_MARKET=private)."""
    if path.startswith(("/api/v1/broker/", "/api/v1/replay")):
        return {401, 404, 429}
    if path.startswith(("/api/v1/datafeed/", "/api/v1/udf/")):
        return {401, 429}
    return set()


# rest.md §1: these names exactly (generated clients use them).
REQUIRED_COMPONENTS = [
    "APIMetadata",
    "APIVersion",
    "AccountMetainfo",
    "Bar",
    "Body_editPositionBrackets",
    "Brackets",
    "DatafeedConfiguration",
    "DatafeedHealthResponse",
    "DatafeedSymbolType",
    "Exchange",
    "Execution",
    "GetBarsResponse",
    "GetQuotesRequest",
    "HTTPValidationError",
    "HealthResponse",
    "LeverageInfo",
    "LeveragePreviewResult",
    "LeverageSetParams",
    "LeverageSetResult",
    "OrderPreviewResult",
    "OrderPreviewSection",
    "OrderPreviewSectionRow",
    "OrderStatus",
    "OrderType",
    "PlaceOrderResult",
    "PlacedOrder",
    "Position",
    "PreOrder",
    "QuoteData",
    "QuoteValues",
    "SearchSymbolResultItem",
    "Side",
    "StopType",
    "SuccessResponse",
    "SymbolInfo",
    "ValidationError",
    "VersionInfo",
    "HTTPError",
    "EquityData",
    "RootIndex",
    "StreamingStats",
]


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
    }


def test_document_is_valid_openapi_3_1(openapi_document: dict[str, Any]) -> None:
    assert openapi_document["openapi"] == "3.1.0"
    validate(openapi_document)


def test_every_route_of_the_index_with_its_operation_id_and_tags(
    openapi_document: dict[str, Any],
) -> None:
    ops = operations(openapi_document)
    assert set(ops) == set(ROUTE_INDEX), "documented routes differ from rest.md §4 + udf.md §1"
    for key, (operation_id, tags, _) in ROUTE_INDEX.items():
        assert ops[key]["operationId"] == operation_id, key
        assert ops[key]["tags"] == tags, key
        assert ops[key]["summary"], key


def test_declared_statuses_are_200_and_the_contract_errors(
    openapi_document: dict[str, Any],
) -> None:
    ops = operations(openapi_document)
    for key, (_, _, errors) in ROUTE_INDEX.items():
        success = "201" if key in CREATED else "204" if key in NO_CONTENT else "200"
        errors = errors | access_errors(key[1])
        assert set(ops[key]["responses"]) == {success, *map(str, errors)}, key
        for status in errors:
            body = "HTTPValidationError" if status == 422 else "HTTPError"
            if key == ("get", "/api/v1/ready"):
                body = "ReadinessResponse"
            schema = ops[key]["responses"][str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{body}"}, (key, status)


def test_component_names_are_the_contract_names(openapi_document: dict[str, Any]) -> None:
    names = set(openapi_document["components"]["schemas"])
    assert set(REQUIRED_COMPONENTS) <= names, sorted(set(REQUIRED_COMPONENTS) - names)
    assert not [n for n in names if n.endswith(("-Input", "-Output", "Input", "Output"))]
    assert all("__" not in n for n in names), "pydantic disambiguated a name clash"


def test_error_bodies(openapi_document: dict[str, Any]) -> None:
    schemas = openapi_document["components"]["schemas"]
    assert schemas["HTTPError"]["properties"] == {"detail": {"title": "Detail", "type": "string"}}
    assert schemas["HTTPError"]["required"] == ["detail"]
    detail = schemas["HTTPValidationError"]["properties"]["detail"]
    assert detail["items"] == {"$ref": "#/components/schemas/ValidationError"}
    assert set(schemas["ValidationError"]["required"]) == {"type", "loc", "msg"}


def test_security_requirements_say_what_each_operation_accepts(
    openapi_document: dict[str, Any],
) -> None:
    """A generated client sends its configured token only where ``security`` names a scheme
    (typescript-axios: ``Configuration({accessToken})``), so every operation that may need one
    must say so: the admin API its bearer (TRADING_ADMIN_KEY), the rest nothing in off mode or
    a key or the cookie in keys mode."""
    schemes = openapi_document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["cookie"] == {
        **schemes["cookie"], "type": "apiKey", "in": "cookie", "name": "trading_session",
    }  # fmt: skip
    any_credentials: list[dict[str, list[str]]] = [{}, {"bearer": []}, {"cookie": []}]
    for (method, path), op in operations(openapi_document).items():
        if path.startswith("/api/v1/admin/"):
            assert op.get("security") == [{"bearer": []}], (method, path)
        elif path.startswith("/api/v1/debug/"):  # keys mode: the admin key; off mode: none
            assert op.get("security") == [{}, {"bearer": []}], (method, path)
        elif path.startswith(
            ("/api/v1/broker", "/api/v1/replay", "/api/v1/datafeed", "/api/v1/udf")
        ) or path in (
            "/api/v1/auth/me", "/api/v1/auth/logout", "/api/v1/auth/ws-ticket",
        ):  # fmt: skip
            assert op.get("security") == any_credentials, (method, path)
            assert {"401", "429"} <= set(op["responses"]), (method, path)
        else:
            assert "security" not in op, (method, path)


def test_enums_are_integers_with_the_tradingview_values(openapi_document: dict[str, Any]) -> None:
    schemas = openapi_document["components"]["schemas"]
    assert schemas["Side"] == {
        "enum": [1, -1, 1, -1],
        "title": "Side",
        "type": "integer",
        "x-enum-varnames": ["Buy", "Sell", "NUMBER_1", "NUMBER_MINUS_1"],
    }, "TradingView's names, then the names a client of the reference document has"
    named = {
        "OrderType": ([1, 2, 3, 4], ["Limit", "Market", "Stop", "StopLimit"]),
        "OrderStatus": (
            [1, 2, 3, 4, 5, 6],
            ["Canceled", "Filled", "Inactive", "Placing", "Rejected", "Working"],
        ),
        "StopType": ([0, 1, 2], ["StopLoss", "TrailingStop", "GuaranteedStop"]),
    }
    for name, (values, names) in named.items():
        assert schemas[name]["enum"] == values + values, name
        generated = [f"NUMBER_{v}" for v in values]
        assert schemas[name]["x-enum-varnames"] == names + generated, name
    assert schemas["APIVersion"]["enum"] == ["v1", "v2"]


def test_string_enums_of_the_reference_stay_inline(openapi_document: dict[str, Any]) -> None:
    """Generated clients name them QuoteDataSEnum / SymbolInfoDataStatusEnum (a component
    would rename them); ValidationError.loc's item type is LocationInner (its title)."""
    schemas = openapi_document["components"]["schemas"]
    assert schemas["QuoteData"]["properties"]["s"] == {"enum": ["ok", "error"], "type": "string"}
    status = schemas["SymbolInfo"]["properties"]["data_status"]
    assert status == {"enum": ["streaming", "endofday", "delayed_streaming"], "type": "string"}
    assert schemas["ValidationError"]["properties"]["loc"]["title"] == "Location"


def params(document: dict[str, Any], method: str, path: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = document["paths"][path][method].get("parameters", [])
    return result


def test_parameters_names_order_location_and_required(openapi_document: dict[str, Any]) -> None:
    def shape(method: str, path: str) -> list[tuple[str, str, bool]]:
        return [(p["name"], p["in"], p["required"]) for p in params(openapi_document, method, path)]

    assert shape("get", "/api/v1/datafeed/bars") == [
        ("symbol", "query", True),
        ("resolution", "query", True),
        ("from_time", "query", True),
        ("to_time", "query", True),
        ("count_back", "query", False),
    ]
    assert shape("get", "/api/v1/datafeed/search") == [
        ("user_input", "query", True),
        ("exchange", "query", False),
        ("symbol_type", "query", False),
        ("max_results", "query", False),
    ]
    assert shape("get", "/api/v1/datafeed/resolve/{symbol}") == [("symbol", "path", True)]
    # every broker operation may name its account (issue 14, rest.md §14), as the last one
    account = ("X-Account-Id", "header", False)
    assert shape("delete", "/api/v1/broker/positions/{position_id}") == [
        ("position_id", "path", True),
        ("amount", "query", False),
        account,
    ]
    assert shape("get", "/api/v1/broker/leverage/info") == [
        ("symbol", "query", True),
        ("orderType", "query", True),
        ("side", "query", True),
        account,
    ]
    assert shape("post", "/api/v1/broker/orders") == [
        ("Idempotency-Key", "header", False),
        account,
    ]
    assert shape("get", "/api/v1/broker/equity") == [account]
    assert shape("get", "/api/v1/udf/history") == [
        ("symbol", "query", True),
        ("resolution", "query", True),
        ("from", "query", True),
        ("to", "query", True),
        ("countback", "query", False),
    ]


def test_parameter_schemas_carry_types_enums_and_bounds(openapi_document: dict[str, Any]) -> None:
    bars = {p["name"]: p for p in params(openapi_document, "get", "/api/v1/datafeed/bars")}
    assert bars["from_time"]["schema"] == {"minimum": 0, "type": "integer"}
    # As permissive as the reference: `count_back?: number | null` in generated clients, and
    # resolution a plain string (an inline enum is a duplicate declaration in them).
    assert bars["count_back"]["schema"] == {
        "anyOf": [{"minimum": 0, "type": "integer"}, {"type": "null"}]
    }
    assert bars["resolution"]["schema"] == {"type": "string"}
    assert "1D" in bars["resolution"]["description"]
    history = {p["name"]: p for p in params(openapi_document, "get", "/api/v1/udf/history")}
    assert history["resolution"]["schema"] == {"type": "string"}
    search = {p["name"]: p for p in params(openapi_document, "get", "/api/v1/datafeed/search")}
    assert search["max_results"]["schema"] == {
        "default": 50,
        "maximum": 100,
        "minimum": 1,
        "type": "integer",
    }
    leverage = {
        p["name"]: p for p in params(openapi_document, "get", "/api/v1/broker/leverage/info")
    }
    assert leverage["side"]["schema"] == {"$ref": "#/components/schemas/Side"}
    close = params(openapi_document, "delete", "/api/v1/broker/positions/{position_id}")
    assert close[1]["schema"] == {
        "anyOf": [{"exclusiveMinimum": 0, "type": "number"}, {"type": "null"}]
    }


def test_no_parameter_declares_an_inline_enum(openapi_document: dict[str, Any]) -> None:
    """openapi-generator writes each operation into both of its tags' API files: an inline
    parameter enum would be exported twice (TS2451/TS2308). Enums are components."""
    for (method, path), op in operations(openapi_document).items():
        for param in op.get("parameters", []):
            assert "enum" not in str(param["schema"]), (method, path, param["name"])


def test_request_bodies(openapi_document: dict[str, Any]) -> None:
    ops = operations(openapi_document)
    bodies = {
        key: op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for key, op in ops.items()
        if "requestBody" in op
    }
    assert bodies == {
        ("post", "/api/v1/datafeed/quotes"): "GetQuotesRequest",
        ("post", "/api/v1/broker/orders"): "PreOrder",
        ("post", "/api/v1/broker/orders/preview"): "PreOrder",
        ("put", "/api/v1/broker/orders/{order_id}"): "PreOrder",
        ("put", "/api/v1/broker/positions/{position_id}/brackets"): "Body_editPositionBrackets",
        ("put", "/api/v1/broker/leverage/set"): "LeverageSetParams",
        ("post", "/api/v1/broker/leverage/preview"): "LeverageSetParams",
        ("post", "/api/v1/broker/accounts"): "NewAccount",
        ("post", "/api/v1/auth/login"): "LoginRequest",
        ("post", "/api/v1/admin/users"): "CreateUserRequest",
        # POSTs that read no body: declared optional so a generated client sends JSON `{}`
        # (a browser's bodiless POST is 415 without Content-Type: application/json)
        ("post", "/api/v1/auth/logout"): "EmptyBody",
        ("post", "/api/v1/auth/ws-ticket"): "EmptyBody",
        ("post", "/api/v1/admin/users/{user_id}/keys"): "EmptyBody",
        ("post", "/api/v1/broker/accounts/{account_id}/reset"): "EmptyBody",
        ("post", "/api/v1/broker/positions/{position_id}/reverse"): "EmptyBody",
        ("post", "/api/v1/debug/clock"): "ClockRequest",
        ("post", "/api/v1/debug/prices"): "PricesRequest",
        ("post", "/api/v1/debug/evaluate"): "EmptyBody",
        ("post", "/api/v1/replay"): "NewReplay",
        ("patch", "/api/v1/replay/{replay_id}"): "ReplayChange",
        ("post", "/api/v1/replay/{replay_id}/datafeed/quotes"): "GetQuotesRequest",
    }
    for key, name in bodies.items():
        assert ops[key]["requestBody"]["required"] is (name != "EmptyBody"), key


def test_list_responses_and_udf_unions(openapi_document: dict[str, Any]) -> None:
    def ok(method: str, path: str) -> Any:
        op = openapi_document["paths"][path][method]
        return op["responses"]["200"]["content"]

    assert ok("get", "/api/v1/broker/orders")["application/json"]["schema"] == {
        "items": {"$ref": "#/components/schemas/PlacedOrder"},
        "type": "array",
    }
    history = ok("get", "/api/v1/udf/history")["application/json"]["schema"]["anyOf"]
    assert [s["$ref"].rsplit("/", 1)[1] for s in history] == ["UdfHistory", "UdfNoData", "UdfError"]
    assert ok("get", "/api/v1/udf/time") == {"text/plain": {"schema": {"type": "integer"}}}


def test_hidden_and_infrastructure_routes_are_not_documented(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", bench=True))
    paths = build_openapi(app)["paths"]
    for hidden in (
        "/api/v1/broker/debug/reset",
        "/api/v1/__bench/publish",
        "/api/v1/__bench/broker",
        "/api/v1/__bench/stats",
        "/api/v1/ws",
        "/api/v1/openapi.json",
        "/api/v1/docs",
        "/api/v1/redoc",
        "/api/v1/ws/asyncapi.json",
        "/api/v1/ws/asyncapi",
        "/api/v1/udf/marks",
        "/api/v1/udf/timescale_marks",
        "/api/v1/udf/symbol_info",
    ):
        assert hidden not in paths
    assert not any("head" in item for item in paths.values())
    assert not any(p.startswith("/api/v1/docs/static") for p in paths)


def test_a_route_without_metadata_fails_the_build(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))

    async def forgotten(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/v1/forgotten", forgotten)
    with pytest.raises(UndocumentedRouteError, match="GET /api/v1/forgotten"):
        build_openapi(app)


def test_operation_ids_must_be_unique(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))

    @operation("getConfig", tag="datafeed", summary="a clash")
    async def clash(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/v1/clash", clash)
    with pytest.raises(ValueError, match="operationId 'getConfig'"):
        build_openapi(app)


def test_operation_decorator_keeps_the_handler_and_follows_wraps() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    decorated = operation("x", tags=["root"], summary="s")(handler)
    assert decorated is handler
    meta = operation_of(handler)
    assert meta is not None
    assert meta.tags == ("root",)
    assert meta.responses == {200: None}
    with pytest.raises(TypeError, match="exactly one of tag= or tags="):
        operation("y", tag="a", tags=["b"], summary="s")


async def test_served_document_is_the_built_one(
    trading_client: Any, openapi_document: dict[str, Any]
) -> None:
    response = await trading_client.get("/api/v1/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == openapi_document
    again = await trading_client.get("/api/v1/openapi.json")
    assert await again.read() == await response.read(), "cached and stable"
