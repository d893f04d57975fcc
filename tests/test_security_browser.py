"""Local-server security in a real browser (issue 11): what a hostile page can and cannot do.

Debian's Chromium (as in test_web.py) with ``--host-resolver-rules`` mapping ``evil.example``
to 127.0.0.1: the attacker's page is served from a second loopback port as
``http://evil.example:<port>`` (a real cross-site origin, loopback traffic only), and the same
name pointed at the API's port is a DNS-rebinding attack. Our own pages are loaded with a
``securitypolicyviolation`` listener: they must render with no CSP violation and no error.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.brokerkit import market_order
from tests.serverproc import free_port
from tests.test_web import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ServerProcess,
    is_auth_me_404,
    wait_chart_ready,
)
from trading.broker.enums import Side

pytest.importorskip("playwright", reason="playwright not installed: pip install -e '.[dev]'")
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    sync_playwright,
)

EVIL_HOST = "evil.example"
ORDER = market_order(Side.BUY, 3)
COLLECT_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: apt-get install -y chromium")
    rules = f"--host-resolver-rules=MAP {EVIL_HOST} 127.0.0.1"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, rules])
        yield browser
        browser.close()


def _start(root: Path, env: dict[str, str]) -> ServerProcess:
    proc = ServerProcess(root / "data", root / "server.log")
    with pytest.MonkeyPatch.context() as patch:  # ServerProcess passes os.environ on
        for name, value in env.items():
            patch.setenv(name, value)
        proc.start()
    return proc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Default settings: CORS ``*``, debug reset for loopback."""
    proc = _start(tmp_path_factory.mktemp("sec"), {})
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def attacker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A static site on another loopback port, reached as http://evil.example:<port>."""
    root = tmp_path_factory.mktemp("evil")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{EVIL_HOST}:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _state(server: ServerProcess) -> tuple[int, list[str]]:
    orders = server.call("GET", "/api/v1/broker/orders")
    positions = server.call("GET", "/api/v1/broker/positions")
    return len(orders), sorted(p["id"] for p in positions)


ATTACK = """<!doctype html><meta charset="utf-8">
<iframe name="sink"></iframe>
<form id="form" method="POST" action="{target}/api/v1/broker/orders" enctype="text/plain"
      target="sink"><input name='{{"symbol":"AAPL","type":2,"side":1,"qty":1,"x":"' value='"}}'>
</form>
<script>
window.results = {{}};
const target = "{target}";
const order = JSON.stringify({order});
async function attempt(name, url, init) {{
  try {{
    const response = await fetch(target + url, init);
    results[name] = response.type === "opaque" ? "opaque" : response.status;
  }} catch (error) {{
    results[name] = "blocked";
  }}
}}
(async () => {{
  await attempt("textPlain", "/api/v1/broker/orders",
    {{ method: "POST", mode: "no-cors", headers: {{ "Content-Type": "text/plain" }},
      body: order }});
  await attempt("formBody", "/api/v1/broker/orders",
    {{ method: "POST", mode: "no-cors", body: new URLSearchParams({{ symbol: "AAPL" }}) }});
  await attempt("reset", "/api/v1/broker/debug/reset", {{ method: "POST", mode: "no-cors" }});
  await attempt("json", "/api/v1/broker/orders",
    {{ method: "POST", headers: {{ "Content-Type": "application/json" }}, body: order }});
  await attempt("closePosition", "/api/v1/broker/positions/AAPL", {{ method: "DELETE" }});
  await attempt("leverage", "/api/v1/broker/leverage/set", {{ method: "PUT",
    headers: {{ "Content-Type": "application/json" }},
    body: JSON.stringify({{ symbol: "AAPL", orderType: 2, side: 1, leverage: 77 }}) }});
  await attempt("readUdf", "/api/v1/udf/config", {{}});
  document.getElementById("form").submit();
  results.done = true;
}})();
</script>
"""


