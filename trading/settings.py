"""Every knob of the service, read from ``TRADING_*`` environment variables.

Tests build :class:`Settings` directly (``Settings(market_seed=7, clock=ManualClock(...))``);
Python-only fields such as ``clock`` have no environment variable on purpose (market.md §7).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
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

    # --- local-server security (issue 11, trading/security.py) ------------------------------
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
    """Host headers answered (DNS rebinding guard); the bind address is always added, ``*`` =
    any host."""

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
        # --- local-server security (issue 11) ---
        for name in self.allowed_hosts:
            if name != "*" and not _HOST_NAME.fullmatch(name):
                raise SettingsError(
                    f"TRADING_ALLOWED_HOSTS: {name!r} is not a host name, IP address or *"
                    " (no scheme, no port; IPv6 in brackets)"
                )
        if not self.allowed_hosts:
            raise SettingsError("TRADING_ALLOWED_HOSTS must name at least one host (or *)")
        if sorted(self.intraday_depth_days) != [1, 5, 15, 30, 60]:
            raise SettingsError("TRADING_INTRADAY_DEPTH_DAYS must give 1, 5, 15, 30 and 60")
        if any(days < 1 for days in self.intraday_depth_days.values()):
            raise SettingsError("intraday depths must be at least one day")

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


_HOST_NAME = re.compile(r"[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]")
"""An allowed host: a DNS name or IPv4 address, or an IPv6 address in brackets (issue 11)."""


def _origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(",") if o.strip())


_FROM_TEXT: dict[str, Callable[[str], object]] = {
    "host": str.strip,
    "port": int,
    "log_level": str.upper,
    "data_dir": Path,
    "cors_origins": _origins,
    "debug_routes": lambda text: text.strip().lower(),
    "allowed_hosts": _origins,
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
}
"""How each setting is read from its environment variable (``TRADING_`` + upper-case name)."""
