"""The doc UIs (rest.md §4 "Outside OpenAPI"): pages served, every asset they reference served
by the app itself (offline: no CDN, no web fonts), licences vendored and packaged."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from trading.api.docs import PAGES_DIR, STATIC_DIR

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["/api/v1/docs", "/api/v1/redoc", "/api/v1/ws/asyncapi"]
_ATTR = re.compile(r"""(?:src|href)="([^"]+)"|url:\s*"([^"]+)"|init\(\s*"([^"]+)\"""")


def references(html: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _ATTR.finditer(html)]


@pytest.mark.parametrize("page", PAGES)
async def test_page_and_every_asset_it_references_are_served(
    trading_client: Any, page: str
) -> None:
    response = await trading_client.get(page)
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    refs = references(html)
    assert refs, "the page loads its viewer and its document"
    assert "http://" not in html
    assert "https://" not in html
    assert "//" not in "".join(refs)
    for ref in refs:
        target = URL(page).join(URL(ref))
        asset = await trading_client.get(str(target))
        assert asset.status == 200, (page, ref, str(target))
        assert len(await asset.read()) > 0


async def test_static_assets_have_their_types(trading_client: Any) -> None:
    types = {
        "swagger-ui/swagger-ui-bundle.js": "text/javascript",
        "swagger-ui/swagger-ui.css": "text/css",
        "redoc/redoc.standalone.js": "text/javascript",
        "asyncapi/asyncapi-react.standalone.js": "text/javascript",
        "asyncapi/default.min.css": "text/css",
    }
    for path, content_type in types.items():
        response = await trading_client.get(f"/api/v1/docs/static/{path}")
        assert response.status == 200, path
        assert response.content_type in (content_type, "application/javascript"), path


async def test_static_does_not_escape_its_directory(trading_client: Any) -> None:
    response = await trading_client.get("/api/v1/docs/static/../pages/redoc.html")
    assert response.status in (403, 404)


@pytest.mark.parametrize("vendor", ["swagger-ui", "redoc", "asyncapi"])
def test_vendored_viewers_keep_their_licence_and_version(vendor: str) -> None:
    directory = STATIC_DIR / vendor
    assert (directory / "LICENSE").stat().st_size > 500
    assert (directory / "VERSION").read_text().strip()


def test_package_data_ships_pages_and_assets() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["trading"]
    package = ROOT / "trading"
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    needed = {p for d in (STATIC_DIR, PAGES_DIR) for p in d.rglob("*") if p.is_file()}
    assert needed <= shipped, sorted(str(p) for p in needed - shipped)


def test_no_viewer_loads_fonts_or_images_from_a_cdn() -> None:
    """Upgrading a viewer must keep the local patch (see static/redoc/VERSION)."""
    for path in [*STATIC_DIR.rglob("*.js"), *STATIC_DIR.rglob("*.css"), *PAGES_DIR.glob("*")]:
        text = path.read_text(encoding="utf-8", errors="replace")
        for host in ("cdn.redoc.ly", "fonts.googleapis.com", "unpkg.com", "cdn.jsdelivr.net"):
            assert host not in text, (path.name, host)


# --- issue 11: JSON 404s, server from the request, pages the CSP allows ------------------


@pytest.mark.parametrize(
    "path", ["nope.js", "redoc", "redoc/", "swagger-ui/.hidden", "asyncapi/missing.css"]
)
async def test_a_missing_asset_is_a_json_404(trading_client: Any, path: str) -> None:
    response = await trading_client.get(f"/api/v1/docs/static/{path}")
    assert response.status == 404
    assert response.content_type == "application/json"
    assert await response.json() == {"detail": "Not Found"}


async def test_vendor_licences_are_served_as_text(trading_client: Any) -> None:
    response = await trading_client.get("/api/v1/docs/static/asyncapi/LICENSE")
    assert response.status == 200
    assert response.content_type == "text/plain"


@pytest.mark.spec_unchecked
@pytest.mark.parametrize("host", ["localhost:4321", "127.0.0.1:8000", "[::1]:9"])
async def test_the_asyncapi_server_is_the_one_the_reader_reached(
    trading_client: Any, host: str
) -> None:
    response = await trading_client.get("/api/v1/ws/asyncapi.json", headers={"Host": host})
    servers = (await response.json())["servers"]
    assert [(s["host"], s["protocol"]) for s in servers.values()] == [(host, "ws")]


@pytest.mark.parametrize("name", ["swagger-ui.html", "redoc.html", "asyncapi.html"])
def test_pages_have_no_inline_script_or_style(name: str) -> None:
    """The Content-Security-Policy allows only this server's script files (trading/security.py)."""
    html = (PAGES_DIR / name).read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert " style=" not in html
