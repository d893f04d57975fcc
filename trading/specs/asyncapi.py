"""The AsyncAPI 3.0 document of ``/api/v1/ws``, built from the WS route registry.

:data:`trading.ws.protocol.ROUTES` is what the handler dispatches on, so the document cannot list
a route the server does not serve (or miss one it does). Per route: one channel (the topic
family), operations for subscribe and unsubscribe (received, each with its reply) and for
updates (sent); payloads come from the same pydantic models. A ``system`` channel carries
``ping``/``pong`` and the ``error`` message. Every frame is the envelope
``{"type": <literal>, "payload": ...}``, so each message payload is an envelope schema named
``<Route><Kind>Message`` whose ``type`` is a constant (clients and the test suite find the schema
of a received frame by that constant).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from trading import __version__
from trading.models.ws import SubscriptionResponse, WsError, WsErrorCode
from trading.specs.schemas import JsonSchema, SchemaSet, reachable, ref_name
from trading.ws.handler import WS_PATH
from trading.ws.protocol import BARS, QUOTES, REPLAY, ROUTES, WsRoute

ASYNCAPI_VERSION = "3.0.0"
SYSTEM_CHANNEL = "system"

TOPIC_RULE = (
    "The topic of a subscription is `<route>:` followed by its request payload after "
    "validation (unknown fields dropped, defaults filled in), without null fields, serialized "
    "as compact JSON with keys sorted and non-ASCII characters written as themselves (like "
    "JavaScript's `JSON.stringify` on a key-sorted object). Values are never normalized "
    "(`D` and `1D` are distinct topics). Match replies and updates by exact topic string."
)

DESCRIPTION = f"""\
One multiplexed WebSocket at `{WS_PATH}` carries every live feed.

**Envelope.** Every frame is a UTF-8 text frame holding one JSON object
`{{"type": string, "payload": ...}}`; extra top-level keys are ignored. Clients send
`<route>.subscribe` / `<route>.unsubscribe` with the route's request model as payload (and
optionally `ping`). The server answers `<route>.subscribe.response` /
`<route>.unsubscribe.response` (a SubscriptionResponse), pushes `<route>.update` frames
`{{"topic": string, "payload": <route's update model>}}` (the snapshot after an `ok` subscribe
is sent as ordinary updates), answers `ping` with `pong`, and reports frames it cannot attribute
to a route operation with `error` (a WsError).

**Topics.** {TOPIC_RULE}

**Errors.** No recoverable error closes the socket. Not JSON → `error` `invalid_json`; not an
object or no string `type` → `invalid_envelope`; a `type` that is not a client operation →
`unknown_type`; binary frame → `unsupported_frame`; unexpected server failure →
`internal_error`. A known operation with an absent or invalid payload gets its `.response` with
`status: "error"`, `message: "Invalid payload: <field>: <problem>; ..."` and `topic: ""`;
semantic refusals (unknown symbol, subscription limit, `Not subscribed`) carry the canonical
topic.

**Authentication** (`TRADING_AUTH=keys`; off mode, the default, needs none). Credentials are
checked once, at the upgrade: the session cookie `trading_session` (from
`POST /api/v1/auth/login`; the page's `Origin` must be this server's), an
`Authorization: Bearer <key>` header, or `?ticket=<ticket>` from `POST /api/v1/auth/ws-ticket`
(one use, short-lived: for clients that can send neither). Bad credentials → HTTP 401 before
the upgrade. Without credentials the upgrade succeeds only while market data is public
(`TRADING_AUTH_MARKET=public`): such a socket may follow `bars` and `quotes`, and every broker
subscribe is answered `status: "error"`. A broker subscribe must name one of the caller's
accounts in `accountId` (any other is refused like an unknown one); messages are rate-limited
per key (an `error` `rate_limited` frame, the message not processed). A revoked key's sockets
are closed with 1008.

