"""Application factory: routes, middlewares and resources wired from one Settings object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

from aiohttp import web

from trading.api import (
    accounts,
    broker,
    broker_config,
    datafeed,
    desk,
    docs,
    meta,
    orderlog,
    replay,
    scenario,
    streaming,
    udf,
)
from trading.api.history import setup_history
from trading.auth import admin as auth_admin
from trading.auth import routes as auth_routes
from trading.auth.authenticator import Authenticator
from trading.auth.principal import AccountView
from trading.broker.accounts import DEFAULT_ACCOUNT
from trading.broker.replays import Replays
from trading.broker.service import BrokerService
from trading.broker.storage import BrokerStore
from trading.broker.store import DB_FILE, Store
from trading.front import front_middleware, prepare_response
from trading.http_server import handler_args
from trading.keys import ACCOUNTS, AUTH, BROKER, MARKET, REPLAYS, SCENARIO, SETTINGS
from trading.market.composite import with_imported
from trading.market.config import MarketConfig
from trading.market.imported import ImportedMarket
from trading.market.resolution import ny_day_start
from trading.market.scenario import Scenario
from trading.market.scripted import ScriptedMarket
from trading.market.series import SyntheticMarket
from trading.market.source import MarketSource
from trading.metrics import METRICS, Metrics, setup_metrics
from trading.settings import Settings
from trading.web import setup_web
from trading.ws.setup import setup_streaming

log = logging.getLogger(__name__)
MarketFactory = Callable[[MarketConfig], MarketSource]


def create_app(settings: Settings | None = None) -> web.Application:
    """Build the service. Tests pass their own Settings (temporary data dir, manual clock)."""
    settings = settings or Settings.from_env()
    metrics = Metrics()
    # issue 14: keys mode only; off mode builds no users file and no auth middleware at all
    auth = Authenticator(settings) if settings.auth == "keys" else None
    app = web.Application(
        # one pass for the request id, metrics, Host check, CORS, CSRF, JSON errors, keys-mode
        # credentials and slash redirects, in that order (trading/front.py)
        middlewares=[front_middleware(settings, metrics, auth)],
        client_max_size=settings.http_max_body_bytes,
        handler_args=handler_args(settings),
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app.on_response_prepare.append(prepare_response)
    market_config = settings.market_config()
    manual = settings.manual_clock
    # TRADING_CLOCK=manual: prices scriptable over the wire (docs/scenarios.md)
    default: MarketFactory = SyntheticMarket if manual is None else ScriptedMarket
    base = (settings.market_factory or default)(market_config)
    # imported history (docs/history.md): loaded once here, beside the synthetic symbols
    imported = ImportedMarket(settings.data_dir, market_config.clock, market_config.spread_bps)
    app[MARKET] = with_imported(base, imported)
    if manual is not None:
        # the scripted prices are the synthetic symbols' (an imported one follows its bars)
        app[SCENARIO] = Scenario(manual, base if isinstance(base, ScriptedMarket) else None)
    setup_history(app)
    app[BROKER] = broker_service(settings, app[MARKET])
    app.cleanup_ctx.append(_broker_lifetime)
    if auth is not None:
        app[AUTH] = auth
        app.cleanup_ctx.append(_auth_lifetime)
    app[ACCOUNTS] = BrokerAccounts(app[BROKER])
    # bar replay (docs/replay.md): sessions in the broker's store, clocked by the market's
    app[REPLAYS] = Replays(
        app[BROKER],
        app[MARKET].catalog,
        app[MARKET].now,
        ny_day_start(settings.history_start.toordinal()) * 1000,
        settings.replay_max_sessions,
    )
    app.add_routes(meta.routes)
    app.add_routes(datafeed.routes)
    app.add_routes(udf.routes)
    app.add_routes(broker.routes)
    app.add_routes(accounts.routes)
    app.add_routes(orderlog.routes)
    app.add_routes(broker_config.routes)
    app.add_routes(desk.routes)
    app.add_routes(auth_routes.routes)
    app.add_routes(auth_admin.routes)
    app.add_routes(scenario.routes)
    app.add_routes(replay.routes)
    setup_streaming(app)
    app.add_routes(streaming.routes)
    setup_metrics(app)
    # --- API documents and doc UIs (issue 6): keep after every documented route table -------
    docs.setup_docs(app)
    setup_web(app)
    if settings.bench:
        app.add_routes(streaming.bench_routes)
        log.warning("benchmark hooks enabled under /api/v1/__bench (TRADING_BENCH=1)")
    return app


def broker_store(settings: Settings) -> BrokerStore:
    """Where the broker keeps its state: the PostgreSQL of ``TRADING_DATABASE_URL`` (several
    hosts), else SQLite in the data dir (a cluster's workers share the supervisor's lock)."""
    if settings.database_url is not None:  # imported here: SQLite loads no PostgreSQL driver
        from trading.broker.pg_store import PgStore

        url = settings.database_url.get_secret_value()
        return PgStore(url, keepalive_s=settings.pg_keepalive_s)
    return Store(settings.data_dir / DB_FILE, lock_fd=settings.data_dir_lock_fd)


def broker_service(settings: Settings, market: MarketSource) -> BrokerService:
    """The broker as the app runs it, from the settings (benchmarks build it the same way)."""
    return BrokerService(
        market,
        settings.clock,
        settings.data_dir,
        initial_balance=Decimal(repr(settings.initial_balance)),
        commission_rate=Decimal(repr(settings.commission_rate)),
        default_leverage=Decimal(repr(settings.default_leverage)),
        tick_interval_s=settings.tick_interval_s,
        equity_interval_s=settings.equity_interval_s,
        idempotency_ttl_s=settings.idempotency_ttl_s,
        shared=settings.shared_store,
        store=broker_store(settings),
        fill_loop=settings.manual_clock is None,  # manual: evaluated on request only
    )


async def _broker_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Load the persisted account before serving; close the database after the sockets."""
    await app[BROKER].start()
    yield
    await app[BROKER].stop()


async def _auth_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Users and sessions loaded before the first request; the refresh task ends with the app."""
    await app[AUTH].start()
    yield
    await app[AUTH].stop()


class BrokerAccounts:
    """The auth side's view of a user's accounts (``/auth/me``): the broker's, opened on
    first use (broker.md §20)."""

    def __init__(self, broker: BrokerService) -> None:
        self._broker = broker

    async def accounts_of(self, user_id: str) -> list[AccountView]:
        return [
            AccountView(a.id, a.name, a.currency) for a in await self._broker.accounts_of(user_id)
        ]


async def reset_broker(settings: Settings) -> None:
    """``python -m trading reset-broker``: the debug reset, for a stopped server's data dir."""
    app = create_app(settings)
    broker = app[BROKER]
    await broker.load()
    try:
        await broker.reset(DEFAULT_ACCOUNT)
    finally:
        await broker.stop()
