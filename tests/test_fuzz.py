"""schemathesis against a live server: zero server errors, zero responses outside the schema.

The server runs in a thread on a free loopback port (schemathesis is a separate process with
its own HTTP client). The run is bounded for ``make test`` (``TRADING_FUZZ_EXAMPLES`` examples
per operation, default 25); ``make fuzz`` raises the budget and adds the stateful phase.
Exceptions to the checks, each with its reason, live in ``tests/schemathesis.toml``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from trading.app import create_app
from trading.settings import Settings

CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
EXAMPLES = int(os.environ.get("TRADING_FUZZ_EXAMPLES", "25"))
PHASES = os.environ.get("TRADING_FUZZ_PHASES", "examples,coverage,fuzzing")
SEED = os.environ.get("TRADING_FUZZ_SEED", "20251024")
TIMEOUT_S = float(os.environ.get("TRADING_FUZZ_TIMEOUT_S", "300"))


@pytest.fixture
def live_url(tmp_path: Path) -> Iterator[str]:
    """Base URL of the app served from a thread with its own event loop."""
    app = create_app(Settings(data_dir=tmp_path / "data", debug_routes="off"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="live-server", daemon=True)
    thread.start()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    live_url: str, tmp_path: Path
) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{live_url}/api/v1/openapi.json",
        f"--max-examples={EXAMPLES}",
        f"--phases={PHASES}",
        f"--seed={SEED}",
        # one worker: with several, schemathesis' coverage phase describes hypothesis filters
        # (ast.parse) in threads at once, which CPython 3.11.7 can fail with "SystemError: AST
        # constructor recursion depth mismatch" (a race fixed in later CPython releases); one
        # worker takes no longer here (about 30 s)
        "--workers=1",
        "--request-timeout=10",
        "--output-truncate=true",
    ]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""}
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, f"schemathesis found problems:\n{done.stdout[-20000:]}"
