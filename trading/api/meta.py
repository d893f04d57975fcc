"""Meta routes: root index, health, versions (rest.md §5)."""

from __future__ import annotations

from aiohttp import web

from trading import __version__
from trading.api.io import model_json, model_response
from trading.errors import json_bytes_response
from trading.keys import BROKER, SETTINGS, STREAM
from trading.models.meta import (
    APIMetadata,
    APIVersion,
    HealthResponse,
    ReadinessCheck,
    ReadinessResponse,
    RootIndex,
    VersionInfo,
    WebSocketRouteInfo,
)
from trading.specs.operation import operation
from trading.timefmt import iso_ms
from trading.ws.protocol import OPERATIONS, ROUTES, UPDATE

routes = web.RouteTableDef()

API_PREFIX = "/api/v1"

V1 = VersionInfo(version=APIVersion.V1, release_date="2025-10-04", status="stable")
V2 = VersionInfo(
    version=APIVersion.V2,
    release_date="TBD",
    status="planned",
    breaking_changes=[
        "Authentication required for all endpoints",
        "New response format for error messages",
        "Renamed health endpoint to status",
    ],
)
METADATA = APIMetadata(
    current_version=APIVersion.V1,
    available_versions=[V1, V2],
    documentation_url=f"{API_PREFIX}/docs",
    support_contact="support@trading-pro.nodomainyet",
)
ROOT = RootIndex(
    name="Trading API",
    version=__version__,
    current_api_version="v1",
    documentation=f"{API_PREFIX}/docs",
    health=f"{API_PREFIX}/health",
    versions=f"{API_PREFIX}/versions",
    datafeed=f"{API_PREFIX}/datafeed",
    udf=f"{API_PREFIX}/udf",
    websockets={
        route: WebSocketRouteInfo(
            endpoint=f"{API_PREFIX}/ws",
            docs=f"{API_PREFIX}/ws/asyncapi",
            spec=f"{API_PREFIX}/ws/asyncapi.json",
            operations=[f"{route}.{op}" for op in (*OPERATIONS, UPDATE)],
            note="WebSocket endpoints use AsyncAPI spec, not OpenAPI/Swagger",
        )
        for route in ROUTES
    },
)


METADATA_BODY = model_json(METADATA)
"""``/versions`` never changes: its JSON is made once."""

_STAMP = "1970-01-01T00:00:00.000Z"
HEALTH = HealthResponse(
    status="ok",
    message="Trading API is running",
    timestamp=_STAMP,
    api_version="v1",
    version_info={
        "version": V1.version.value,
        "release_date": V1.release_date,
        "status": V1.status,
        "deprecation_notice": V1.deprecation_notice,
    },
)
_HEALTH_HEAD, _, _HEALTH_TAIL = model_json(HEALTH).partition(f'"{_STAMP}"'.encode())


def health_body(now: float) -> bytes:
    """``HEALTH`` with ``now`` as its timestamp, as pydantic would write it: only the time
    changes, and an ISO time has nothing JSON escapes, so the model is dumped once and the
    time spliced in (building and dumping it per request was most of the route's cost)."""
    return b'%s"%s"%s' % (_HEALTH_HEAD, iso_ms(now).encode(), _HEALTH_TAIL)


@routes.get("/")
@operation("root__get", tags=["root"], summary="Service index", responses={200: RootIndex})
async def root(request: web.Request) -> web.Response:
    return model_response(ROOT)


@routes.get(f"{API_PREFIX}/health")
@operation("getHealthStatus", tag="health", summary="Health check", responses={200: HealthResponse})
async def get_health_status(request: web.Request) -> web.Response:
    return json_bytes_response(health_body(request.app[SETTINGS].clock.now()))


def stall_limit_s(tick_interval_s: float, setting: float | None = None) -> float:
    """How long a loop may go without a completed round before readiness fails:
    ``TRADING_READY_STALL_S`` when set, else generous (ten ticks, at least 5 s), so a busy
    event loop on a small machine is not taken for a stopped one."""
    return setting if setting is not None else max(10 * tick_interval_s, 5.0)


@routes.get(f"{API_PREFIX}/ready")
@operation(
    "getReadiness",
    tag="health",
    summary="Readiness check",
    description=(
        "200 when the service can take orders: the broker database is open, is still the "
        "file in the data dir and takes writes; the broker's fill loop and (while something "
        "is watched) the market stream are ticking. 503 with the same body otherwise, "
        "`detail` naming the failed checks. `/health` is the liveness check."
    ),
    responses={200: ReadinessResponse, 503: ReadinessResponse},
)
async def get_readiness(request: web.Request) -> web.Response:
    settings, broker = request.app[SETTINGS], request.app[BROKER]
    limit = stall_limit_s(settings.tick_interval_s, settings.ready_stall_s)
    problems = {
        "database": await broker.storage_problem(),
        "fills": broker.fill_loop_problem(limit),
        "market_stream": request.app[STREAM].stall(limit),
    }
    ok = {
        "database": "open, writable",
        "fills": "evaluating" if broker.fill_loop else "on request (TRADING_CLOCK=manual)",
        "market_stream": "ticking" if request.app[STREAM].active else "idle (nothing watched)",
    }
    failed = [f"{name}: {why}" for name, why in problems.items() if why is not None]
    return model_response(
        ReadinessResponse(
            status="not ready" if failed else "ready",
            detail="; ".join(failed) if failed else None,
            timestamp=iso_ms(settings.clock.now()),
            checks={
                name: ReadinessCheck(ok=why is None, detail=why or ok[name])
                for name, why in problems.items()
            },
        ),
        503 if failed else 200,
    )


@routes.get(f"{API_PREFIX}/versions")
@operation(
    "getAPIVersions",
    tag="versioning",
    summary="Every API version and its status",
    responses={200: APIMetadata},
)
async def get_api_versions(request: web.Request) -> web.Response:
    return json_bytes_response(METADATA_BODY)


@routes.get(f"{API_PREFIX}/version")
@operation(
    "getCurrentAPIVersion",
    tag="versioning",
    summary="The version this server answers",
    responses={200: VersionInfo},
)
async def get_current_api_version(request: web.Request) -> web.Response:
    return model_response(V1)
