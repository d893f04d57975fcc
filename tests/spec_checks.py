"""Check what test clients receive against the two API documents (tests only).

:class:`OpenAPIChecker` validates a REST response (status declared, content type, body schema)
against the operation the request matched; :class:`AsyncAPIChecker` validates a WebSocket frame
against the message whose envelope ``type`` constant it carries. ``tests/conftest.py`` plugs
both into every aiohttp test client, so the documents are checked by the whole suite.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

OPENAPI_URI = "urn:trading:openapi"
ASYNCAPI_URI = "urn:trading:asyncapi"


class SpecViolation(AssertionError):
    """What a client received contradicts the API document."""


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    literal: bool


class OpenAPIChecker:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(OPENAPI_URI, resource)
        routes = []
        for template, item in document["paths"].items():
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            for method in item:
                routes.append(
                    _Route(method.upper(), template, re.compile(regex + "$"), "{" not in template)
                )
        # Literal paths win over templated ones, as in aiohttp's router (/orders/preview).
        self.routes = sorted(routes, key=lambda r: not r.literal)

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        for route in self.routes:
            if route.method == method.upper() and route.pattern.match(path):
                return route.template, self.document["paths"][route.template][method.lower()]
        return None

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        """Raise :class:`SpecViolation` if the response contradicts the document. Responses to
        paths or methods the document does not list (404/405 of unknown routes, the docs
        pages) and redirects are not checked."""
        found = self.operation(method, path)
        if found is None or 300 <= status < 400:
            return
        template, op = found
        where = f"{method} {path} ({op['operationId']})"
        declared = op["responses"].get(str(status))
        if declared is None:
            raise SpecViolation(
                f"{where}: status {status} is not declared (declared: {sorted(op['responses'])}); "
                f"body: {body[:300]!r}"
            )
        content = declared.get("content")
        if content is None:
            return
        if content_type not in content:
            raise SpecViolation(f"{where}: content type {content_type!r}, declared {list(content)}")
        if content_type != "application/json":
            return
        ref = "#/" + _pointer(
            "paths", template, method.lower(), "responses", str(status), "content", content_type
        )
        schema = {"$ref": f"{OPENAPI_URI}{ref}/schema"}
        _validate(json.loads(body), schema, self.registry, where, jsonschema.Draft202012Validator)


class AsyncAPIChecker:
    def __init__(self, document: dict[str, Any]) -> None:
        resource = Resource.from_contents(document, default_specification=DRAFT7)
        self.registry: Registry[Any] = Registry().with_resource(ASYNCAPI_URI, resource)
        self.by_type: dict[str, str] = {}
        schemas = document["components"]["schemas"]
        messages = document["components"]["messages"]
        for key in _server_messages(document):
            name = messages[key]["payload"]["$ref"].rsplit("/", 1)[-1]
            message_type = schemas[name]["properties"]["type"]["const"]
            self.by_type[message_type] = f"{ASYNCAPI_URI}#/components/messages/{key}/payload"

    def check(self, text: str) -> None:
        """Raise :class:`SpecViolation` unless ``text`` is a documented server→client frame."""
        frame = json.loads(text)
        message_type = frame.get("type") if isinstance(frame, dict) else None
        ref = self.by_type.get(message_type) if isinstance(message_type, str) else None
        if ref is None:
            raise SpecViolation(f"WebSocket frame of undocumented type {message_type!r}: {text}")
        _validate(frame, {"$ref": ref}, self.registry, message_type, jsonschema.Draft7Validator)


def _server_messages(document: dict[str, Any]) -> set[str]:
    """Keys of the messages the server sends: those of ``send`` operations and of replies."""
    refs = []
    for op in document["operations"].values():
        refs += (
            op["messages"] if op["action"] == "send" else op.get("reply", {}).get("messages", [])
        )
    channels = document["channels"]
    keys = set()
    for ref in refs:
        _, _, channel, _, key = ref["$ref"].split("/")
        keys.add(channels[channel]["messages"][key]["$ref"].rsplit("/", 1)[-1])
    return keys


def _validate(
    instance: Any,
    schema: dict[str, Any],
    registry: Registry[Any],
    where: object,
    validator_class: Any,
) -> None:
    validator = validator_class(schema, registry=registry)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise SpecViolation(f"{where}: body does not match its schema at {at}: {error.message}")
