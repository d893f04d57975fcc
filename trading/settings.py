"""Every knob of the service, read from ``TRADING_*`` environment variables.

Tests build :class:`Settings` directly (``Settings(market_seed=7, clock=ManualClock(...))``);
Python-only fields such as ``clock`` have no environment variable on purpose (market.md §7).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trading.clock import Clock, SystemClock

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

    clock: Clock = field(default_factory=SystemClock, compare=False)

    def __post_init__(self) -> None:
        if self.max_bars < 1:
            raise SettingsError("TRADING_MAX_BARS must be at least 1")
        if self.market_spread_bps < 0:
            raise SettingsError("TRADING_MARKET_SPREAD_BPS must not be negative")
        if self.tick_interval_s <= 0:
            raise SettingsError("TRADING_TICK_INTERVAL_S must be positive")
        if self.debug_routes not in {"loopback", "on", "off"}:
            raise SettingsError("TRADING_DEBUG_ROUTES must be loopback, on or off")
        if sorted(self.intraday_depth_days) != [1, 5, 15, 30, 60]:
            raise SettingsError("TRADING_INTRADAY_DEPTH_DAYS must give 1, 5, 15, 30 and 60")
        if any(days < 1 for days in self.intraday_depth_days.values()):
            raise SettingsError("intraday depths must be at least one day")

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        kwargs: dict[str, object] = {}

        def get(name: str) -> str | None:
            return env.get(f"TRADING_{name}")

        try:
            if (v := get("HOST")) is not None:
                kwargs["host"] = v
            if (v := get("PORT")) is not None:
                kwargs["port"] = int(v)
            if (v := get("LOG_LEVEL")) is not None:
                kwargs["log_level"] = v.upper()
            if (v := get("DATA_DIR")) is not None:
                kwargs["data_dir"] = Path(v)
            if (v := get("CORS_ORIGINS")) is not None:
                kwargs["cors_origins"] = tuple(o.strip() for o in v.split(",") if o.strip())
            if (v := get("DEBUG_ROUTES")) is not None:
                kwargs["debug_routes"] = v.strip().lower()
            if (v := get("BENCH")) is not None:
                kwargs["bench"] = _bool(v)
            if (v := get("MARKET_SEED")) is not None:
                kwargs["market_seed"] = int(v)
            if (v := get("HISTORY_START")) is not None:
                kwargs["history_start"] = dt.date.fromisoformat(v)
            if (v := get("INTRADAY_DEPTH_DAYS")) is not None:
                kwargs["intraday_depth_days"] = parse_depths(v)
            if (v := get("MAX_BARS")) is not None:
                kwargs["max_bars"] = int(v)
            if (v := get("TICK_INTERVAL_S")) is not None:
                kwargs["tick_interval_s"] = float(v)
            if (v := get("MARKET_SPREAD_BPS")) is not None:
                kwargs["market_spread_bps"] = float(v)
            if (v := get("QUOTES_SLOW_INTERVAL_S")) is not None:
                kwargs["quotes_slow_interval_s"] = float(v)
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
        return cls(**kwargs)  # type: ignore[arg-type]
