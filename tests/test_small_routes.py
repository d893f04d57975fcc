"""Small routes answer the same bytes from their prepared bodies (issue 16).

``/health`` splices the time into a body dumped once, ``/versions``, ``/datafeed/config`` and
``/datafeed/resolve/{symbol}`` answer JSON made once: each must equal what dumping the model
per request wrote.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from trading.api.io import model_json
from trading.api.meta import METADATA, V1, health_body
from trading.market.symbols import SymbolCatalog
from trading.models.meta import HealthResponse
from trading.timefmt import iso_ms
from trading.wire.market import datafeed_configuration, symbol_info


@given(now=st.floats(min_value=0, max_value=253_402_300_799))  # up to 9999-12-31
def test_health_body_is_the_model_with_its_time(now: float) -> None:
    model = HealthResponse(
        status="ok",
        message="Trading API is running",
        timestamp=iso_ms(now),
        api_version="v1",
        version_info={
            "version": V1.version.value,
            "release_date": V1.release_date,
            "status": V1.status,
            "deprecation_notice": V1.deprecation_notice,
        },
    )
    assert health_body(now) == model_json(model)


async def test_prepared_bodies_are_the_models(
    trading_client: TestClient[web.Request, web.Application],
) -> None:
    catalog = SymbolCatalog()
    expected = {
        "/api/v1/versions": model_json(METADATA),
        "/api/v1/datafeed/config": model_json(datafeed_configuration(catalog)),
        **{
            f"/api/v1/datafeed/resolve/{spec.name}": model_json(symbol_info(spec))
            for spec in catalog.symbols
        },
    }
    for path, body in expected.items():
        for _ in range(2):  # the first answer makes the body, the second reuses it
            resp = await trading_client.get(path)
            assert resp.status == 200
            assert resp.content_type == "application/json"
            assert await resp.read() == body, path
