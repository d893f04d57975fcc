"""The AsyncAPI document (websocket.md §2-§4, §6, §10): built from the route registry, accepted
by the official parser, with the contract's component names, and served."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.spec_checks import AsyncAPIChecker, SpecViolation
from trading.specs.asyncapi import pascal
from trading.ws.protocol import ROUTES

NODE_DIR = Path(__file__).resolve().parent.parent / "tools" / "node"
PARSER = NODE_DIR / "node_modules" / "@asyncapi" / "parser"

# websocket.md §10: generated frontend types use these names.
REQUIRED_COMPONENTS = [
    "Bar",
    "BarsSubscriptionRequest",
    "BrokerConnectionStatus",
    "BrokerConnectionSubscriptionRequest",
    "EquityData",
    "EquitySubscriptionRequest",
    "Execution",
    "ExecutionSubscriptionRequest",
    "OrderSubscriptionRequest",
    "PlacedOrder",
    "Position",
    "PositionSubscriptionRequest",
    "QuoteData",
    "QuoteDataSubscriptionRequest",
    "QuoteValues",
    "SubscriptionResponse",
    "WsError",
    "Side",
    "OrderStatus",
    "OrderType",
    "StopType",
]


@pytest.fixture(scope="module")
def node_parser() -> Path:
    """The official parser, installed by ``make node-deps`` (``npm ci`` here if missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js/npm not found: the AsyncAPI parser check needs them (make node-deps)")
    if not PARSER.is_dir():
        done = subprocess.run(
            [npm, "ci"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"npm ci in {NODE_DIR} failed:\n{done.stderr[-3000:]}"
    return Path(node)


def test_official_parser_accepts_the_document(
    node_parser: Path, asyncapi_document: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(asyncapi_document), encoding="utf-8")
    done = subprocess.run(
        [str(node_parser), str(NODE_DIR / "validate-asyncapi.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report == {"parsed": True, "errors": [], "warnings": []}


def test_version_and_required_component_names(asyncapi_document: dict[str, Any]) -> None:
    assert asyncapi_document["asyncapi"] == "3.0.0"
    names = set(asyncapi_document["components"]["schemas"])
    assert set(REQUIRED_COMPONENTS) <= names, sorted(set(REQUIRED_COMPONENTS) - names)
    schemas = asyncapi_document["components"]["schemas"]
    assert schemas["Side"]["enum"] == [1, -1]
    assert schemas["Side"]["x-enum-varnames"] == ["Buy", "Sell"], "one entry per value here"
    assert schemas["WsError"]["properties"]["code"] == {"$ref": "#/components/schemas/WsErrorCode"}


def test_update_payloads_have_the_reference_names(asyncapi_document: dict[str, Any]) -> None:
    """Generated WebSocket types name them SubscriptionUpdate_<Model>_ as the reference's."""
    schemas = asyncapi_document["components"]["schemas"]
    for route in ROUTES.values():
        model = route.update_model.__name__
        update = schemas[f"SubscriptionUpdate_{model}_"]
        assert update["title"] == f"SubscriptionUpdate[{model}]"
        assert update["required"] == ["topic", "payload"]
        assert update["properties"]["payload"] == {"$ref": f"#/components/schemas/{model}"}
        envelope = schemas[f"{pascal(route.name)}UpdateMessage"]
        assert envelope["properties"]["payload"] == {
            "$ref": f"#/components/schemas/SubscriptionUpdate_{model}_"
        }


def test_one_channel_per_route_and_the_operations_of_each(
    asyncapi_document: dict[str, Any],
) -> None:
    channels, ops = asyncapi_document["channels"], asyncapi_document["operations"]
    assert set(channels) == {*ROUTES, "system"}
    for name, route in ROUTES.items():
        assert channels[name]["address"] == "/api/v1/ws"
        assert f"{name}:" in channels[name]["description"], "topic rule with an example"
        key = "".join(p.capitalize() for p in name.split("-"))
        key = key[0].lower() + key[1:]
        for op, action in (
            ("Subscribe", "receive"),
            ("Unsubscribe", "receive"),
            ("Update", "send"),
        ):
            operation = ops[f"{key}{op}"]
            assert operation["action"] == action
            assert operation["channel"] == {"$ref": f"#/channels/{name}"}
            assert operation["tags"] == [{"name": route.tag}]
        reply = ops[f"{key}Subscribe"]["reply"]["messages"][0]["$ref"]
        assert reply == f"#/channels/{name}/messages/{key}SubscribeResponse"
    assert ops["ping"]["reply"]["messages"] == [{"$ref": "#/channels/system/messages/pong"}]
    assert ops["error"]["action"] == "send"


def test_message_payloads_are_envelopes_of_the_route_models(
    asyncapi_document: dict[str, Any],
) -> None:
    schemas = asyncapi_document["components"]["schemas"]
    update = schemas["BarsUpdateMessage"]
    assert update["properties"]["type"] == {"type": "string", "const": "bars.update"}
    named = {"$ref": "#/components/schemas/SubscriptionUpdate_Bar_"}
    assert update["properties"]["payload"] == named
    inner = schemas["SubscriptionUpdate_Bar_"]
    assert inner["required"] == ["topic", "payload"]
    assert inner["properties"]["payload"] == {"$ref": "#/components/schemas/Bar"}
    subscribe = schemas["BrokerConnectionSubscribeMessage"]["properties"]
    assert subscribe["type"]["const"] == "broker-connection.subscribe"
    assert subscribe["payload"] == {
        "$ref": "#/components/schemas/BrokerConnectionSubscriptionRequest"
    }
    response = schemas["QuotesUnsubscribeResponseMessage"]["properties"]
    assert response["type"]["const"] == "quotes.unsubscribe.response"
    assert response["payload"] == {"$ref": "#/components/schemas/SubscriptionResponse"}


def test_description_documents_envelope_topic_rule_and_errors(
    asyncapi_document: dict[str, Any],
) -> None:
    text = asyncapi_document["info"]["description"]
    for needle in ('{"type": string, "payload": ...}', "keys sorted", "invalid_json",
                   "unknown_type", "Invalid payload: ", "1008"):  # fmt: skip
        assert needle in text


def test_checker_rejects_frames_outside_the_document(asyncapi_checker: AsyncAPIChecker) -> None:
    asyncapi_checker.check('{"type":"pong","payload":null}')
    asyncapi_checker.check(
        '{"type":"bars.subscribe.response","payload":{"status":"ok","message":"Subscribed",'
        '"topic":"bars:{}"}}'
    )
    with pytest.raises(SpecViolation, match="undocumented type"):
        asyncapi_checker.check('{"type":"bars.subscribe","payload":{"symbol":"AAPL"}}')
    with pytest.raises(SpecViolation, match="at payload/payload"):
        asyncapi_checker.check('{"type":"bars.update","payload":{"topic":"t","payload":{}}}')


async def test_served_document_is_the_built_one(
    trading_client: Any, asyncapi_document: dict[str, Any]
) -> None:
    response = await trading_client.get("/api/v1/ws/asyncapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    served = await response.json()
    # the server is the one the reader reached (issue 11), not the exported localhost:8000
    host = f"{trading_client.host}:{trading_client.port}"
    assert served.pop("servers") == {
        "local": {**asyncapi_document["servers"]["local"], "host": host, "protocol": "ws"}
    }
    assert served == {k: v for k, v in asyncapi_document.items() if k != "servers"}
