"""Shared model configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Base of every wire model: lax input coercion as the reference, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
