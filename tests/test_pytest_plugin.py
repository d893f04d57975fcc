"""The ``trading`` pytest plugin as another project sees it (README "Testing against the
service"): real pytest runs in subprocesses, from temporary projects outside this repository.

- a venv with pytest and ``trading`` but not the ``testing`` extra: pytest still runs there
  (it used to fail every run with ``Error while loading plugin "pytest11"``);
- the README's example, copied from README.md, passes in a fresh project and writes no
  ``data/`` into it;
- the helpers of :mod:`trading.testing` against the real app.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from trading.settings import Settings
from trading.testing import (
    WS_PATH,
    ManualClock,
    MarketConfig,
    OrderStatus,
    OrderType,
    ScriptedMarket,
    Side,
    TradingClient,
    advance,
    next_update,
    scripted_market,
    subscribe,
)

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)```", re.S)
PIP_TIMEOUT_S = 600
"""A cold venv install downloads aiohttp, numpy, pydantic; measured ~45 s on a loaded
2-core machine, so this only stops a hung index."""


def clean_env() -> dict[str, str]:
    """This process's environment without what would leak our venv or pytest options into
    the other project's run."""
    env = dict(os.environ)
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    for name in list(env):
        if name.startswith("PYTEST_"):
            env.pop(name)
    return env


def run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def readme_example() -> dict[str, str]:
    """The files of the README's example project, by name, exactly as the README shows them."""
    files = {m["name"]: m["body"] for m in EXAMPLE.finditer(README.read_text(encoding="utf-8"))}
    assert set(files) == {"pyproject.toml", "conftest.py", "test_orders.py"}, files.keys()
    return files


def extra_pins() -> list[str]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    pins: list[str] = extras["testing"]
    return pins


