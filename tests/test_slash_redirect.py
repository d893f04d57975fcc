"""The front door's slash redirects (trading/front.py) decide as aiohttp's own
``normalize_path_middleware(append_slash=False, remove_slash=True)`` does, for any path.

The front door resolves fewer candidate paths than aiohttp (issue 16: a 404 resolved the
router three times); this checks on the real app's router that it redirects the same requests
to the same places and lets the same ones through, over random paths built from the real
routes' pieces, extra and doubled slashes, a trailing slash, a stray character, a query.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_urldispatcher import SystemRoute
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.app import create_app
from trading.front import _slash_redirect
from trading.settings import Settings

PIECES = ["api", "v1", "health", "versions", "datafeed", "config", "search", "udf", "time",
          "broker", "orders", "ORDER-1", "positions", "app", "docs", "x", "", "hx"]  # fmt: skip

_AIOHTTP = web.normalize_path_middleware(
    append_slash=False, remove_slash=True, redirect_class=web.HTTPTemporaryRedirect
)

PATHS = st.builds(
    lambda lead, parts, trail, query: lead + "/".join(parts) + trail + query,
    st.sampled_from(["/", "//", "///"]),
    st.lists(st.sampled_from(PIECES), max_size=5),
    st.sampled_from(["", "/", "//", "x"]),
    st.sampled_from(["", "?", "?a=1", "?user_input=a/b//"]),
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> web.Application:
    application = create_app(Settings(data_dir=tmp_path_factory.mktemp("data")))
    application.router.freeze()
    return application


async def decision(app: web.Application, path: str, through: bool) -> str | None:
    """Where the request is redirected (its Location), or None when it goes on to the
    handler; ``through`` selects the front door's rule, else aiohttp's middleware."""
    request = make_mocked_request("GET", path, app=app)
    match_info = await app.router.resolve(request)  # as the application does first
    match_info.add_app(app)
    match_info.freeze()
    request._match_info = match_info

    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response()

    try:
        if through:
            if isinstance(request.match_info.route, SystemRoute):
                await _slash_redirect(request)
        else:
            await _AIOHTTP(request, handler)
    except web.HTTPTemporaryRedirect as redirect:
        return str(redirect.location)
    return None


@settings(max_examples=400, deadline=None)
@given(path=PATHS)
def test_redirects_as_aiohttp_does(app: web.Application, path: str) -> None:
    async def both() -> tuple[str | None, str | None]:
        return await decision(app, path, through=True), await decision(app, path, False)

    ours, aiohttps = asyncio.run(both())
    assert ours == aiohttps


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/api/v1/health/", "/api/v1/health"),
        ("/api/v1//health", "/api/v1/health"),
        ("/api/v1/healthx", "/api/v1/health"),
        ("/api/v1/datafeed/search/?user_input=a", "/api/v1/datafeed/search?user_input=a"),
        ("/api/v1/nothing", None),
        ("/api/v1/health", None),
    ],
)
async def test_known_paths(app: web.Application, path: str, location: str | None) -> None:
    assert await decision(app, path, through=True) == location
