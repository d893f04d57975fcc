"""The API documents and their offline UIs (rest.md §4 "Outside OpenAPI").

``/api/v1/openapi.json`` and ``/api/v1/ws/asyncapi.json`` are built on first request and kept
(the router cannot change once the app runs); the three HTML pages load vendored assets from
``/api/v1/docs/static/`` with relative URLs, so they work offline and behind a path prefix.
The pages hold no inline script or style (the Content-Security-Policy of trading/security.py):
their start-up code is in ``static/pages/``. A missing asset is a JSON 404 like everywhere
else (aiohttp's static route answers an empty ``application/octet-stream`` 404).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from trading.errors import json_bytes_response
from trading.security import VIEWER_WITH_EVAL_POLICY
from trading.specs.asyncapi import build_asyncapi
from trading.specs.openapi import build_openapi
from trading.specs.operation import operation

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
STATIC_DIR = SPECS_DIR / "static"
PAGES_DIR = SPECS_DIR / "pages"
STATIC_PREFIX = "/api/v1/docs/static"

routes = web.RouteTableDef()


STATIC_TYPES: dict[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
"""The kinds of files under ``static/`` (and the vendors' ``LICENSE``/``NOTICE``/``VERSION``)."""

PLAIN_TEXT_NAMES = frozenset({"LICENSE", "NOTICE", "VERSION"})


@dataclass
class _Documents:
    openapi: bytes | None = None
    asyncapi: dict[str, Any] | None = None


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
    """The built document with its server filled from the request: the viewer shows the
    ``ws(s)://host:port`` the reader actually reached (the Host was checked by the host
    middleware), not the exported file's ``localhost:8000``."""
    cache = request.app[DOCUMENTS]
    if cache.asyncapi is None:
        cache.asyncapi = build_asyncapi()
    return json_bytes_response(_json(with_server_of(request, cache.asyncapi)))


def with_server_of(request: web.Request, document: dict[str, Any]) -> dict[str, Any]:
    document = copy.copy(document)
    servers = copy.deepcopy(document.get("servers", {}))
    for server in servers.values():
        server["host"] = request.host
        server["protocol"] = "wss" if request.secure else "ws"
    document["servers"] = servers
    return document


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
    return web.FileResponse(
        PAGES_DIR / "asyncapi.html",
        headers={"Content-Security-Policy": VIEWER_WITH_EVAL_POLICY},
    )


def static_file(relative: str) -> tuple[Path, str] | None:
    """The file and content type a path names inside ``static/``, or None (missing, hidden,
    a directory, outside the folder, or of a kind not served)."""
    parts = relative.split("/")
    if "\\" in relative or "\0" in relative:
        return None
    if any(part in {"", ".", ".."} or part.startswith(".") for part in parts):
        return None
    path = (STATIC_DIR / relative).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        return None
    if path.name in PLAIN_TEXT_NAMES:
        return path, "text/plain; charset=utf-8"
    content_type = STATIC_TYPES.get(path.suffix.lower())
    return None if content_type is None else (path, content_type)


@routes.get(STATIC_PREFIX + "/{path:.+}")
@operation("docsAsset", tag="docs", summary="A file of the doc UIs", hidden=True)
async def docs_asset(request: web.Request) -> web.FileResponse:
    found = static_file(request.match_info["path"])
    if found is None:
        raise web.HTTPNotFound()
    path, content_type = found
    return web.FileResponse(path, headers={"Content-Type": content_type})


def setup_docs(app: web.Application) -> None:
    app[DOCUMENTS] = _Documents()
    app.add_routes(routes)
