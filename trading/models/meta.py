"""Meta routes: root index, health, API versions (rest.md §5)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from trading.models.base import WireModel


class APIVersion(StrEnum):
    V1 = "v1"
    V2 = "v2"


class VersionInfo(WireModel):
    version: APIVersion
    release_date: str
    status: str
    breaking_changes: list[str] = Field(default_factory=list)
    deprecation_notice: str | None = None
    sunset_date: str | None = None


class APIMetadata(WireModel):
    current_version: APIVersion
    available_versions: list[VersionInfo]
    documentation_url: str
    support_contact: str


class HealthResponse(WireModel):
    status: str
    message: str = ""
    timestamp: str
    api_version: str
    version_info: dict[str, Any]


class ReadinessCheck(WireModel):
    ok: bool
    detail: str


class ReadinessResponse(WireModel):
    """``GET /api/v1/ready``: 200 when every check passes, else 503 naming what failed."""

    status: str = Field(description="`ready` or `not ready`")
    detail: str | None = Field(
        default=None, description="The failed checks' details (only when not ready)"
    )
    timestamp: str
    checks: dict[str, ReadinessCheck] = Field(
        description="`database` (open, the same file, takes writes), `fills` (the broker's "
        "fill loop evaluated recently), `market_stream` (ticking while something is watched)"
    )


class WebSocketRouteInfo(WireModel):
    endpoint: str
    docs: str
    spec: str
    operations: list[str]
    note: str


class RootIndex(WireModel):
    name: str
    version: str
    current_api_version: str
    documentation: str
    health: str
    versions: str
    datafeed: str
    udf: str
    websockets: dict[str, WebSocketRouteInfo]


class HTTPError(WireModel):
    """Every non-422 error body: ``{"detail": "<message>"}``."""

    detail: str


class ValidationError(WireModel):
    # The reference's titles: generated clients name the ``loc`` item type ``LocationInner``.
    type: str = Field(title="Error Type")
    loc: list[str | int] = Field(title="Location")
    msg: str = Field(title="Message")
    input: Any = None
    ctx: dict[str, Any] | None = None


class HTTPValidationError(WireModel):
    detail: list[ValidationError]
