"""Minimal aiohttp REST server: the yardstick for the REST benchmarks (``scripts/bench_http.py``).

The REST twin of ``scripts/bench_ws_baseline.py``. It answers the same paths as the service
for the requests the benchmarks send, the plainest way aiohttp allows: bars are computed once
at start-up (from the service's own synthetic market, so the bytes are comparable) and kept as
ready Python objects; a request only parses its query, bisects the precomputed times, slices
and ``orjson.dumps`` the slice. Small routes dump a fixed dict (health: plus the time).

What it deliberately omits (each of these costs the real service CPU):

- middlewares (request ids, metrics, Host/CORS/CSRF checks, error shaping), the access log;
- query validation beyond ``int()``, symbol lookup beyond a dict, response models;
- the forming bar (its bars never move), caps, ``no_data`` / ``nextTime`` logic, every other
  route, the broker and the WebSocket.

    .venv/bin/python scripts/bench_rest_twin.py --port 8001
"""

from __future__ import annotations

import argparse
import bisect
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from trading.api import meta
from trading.market.resolution import Resolution
from trading.market.series import SyntheticMarket
from trading.market.symbols import SymbolCatalog
from trading.settings import Settings
from trading.wire.market import symbol_info

# What the benchmarks ask for (bench_http.py WORKLOADS): intraday depth of the default
# settings bounds how many 1-minute bars exist at all.
RESOLUTIONS = (Resolution.D1, Resolution.M1)


@dataclass(frozen=True)
class Series:
    """One symbol × resolution, precomputed: times in seconds, REST bar dicts, UDF columns."""

    times: list[int]
    rest: list[dict[str, Any]]
    udf: dict[str, list[Any]]

    def window(self, start_s: int, end_s: int, count_back: int) -> tuple[int, int]:
        stop = bisect.bisect_left(self.times, end_s)
        first = (
            max(0, stop - count_back) if count_back > 0 else bisect.bisect_left(self.times, start_s)
        )
        return first, stop


def precompute(settings: Settings) -> dict[tuple[str, str], Series]:
    """Every listed symbol at the benchmarked resolutions, from the service's market."""
    market = SyntheticMarket(settings.market_config(), SymbolCatalog())
    out: dict[tuple[str, str], Series] = {}
    now = int(time.time()) + 1
    for spec in market.catalog.symbols:
        for resolution in RESOLUTIONS:
            bars = market.history(spec, resolution, 0, now).bars
            times = bars.time.tolist()
            o, h, lo, c = (
                bars.prices(col).tolist() for col in (bars.open, bars.high, bars.low, bars.close)
            )
            v = bars.volume.tolist()
            rest = [
                {"time": t * 1000, "open": a, "high": b, "low": d, "close": e, "volume": f}
                for t, a, b, d, e, f in zip(times, o, h, lo, c, v, strict=True)
            ]
            udf = {"t": times, "o": o, "h": h, "l": lo, "c": c, "v": v}
            out[(spec.name, resolution.value)] = Series(times, rest, udf)
    return out


def json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def make_app(series: dict[tuple[str, str], Series]) -> web.Application:
    routes = web.RouteTableDef()
    config = {"supported_resolutions": [r.value for r in Resolution], "supports_time": False}

    @routes.get("/api/v1/health")
    async def health(request: web.Request) -> web.Response:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return json({"status": "ok", "message": "Trading API is running", "timestamp": now})

    @routes.get("/api/v1/datafeed/config")
    async def datafeed_config(request: web.Request) -> web.Response:
        return json(config)

    @routes.get("/api/v1/datafeed/bars")
    async def bars(request: web.Request) -> web.Response:
        q = request.query
        s = series[(q["symbol"], q["resolution"])]
        first, stop = s.window(
            -(-int(q["from_time"]) // 1000),
            -(-int(q["to_time"]) // 1000),
            int(q.get("count_back", 0)),
        )
        return json({"bars": s.rest[first:stop], "no_data": False})

    @routes.get("/api/v1/udf/history")
    async def history(request: web.Request) -> web.Response:
        q = request.query
        s = series[(q["symbol"], q["resolution"])]
        first, stop = s.window(int(q["from"]), int(q["to"]), int(q.get("countback", 0)))
        return json({"s": "ok", **{k: col[first:stop] for k, col in s.udf.items()}})

    # --- small routes (bench_http.py's second block): the service's bodies, made once -----
    versions = meta.METADATA.model_dump(mode="json")
    catalog = SymbolCatalog()
    resolved = {s.name: symbol_info(s).model_dump(mode="json") for s in catalog.symbols}

    @routes.get("/api/v1/versions")
    async def get_versions(request: web.Request) -> web.Response:
        return json(versions)

    @routes.get("/api/v1/datafeed/resolve/{symbol}")
    async def resolve(request: web.Request) -> web.Response:
        return json(resolved[request.match_info["symbol"]])

    @routes.get("/api/v1/broker/orders")
    async def orders(request: web.Request) -> web.Response:
        return json([])

    @routes.get("/api/v1/no-such-route")
    async def not_found(request: web.Request) -> web.Response:
        return json({"detail": "Not Found"}, 404)

    @routes.get("/api/v1/datafeed/search")
    async def search(request: web.Request) -> web.Response:
        detail = [{"type": "int_parsing", "loc": ["query", "max_results"],
                   "msg": "Input should be a valid integer, unable to parse string as an integer",
                   "input": request.query.get("max_results")}]  # fmt: skip
        return json({"detail": detail}, 422)

    app = web.Application()
    app.add_routes(routes)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    series = precompute(Settings())
    web.run_app(make_app(series), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
