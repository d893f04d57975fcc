"""Every knob of the service, read from ``TRADING_*`` environment variables by pydantic-settings.

Each field declares its accepted range once; the same declaration validates the environment
(``Settings.from_env``, called before anything is loaded) and the code-level overrides tests
pass (``Settings(market_seed=7, clock=ManualClock(...))``). A bad value stops the service with
one line per offending variable, naming it and what it accepts (:class:`SettingsError`).

``Settings(...)`` built in code reads **no** environment variables: a test or an embedding
program gets exactly the defaults plus what it passes, whatever the shell exports. Only
:meth:`Settings.from_env` reads ``TRADING_*``. ``clock`` and ``market_factory`` are Python-only
fields and never come from the environment.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import annotated_types
from pydantic import (
    AwareDatetime,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from trading.clock import Clock, ManualClock, SystemClock
from trading.market.config import MarketConfig
from trading.market.scenario import LATEST_MS

if TYPE_CHECKING:
    from trading.market.source import MarketSource

    ClockField = Clock
    MarketFactory = Callable[[MarketConfig], MarketSource] | None
else:  # pydantic checks nothing of these code-only objects at run time
    ClockField = Any
    MarketFactory = Any

ENV_PREFIX = "TRADING_"
DEFAULT_INTRADAY_DEPTH: Mapping[int, int] = {1: 7, 5: 30, 15: 90, 30: 180, 60: 365}
INTRADAY_MINUTES = frozenset(DEFAULT_INTRADAY_DEPTH)
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
FIRST_HISTORY_DAY = dt.date(1970, 1, 1)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""The names a browser on this machine uses for it: the default ``TRADING_ALLOWED_HOSTS``."""

MIN_SECRET_CHARS = 32
"""Shortest admin key or session secret: a guessable one would open the admin API or let
anyone sign session cookies."""

_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class SettingsError(ValueError):
    """One or more settings hold values the service cannot use; the text names each variable."""


ENV_SUFFIXES: Mapping[str, str] = {"clock_mode": "clock"}
"""Fields whose variable is not named after them: ``TRADING_CLOCK`` chooses the clock, but the
field ``clock`` is the code-level clock object itself (``Settings(clock=ManualClock(...))``)."""


def env_name(field: str) -> str:
    """The environment variable behind a settings field (``port`` → ``TRADING_PORT``)."""
    return f"{ENV_PREFIX}{ENV_SUFFIXES.get(field, field).upper()}"


def parse_depths(text: str) -> dict[int, int]:
    """Parse ``"1:7,5:30"`` into ``{1: 7, 5: 30}`` (minutes → days of history)."""
    depths: dict[int, int] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            minutes, days = item.split(":")
            depths[int(minutes)] = int(days)
        except ValueError as exc:
            raise ValueError(f"bad item {item!r}: expected MINUTES:DAYS, e.g. 1:7,5:30") from exc
    return depths


