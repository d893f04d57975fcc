"""Scenario control over the wire (docs/scenarios.md): move the manual clock, script prices,
run one broker evaluation now. The rules are in :mod:`trading.market.scenario` and the
broker; here they meet HTTP.

Guarded as the debug reset is (:func:`~trading.api.broker.debug_allowed`: loopback only by
default, never through a proxy, ``TRADING_DEBUG_ROUTES``), and in keys mode by the admin key,
since the clock and the prices are the whole server's, not one account's. A server not on
``TRADING_CLOCK=manual`` answers 409 naming the setting. After the clock or a price moved, the
market stream ticks at once, so WebSocket bars and quotes of the new instant are queued before
the answer is sent.
"""

from __future__ import annotations

from aiohttp import web

from trading.api.broker import debug_allowed
from trading.api.io import model_response, read_json, validate_body
from trading.auth.admin import admin_refusal
from trading.errors import ApiError, RequestValidationError, error_item
from trading.keys import BROKER, MARKET, SCENARIO, SETTINGS, STREAM
from trading.market.scenario import Scenario, ScenarioError
from trading.market.scripted import ScriptedMarket, ScriptError
from trading.market.symbols import SymbolSpec
from trading.models.meta import HTTPError, HTTPValidationError
from trading.models.scenario import (
    ClockRequest,
    ClockState,
    EvaluationResult,
    PricesRequest,
    PricesState,
)
from trading.specs.operation import Content, operation
from trading.specs.refusals import JSON_WRITE
from trading.wire import scenario as views

routes = web.RouteTableDef()
PREFIX = "/api/v1/debug"
NOT_MANUAL = "scenario control needs TRADING_CLOCK=manual: this server runs on the system clock"
GUARD = {
    401: Content(
        HTTPError,
        description="TRADING_AUTH=keys: missing or wrong admin key (`Bearer <TRADING_ADMIN_KEY>`)",
    ),
    404: Content(
        HTTPError,
        description="Debug routes are off here: not from loopback, through a proxy "
        "(`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) or TRADING_DEBUG_ROUTES=off; in keys "
        "mode, no TRADING_ADMIN_KEY",
    ),
    **JSON_WRITE,
}
CONFLICT = Content(
    HTTPError, description="The server does not run on TRADING_CLOCK=manual (`detail` says so)"
)


def refusal(request: web.Request) -> web.Response | None:
    """Why this caller may not use the debug routes (404, or 401 in keys mode), or None."""
    if not debug_allowed(request):
        raise ApiError(404, "Not Found")
    if request.app[SETTINGS].auth == "keys":
        return admin_refusal(request)
    return None


def scenario_of(request: web.Request) -> Scenario:
    if SCENARIO not in request.app:
        raise ApiError(409, NOT_MANUAL)
    return request.app[SCENARIO]


def moved(request: web.Request) -> None:
    """The market's instant or prices changed: push the bars and quotes that did now."""
    request.app[STREAM].tick()


@routes.post(f"{PREFIX}/clock")
@operation(
    "setClock",
    tag="debug",
    summary="Set or advance the manual clock",
    description='`{"time": <epoch ms>}` sets it, `{"advanceMs": <ms>}` moves it forward; '
    "the clock never moves back (409). Bars and quotes of the new instant are pushed to "
    "WebSocket subscribers before the answer; working orders are evaluated only by "
    "`POST /api/v1/debug/evaluate`.",
    body=ClockRequest,
    responses={200: ClockState, **GUARD, 409: CONFLICT, 422: HTTPValidationError},
)
async def set_clock(request: web.Request) -> web.Response:
    if (refused := refusal(request)) is not None:
        return refused
    scenario = scenario_of(request)
    body = validate_body(await read_json(request), ClockRequest)
    try:
        if body.time is not None:
            now = scenario.set_time(body.time)
        else:
            now = scenario.advance(body.advanceMs or 0)
    except ScenarioError as exc:
        raise ApiError(409, exc.detail) from None
    moved(request)
    return model_response(views.clock_state(now))


@routes.get(f"{PREFIX}/clock")
@operation(
    "getClock",
    tag="debug",
    summary="The manual clock's time",
    responses={200: ClockState, 401: GUARD[401], 404: GUARD[404], 409: CONFLICT},
)
async def get_clock(request: web.Request) -> web.Response:
    if (refused := refusal(request)) is not None:
        return refused
    return model_response(views.clock_state(scenario_of(request).now_ms()))


def _symbol(request: web.Request, market: ScriptedMarket, text: str) -> SymbolSpec:
    """The scripted market's symbol ``text``; an imported one is served (docs/history.md)
    but follows its own bars, so it is refused with that said rather than "not found"."""
    spec = market.catalog.lookup(text)
    if spec is None:
        served = request.app[MARKET].catalog.lookup(text)
        detail = (
            f"Symbol {text} not found" if served is None
            else f"Symbol {served.name} is imported history: its price follows its bars "
            "and cannot be scripted"
        )  # fmt: skip
        raise RequestValidationError([error_item(["body", "symbol"], detail, input_=text)])
    return spec


@routes.post(f"{PREFIX}/prices")
@operation(
    "setPrices",
    tag="debug",
    summary="Pin, script or clear a symbol's price",
    description="`price` pins the symbol at it for every second; `path` scripts steps of "
    "(epoch ms, price), each holding until the next, the synthetic series before the first; "
    "`clear: true` returns to the series. Quotes and the broker's fills follow the script, "
    "bars stay synthetic (docs/scenarios.md §3).",
    body=PricesRequest,
    responses={200: PricesState, **GUARD, 409: CONFLICT, 422: HTTPValidationError},
)
async def set_prices(request: web.Request) -> web.Response:
    if (refused := refusal(request)) is not None:
        return refused
    scenario = scenario_of(request)
    body = validate_body(await read_json(request), PricesRequest)
    market = scenario.market
    if market is None:
        raise ApiError(409, "this server's market cannot be scripted (a code-level factory)")
    spec = _symbol(request, market, body.symbol)
    limit = request.app[SETTINGS].scenario_max_steps
    try:
        if body.path is not None:
            if len(body.path) > limit:
                raise RequestValidationError(
                    [error_item(["body", "path"], f"at most {limit} steps "
                                "(TRADING_SCENARIO_MAX_STEPS)", input_=len(body.path))]
                )  # fmt: skip
            scenario.script(spec.name, [(s.time, s.price) for s in body.path])
        elif body.price is not None:
            scenario.pin(spec.name, body.price)
        else:
            scenario.clear(spec.name)
    except ScriptError as exc:
        field = "path" if body.path is not None else "price"
        raise RequestValidationError([error_item(["body", field], str(exc))]) from None
    moved(request)
    return model_response(views.prices_state(market, spec, scenario.now_ms()))


@routes.post(f"{PREFIX}/evaluate")
@operation(
    "evaluateOrders",
    tag="debug",
    summary="Evaluate working orders now",
    description="Fills what the prices up to the clock's time reach (every second since the "
    "previous evaluation, at most the last hour), commits, pushes `orders`, `positions`, "
    "`executions` and equity updates, and answers what it changed. Reads no body.",
    responses={200: EvaluationResult, **GUARD, 409: CONFLICT, 503: HTTPError},
)
async def evaluate_orders(request: web.Request) -> web.Response:
    if (refused := refusal(request)) is not None:
        return refused
    scenario = scenario_of(request)
    changed = await request.app[BROKER].evaluate()
    return model_response(views.evaluation(scenario.now_ms(), changed))
