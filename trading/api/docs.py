"""The API documents and their offline UIs (rest.md §4 "Outside OpenAPI").

``/api/v1/openapi.json`` and ``/api/v1/ws/asyncapi.json`` are built on first request and kept
(the router cannot change once the app runs); the three HTML pages load vendored assets from
``/api/v1/docs/static/`` with relative URLs, so they work offline and behind a path prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
from aiohttp import web

from trading.errors import json_bytes_response
from trading.specs.asyncapi import build_asyncapi
from trading.specs.openapi import build_openapi
from trading.specs.operation import operation

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
STATIC_DIR = SPECS_DIR / "static"
PAGES_DIR = SPECS_DIR / "pages"
STATIC_PREFIX = "/api/v1/docs/static"

routes = web.RouteTableDef()


@dataclass
class _Documents:
    openapi: bytes | None = None
    asyncapi: bytes | None = None


DOCUMENTS = web.AppKey("spec_documents", _Documents)


def _json(document: object) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


@routes.get("/api/v1/openapi.json")
@operation("getOpenAPI", tag="docs", summary="This OpenAPI document", hidden=True)
async def openapi_json(request: web.Request) -> web.Response:
    cache = request.app[DOCUMENTS]
    if cache.openapi is None:
        cache.openapi = _json(build_openapi(request.app))
    return json_bytes_response(cache.openapi)


@routes.get("/api/v1/ws/asyncapi.json")
@operation("getAsyncAPI", tag="docs", summary="The WebSocket AsyncAPI document", hidden=True)
async def asyncapi_json(request: web.Request) -> web.Response:
    cache = request.app[DOCUMENTS]
    if cache.asyncapi is None:
        cache.asyncapi = _json(build_asyncapi())
    return json_bytes_response(cache.asyncapi)


@routes.get("/api/v1/docs")
@operation("swaggerUI", tag="docs", summary="Swagger UI", hidden=True)
async def swagger_ui(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGES_DIR / "swagger-ui.html")


@routes.get("/api/v1/redoc")
@operation("redoc", tag="docs", summary="ReDoc", hidden=True)
async def redoc(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGES_DIR / "redoc.html")


@routes.get("/api/v1/ws/asyncapi")
@operation("asyncAPIViewer", tag="docs", summary="AsyncAPI viewer", hidden=True)
async def asyncapi_viewer(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGES_DIR / "asyncapi.html")


def setup_docs(app: web.Application) -> None:
    app[DOCUMENTS] = _Documents()
    app.add_routes(routes)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR)