# -- a project with pytest but without the testing extra --------------------------------------


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real venv with ``trading`` (from a copy of this tree, as a wheel install) and the
    pinned pytest, and neither pytest-aiohttp nor pytest-asyncio. Built once for the module's
    tests: it is most of their time."""
    base = tmp_path_factory.mktemp("bare-venv")
    src = base / "src"  # a copy, so the build leaves no build/ or egg-info in the repo
    shutil.copytree(ROOT / "trading", src / "trading", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "setup.cfg"):
        shutil.copy2(ROOT / name, src / name)
    venv = base / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    (pytest_pin,) = (p for p in extra_pins() if p.startswith("pytest=="))
    # this venv's pip installs into the new one (--python): no pip bootstrap in the new venv
    # (--no-compile: byte-compiling numpy and friends is half of pip's CPU time here)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile"]
    done = run(
        [*pip, str(src), pytest_pin],
        cwd=base,
        timeout=PIP_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"bare venv built in {time.monotonic() - started:.1f} s")  # shown with -s / -rP
    yield python
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.venv
def test_pytest_runs_where_the_testing_extra_is_not_installed(
    bare_venv: Path, tmp_path: Path
) -> None:
    absent = (
        "import importlib.util as u; print(*map(u.find_spec, ['pytest_aiohttp', 'pytest_asyncio']))"
    )
    assert run([str(bare_venv), "-c", absent], cwd=tmp_path).stdout.split() == ["None", "None"]
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    result = run([str(bare_venv), "-m", "pytest", "-p", "no:cacheprovider"], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "trading-1.0.0" in result.stdout, "the plugin is loaded, not skipped"


@pytest.mark.venv
def test_without_the_extra_the_sync_fixtures_work_and_the_async_ones_say_what_to_install(
    bare_venv: Path, tmp_path: Path
) -> None:
    (tmp_path / "test_fixtures.py").write_text(
        "from trading.clock import ManualClock\n"
        "from trading.pytest_plugin import TEST_NOW\n\n\n"
        "def test_settings(trading_settings, tmp_path):\n"
        "    assert trading_settings.data_dir == tmp_path / 'data'\n"
        "    assert isinstance(trading_settings.clock, ManualClock)\n"
        "    assert trading_settings.clock.now() == TEST_NOW\n\n\n"
        "def test_app(trading_app):\n"
        "    paths = {r.resource.canonical for r in trading_app.router.routes() if r.resource}\n"
        "    assert '/api/v1/health' in paths\n\n\n"
        "def test_client(trading_client):\n"
        "    pass\n"
    )
    result = run([str(bare_venv), "-m", "pytest", "-p", "no:cacheprovider", "-rA"], cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert re.search(r"\b2 passed, 1 error\b", out), out
    assert "ERROR test_fixtures.py::test_client" in out, out
    assert "needs pytest-aiohttp and pytest-asyncio" in out, out
    assert "pip install 'trading[testing]'" in out, out


@pytest.mark.venv
def test_the_plugin_imports_without_the_service_or_the_extra(
    bare_venv: Path, tmp_path: Path
) -> None:
    """pytest imports every pytest11 plugin in every run: ours must not pull in the app."""
    code = (
        "import sys, trading.pytest_plugin\n"
        "heavy = sorted(m for m in ('aiohttp', 'numpy', 'pydantic', 'trading.app') "
        "if m in sys.modules)\n"
        "print(heavy)\n"
    )
    result = run([str(bare_venv), "-c", code], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.venv
def test_the_testing_extra_brings_the_pinned_plugins(bare_venv: Path, tmp_path: Path) -> None:
    code = "import importlib.metadata as m; print('\\n'.join(m.requires('trading')))"
    result = run([str(bare_venv), "-c", code], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    requires = set(result.stdout.splitlines())
    for pin in ("pytest==", "pytest-aiohttp==", "pytest-asyncio=="):
        (wanted,) = (p for p in extra_pins() if p.startswith(pin))
        assert f'{wanted}; extra == "testing"' in requires, requires
    assert 'trading[testing]; extra == "dev"' in requires, "dev reuses the pins"


# -- the README's example, in a fresh project ---------------------------------------------------


def test_the_readme_example_passes_in_a_fresh_project_and_writes_no_data_there(
    tmp_path: Path,
) -> None:
    project = tmp_path / "consumer"
    project.mkdir()
    files = readme_example()
    for name, body in files.items():
        (project / name).write_text(body)
    result = run([sys.executable, "-m", "pytest"], cwd=project)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert re.search(r"\b2 passed\b", out), out
    assert "warning" not in out.lower(), out
    left = {p.name for p in project.iterdir()}
    assert left <= {*files, ".pytest_cache", "__pycache__"}, left
    assert not (project / "data").exists()


def test_the_fixtures_also_work_in_asyncio_strict_mode(tmp_path: Path) -> None:
    """The README's alternative to auto mode: marked tests, the plugin's async fixtures."""
    files = readme_example()
    files["pyproject.toml"] = (
        '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n'
    )
    files["test_orders.py"] = (
        "import pytest\npytestmark = pytest.mark.asyncio\n" + files["test_orders.py"]
    )
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    result = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "mode=Mode.STRICT" in out, out
    assert re.search(r"\b2 passed\b", out), out


# -- the helpers, against the real app ----------------------------------------------------------


def scripted(config: MarketConfig) -> ScriptedMarket:
    return ScriptedMarket(config, {"AAPL": 250.0})


pytestmark = pytest.mark.trading_settings(market_factory=scripted, market_spread_bps=0)


async def place(client: TradingClient, **order: object) -> str:
    resp = await client.post("/api/v1/broker/orders", json={"symbol": "AAPL", **order})
    assert resp.status == 200, await resp.text()
    order_id: str = (await resp.json())["orderId"]
    return order_id


def test_the_marker_changes_settings_and_keeps_the_temporary_dir_and_clock(
    trading_settings: Settings, tmp_path: Path, trading_clock: ManualClock
) -> None:
    assert trading_settings.market_factory is scripted
    assert trading_settings.market_spread_bps == 0
    assert trading_settings.data_dir == tmp_path / "data"
    assert trading_settings.clock is trading_clock


@pytest.mark.trading_settings(market_spread_bps=3, initial_balance=5_000.0)
def test_the_closest_marker_wins(trading_settings: Settings) -> None:
    assert trading_settings.market_spread_bps == 3
    assert trading_settings.initial_balance == 5_000.0
    assert trading_settings.market_factory is scripted, "the module's marker still applies"


async def test_next_update_keeps_what_it_skips(trading_client: TradingClient) -> None:
    """A fill pushes executions before orders; awaiting the order first loses nothing."""
    async with trading_client.ws_connect(WS_PATH) as ws:
        orders = await subscribe(ws, "orders", {"accountId": "A"})
        assert orders == 'orders:{"accountId":"A"}'
        await subscribe(ws, "executions", {"accountId": "A"})
        order_id = await place(trading_client, type=OrderType.MARKET, side=Side.BUY, qty=3)
        filled = await next_update(
            ws, "orders", lambda o: o["status"] == OrderStatus.FILLED, topic=orders
        )
        assert (filled["id"], filled["filledQty"]) == (order_id, 3.0)
        execution = await next_update(ws, "executions")
        assert (execution["price"], execution["qty"]) == (250.0, 3.0)


async def test_advance_fills_a_crossed_limit_order_at_once(trading_client: TradingClient) -> None:
    async with trading_client.ws_connect(WS_PATH) as ws:
        await subscribe(ws, "orders", {"accountId": "A"})
        order_id = await place(
            trading_client, type=OrderType.LIMIT, side=Side.BUY, qty=1, limitPrice=249.0
        )
        working = await next_update(ws, "orders", lambda o: o["id"] == order_id)
        assert working["status"] == OrderStatus.WORKING
        scripted_market(trading_client.app).set_price("AAPL", 248.0)
        started = time.monotonic()
        await advance(trading_client.app)
        filled = await next_update(
            ws, "orders", lambda o: o["status"] == OrderStatus.FILLED, timeout=0.5
        )
        assert filled["id"] == order_id
        assert time.monotonic() - started < 0.5, "no wait for the next real second"


async def test_next_update_times_out_naming_what_it_waited_for(
    trading_client: TradingClient,
) -> None:
    async with trading_client.ws_connect(WS_PATH) as ws:
        await subscribe(ws, "orders", {"accountId": "A"})
        await place(trading_client, type=OrderType.LIMIT, side=Side.BUY, qty=1, limitPrice=200.0)
        with pytest.raises(TimeoutError, match=r"no positions\.update within 0\.2 s"):
            await next_update(ws, "positions", timeout=0.2)
        # what arrived meanwhile is still there
        assert (await next_update(ws, "orders", timeout=0.2))["status"] == OrderStatus.WORKING


async def test_a_refused_subscription_raises(trading_client: TradingClient) -> None:
    async with trading_client.ws_connect(WS_PATH) as ws:
        with pytest.raises(AssertionError, match="accountId must not be empty"):
            await subscribe(ws, "orders", {"accountId": ""})


@pytest.mark.trading_settings(market_factory=None)
async def test_helpers_say_what_is_missing(trading_client: TradingClient) -> None:
    with pytest.raises(TypeError, match="not a ScriptedMarket"):
        scripted_market(trading_client.app)


async def test_advance_refuses_a_wall_clock_app(trading_settings: Settings) -> None:
    from trading.app import create_app
    from trading.clock import SystemClock

    app = create_app(trading_settings.replace(clock=SystemClock()))
    with pytest.raises(TypeError, match="ManualClock"):
        await advance(app)
