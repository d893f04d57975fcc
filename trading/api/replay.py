"""Bar-replay sessions over the wire (docs/replay.md): start, read, change and end a session
of the caller's account, and its market as of replay-now.

The rules are :mod:`trading.broker.replays`' and :mod:`trading.market.replay`'s; here they
meet HTTP. A session belongs to the account the request acts on
(:mod:`trading.api.account_scope`: DEMO-ACCOUNT in off mode, the caller's in keys mode), and
another account's session answers 404 exactly as a missing one.

The market routes under ``/api/v1/replay/{id}/udf`` and ``/{id}/datafeed`` are the normal
UDF and datafeed routes answered by a :class:`~trading.market.at_time.MarketAt` made at the
session's replay-now, so TradingView's stock UDF adapter pointed at
``/api/v1/replay/{id}/udf`` charts the session and never sees a later bar or quote.
"""

from __future__ import annotations

import asyncio
import functools

from aiohttp import web

from trading.api import datafeed, udf
from trading.api.account_scope import account_id
from trading.api.broker import STORAGE_UNAVAILABLE
from trading.api.history import BARS_EXECUTOR
from trading.api.io import model_response, models_response, read_json, validate_body
from trading.broker.replays import Change
from trading.broker.report import session_report
from trading.errors import ApiError, RequestValidationError, error_item
from trading.keys import BROKER, MARKET, REPLAYS, SETTINGS
from trading.market.at_time import MarketAt
from trading.market.replay import (
    ReplayConflict,
    ReplayError,
    ReplayLimitReached,
    ReplaySession,
    ReplayState,
)
from trading.market.replay_bars import view_of
from trading.market.resolution import Resolution, parse_resolution
from trading.market.source import TimedMarket
from trading.models.market import (
    GetBarsResponse,
    GetQuotesRequest,
    QuoteData,
    SearchSymbolResultItem,
    UdfConfiguration,
    UdfError,
    UdfHistory,
    UdfNoData,
    UdfQuotes,
    UdfSymbolInfo,
)
from trading.models.meta import HTTPError, HTTPValidationError
from trading.models.queries import (
    GetBarsQuery,
    UdfHistoryQuery,
    UdfQuotesQuery,
    UdfSearchQuery,
    UdfSymbolsQuery,
)
from trading.models.replay import (
    NewReplay,
    ReplayChange,
    ReplayPath,
    ReplayReport,
    ReplaySessionState,
)
from trading.security import read_only
from trading.specs.operation import Content, operation
from trading.specs.refusals import JSON_WRITE
from trading.wire.replay import SESSION_LIST, report, session_state

routes = web.RouteTableDef()
PREFIX = "/api/v1/replay"
NOT_FOUND = Content(
    HTTPError,
    description="No session of this id in the caller's account (an id of another account's "
    "answers the same), or TRADING_AUTH=keys: `X-Account-Id` names no account of the caller",
)
CHANGING = Content(
    HTTPError, description="Other workers kept changing the session meanwhile: try again"
)
LIMIT = Content(
    HTTPError, description="The account holds TRADING_REPLAY_MAX_SESSIONS sessions already"
)


def not_found(session_id: str) -> ApiError:
    return ApiError(404, f"Replay session {session_id} not found")


WIRE_FIELDS = {"start_time": "startTime"}
"""The body field a domain refusal's field is sent as (where the names differ)."""


def refused(exc: ReplayError) -> RequestValidationError:
    field = WIRE_FIELDS.get(exc.field, exc.field)
    return RequestValidationError([error_item(["body", field], exc.detail)])


def _view(request: web.Request, session: ReplaySession) -> MarketAt:
    market = request.app[MARKET]
    if not isinstance(market, TimedMarket):  # a code-level market_factory without window_at
        raise ApiError(409, "this server's market cannot be replayed (no TimedMarket)")
    return view_of(market, session, request.app[REPLAYS].wall_ms())


def _state(request: web.Request, session: ReplaySession) -> ReplaySessionState:
    return session_state(session, request.app[REPLAYS].wall_ms())


async def _session(request: web.Request) -> ReplaySession:
    session_id = request.match_info["replay_id"]
    found = await request.app[REPLAYS].get(await account_id(request), session_id)
    if found is None:
        raise not_found(session_id)
    return found


