"""Shared model configuration."""

from __future__ import annotations

import types
import typing
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_admits_bool(arg) for arg in typing.get_args(annotation))
    return origin is not None and origin not in (list, tuple, set)


class WireModel(BaseModel):
    """Base of every wire model: lax input coercion as the reference (numeric strings and
    integral floats for numbers), unknown fields ignored.

    Numbers are finite (``"inf"``, ``"nan"`` and ``1e400`` are ``finite_number`` errors), and
    booleans are not numbers: pydantic's lax mode would read ``"qty": true`` as 1 and
    ``"stopType": false`` as 0, which the schema (and rest.md §1) does not allow.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            if field is not None and not _admits_bool(field.annotation):
                raise PydanticCustomError("bool_type", "Input should not be a boolean")
        return value


def _is_none(value: Any) -> bool:
    return value is None


def added(description: str, **constraints: Any) -> Any:
    """A field this backend adds to a reference shape: optional in the schema, and left out of
    the JSON when it has no value, so a response about something the reference knows (an order
    placed without the new features) stays byte-for-byte what the reference sends.

    Use as ``parentId: str | None = added("...")``."""
    return Field(default=None, exclude_if=_is_none, description=description, **constraints)


def inline_enum(enum: type[StrEnum]) -> WithJsonSchema:
    """Field annotation that documents a string enum inline (``{"type": "string", "enum":
    [...]}``) instead of as a ``$ref`` to a component.

    Why: the reference document declares ``QuoteData.s`` and ``SymbolInfo.data_status``
    inline, so generated clients name them ``QuoteDataSEnum`` and ``SymbolInfoDataStatusEnum``;
    a component would rename them (and break code written against those names).
    """
    return WithJsonSchema({"type": "string", "enum": [member.value for member in enum]})
