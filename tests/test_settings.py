"""Settings: every TRADING_* variable is validated before anything is loaded, with a message that
names the variable and what it accepts; code-built Settings read no environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.clock import ManualClock, SystemClock
from trading.settings import Settings, SettingsError, env_name

ROOT = Path(__file__).resolve().parents[1]

# (variable, value, words the message must contain): each was accepted or gave a traceback
# before pydantic-settings (issue 11, "Configuration").
BAD_VALUES = [
    ("TRADING_PORT", "70000", "65535"),
    ("TRADING_PORT", "-1", "1 <= value <= 65535"),
    ("TRADING_PORT", "http", "integer"),
    ("TRADING_LOG_LEVEL", "LOUD", "DEBUG"),
    ("TRADING_HOST", "not a host", "host name"),
    ("TRADING_HOST", "300.1.2.3", "host name"),
    ("TRADING_HISTORY_START", "2999-01-01", "to today"),
    ("TRADING_HISTORY_START", "1969-12-31", "1970-01-01"),
    ("TRADING_HISTORY_START", "yesterday", "date"),
    ("TRADING_CORS_ORIGINS", "", "must not be empty"),
    ("TRADING_CORS_ORIGINS", " , ", "must not be empty"),
    ("TRADING_CORS_ORIGINS", "myapp.example", "not an origin"),
    ("TRADING_CORS_ORIGINS", "https://a.example/path", "no path"),
    ("TRADING_WS_HEARTBEAT_S", "0", "greater than 0"),
    ("TRADING_WS_HEARTBEAT_S", "inf", "finite"),
    ("TRADING_INITIAL_BALANCE", "-5", "0 < value"),
    ("TRADING_COMMISSION_RATE", "1", "value < 1"),
    ("TRADING_DEFAULT_LEVERAGE", "0.5", "1 <= value <= 100"),
    ("TRADING_DEBUG_ROUTES", "sometimes", "loopback"),
    ("TRADING_BENCH", "maybe", "boolean"),
    ("TRADING_TICK_INTERVAL_S", "nan", "finite"),
    ("TRADING_MAX_BARS", "0", "1 <= value"),
    # issue 17: the replay stream's period and its bars per push
    ("TRADING_REPLAY_PUSH_S", "0.01", "0.05 <= value <= 60"),
    ("TRADING_REPLAY_PUSH_S", "nan", "finite"),
    ("TRADING_REPLAY_PUSH_MAX_BARS", "0", "1 <= value <= 5000"),
    ("TRADING_WS_MAX_MESSAGE_BYTES", "100", "1024 <= value"),
    ("TRADING_INTRADAY_DEPTH_DAYS", "1:7", "1, 5, 15, 30 and 60"),
    ("TRADING_INTRADAY_DEPTH_DAYS", "1:7,5:x", "MINUTES:DAYS"),
    ("TRADING_MARKET_SEED", "-3", "0 <= value"),
    ("TRADING_PROT", "8000", "unknown setting"),
    # issue 14: accounts and authentication
    ("TRADING_AUTH", "jwt", "'off' or 'keys'"),
    ("TRADING_AUTH_MARKET", "hidden", "'public' or 'private'"),
    ("TRADING_ADMIN_KEY", "short", "at least 32 characters"),
    ("TRADING_SESSION_SECRET", "x" * 31, "at least 32 characters"),
    ("TRADING_COOKIE_SECURE", "perhaps", "boolean"),
    ("TRADING_SESSION_TTL_S", "59", "60 <= value <= 2592000"),
    ("TRADING_SESSION_TTL_S", str(30 * 86_400 + 1), "60 <= value <= 2592000"),
    ("TRADING_WS_TICKET_TTL_S", "0", "1 <= value <= 600"),
    ("TRADING_WS_TICKET_TTL_S", "601", "1 <= value <= 600"),
    ("TRADING_RATE_LIMIT_REST_PER_S", "0", "0 < value"),  # 0 = unlimited is not allowed
    ("TRADING_RATE_LIMIT_REST_PER_S", "inf", "finite"),
    ("TRADING_RATE_LIMIT_REST_BURST", "0", "1 <= value"),
    ("TRADING_RATE_LIMIT_WS_PER_S", "-1", "0 < value"),
    ("TRADING_RATE_LIMIT_WS_BURST", "0", "1 <= value"),
    ("TRADING_AUTH_REFRESH_S", "0.001", "0.01 <= value <= 5"),
    ("TRADING_AUTH_REFRESH_S", "6", "0.01 <= value <= 5"),
    ("TRADING_MAX_ACCOUNTS_PER_USER", "0", "1 <= value <= 10000"),
    ("TRADING_READY_STALL_S", "0", "0 < value"),
]


@pytest.mark.parametrize(("name", "value", "words"), BAD_VALUES)
def test_a_bad_variable_is_named_with_what_it_accepts(name: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert message.startswith(name), message
    assert words in message, message


def test_every_bad_variable_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"TRADING_PORT": "0", "TRADING_LOG_LEVEL": "x", "TRADING_HOST": "a b"})
    lines = str(caught.value).splitlines()
    assert sorted(line.split("=")[0] for line in lines) == [
        "TRADING_HOST",
        "TRADING_LOG_LEVEL",
        "TRADING_PORT",
    ]


def test_good_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "TRADING_PORT": "8123",
            "trading_log_level": "debug",
            "TRADING_HOST": "::1",
            "TRADING_CORS_ORIGINS": "https://a.example/, http://localhost:5173",
            "TRADING_INTRADAY_DEPTH_DAYS": "1:2,5:3,15:4,30:5,60:6",
            "TRADING_WS_COMPRESS": "on",
            "TRADING_HISTORY_START": "2020-02-29",
            "TRADING_FUZZ_EXAMPLES": "5",  # test tooling, not a setting: ignored
            "TRADING_SOAK_ROUNDS": "2",
        }
    )
    assert settings.port == 8123
    assert settings.log_level == "DEBUG"
    assert settings.host == "::1"
    assert settings.cors_origins == ("https://a.example", "http://localhost:5173")
    assert settings.intraday_depth_days == {1: 2, 5: 3, 15: 4, 30: 5, 60: 6}
    assert settings.ws_compress is True
    assert str(settings.history_start) == "2020-02-29"


def test_auth_settings_are_parsed_and_secrets_stay_hidden() -> None:
    admin, secret = "A" * 40, "s3cret-" * 6
    settings = Settings.from_env(
        {
            "TRADING_AUTH": "Keys",
            "TRADING_AUTH_MARKET": "private",
            "TRADING_ADMIN_KEY": admin,
            "TRADING_SESSION_SECRET": secret,
            "TRADING_COOKIE_SECURE": "1",
            "TRADING_SESSION_TTL_S": "60",
            "TRADING_RATE_LIMIT_REST_PER_S": "0.5",
        }
    )
    assert (settings.auth, settings.auth_market) == ("keys", "private")
    assert settings.cookie_secure is True
    assert settings.admin_key is not None
    assert settings.admin_key.get_secret_value() == admin
    assert settings.session_secret is not None
    assert (settings.session_ttl_s, settings.rate_limit_rest_per_s) == (60, 0.5)
    assert admin not in repr(settings)
    assert secret not in str(settings)
    defaults = Settings()
    assert (defaults.auth, defaults.auth_market, defaults.admin_key) == ("off", "public", None)
    assert (defaults.ws_ticket_ttl_s, defaults.auth_refresh_s) == (30, 0.25)
    assert (defaults.rate_limit_rest_per_s, defaults.rate_limit_rest_burst) == (50, 100)
    assert (defaults.rate_limit_ws_per_s, defaults.rate_limit_ws_burst) == (50, 100)


def test_a_short_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"TRADING_ADMIN_KEY": "hunter2-not-long"})
    assert "hunter2" not in str(caught.value)
    assert "<hidden>" in str(caught.value)


def test_code_built_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that builds Settings(...) gets the defaults whatever the shell exports."""
    monkeypatch.setenv("TRADING_PORT", "9999")
    monkeypatch.setenv("TRADING_DATA_DIR", "/somewhere/else")
    settings = Settings(market_seed=7)
    assert settings.port == 8000
    assert settings.data_dir == Path("data")
    assert Settings.from_env().port == 9999


