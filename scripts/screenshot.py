"""Regenerate docs/screenshot.png: the trading page at 1280×800 with a live chart, a position
with brackets and a working order.

Starts ``python -m trading serve`` on a free port with a throw-away data dir, drives Debian's
Chromium (``/usr/bin/chromium``) with Playwright, places the demo orders through the page's own
ticket, and writes the PNG. Usage: ``python scripts/screenshot.py [--out PATH]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRADING_HOST": "127.0.0.1",
        "TRADING_PORT": str(port),
        "TRADING_DATA_DIR": str(data_dir),
        "TRADING_TICK_INTERVAL_S": "0.25",
        "TRADING_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "trading", "serve"], cwd=REPO, env=env, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit("the server exited") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start in 30 s")


def place(page: Page, *, side: str, order_type: str, qty: int, **prices: float) -> None:
    """Fill the ticket and submit it; waits until the order shows in the page state."""
    page.locator("#side-buy" if side == "buy" else "#side-sell").check(force=True)
    page.locator("#order-type").select_option(order_type)
    page.locator("#order-qty").fill(str(qty))
    for name, selector in (
        ("limitPrice", "#order-limit"),
        ("takeProfit", "#order-tp"),
        ("stopLoss", "#order-sl"),
    ):
        if name in prices:
            page.locator(selector).fill(f"{prices[name]:.2f}")
        elif page.locator(selector).is_editable():
            page.locator(selector).fill("")
    before = page.evaluate("() => window.__app.orders.length + window.__app.executions")
    page.locator("#ticket-submit").click()
    page.wait_for_function(
        "n => window.__app.orders.length + window.__app.executions > n", arg=before
    )


def shoot(origin: str, out: Path) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{origin}/app/#symbol=AAPL&resolution=1")
        page.wait_for_function(
            "() => window.__app && window.__app.barCount > 0 && !window.__app.loading"
            " && window.__app.quote"
        )
        last: float = page.evaluate("() => window.__app.quote.lp")
        place(
            page, side="buy", order_type="2", qty=25, takeProfit=last * 1.004, stopLoss=last * 0.996
        )
        place(page, side="buy", order_type="1", qty=10, limitPrice=last * 0.998)
        # back to a clean ticket, then let the chart tick and the toasts fade
        page.locator("#order-type").select_option("2")
        page.locator("#order-qty").fill("10")
        page.locator("#order-tp").fill("")
        page.locator("#order-sl").fill("")
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.wait_for_function("() => !document.querySelector('#toasts .toast')", timeout=10_000)
        page.wait_for_timeout(1500)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print("Chromium not installed: apt-get install -y chromium", file=sys.stderr)
        return 1
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", port)
        try:
            shoot(f"http://127.0.0.1:{port}", args.out)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