**Close codes.** 1000 normal, 1001 server shutdown / idle timeout / lifetime limit, 1008 slow
consumer or revoked key, 1009 inbound message too big, 1011 internal error. Updates can arrive
at any moment, including between a request and its reply: match replies by `type` and
`payload.topic`.
"""


def pascal(route: str) -> str:
    """``broker-connection`` → ``BrokerConnection`` (schema names)."""
    return "".join(part.capitalize() for part in route.split("-"))


def camel(route: str) -> str:
    """``broker-connection`` → ``brokerConnection`` (message and operation keys)."""
    name = pascal(route)
    return name[0].lower() + name[1:]


def _envelope(
    message_type: str, payload: JsonSchema | None, *, required: bool = True
) -> JsonSchema:
    schema: JsonSchema = {
        "type": "object",
        "properties": {"type": {"type": "string", "const": message_type}},
        "required": ["type", "payload"] if required else ["type"],
    }
    schema["properties"]["payload"] = payload if payload is not None else {}
    return schema


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


class _Builder:
    def __init__(self, by_key: dict[Hashable, JsonSchema]) -> None:
        self.by_key = by_key
        self.schemas: dict[str, JsonSchema] = {}
        self.messages: dict[str, Any] = {}
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}

    def message(
        self, channel: str, key: str, message_type: str, payload: JsonSchema, summary: str
    ) -> dict[str, str]:
        """Register schema + message, attach it to ``channel``; return the channel-local ref."""
        schema_name = key[0].upper() + key[1:] + "Message"
        self.schemas[schema_name] = payload
        self.messages[key] = {
            "name": message_type,
            "title": message_type,
            # AsyncAPI summaries are plain text (viewers show them verbatim); the markdown
            # (`code`) version goes to the description, which is CommonMark
            "summary": summary.replace("`", ""),
            **({"description": summary} if "`" in summary else {}),
            "contentType": "application/json",
            "payload": _ref("schemas", schema_name),
        }
        self.channels[channel]["messages"][key] = _ref("messages", key)
        return {"$ref": f"#/channels/{channel}/messages/{key}"}

    def route(self, route: WsRoute) -> None:
        name, key = route.name, camel(route.name)
        self.channels[name] = {
            "address": WS_PATH,
            "title": name,
            "summary": route.summary,
            "description": (
                f"`{name}` topics: `{name}:` + the canonical request, e.g. "
                f"`{name}:{_example_topic(route)}` (topic rule: see the document description)."
            ),
            "messages": {},
        }
        channel_ref = {"$ref": f"#/channels/{name}"}
        tags = [{"name": route.tag}]
        request = self.by_key[("request", name)]
        reply = self.by_key["SubscriptionResponse"]
        for op in ("subscribe", "unsubscribe"):
            op_key = f"{key}{op.capitalize()}"
            sent = self.message(
                name, op_key, f"{name}.{op}", _envelope(f"{name}.{op}", request),
                f"{op.capitalize()} to a `{name}` topic",
            )  # fmt: skip
            answer = self.message(
                name, f"{op_key}Response", f"{name}.{op}.response",
                _envelope(f"{name}.{op}.response", reply),
                f"Reply to `{name}.{op}`: status, message and the canonical topic",
            )  # fmt: skip
            self.operations[op_key] = {
                "action": "receive",
                "channel": channel_ref,
                "title": f"{name}.{op}",
                "summary": f"{op.capitalize()}: {route.summary[0].lower()}{route.summary[1:]}",
                "tags": tags,
                "messages": [sent],
                "reply": {"channel": channel_ref, "messages": [answer]},
            }
        item = self.by_key[("update", name)]
        if ref_name(item) is None:
            raise ValueError(f"{name}: the update model must be a component (a pydantic model)")
        # The reference's name for the update payload, so generated WebSocket types keep
        # ``SubscriptionUpdate_Bar_`` (``SubscriptionUpdateBar`` once sanitized).
        update_name = f"SubscriptionUpdate_{ref_name(item)}_"
        self.schemas[update_name] = {
            "title": f"SubscriptionUpdate[{ref_name(item)}]",
            "type": "object",
            "properties": {
                "topic": {"type": "string", "description": "The subscription's topic"},
                "payload": item,
            },
            "required": ["topic", "payload"],
        }
        update = self.message(
            name, f"{key}Update", f"{name}.update",
            _envelope(f"{name}.update", _ref("schemas", update_name)),
            f"One `{name}` item for a topic this connection holds (snapshot or live push)",
        )  # fmt: skip
        extra = route.update_model.model_config.get("json_schema_extra")
        examples = extra.get("examples") if isinstance(extra, dict) else None
        if isinstance(examples, list):  # a model's own examples, as whole frames
            topic = f"{name}:{_example_topic(route)}"
            self.messages[f"{key}Update"]["examples"] = [
                {"name": f"{name}.update", "payload": {
                    "type": f"{name}.update", "payload": {"topic": topic, "payload": example}}}
                for example in examples
            ]  # fmt: skip
        self.operations[f"{key}Update"] = {
            "action": "send",
            "channel": channel_ref,
            "title": f"{name}.update",
            "summary": route.summary,
            "tags": tags,
            "messages": [update],
        }

    def system(self) -> None:
        self.channels[SYSTEM_CHANNEL] = {
            "address": WS_PATH,
            "title": "system",
            "summary": "Keep-alive and protocol errors, not tied to a route",
            "messages": {},
        }
        channel_ref = {"$ref": f"#/channels/{SYSTEM_CHANNEL}"}
        tags = [{"name": "system"}]
        ping = self.message(
            SYSTEM_CHANNEL, "ping", "ping", _envelope("ping", None, required=False),
            "Application keep-alive; the payload (any JSON value, optional) is echoed",
        )  # fmt: skip
        pong = self.message(
            SYSTEM_CHANNEL, "pong", "pong", _envelope("pong", {}),
            "Answer to `ping`: its payload, or null",
        )  # fmt: skip
        codes = ", ".join(f"`{c.value}`" for c in WsErrorCode)
        error = self.message(
            SYSTEM_CHANNEL, "error", "error", _envelope("error", self.by_key["WsError"]),
            f"A frame that cannot be attributed to a route operation ({codes})",
        )  # fmt: skip
        self.operations["ping"] = {
            "action": "receive",
            "channel": channel_ref,
            "title": "ping",
            "summary": "Application keep-alive",
            "tags": tags,
            "messages": [ping],
            "reply": {"channel": channel_ref, "messages": [pong]},
        }
        self.operations["error"] = {
            "action": "send",
            "channel": channel_ref,
            "title": "error",
            "summary": "Protocol error report",
            "tags": tags,
            "messages": [error],
        }


def _example_topic(route: WsRoute) -> str:
    examples: dict[str, dict[str, Any]] = {
        BARS: {"symbol": "AAPL", "resolution": "1D"},
        QUOTES: {"symbols": ["AAPL", "MSFT"], "fast_symbols": ["GOOGL"]},
        REPLAY: {"replayId": "RPL-5f2c9e0a1b3d4c6e", "resolution": "5"},
    }
    request = route.request_model.model_validate(examples.get(route.name, {"accountId": "A"}))
    return route.topic(request).partition(":")[2]


SECURITY: dict[str, dict[str, str]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <API key>` at the upgrade (keys mode)",
    },
    "cookie": {
        "type": "httpApiKey",
        "in": "cookie",
        "name": "trading_session",
        "description": "The session cookie of `POST /api/v1/auth/login` (same-origin pages)",
    },
    "ticket": {
        "type": "httpApiKey",
        "in": "query",
        "name": "ticket",
        "description": "A one-time ticket of `POST /api/v1/auth/ws-ticket`",
    },
}
"""The alternatives a keys-mode server accepts at the upgrade (none in off mode)."""


def build_asyncapi() -> dict[str, Any]:
    """The AsyncAPI document as plain JSON data (deterministic)."""
    schemas = SchemaSet()
    for route in ROUTES.values():
        schemas.add(("request", route.name), route.request_model)
        schemas.add(("update", route.name), route.update_model)
    schemas.add("SubscriptionResponse", SubscriptionResponse)
    schemas.add("WsError", WsError)
    by_key, definitions = schemas.build()

    builder = _Builder(by_key)
    for route in ROUTES.values():
        builder.route(route)
    builder.system()

    clash = set(definitions) & set(builder.schemas)
    if clash:
        raise ValueError(f"envelope schema names clash with model names: {sorted(clash)}")
    everything = {**definitions, **builder.schemas}
    model_schemas = {
        name: schema
        for name, schema in reachable(builder.schemas.values(), everything).items()
        if name not in builder.schemas
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Trading API WebSocket",
            "version": __version__,
            "description": DESCRIPTION,
            "tags": [
                {"name": "datafeed", "description": "Live market data"},
                {"name": "broker", "description": "Paper-trading account changes"},
                {"name": "replay", "description": "Bar-replay sessions (docs/replay.md)"},
                {"name": "system", "description": "Keep-alive and protocol errors"},
            ],
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "localhost:8000",
                "protocol": "ws",
                "description": "Development server (`python -m trading serve`)",
                "security": [{"$ref": f"#/components/securitySchemes/{n}"} for n in SECURITY],
            }
        },
        "channels": builder.channels,
        "operations": builder.operations,
        "components": {
            "schemas": {**model_schemas, **dict(sorted(builder.schemas.items()))},
            "messages": dict(sorted(builder.messages.items())),
            "securitySchemes": SECURITY,
        },
    }