@routes.post(PREFIX)
@operation(
    "startReplay",
    tag="replay",
    summary="Start a bar-replay session of the account",
    description="The session's clock starts at `startTime` (between the history start and "
    "now) and runs at `speed` replay seconds per wall second (unless `paused`); its market is "
    "served under `/api/v1/replay/{id}/udf` and `/api/v1/replay/{id}/datafeed` as of that "
    "clock (docs/replay.md).",
    body=NewReplay,
    responses={
        201: ReplaySessionState,
        409: LIMIT,
        **JSON_WRITE,
        422: HTTPValidationError,
        503: STORAGE_UNAVAILABLE,
    },
)
async def start_replay(request: web.Request) -> web.Response:
    body = validate_body(await read_json(request), NewReplay)
    state = ReplayState.PAUSED if body.paused else ReplayState.RUNNING
    account = await account_id(request)
    try:
        session = await request.app[REPLAYS].start(
            account, body.startTime, body.speed, body.symbols, state
        )
    except ReplayLimitReached as exc:
        raise ApiError(409, exc.detail) from None
    except ReplayError as exc:
        raise refused(exc) from None
    return model_response(_state(request, session), status=201)


@routes.get(PREFIX)
@operation(
    "listReplays",
    tag="replay",
    summary="The account's replay sessions, oldest first",
    responses={200: list[ReplaySessionState]},
)
async def list_replays(request: web.Request) -> web.Response:
    found = await request.app[REPLAYS].of_account(await account_id(request))
    return models_response(SESSION_LIST, [_state(request, s) for s in found])


@routes.get(f"{PREFIX}/{{replay_id}}")
@operation(
    "getReplay",
    tag="replay",
    summary="A replay session now (its replay time, state and speed)",
    path=ReplayPath,
    responses={200: ReplaySessionState, 404: NOT_FOUND},
)
async def get_replay(request: web.Request) -> web.Response:
    return model_response(_state(request, await _session(request)))


def _change(body: ReplayChange) -> Change:
    """The clock operation ``body`` asks for (its fields checked first: 422 naming them)."""
    missing = body.missing()
    if missing:
        raise RequestValidationError(
            [error_item(["body", m], f"required by action {body.action!r}", type_="missing")
             for m in missing]
        )  # fmt: skip
    if body.action == "pause":
        return lambda c, w: c.pause(w)
    if body.action == "resume":
        return lambda c, w: c.resume(w)
    if body.action == "jump":
        ms = body.ms or 0
        return lambda c, w: c.jump(ms, w)
    if body.action == "speed":
        speed = body.speed or 0
        return lambda c, w: c.with_speed(speed, w)
    text = body.resolution or Resolution.M1.value
    resolution = parse_resolution(text)
    if resolution is None or not resolution.is_intraday:
        raise RequestValidationError(
            [error_item(["body", "resolution"], f"not an intraday resolution: {text!r}",
                        input_=text)]
        )  # fmt: skip
    bar_ms = resolution.seconds * 1000
    return lambda c, w: c.step(bar_ms, w)


@routes.patch(f"{PREFIX}/{{replay_id}}")
@operation(
    "changeReplay",
    tag="replay",
    summary="Pause, resume, step, jump or change the speed of a replay session",
    description="`step` moves to the start of the next bar of `resolution` and pauses; "
    "`jump` moves forward by `ms`. The replay time never moves back and never passes the "
    "present (a jump beyond stops at now).",
    path=ReplayPath,
    body=ReplayChange,
    responses={
        200: ReplaySessionState,
        404: NOT_FOUND,
        409: CHANGING,
        **JSON_WRITE,
        422: HTTPValidationError,
        503: STORAGE_UNAVAILABLE,
    },
)
async def change_replay(request: web.Request) -> web.Response:
    body = validate_body(await read_json(request), ReplayChange)
    change = _change(body)
    session_id = request.match_info["replay_id"]
    try:
        found = await request.app[REPLAYS].change(await account_id(request), session_id, change)
    except ReplayConflict as exc:
        raise ApiError(409, exc.detail) from None
    except ReplayError as exc:
        raise refused(exc) from None
    if found is None:
        raise not_found(session_id)
    return model_response(_state(request, found))


@routes.delete(f"{PREFIX}/{{replay_id}}")
@operation(
    "endReplay",
    tag="replay",
    summary="End a replay session (it is deleted)",
    path=ReplayPath,
    responses={204: None, 403: JSON_WRITE[403], 404: NOT_FOUND, 503: STORAGE_UNAVAILABLE},
)
async def end_replay(request: web.Request) -> web.Response:
    session_id = request.match_info["replay_id"]
    if not await request.app[REPLAYS].end(await account_id(request), session_id):
        raise not_found(session_id)
    return web.Response(status=204)