def test_a_page_on_another_site_cannot_trade_or_reset(
    browser: Browser, server: ServerProcess, attacker: tuple[str, Path]
) -> None:
    origin, root = attacker
    server.reset_broker()
    server.call("POST", "/api/v1/broker/orders", ORDER)  # a position the attack could close
    before = _state(server)
    assert before == (1, ["AAPL"])
    (root / "attack.html").write_text(
        ATTACK.format(target=server.origin, order=json.dumps(ORDER)), encoding="utf-8"
    )
    page = browser.new_page()
    try:
        page.goto(f"{origin}/attack.html")
        page.wait_for_function("() => window.results.done", timeout=15_000)
        page.wait_for_timeout(500)  # the form's navigation in the iframe
        results = page.evaluate("() => window.results")
    finally:
        page.close()
    # simple requests still leave the browser (opaque answers), but change nothing; the
    # preflighted ones are answered 403; reads stay open to any site (UDF adapters)
    assert results["textPlain"] == results["formBody"] == results["reset"] == "opaque"
    assert results["json"] == results["closePosition"] == results["leverage"] == 403
    assert results["readUdf"] == 200
    assert _state(server) == before
    lev = server.call("GET", "/api/v1/broker/leverage/info?symbol=AAPL&orderType=2&side=1")
    assert lev["leverage"] == 10.0


def test_a_dns_rebinding_page_gets_421(browser: Browser, server: ServerProcess) -> None:
    """``evil.example`` now resolving to this machine: the page is same-origin with the API,
    but its Host header names the attacker's domain."""
    page = browser.new_page()
    try:
        response = page.goto(f"http://{EVIL_HOST}:{server.port}/api/v1/broker/orders")
        assert response is not None
        assert response.status == 421
        assert EVIL_HOST in json.loads(page.inner_text("body"))["detail"]
        response = page.goto(f"http://{EVIL_HOST}:{server.port}/app/")
        assert response is not None
        assert response.status == 421
    finally:
        page.close()


def test_app_cannot_be_framed_by_another_site(
    browser: Browser, server: ServerProcess, attacker: tuple[str, Path]
) -> None:
    origin, root = attacker
    (root / "frame.html").write_text(
        f'<!doctype html><iframe id="victim" src="{server.origin}/app/"></iframe>',
        encoding="utf-8",
    )
    page = browser.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    try:
        page.goto(f"{origin}/frame.html")
        page.wait_for_timeout(1500)
        framed = [f for f in page.frames if f is not page.main_frame]
        assert framed
        # a refused frame shows Chromium's error page, never the app (no #chart in it)
        assert all(f.query_selector("#chart") is None for f in framed)
    finally:
        page.close()
    assert any("frame-ancestors" in text for text in messages), messages


PAGES = [
    ("/app/", "#chart canvas"),
    ("/api/v1/docs", ".swagger-ui .info .title"),
    ("/api/v1/redoc", "h1"),
    ("/api/v1/ws/asyncapi", ".aui-root #introduction"),
]


@pytest.mark.parametrize(("path", "selector"), PAGES)
def test_our_pages_render_under_the_csp(
    browser: Browser, server: ServerProcess, path: str, selector: str
) -> None:
    page = browser.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not is_auth_me_404(message):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(COLLECT_CSP)
    try:
        response = page.goto(f"{server.origin}{path}")
        assert response is not None
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        page.wait_for_selector(selector, timeout=20_000)
        page.wait_for_timeout(500)
        violations = page.evaluate("() => window.__csp")
    finally:
        page.close()
    assert violations == []
    assert errors == []


def test_asyncapi_page_shows_the_server_it_was_loaded_from(
    browser: Browser, server: ServerProcess
) -> None:
    page = browser.new_page()
    try:
        page.goto(f"http://localhost:{server.port}/api/v1/ws/asyncapi")
        page.wait_for_selector(".aui-root #servers", timeout=20_000)
        text = page.inner_text("#servers")
        font = page.evaluate(
            "() => getComputedStyle(document.querySelector('.aui-root p')).fontFamily"
        )
        code_before = page.evaluate(
            "() => getComputedStyle(document.querySelector('.aui-root .prose code'), '::before')"
            ".content"
        )
    finally:
        page.close()
    assert f"ws://localhost:{server.port}" in text
    assert "localhost:8000" not in text
    assert "Times" not in font
    assert code_before in ("none", "normal", "")


def test_app_keeps_its_socket_with_a_restricted_cors_list(browser: Browser, tmp_path: Path) -> None:
    """TRADING_CORS_ORIGINS=https://myapp.example: our own /app/ is same-origin (was: 403 on
    the WebSocket and reconnects forever)."""
    proc = _start(tmp_path, {"TRADING_CORS_ORIGINS": "https://myapp.example"})
    page: Page | None = None
    try:
        page = browser.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(f"{proc.origin}/app/")
        wait_chart_ready(page)
        page.locator("#order-qty").fill("2")
        page.locator("#ticket-submit").click()
        page.wait_for_selector("#positions-table tbody tr[data-key='AAPL']", timeout=10_000)
        assert len(sockets) == 1
    finally:
        if page is not None:
            page.close()
        proc.stop()
