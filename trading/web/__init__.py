"""The trading page at ``/app/`` (issue 8): a static single page that speaks only the public
REST + WebSocket contract, like any other client.

Everything it loads lives under ``static/`` in this package (ES modules, CSS and the vendored
lightweight-charts build with its licence), so the page works offline and needs no build step.
Files are served with explicit content types (``.js``/``.mjs`` as ``text/javascript``, which
module scripts require) and ``Cache-Control: no-cache``: browsers keep a copy but revalidate it
(ETag / Last-Modified) on every load, so an edited file shows up on the next reload.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from trading.specs.operation import operation

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX = STATIC_DIR / "index.html"
PREFIX = "/app"
CACHE_CONTROL = "no-cache"

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
"""Only these kinds of files are served; anything else under ``static/`` is a 404."""

PLAIN_TEXT_NAMES = frozenset({"LICENSE", "NOTICE", "VERSION"})
"""Extension-less files served as text (the vendored libraries' licences and versions)."""

routes = web.RouteTableDef()


def content_type_of(path: Path) -> str | None:
    if not path.suffix and path.name in PLAIN_TEXT_NAMES:
        return "text/plain; charset=utf-8"
    return CONTENT_TYPES.get(path.suffix.lower())


def _file_response(path: Path) -> web.FileResponse:
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type_of(path) or "application/octet-stream",
            "Cache-Control": CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
        },
    )


def resolve_static(relative: str) -> Path | None:
    """The file a request path names inside ``static/``, or None (missing, hidden, outside,
    a directory, or a type not in :data:`CONTENT_TYPES`)."""
    if not relative or "\\" in relative or "\0" in relative:
        return None
    parts = relative.split("/")
    if any(part in {"", ".", ".."} or part.startswith(".") for part in parts):
        return None
    path = (STATIC_DIR / relative).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        return None
    if content_type_of(path) is None:
        return None
    return path


@routes.get(PREFIX)
@operation("webAppRedirect", tag="web", summary="Redirect to the trading page", hidden=True)
async def app_redirect(request: web.Request) -> web.StreamResponse:
    location = PREFIX + "/"
    if request.query_string:
        location += "?" + request.query_string
    raise web.HTTPTemporaryRedirect(location)


@routes.get(PREFIX + "/")
@operation("webApp", tag="web", summary="The trading page", hidden=True)
async def app_index(request: web.Request) -> web.StreamResponse:
    return _file_response(INDEX)


@routes.get(PREFIX + "/{path:.+}")
@operation("webAsset", tag="web", summary="A file of the trading page", hidden=True)
async def app_asset(request: web.Request) -> web.StreamResponse:
    path = resolve_static(request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound()
    return _file_response(path)


def setup_web(app: web.Application) -> None:
    """Serve the trading page: ``/app`` redirects to ``/app/``, files below it are static."""
    app.add_routes(routes)