@routes.get(f"{PREFIX}/{{replay_id}}/report")
@operation(
    "getReplayReport",
    tag="replay",
    summary="A replay session's results: trades, P&L, win rate, drawdown, equity curve",
    description="From the session's own book (its account id is the session id), as of "
    "replay-now: every execution, realized and unrealized P&L, commissions, closing trades and "
    "how many won, and the equity curve from the start to replay-now (at most "
    "`TRADING_REPLAY_REPORT_POINTS` points) with its largest peak-to-trough fall "
    '(docs/replay.md "The report").',
    path=ReplayPath,
    responses={200: ReplayReport, 404: NOT_FOUND, 503: STORAGE_UNAVAILABLE},
)
async def get_replay_report(request: web.Request) -> web.Response:
    session = await _session(request)
    broker = request.app[BROKER]
    record = await broker.session_record(session.id)
    now = session.clock.now(request.app[REPLAYS].wall_ms())
    points = request.app[SETTINGS].replay_report_points
    compute = functools.partial(
        session_report, record.initial_balance, record.fills, session.start, now,
        record.prices, points,
    )  # fmt: skip
    # marking a curve reads the market at up to `points` seconds per open position (~1 ms each
    # cold for a synthetic symbol): in the history's worker thread, as cold bars are
    executor = request.app.get(BARS_EXECUTOR)
    if record.fills and executor is not None:
        found = await asyncio.get_running_loop().run_in_executor(executor, compute)
    else:
        found = compute()
    return model_response(report(session.id, found))


# --- the session's market (docs/replay.md §4) ----------------------------------------------

UDF = f"{PREFIX}/{{replay_id}}/udf"
DATAFEED = f"{PREFIX}/{{replay_id}}/datafeed"
_AS_OF = " as of the session's replay time"


@routes.get(f"{UDF}/config")
@operation(
    "replayUdfConfig",
    tag="replay",
    summary="UDF configuration of a session's datafeed",
    path=ReplayPath,
    responses={200: UdfConfiguration, 404: NOT_FOUND},
)
async def replay_udf_config(request: web.Request) -> web.Response:
    return udf.config_answer(_view(request, await _session(request)))


@routes.get(f"{UDF}/symbols")
@operation(
    "replayUdfSymbols",
    tag="replay",
    summary="UDF symbol information of a session's symbol",
    path=ReplayPath,
    query=UdfSymbolsQuery,
    responses={200: UdfSymbolInfo | UdfError, 404: NOT_FOUND},
)
@udf.udf_errors
async def replay_udf_symbols(request: web.Request) -> web.Response:
    return udf.symbols_answer(request, _view(request, await _session(request)))


@routes.get(f"{UDF}/search")
@operation(
    "replayUdfSearch",
    tag="replay",
    summary="UDF symbol search among a session's symbols",
    path=ReplayPath,
    query=UdfSearchQuery,
    responses={200: list[SearchSymbolResultItem] | UdfError, 404: NOT_FOUND},
)
@udf.udf_errors
async def replay_udf_search(request: web.Request) -> web.Response:
    return udf.search_answer(request, _view(request, await _session(request)))


@routes.get(f"{UDF}/history")
@operation(
    "replayUdfHistory",
    tag="replay",
    summary="UDF bars" + _AS_OF + " (none after it)",
    path=ReplayPath,
    query=UdfHistoryQuery,
    responses={200: UdfHistory | UdfNoData | UdfError, 404: NOT_FOUND},
)
@udf.udf_errors
async def replay_udf_history(request: web.Request) -> web.Response:
    view = _view(request, await _session(request))
    return await udf.history_answer(request, view, view)


@routes.get(f"{UDF}/quotes")
@operation(
    "replayUdfQuotes",
    tag="replay",
    summary="UDF quotes" + _AS_OF,
    path=ReplayPath,
    query=UdfQuotesQuery,
    responses={200: UdfQuotes | UdfError, 404: NOT_FOUND},
)
@udf.udf_errors
async def replay_udf_quotes(request: web.Request) -> web.Response:
    return udf.quotes_answer(request, _view(request, await _session(request)))


@routes.get(f"{UDF}/time")
@operation(
    "replayUdfTime",
    tag="replay",
    summary="The session's replay time in epoch seconds (text/plain)",
    path=ReplayPath,
    responses={200: Content(int, media_type="text/plain"), 404: NOT_FOUND},
)
async def replay_udf_time(request: web.Request) -> web.Response:
    return udf.time_answer(_view(request, await _session(request)))


@routes.get(f"{DATAFEED}/bars")
@operation(
    "replayGetBars",
    tag="replay",
    summary="Bars" + _AS_OF + " (times in epoch milliseconds; none after it)",
    path=ReplayPath,
    query=GetBarsQuery,
    responses={200: GetBarsResponse, 404: HTTPError, 422: HTTPValidationError},
)
async def replay_get_bars(request: web.Request) -> web.Response:
    view = _view(request, await _session(request))
    return await datafeed.bars_answer(request, view, view)


@routes.post(f"{DATAFEED}/quotes")
@operation(
    "replayGetQuotes",
    tag="replay",
    summary="Quotes" + _AS_OF,
    path=ReplayPath,
    body=GetQuotesRequest,
    responses={200: list[QuoteData], 404: NOT_FOUND, 422: HTTPValidationError},
)
@read_only
async def replay_get_quotes(request: web.Request) -> web.Response:
    view = _view(request, await _session(request))
    return await datafeed.quotes_answer(request, view)
