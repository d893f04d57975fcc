"""Every knob of the service, read from ``TRADING_*`` environment variables.

Tests build :class:`Settings` directly (``Settings(market_seed=7, clock=ManualClock(...))``);
Python-only fields such as ``clock`` have no environment variable on purpose (market.md §7).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trading.clock import Clock, SystemClock

if TYPE_CHECKING:
    from trading.market.source import MarketSource

DEFAULT_INTRADAY_DEPTH: Mapping[int, int] = {1: 7, 5: 30, 15: 90, 30: 180, 60: 365}


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


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
            raise SettingsError(f"bad intraday depth item {item!r}: expected MINUTES:DAYS") from exc
    return depths


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"not a boolean: {text!r}")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    data_dir: Path = Path("data")
    cors_origins: tuple[str, ...] = ("*",)
    debug_routes: str = "loopback"
    bench: bool = False

    market_seed: int = 1
    history_start: dt.date = dt.date(2018, 1, 1)
    intraday_depth_days: Mapping[int, int] = field(
        default_factory=lambda: dict(DEFAULT_INTRADAY_DEPTH)
    )
    max_bars: int = 20_000
    tick_interval_s: float = 1.0
    market_spread_bps: float = 5.0
    quotes_slow_interval_s: float = 10.0

    ws_max_connections: int = 20_000
    ws_max_subscriptions: int = 200
    ws_max_message_bytes: int = 65_536
    ws_send_queue: int = 1024
    ws_send_timeout_s: float = 10.0
    ws_heartbeat_s: float = 20.0
    ws_idle_timeout_s: float = 0.0
    ws_max_lifetime_s: float = 0.0
    ws_compress: bool = False
    equity_interval_s: float = 1.0

    initial_balance: float = 100_000.0
    commission_rate: float = 0.001
    default_leverage: float = 10.0

    # --- HTTP limits and operating (issue 11, httpops): limits of the HTTP listener, JSON
    # bodies, logs. Each is validated in __post_init__ (same block) and read in _FROM_TEXT.
    http_max_line_bytes: int = 16_384
    """Longest request line (method, URL with its query string, version)."""
    http_max_field_bytes: int = 8190
    """Longest header line (name and value)."""
    http_max_headers: int = 128
    """Most header lines in one request."""
    http_max_body_bytes: int = 1_048_576
    """Largest request body (after decompression); larger is 413."""
    http_header_timeout_s: float = 15.0
    """A connection must finish its request headers this long after it opened (or after its
    previous response); idle keep-alive connections are closed after the same time."""
    json_max_depth: int = 64
    """Deepest nesting of arrays/objects accepted in a JSON body."""
    log_format: str = "text"
    """``text`` (human) or ``json`` (one object per line)."""
    access_log: bool = True
    """One log line per HTTP request (logger ``aiohttp.access``), in ``log_format``."""
    # --- end of issue 11 (httpops) block ----------------------------------------------------

    clock: Clock = field(default_factory=SystemClock, compare=False)
    market_factory: Callable[[Settings], MarketSource] | None = field(default=None, compare=False)
    """Builds the market source (default: the synthetic series); tests script prices here."""

    def __post_init__(self) -> None:
        if self.max_bars < 1:
            raise SettingsError("TRADING_MAX_BARS must be at least 1")
        if self.market_spread_bps < 0:
            raise SettingsError("TRADING_MARKET_SPREAD_BPS must not be negative")
        if self.tick_interval_s <= 0:
            raise SettingsError("TRADING_TICK_INTERVAL_S must be positive")
        if self.debug_routes not in {"loopback", "on", "off"}:
            raise SettingsError("TRADING_DEBUG_ROUTES must be loopback, on or off")
        for name in ("ws_max_connections", "ws_max_subscriptions", "ws_send_queue"):
            if getattr(self, name) < 1:
                raise SettingsError(f"TRADING_{name.upper()} must be at least 1")
        if self.initial_balance <= 0 or not 0 <= self.commission_rate < 1:
            raise SettingsError("initial balance must be positive, commission rate in [0, 1)")
        if not 1 <= self.default_leverage <= 100:
            raise SettingsError("TRADING_DEFAULT_LEVERAGE must be between 1 and 100")
        if self.ws_max_message_bytes < 1024:
            raise SettingsError("TRADING_WS_MAX_MESSAGE_BYTES must be at least 1024")
        if self.ws_send_timeout_s <= 0 or self.ws_heartbeat_s < 0:
            raise SettingsError("WebSocket timeouts must be positive")
        if sorted(self.intraday_depth_days) != [1, 5, 15, 30, 60]:
            raise SettingsError("TRADING_INTRADAY_DEPTH_DAYS must give 1, 5, 15, 30 and 60")
        if any(days < 1 for days in self.intraday_depth_days.values()):
            raise SettingsError("intraday depths must be at least one day")
        # --- issue 11 (httpops): HTTP limits and operating ------------------------------------
        for name, low, high in (
            ("http_max_line_bytes", 256, 1_048_576),
            ("http_max_field_bytes", 256, 1_048_576),
            ("http_max_headers", 8, 10_000),
            ("http_max_body_bytes", 1024, 1 << 30),
            ("json_max_depth", 2, 1000),
        ):
            if not low <= getattr(self, name) <= high:
                raise SettingsError(f"TRADING_{name.upper()} must be between {low} and {high}")
        if not 0 < self.http_header_timeout_s <= 3600:
            raise SettingsError("TRADING_HTTP_HEADER_TIMEOUT_S must be in (0, 3600] seconds")
        if self.log_format not in {"text", "json"}:
            raise SettingsError("TRADING_LOG_FORMAT must be text or json")

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``TRADING_<FIELD>`` variables; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, object] = {}
        for name, convert in _FROM_TEXT.items():
            text = env.get(f"TRADING_{name.upper()}")
            if text is None:
                continue
            try:
                kwargs[name] = convert(text)
            except ValueError as exc:
                raise SettingsError(f"TRADING_{name.upper()}={text!r}: {exc}") from exc
        return cls(**kwargs)  # type: ignore[arg-type]


def _origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(",") if o.strip())


_FROM_TEXT: dict[str, Callable[[str], object]] = {
    "host": str.strip,
    "port": int,
    "log_level": str.upper,
    "data_dir": Path,
    "cors_origins": _origins,
    "debug_routes": lambda text: text.strip().lower(),
    "bench": _bool,
    "market_seed": int,
    "history_start": dt.date.fromisoformat,
    "intraday_depth_days": parse_depths,
    "max_bars": int,
    "tick_interval_s": float,
    "market_spread_bps": float,
    "quotes_slow_interval_s": float,
    "ws_max_connections": int,
    "ws_max_subscriptions": int,
    "ws_max_message_bytes": int,
    "ws_send_queue": int,
    "ws_send_timeout_s": float,
    "ws_heartbeat_s": float,
    "ws_idle_timeout_s": float,
    "ws_max_lifetime_s": float,
    "ws_compress": _bool,
    "equity_interval_s": float,
    "initial_balance": float,
    "commission_rate": float,
    "default_leverage": float,
    # issue 11 (httpops)
    "http_max_line_bytes": int,
    "http_max_field_bytes": int,
    "http_max_headers": int,
    "http_max_body_bytes": int,
    "http_header_timeout_s": float,
    "json_max_depth": int,
    "log_format": lambda text: text.strip().lower(),
    "access_log": _bool,
}
"""How each setting is read from its environment variable (``TRADING_`` + upper-case name)."""
