"""Request examples of the OpenAPI document (what Swagger UI's "try it out" sends): every
request body has one, it is valid against its schema, and the real server accepts it."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.brokerkit import Client, call, get, limit_order, market_order, place
from trading.broker.enums import OrderStatus, Side

BODY_OPERATIONS = {
    "getQuotes",
    "placeOrder",
    "previewOrder",
    "modifyOrder",
    "editPositionBrackets",
    "setLeverage",
    "previewLeverage",
}
KEYS_MODE_BODIES = {"login", "adminCreateUser", "openAccount"}
SCENARIO_BODIES = {"setClock", "setPrices"}
REPLAY_BODIES = {"startReplay", "changeReplay", "replayGetQuotes"}
"""Bodies of the replay routes (issue 17, docs/replay.md), served in order on one session."""
"""Bodies of TRADING_CLOCK=manual routes (issue 17): a default server answers them 409, so
their examples are checked against the schema here and served in tests/test_scenario.py."""
"""Bodies of TRADING_AUTH=keys routes (issue 14): their examples are checked here against the
schema; off mode answers them 404, and a key cannot be an example (tests/test_auth.py)."""
EMPTY_BODIES = {
    "logout",
    "createWsTicket",
    "adminAddKey",
    "resetAccount",
    "reversePosition",
    "evaluateOrders",
}
"""POSTs that read no body and declare an optional one, `{}` (trading/specs/openapi.py)."""


def examples(document: dict[str, Any]) -> dict[str, tuple[str, str, Any, dict[str, Any]]]:
    """operationId → (method, path, example, body schema) of every operation with a body."""
    found = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            media = op.get("requestBody", {}).get("content", {}).get("application/json")
            if media is not None:
                found[op["operationId"]] = (method, path, media.get("example"), media["schema"])
    return found


def test_every_request_body_has_an_example_valid_against_its_schema(
    openapi_document: dict[str, Any],
) -> None:
    found = examples(openapi_document)
    assert (
        set(found)
        == BODY_OPERATIONS | KEYS_MODE_BODIES | SCENARIO_BODIES | REPLAY_BODIES | EMPTY_BODIES
    )
    for operation_id, (_, _, example, schema) in found.items():
        assert example is not None, f"{operation_id}: no request example"
        root = {**schema, "components": openapi_document["components"]}
        errors = [e.message for e in Draft202012Validator(root).iter_errors(example)]
        assert not errors, (operation_id, errors)
        component = openapi_document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert component["examples"][0] == example, "the model's example is the one shown"


async def _path_of(client: Client, operation_id: str, path: str) -> str:
    """``path`` with its parameter filled by something that exists on a fresh account."""
    if operation_id == "modifyOrder":
        order_id = await place(client, limit_order(Side.BUY, 1, 100.0))
        return path.replace("{order_id}", order_id)
    if operation_id == "editPositionBrackets":
        await place(client, market_order(Side.BUY, 1))  # fills into a position
        [position] = await get(client, "/positions")
        return path.replace("{position_id}", position["id"])
    return path


@pytest.mark.parametrize("operation_id", sorted(BODY_OPERATIONS))
async def test_the_server_accepts_each_example(
    trading_client: Client, openapi_document: dict[str, Any], operation_id: str
) -> None:
    method, path, example, _ = examples(openapi_document)[operation_id]
    path = await _path_of(trading_client, operation_id, path)
    if path.startswith("/api/v1/broker"):
        status, body = await call(
            trading_client, method.upper(), path.removeprefix("/api/v1/broker"), example
        )
    else:
        response = await trading_client.request(method.upper(), path, json=example)
        status, body = response.status, await response.json()
    assert status == 200, (operation_id, body)
    if operation_id == "placeOrder":
        [order] = await get(trading_client, "/orders")
        assert order["id"] == body["orderId"]
        assert order["status"] == OrderStatus.WORKING, "the example limit order rests (working)"


async def test_the_server_accepts_the_replay_examples(
    trading_client: Client, openapi_document: dict[str, Any]
) -> None:
    found = examples(openapi_document)
    _, path, example, _ = found["startReplay"]
    response = await trading_client.post(path, json=example)
    session = await response.json()
    assert response.status == 201, session
    for operation_id in ("changeReplay", "replayGetQuotes"):
        method, path, example, _ = found[operation_id]
        path = path.replace("{replay_id}", session["id"])
        response = await trading_client.request(method.upper(), path, json=example)
        assert response.status == 200, (operation_id, await response.json())