def is_host(text: str) -> bool:
    """An IP address (v4 or v6, brackets allowed) or a DNS host name."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return True
    labels = text.removesuffix(".").split(".")
    return (
        0 < len(text) <= 253
        and all(_HOSTNAME_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()  # 300.1.2.3 is a bad address, not a name
    )


def _is_host_header_name(text: str) -> bool:
    """A name as a ``Host`` header carries it: IPv6 only in brackets."""
    return is_host(text) and (":" not in text or text.startswith("["))


def _origin_error(origin: str) -> str | None:
    if origin == "*":
        return None
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"{origin!r} is not an origin like https://app.example or http://localhost:5173"
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        return f"{origin!r}: an origin has no path, query, fragment or user"
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return f"{origin!r}: bad port"
    return None


Seconds = Annotated[float, Field(allow_inf_nan=False)]


class Settings(BaseSettings):
    """The service's configuration; field names are the variables without ``TRADING_``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        frozen=True,
        extra="forbid",
        arbitrary_types_allowed=True,
        validate_default=True,
    )

    # --- server -----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = "INFO"
    data_dir: Path = Path("data")
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ("*",)
    debug_routes: Literal["loopback", "on", "off"] = "loopback"
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = LOOPBACK_HOSTS
    """Host headers answered (DNS rebinding guard, trading/security.py); the bind address is
    always added, ``*`` = any host."""
    bench: bool = False

    # --- market -----------------------------------------------------------------------------
    market_seed: int = Field(1, ge=0, le=2**63 - 1)
    history_start: dt.date = dt.date(2018, 1, 1)
    intraday_depth_days: Annotated[dict[int, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_INTRADAY_DEPTH)
    )
    max_bars: int = Field(20_000, ge=1, le=1_000_000)
    # issue 16, area bars: the serialized-segment cache of history answers
    # (trading/wire/bar_bytes.py) and the threads that compute cold history off the loop
    bars_cache_bytes: int = Field(64 * 2**20, ge=0, le=2**40)
    """Bytes of serialized final bars kept for ``/datafeed/bars`` and ``/udf/history``
    (bytes, offsets and labels counted; 0: no cache, every answer computed)."""
    bars_threads: int = Field(1, ge=0, le=64)
    """Worker threads for cold history (segments to build); 0 computes it on the event loop."""
    tick_interval_s: Seconds = Field(1.0, ge=0.001, le=60)
    ready_stall_s: Seconds | None = Field(None, gt=0, le=86_400)
    """Readiness fails when the fill loop or the market stream has not ticked for this long
    (None: ten ticks, at least 5 s)."""
    market_spread_bps: float = Field(5.0, ge=0, le=1000, allow_inf_nan=False)
    quotes_slow_interval_s: Seconds = Field(10.0, gt=0, le=3600)

    # --- WebSocket --------------------------------------------------------------------------
    ws_max_connections: int = Field(20_000, ge=1, le=1_000_000)
    ws_max_subscriptions: int = Field(200, ge=1, le=100_000)
    ws_max_message_bytes: int = Field(65_536, ge=1024, le=16 * 1024**2)
    ws_send_queue: int = Field(1024, ge=1, le=1_000_000)
    ws_send_timeout_s: Seconds = Field(10.0, gt=0, le=3600)
    ws_heartbeat_s: Seconds = Field(20.0, gt=0, le=3600)
    ws_idle_timeout_s: Seconds = Field(0.0, ge=0, le=86_400)
    ws_max_lifetime_s: Seconds = Field(0.0, ge=0, le=30 * 86_400)
    ws_compress: bool = False
    ws_send_queue_bytes: int = Field(1_048_576, le=2**30)
    """Live traffic queued per connection, in bytes (payload + 96 per frame), at least twice
    ``ws_max_message_bytes``; docs/websockets.md says what the defaults cost at the limit."""
    equity_interval_s: Seconds = Field(1.0, gt=0, le=3600)

    # --- broker -----------------------------------------------------------------------------
    initial_balance: float = Field(100_000.0, gt=0, le=1e12, allow_inf_nan=False)
    commission_rate: float = Field(0.001, ge=0, lt=1, allow_inf_nan=False)
    default_leverage: float = Field(10.0, ge=1, le=100, allow_inf_nan=False)
    idempotency_key_max_bytes: int = Field(255, ge=16, le=4096)
    """Longest ``Idempotency-Key`` header accepted on order placement (UTF-8 bytes)."""
    idempotency_ttl_s: Seconds = Field(86_400.0, ge=1, le=30 * 86_400)
    """How long a placement is remembered under its idempotency key (then purged)."""
    orders_history_limit: int = Field(100, ge=1, le=10_000)
    """Orders per page of ``GET /orders/history`` when the client gives no ``limit``."""
    orders_history_max_limit: int = Field(500, ge=1, le=10_000)
    """Largest ``limit`` of ``GET /orders/history`` (at least ``orders_history_limit``)."""
    max_accounts_per_user: int = Field(20, ge=1, le=10_000)
    """Keys mode: paper accounts a user may hold (POST /broker/accounts answers 409 beyond)."""
    replay_push_s: Seconds = Field(1.0, ge=0.05, le=60)
    """Period of the ``replay`` WebSocket route (docs/replay.md §6): each worker re-reads its
    subscribed sessions from the store once per period and pushes those that moved; so a
    change made by another worker shows within one period."""
    replay_push_max_bars: int = Field(100, ge=1, le=5000)
    """Completed bars per symbol one ``replay`` push carries at most (the latest ones; a
    jump or a fast session completes more, the rest is on the session's history routes)."""
    replay_max_sessions: int = Field(5, ge=1, le=1000)
    """Replay sessions one account may hold at once (``POST /replay`` answers 409 beyond):
    each is a row and a clock, and a forgotten one is ended by DELETE (docs/replay.md §3)."""
    replay_report_points: int = Field(500, ge=2, le=5000)
    """Most points of a session report's equity curve (``GET /replay/{id}/report``): the start
    and replay-now, then every fill, then regular samples, as far as they fit (each point
    marks the session's positions once)."""

    # --- HTTP listener, JSON bodies, logs -------------------------------------------------
    http_max_line_bytes: int = Field(16_384, ge=256, le=1_048_576)
    """Longest request line (method, URL with its query string, version)."""
    http_max_field_bytes: int = Field(8190, ge=256, le=1_048_576)
    """Longest header line (name and value)."""
    http_max_headers: int = Field(128, ge=8, le=10_000)
    """Most header lines in one request."""
    http_max_body_bytes: int = Field(1_048_576, ge=1024, le=2**30)
    """Largest request body (after decompression); larger is 413."""
    http_header_timeout_s: Seconds = Field(15.0, gt=0, le=3600)
    """A connection must finish its request headers this long after it opened (or after its
    previous response); idle keep-alive connections are closed after the same time."""
    json_max_depth: int = Field(64, ge=2, le=1000)
    """Deepest nesting of arrays/objects accepted in a JSON body."""
    log_format: Literal["text", "json"] = "text"
    """``text`` (human) or ``json`` (one object per line)."""
    access_log: bool = True
    """One log line per HTTP request (logger ``aiohttp.access``), in ``log_format``."""

    # --- accounts and authentication (docs/security.md "Accounts and authentication") -----
    auth: Literal["off", "keys"] = "off"
    """``off``: today's single account, no credentials; ``keys``: API keys and sessions."""
    auth_market: Literal["public", "private"] = "public"
    """In keys mode, whether market data (datafeed, UDF, bars/quotes) needs credentials too."""
    admin_key: SecretStr | None = None
    """Bearer token of the admin API (``/api/v1/admin``); absent: no admin API (404)."""
    cookie_secure: bool = False
    """Mark the session cookie ``Secure`` (set it behind TLS)."""
    session_ttl_s: int = Field(86_400, ge=60, le=30 * 86_400)
    """How long a login session (its cookie) lasts."""
    session_secret: SecretStr | None = None
    """Key that signs session cookies; absent: one generated into ``<data_dir>/session.secret``."""
    ws_ticket_ttl_s: int = Field(30, ge=1, le=600)
    """How long a one-time WebSocket ticket stays valid."""
    rate_limit_rest_per_s: Seconds = Field(50.0, gt=0, le=100_000)
    """REST requests per second and key (token bucket refill)."""
    rate_limit_rest_burst: int = Field(100, ge=1, le=1_000_000)
    """REST requests a key may send at once (token bucket size)."""
    rate_limit_ws_per_s: Seconds = Field(50.0, gt=0, le=100_000)
    """WebSocket messages per second and key."""
    rate_limit_ws_burst: int = Field(100, ge=1, le=1_000_000)
    """WebSocket messages a key may send at once."""
    auth_refresh_s: Seconds = Field(0.25, ge=0.01, le=5)
    """How often the server looks for keys changed by the CLI (revocations within a second)."""

    # --- several processes and hosts (docs/deployment.md) -------------------------------
    workers: int = Field(1, ge=1, le=64)
    """Server processes on this host sharing the port (``serve --workers N``); above 1 the
    WebSocket backplane ``TRADING_REDIS_URL`` is required."""
    redis_url: SecretStr | None = None
    """``redis://host:port/db``: the backplane that carries broker pushes between processes."""
    database_url: SecretStr | None = None
    """``postgresql://user:pass@host/db``: the broker store shared by several hosts; absent:
    ``<data_dir>/trading.sqlite3``."""
    redis_timeout_s: Seconds = Field(0.5, ge=0.01, le=30)
    """How long a publish to the backplane may take before it counts as lost (clients then get
    a fresh snapshot): a Redis outage never stalls the server."""
    redis_publish_queue: int = Field(10_000, ge=1, le=1_000_000)
    """Broker pushes waiting for the backplane's publisher; beyond, a push is dropped (counted)
    and the subscribers of its account get a fresh snapshot once Redis takes publishes again."""
    redis_linger_s: Seconds = Field(1.0, ge=0, le=60)
    """How long an account's channel stays subscribed after its last local subscriber left (a
    client flapping a topic costs no SUBSCRIBE/UNSUBSCRIBE pair each time)."""
    redis_retry_s: Seconds = Field(0.02, ge=0.001, le=5)
    """Pause between attempts to reach Redis again after its connection dropped: subscribers
    get their fresh snapshot within about this after Redis is back."""
    pg_keepalive_s: int = Field(5, ge=1, le=3600)
    """TCP keepalive idle/interval (and user timeout) of PostgreSQL sessions: a host that
    vanished loses the fill evaluator's lock within a few times this."""

    # --- scenario control (docs/scenarios.md) -------------------------------------------
    clock_mode: Literal["system", "manual"] = "system"
    """``TRADING_CLOCK``: ``system`` (wall time) or ``manual``: the market and the broker read
    one :class:`~trading.clock.ManualClock` that moves only by ``POST /api/v1/debug/clock``,
    and the broker evaluates working orders only by ``POST /api/v1/debug/evaluate``."""
    clock_start: AwareDatetime | None = None
    """Manual clock only: the time it shows at start (ISO 8601 with a zone, or epoch
    seconds); absent: the wall time of the start."""
    scenario_max_steps: int = Field(10_000, ge=1, le=1_000_000)
    """Most steps in one price path of ``POST /api/v1/debug/prices``."""

    # --- Python-only overrides (never read from the environment) -------------------------
    clock: SkipJsonSchema[ClockField] = Field(default_factory=SystemClock, exclude=True)
    market_factory: SkipJsonSchema[MarketFactory] = Field(default=None, exclude=True)
    """Builds the market source from :meth:`market_config` (default: the synthetic series);
    tests script prices here."""
    data_dir_lock_fd: SkipJsonSchema[int | None] = Field(default=None, ge=0, exclude=True)
    """An inherited fd of ``<data_dir>/trading.lock`` that the cluster's supervisor already
    holds the ``flock`` on (``serve --workers N``): the store uses it instead of locking the
    data dir itself, so a cluster's workers share the lock that keeps other servers out."""

    CODE_ONLY: ClassVar[frozenset[str]] = frozenset({"clock", "market_factory", "data_dir_lock_fd"})
    SECRETS: ClassVar[frozenset[str]] = frozenset(
        {"admin_key", "session_secret", "redis_url", "database_url"}
    )
    """Fields whose value never appears in an error message (nor in a log)."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None

    # --- field rules that a bound alone cannot say -------------------------------------------
    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if not is_host(value):
            raise ValueError("expected an IP address or a host name, e.g. 127.0.0.1 or ::1")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().upper()
            if value not in LOG_LEVELS:
                raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return value

    @field_validator(
        "debug_routes", "log_format", "auth", "auth_market", "clock_mode", mode="before"
    )
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        if not str(value).strip():
            raise ValueError("must name a directory")
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a directory")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must not be empty: give * or comma-separated origins")
        problems = [p for p in map(_origin_error, value) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(h.strip() for h in value.split(",") if h.strip())
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one host (or *)")
        bad = [h for h in value if h != "*" and not _is_host_header_name(h)]
        if bad:
            raise ValueError(
                f"{', '.join(map(repr, bad))}: expected host names, IPv4 addresses, "
                "[IPv6] addresses in brackets, or *"
            )
        return value

    @field_validator("admin_key", "session_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters (a random token)")
        return value

    @field_validator("history_start")
    @classmethod
    def _history_start(cls, value: dt.date) -> dt.date:
        today = dt.datetime.now(dt.UTC).date()
        if not FIRST_HISTORY_DAY <= value <= today:
            raise ValueError(f"expected a day from {FIRST_HISTORY_DAY} to today ({today})")
        return value

    @field_validator("intraday_depth_days", mode="before")
    @classmethod
    def _parse_depths(cls, value: object) -> object:
        return parse_depths(value) if isinstance(value, str) else value

    @field_validator("intraday_depth_days")
    @classmethod
    def _depths(cls, value: dict[int, int]) -> dict[int, int]:
        if set(value) != INTRADAY_MINUTES:
            raise ValueError("must give exactly the resolutions 1, 5, 15, 30 and 60 (MINUTES:DAYS)")
        if any(not 1 <= days <= 3650 for days in value.values()):
            raise ValueError("each depth must be from 1 to 3650 days")
        return value

    @model_validator(mode="after")
    def _queue_holds_two_frames(self) -> Settings:
        if self.ws_send_queue_bytes < 2 * self.ws_max_message_bytes:
            raise ValueError(
                f"{env_name('ws_send_queue_bytes')}={self.ws_send_queue_bytes}: must be at least "
                f"twice {env_name('ws_max_message_bytes')} ({2 * self.ws_max_message_bytes})"
                " and at most 1073741824"
            )
        return self

    @model_validator(mode="after")
    def _history_default_within_max(self) -> Settings:
        if self.orders_history_limit > self.orders_history_max_limit:
            raise ValueError(
                f"{env_name('orders_history_limit')}={self.orders_history_limit}: must not "
                f"exceed {env_name('orders_history_max_limit')} ({self.orders_history_max_limit})"
            )
        return self

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(REDIS_SCHEMES):
            raise ValueError("must be a redis:// (or rediss://, unix://) URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(POSTGRES_SCHEMES):
            raise ValueError("must be a postgresql:// URL (absent: SQLite in the data dir)")
        return value

    @model_validator(mode="after")
    def _workers_need_a_backplane(self) -> Settings:
        if self.workers > 1 and self.redis_url is None:
            raise ValueError(
                f"{env_name('workers')}={self.workers}: several workers need "
                f"{env_name('redis_url')} (the backplane that carries broker pushes between "
                "them)"
            )
        return self

    @model_validator(mode="after")
    def _manual_clock(self) -> Settings:
        """``TRADING_CLOCK=manual`` builds the shared ManualClock (unless the code passed
        one) and is refused where one process's clock and prices would not be another's."""
        if self.clock_mode == "system":
            if self.clock_start is not None:
                raise ValueError(
                    f"{env_name('clock_start')} needs {env_name('clock_mode')}=manual "
                    "(the system clock shows the wall time)"
                )
            return self
        several = [f"{env_name('workers')}={self.workers}"] if self.workers > 1 else []
        if self.database_url is not None:
            several.append(f"{env_name('database_url')} (shared mode)")
        if several:
            raise ValueError(
                f"{env_name('clock_mode')}=manual runs in one process only (each process would "
                f"have its own clock and scripted prices): refused with {' and '.join(several)}"
                " (docs/scenarios.md §5)"
            )
        if self.clock_start is not None and self.clock_start.date() < self.history_start:
            raise ValueError(
                f"{env_name('clock_start')}={self.clock_start.isoformat()}: before "
                f"{env_name('history_start')} ({self.history_start}), where the market begins"
            )
        if "clock" in self.model_fields_set:
            if not isinstance(self.clock, ManualClock):
                raise ValueError(
                    f"{env_name('clock_mode')}=manual needs a ManualClock, "
                    f"not a {type(self.clock).__name__}"
                )
            return self  # a copy (Settings.replace) keeps the clock it was made with
        start = time.time() if self.clock_start is None else self.clock_start.timestamp()
        self.__dict__["clock"] = ManualClock(start)  # frozen: set once, while validating
        return self

    @field_validator("clock_start")
    @classmethod
    def _clock_start(cls, value: dt.datetime | None) -> dt.datetime | None:
        latest = dt.datetime.fromtimestamp(LATEST_MS / 1000, dt.UTC)
        if value is not None and not (value.date() >= FIRST_HISTORY_DAY and value <= latest):
            raise ValueError(f"expected a time from {FIRST_HISTORY_DAY} to {latest.isoformat()}")
        return value

    @property
    def manual_clock(self) -> ManualClock | None:
        """The shared manual clock of ``TRADING_CLOCK=manual``, else None."""
        if self.clock_mode == "manual" and isinstance(self.clock, ManualClock):
            return self.clock
        return None

    @property
    def shared_store(self) -> bool:
        """Whether other processes write the broker store too (several workers, or
        PostgreSQL shared by hosts): every answer is then read from what is committed."""
        return self.workers > 1 or self.database_url is not None

    # --- building ---------------------------------------------------------------------------
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Code-built settings see only what the code passes (see the module docstring)."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``TRADING_<FIELD>`` variables (``environ`` defaults to ``os.environ``).

        Unknown ``TRADING_*`` names are an error too: a typo must not silently leave a limit at
        its default.
        """
        source = _EnvironSource(cls, environ)
        suffixes = {ENV_SUFFIXES.get(f, f) for f in _env_fields()}
        unknown = sorted(
            name
            for name in source.env_vars
            if name.upper().startswith(ENV_PREFIX)
            and name.lower().removeprefix(ENV_PREFIX.lower()) not in suffixes
            and not name.upper().startswith(_IGNORED_PREFIXES)
        )
        if unknown:
            known = ", ".join(env_name(f) for f in sorted(_env_fields()))
            raise SettingsError(
                "\n".join(f"{name.upper()}: unknown setting (known: {known})" for name in unknown)
            )
        try:
            values = source()
        except ValueError as exc:  # a complex value that is not valid JSON
            raise SettingsError(str(exc)) from None
        return cls(**{**values, **overrides})

    def market_config(self) -> MarketConfig:
        """What the market needs of these settings (``create_app`` builds the market from it;
        ``market_factory`` receives it)."""
        return MarketConfig(
            clock=self.clock,
            seed=self.market_seed,
            history_start=self.history_start,
            intraday_depth_days=self.intraday_depth_days,
            spread_bps=self.market_spread_bps,
        )

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated like any other Settings."""
        current = {name: getattr(self, name) for name in type(self).model_fields}
        if changes.get("clock_mode") == "manual" and isinstance(current["clock"], SystemClock):
            del current["clock"]  # switching to the manual clock builds one (``clock_start``)
        return type(self)(**{**current, **changes})


_IGNORED_PREFIXES = ("TRADING_FUZZ_", "TRADING_SOAK_", "TRADING_TEST_")
"""Variables of the test tooling (``make fuzz``, ``make soak``), not of the service."""


def _env_fields() -> frozenset[str]:
    return frozenset(Settings.model_fields) - Settings.CODE_ONLY


class _EnvironSource(EnvSettingsSource):
    """The environment source, reading a given mapping (tests) or ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self._environ is None:
            return super()._load_env_vars()
        return {k.lower(): v for k, v in self._environ.items()}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        if field_name in Settings.CODE_ONLY:
            return None, field_name, False
        if field_name in ENV_SUFFIXES:
            value = self.env_vars.get(env_name(field_name).lower())
            return value, field_name, False
        return super().get_field_value(field, field_name)


def describe(exc: ValidationError) -> str:
    """One line per bad value: ``TRADING_PORT='70000': Input should be ≤ 65535``."""
    lines = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if not error.get("loc"):  # a rule between fields: its message names them
            lines.append(message)
            continue
        field = str(error["loc"][0])
        if field in Settings.CODE_ONLY or field not in Settings.model_fields:
            lines.append(f"{field}: {message}")
            continue
        accepted = accepted_range(field)
        suffix = f" (accepted: {accepted})" if accepted else ""
        shown = "'<hidden>'" if field in Settings.SECRETS else repr(error.get("input"))
        lines.append(f"{env_name(field)}={shown}: {message}{suffix}")
    return "\n".join(lines)


def accepted_range(field: str) -> str:
    """The bounds a numeric field declares, as text: ``1 <= value <= 65535``."""
    low = high = ""
    for item in Settings.model_fields[field].metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"{item.ge} <= "
        elif isinstance(item, annotated_types.Gt):
            low = f"{item.gt} < "
        elif isinstance(item, annotated_types.Le):
            high = f" <= {item.le}"
        elif isinstance(item, annotated_types.Lt):
            high = f" < {item.lt}"
    return f"{low}value{high}" if low or high else ""