def test_code_overrides_are_validated_and_keep_python_only_fields() -> None:
    clock = ManualClock(1_700_000_000)
    settings = Settings(clock=clock).replace(max_bars=5)
    assert settings.clock is clock
    assert settings.max_bars == 5
    with pytest.raises(SettingsError, match="TRADING_MAX_BARS"):
        settings.replace(max_bars=0)
    with pytest.raises(SettingsError, match="no_such_knob"):
        Settings(no_such_knob=1)


def test_python_only_fields_never_come_from_the_environment() -> None:
    with pytest.raises(SettingsError, match="TRADING_MARKET_FACTORY: unknown setting"):
        Settings.from_env({"TRADING_MARKET_FACTORY": "1"})
    # TRADING_CLOCK chooses a clock (issue 17); it never names the code-level clock object
    with pytest.raises(SettingsError, match="TRADING_CLOCK='1': Input should be 'system'"):
        Settings.from_env({"TRADING_CLOCK": "1"})
    assert isinstance(Settings.from_env({"TRADING_CLOCK": "system"}).clock, SystemClock)


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_port_range(port: int) -> None:
    if 1 <= port <= 65535:
        assert Settings.from_env({"TRADING_PORT": str(port)}).port == port
    else:
        with pytest.raises(SettingsError, match=r"^TRADING_PORT="):
            Settings.from_env({"TRADING_PORT": str(port)})


def test_data_dir_must_not_be_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SettingsError, match="TRADING_DATA_DIR"):
        Settings(data_dir=blocker)


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    return subprocess.run(
        [sys.executable, "-m", "trading", "serve"],
        env={**clean, "TRADING_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("TRADING_PORT", "70000"), ("TRADING_LOG_LEVEL", "LOUD"), ("TRADING_INITIAL_BALANCE", "-5")],
)
def test_serve_refuses_before_loading_anything(tmp_path: Path, name: str, value: str) -> None:
    result = _serve(tmp_path, **{name: value})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert name in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was loaded or created


def test_serve_refuses_an_unwritable_data_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = _serve(tmp_path, TRADING_DATA_DIR=str(tmp_path / "file" / "data"))
    assert result.returncode == 3  # the store's start-up refusal (test_startup_refusals.py)
    assert "Traceback" not in result.stderr
    assert f"cannot use the data dir {tmp_path / 'file' / 'data'}" in result.stderr


def test_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = set(re.findall(r"`(TRADING_[A-Z0-9_]+)`", readme))
    documented = {env_name(f) for f in Settings.model_fields if f not in Settings.CODE_ONLY}
    assert documented - table == set(), "settings missing from the README table"
