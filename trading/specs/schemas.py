"""JSON Schemas of pydantic models and types, with refs into ``#/components/schemas``.

Both documents (OpenAPI and AsyncAPI) collect every type they mention here and ask pydantic for
all schemas in one call, so a model used in several places gets one component under its own
class name. One mode ("validation") is used for everything: mixing modes is what makes pydantic
split a model into ``-Input``/``-Output`` components, which rest.md §1 forbids.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator
from enum import IntEnum
from typing import Any

import pydantic
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

JsonSchema = dict[str, Any]

MODE: JsonSchemaMode = "validation"
_REF = re.compile(r"^#/components/schemas/(?P<name>[^/]+)$")


def tradingview_name(member: str) -> str:
    """``STOP_LIMIT`` → ``StopLimit`` (TradingView's enum member spelling)."""
    return "".join(part.capitalize() for part in member.split("_"))


class WireJsonSchema(GenerateJsonSchema):
    """pydantic's generator, plus ``x-enum-varnames`` on integer enums.

    Code generators name integer enum members after the value (``NUMBER_1``,
    ``NUMBER_MINUS_1``) unless the schema names them. The names are TradingView's
    (``Side.Buy``, ``OrderType.StopLimit``): the member names in PascalCase. Added here, by
    the document builder, so the enums themselves (``trading.broker.enums``) stay plain.
    """

    def enum_schema(self, schema: core_schema.EnumSchema) -> JsonSchemaValue:
        out = super().enum_schema(schema)
        cls = schema["cls"]
        if issubclass(cls, IntEnum):
            out["x-enum-varnames"] = [tradingview_name(member.name) for member in cls]
        return out


class SchemaSet:
    """Register types under keys, then :meth:`build` returns each key's schema and the
    definitions (component schemas) they refer to."""

    def __init__(self, ref_prefix: str = "#/components/schemas/") -> None:
        self._ref_template = ref_prefix + "{model}"
        self._types: dict[Hashable, pydantic.TypeAdapter[Any]] = {}

    def add(self, key: Hashable, type_: Any) -> None:
        if key in self._types:
            return
        adapter = type_ if isinstance(type_, pydantic.TypeAdapter) else pydantic.TypeAdapter(type_)
        self._types[key] = adapter

    def build(self) -> tuple[dict[Hashable, JsonSchema], dict[str, JsonSchema]]:
        inputs = [(key, MODE, adapter) for key, adapter in self._types.items()]
        by_key, definitions = pydantic.TypeAdapter.json_schemas(
            inputs, ref_template=self._ref_template, schema_generator=WireJsonSchema
        )
        schemas = {key: schema for (key, _mode), schema in by_key.items()}
        return schemas, dict(definitions.get("$defs", {}))


def refs_in(value: Any) -> Iterator[str]:
    """Names of every ``#/components/schemas/<name>`` reference inside ``value``."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and (match := _REF.match(ref)):
            yield match.group("name")
        for item in value.values():
            yield from refs_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs_in(item)


def reachable(roots: Iterable[Any], definitions: dict[str, JsonSchema]) -> dict[str, JsonSchema]:
    """The definitions referred to (transitively) from ``roots``, sorted by name.

    Query and path models are registered only to read their fields: they are not referred to
    from the document, so they do not become components.
    """
    seen: set[str] = set()
    pending = [name for root in roots for name in refs_in(root)]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(refs_in(definitions[name]))
    return {name: definitions[name] for name in sorted(seen)}


def ref_name(schema: JsonSchema) -> str | None:
    """``"Bar"`` for ``{"$ref": "#/components/schemas/Bar"}``, None for any other schema."""
    match = _REF.match(schema.get("$ref", "")) if set(schema) == {"$ref"} else None
    return match.group("name") if match else None
