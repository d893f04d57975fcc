"""The trading page in keys mode (issue 14), in a real browser against a real server.

A ``python -m trading serve`` with ``TRADING_AUTH=keys`` (market public, the default) and an
admin key; users are created over the admin API and revoked with the CLI while the server runs
(``python -m trading users revoke KEY_ID``), as an operator would. Each user logs in through the
page's form in a browser context of its own (its own cookie jar), trades from the ticket, and
the tests check what each page shows and what it sent: every broker request names its account
in ``X-Account-Id``, every broker WebSocket subscription its ``accountId``, the key appears in
no URL, no storage and no page text, and one user's page never shows another's orders.

These tests need the server routes of the AUTH and CORE branches of issue 14 (``/auth/*``,
``/admin/*``, ``/broker/accounts``); the page's side of them is in ``trading/web/static/js/``
(session.js, account.js).
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import test_web
from tests.serverproc import Server, run_cli
from tests.test_web import PageWatch, app_state, wait_chart_ready, watched_page

pytest.importorskip("playwright", reason="playwright not installed: pip install -e '.[dev]'")
from playwright.sync_api import (  # after the skip check on purpose
    Browser,
    BrowserContext,
    Page,
    Request,
    WebSocket,
    expect,
)

# test_web's fixtures: Chromium (skipped with the install command when absent), once a module
playwright = test_web.playwright
browser = test_web.browser

ADMIN_KEY = secrets.token_urlsafe(32)
# the browser's own lines about the 401s the page is shown on purpose (logged out at start, a
# wrong key, a revoked one) and about the socket's upgrades refused meanwhile
HTTP_401_NOISE = re.compile(r"^Failed to load resource: .* status of 401 ")
REVOKED_NOISE = re.compile(
    r"^Failed to load resource: .* status of 401 |WebSocket connection to .* failed"
)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
BROKER_ROUTES = {
    "orders",
    "positions",
    "executions",
    "equity",
    "pl",
    "margin",
    "broker-connection",
}


class KeysServer(Server):
    """The page's server in keys mode: a fast tick, an admin key, JSON calls with a key."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        super().__init__(
            data_dir,
            log_path,
            TRADING_TICK_INTERVAL_S="0.25",
            TRADING_AUTH="keys",
            TRADING_ADMIN_KEY=ADMIN_KEY,
        )

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        bearer: str | None = None,
        account: str | None = None,
    ) -> tuple[int, Any]:
        """(status, JSON body) of one request; ``bearer`` a user's key or the admin key."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.origin}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if bearer is not None:
            req.add_header("Authorization", f"Bearer {bearer}")
        if account is not None:
            req.add_header("X-Account-Id", account)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


@dataclass(frozen=True)
class User:
    name: str
    key: str

    @property
    def key_id(self) -> str:
        """``trk_<hex>_<secret>`` → ``key_<hex>`` (the key's public part, BRIEF14)."""
        return "key_" + self.key.split("_", 2)[1]


def create_user(server: KeysServer, prefix: str) -> User:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    status, body = server.call("POST", "/api/v1/admin/users", {"name": name}, bearer=ADMIN_KEY)
    assert status == 201, body
    assert body["key"].startswith("trk_")
    return User(name, body["key"])


def accounts_of(server: KeysServer, user: User) -> list[str]:
    status, body = server.call("GET", "/api/v1/broker/accounts", bearer=user.key)
    assert status == 200, body
    return [meta["id"] for meta in body]


def orders_of(server: KeysServer, user: User, account: str) -> list[dict[str, Any]]:
    status, body = server.call("GET", "/api/v1/broker/orders", bearer=user.key, account=account)
    assert status == 200, body
    orders: list[dict[str, Any]] = body
    return orders


@dataclass
class Desk:
    """One page in its own browser context, with what it sent."""

    context: BrowserContext
    page: Page
    watch: PageWatch
    requests: list[Request] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)  # WebSocket frames sent

    def on_websocket(self, ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: self.frames.append(json.loads(payload)))

    def broker_requests(self) -> list[Request]:
        return [r for r in self.requests if "/api/v1/broker/" in r.url]

    def broker_subscriptions(self) -> list[dict[str, Any]]:
        """The broker (un)subscribe frames: {type, payload}."""
        return [
            frame
            for frame in self.frames
            if frame.get("type", "").split(".")[0] in BROKER_ROUTES
            and frame["type"].endswith("subscribe")
        ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysServer]:
    root = tmp_path_factory.mktemp("web-keys")
    proc = KeysServer(root / "data", root / "server.log")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def open_desk(browser: Browser, server: KeysServer) -> Iterator[Any]:
    """Open /app/ logged out in a fresh context; checks each page's watch at the end."""
    desks: list[Desk] = []

    def open_(allow: re.Pattern[str] = HTTP_401_NOISE) -> Desk:
        context, page, watch = watched_page(browser, server.origin, allow=allow)
        desk = Desk(context, page, watch)
        page.on("request", lambda r: desk.requests.append(r))
        page.on("websocket", desk.on_websocket)
        page.goto(f"{server.origin}/app/")
        wait_chart_ready(page)  # the market is public: the chart works logged out
        expect(page.locator("#login")).to_be_visible()
        desks.append(desk)
        return desk

    yield open_
    for desk in desks:
        desk.context.close()
    for desk in desks:
        desk.watch.check()


def log_in(desk: Desk, user: User) -> None:
    page = desk.page
    key = page.locator("#login-key")
    expect(key).to_have_attribute("type", "password")
    expect(key).to_have_attribute("autocomplete", "off")
    key.fill(user.key)
    page.locator("#login-submit").click()
    expect(page.locator("#session")).to_be_visible()
    expect(page.locator("#session-user")).to_have_text(user.name)
    expect(page.locator("#login")).to_be_hidden()
    expect(key).to_have_value("")  # no secret left in the page
    page.wait_for_function(
        "() => window.__app.brokerConnected && window.__app.connection === 'connected'"
    )


def place_limit(page: Page, qty: int, price: float) -> None:
    """A far BUY LIMIT from the ticket (AAPL never trades at or below 160): it stays working."""
    page.locator("#order-type").select_option("1")
    page.locator("#order-limit").fill(str(price))
    page.locator("#order-qty").fill(str(qty))
    expect(page.locator("#ticket-submit")).to_have_text(f"Buy {qty} AAPL LMT")
    expect(page.locator("#ticket-submit")).to_be_enabled()
    page.locator("#ticket-submit").click()


def working_rows(page: Page) -> list[tuple[str, str]]:
    """(qty, limit) of each row of the orders tab."""
    page.locator("#tab-orders").click()
    rows = page.locator("#orders-table tbody tr:not(.empty)")
    cells = [rows.nth(i).locator("td") for i in range(rows.count())]
    return [(row.nth(4).inner_text(), row.nth(5).inner_text()) for row in cells]


def assert_named_account(desk: Desk, account: str, since: int = 0) -> None:
    """Every broker request after the first `since` names the account, every broker
    subscription frame too."""
    broker = [r for r in desk.requests[since:] if "/api/v1/broker/" in r.url]
    assert broker, "the page made broker requests"
    assert {r.headers.get("x-account-id") for r in broker} == {account}
    for request in broker:  # writes with a body keep the JSON content type (the CSRF rule)
        if request.post_data is not None:
            assert request.headers.get("content-type", "").startswith("application/json")


# --- tests --------------------------------------------------------------------------------


def test_two_users_each_see_only_their_own_orders_and_positions(
    server: KeysServer, open_desk: Any
) -> None:
    alice, bob = create_user(server, "alice"), create_user(server, "bob")
    (alice_account,) = accounts_of(server, alice)
    (bob_account,) = accounts_of(server, bob)
    assert alice_account != bob_account
    a, b = open_desk(), open_desk()
    # logged out: the market only, nothing of any account
    assert a.broker_requests() == []
    assert a.broker_subscriptions() == []
    expect(a.page.locator("#ticket")).to_be_hidden()
    expect(a.page.locator("#blotter")).to_be_hidden()
    log_in(a, alice)
    log_in(b, bob)

    place_limit(a.page, 3, 150)
    a.page.wait_for_function("() => window.__app.orders.length === 1")
    a.page.locator("#order-type").select_option("2")  # MARKET: a position for alice only
    a.page.locator("#order-qty").fill("7")
    a.page.locator("#ticket-submit").click()
    a.page.wait_for_function("() => window.__app.positions.includes('AAPL')")
    place_limit(b.page, 4, 151)
    b.page.wait_for_function("() => window.__app.orders.length === 1")
    b.page.wait_for_timeout(1000)  # pushes of alice's fill have had time to arrive (they must not)

    assert working_rows(a.page) == [("3", "150.00")]
    assert working_rows(b.page) == [("4", "151.00")]
    assert app_state(b.page)["positions"] == []
    expect(b.page.locator("#positions-table tbody")).to_contain_text("No open positions")
    expect(b.page.locator("[data-count=executions]")).to_have_text("0")
    expect(a.page.locator("[data-count=executions]")).to_have_text("1")
    assert app_state(a.page)["accountId"] == alice_account
    assert app_state(b.page)["accountId"] == bob_account

    # the server agrees: each account holds its own orders only
    assert sorted(o["qty"] for o in orders_of(server, alice, alice_account)) == [3, 7]
    assert [o["qty"] for o in orders_of(server, bob, bob_account)] == [4]

    for desk, account in ((a, alice_account), (b, bob_account)):
        assert_named_account(desk, account)
        subscriptions = desk.broker_subscriptions()
        assert {f["type"].split(".")[0] for f in subscriptions} == BROKER_ROUTES
        assert {f["payload"]["accountId"] for f in subscriptions} == {account}
        placements = [
            r for r in desk.requests if r.method == "POST" and r.url.endswith("/broker/orders")
        ]
        keys = [r.headers.get("idempotency-key", "") for r in placements]
        assert all(UUID.match(k) for k in keys), keys
        assert len(set(keys)) == len(keys)  # one fresh key per submission


def test_switching_accounts_shows_only_that_accounts_orders(
    server: KeysServer, open_desk: Any
) -> None:
    carol = create_user(server, "carol")
    (first,) = accounts_of(server, carol)
    desk = open_desk()
    page = desk.page
    log_in(desk, carol)
    expect(page.locator("#account-select")).to_have_value(first)
    place_limit(page, 2, 150)
    page.wait_for_function("() => window.__app.orders.length === 1")

    # a new account: opened with a name, the desk switches to it, empty
    page.locator("#account-new").click()
    page.locator("#dialog-name").fill("Second")
    page.locator("#dialog button[type=submit]").click()
    expect(page.locator("#dialog")).to_be_hidden()
    page.wait_for_function("first => window.__app.accountId !== first", arg=first)
    second = app_state(page)["accountId"]
    assert accounts_of(server, carol) == [first, second]
    expect(page.locator("#account-select")).to_have_value(second)
    expect(page.locator("#account-select option")).to_have_count(2)
    expect(page.locator("#account-select option").nth(1)).to_contain_text("Second")
    assert app_state(page)["orders"] == []
    expect(page.locator("[data-count=orders]")).to_have_text("0")
    since = len(desk.requests)
    place_limit(page, 5, 152)
    page.wait_for_function("() => window.__app.orders.length === 1")
    assert working_rows(page) == [("5", "152.00")]
    assert_named_account(desk, second, since)
    # the old account's topics were released before the new one's were taken
    frames = desk.broker_subscriptions()
    unsubscribed = [i for i, f in enumerate(frames) if f["type"] == "orders.unsubscribe"]
    subscribed = [
        i
        for i, f in enumerate(frames)
        if f["type"] == "orders.subscribe" and f["payload"]["accountId"] == second
    ]
    assert unsubscribed
    assert subscribed
    assert unsubscribed[0] < subscribed[0]
    assert frames[unsubscribed[0]]["payload"]["accountId"] == first

    # back to the first: its order only
    page.locator("#account-select").select_option(first)
    page.wait_for_function("first => window.__app.accountId === first", arg=first)
    page.wait_for_function("() => window.__app.orders.length === 1")
    assert working_rows(page) == [("2", "150.00")]
    assert [o["qty"] for o in orders_of(server, carol, first)] == [2]
    assert [o["qty"] for o in orders_of(server, carol, second)] == [5]

    # reset the first, after a confirmation: its order is gone, the second keeps its own
    page.locator("#account-reset").click()
    expect(page.locator("#dialog")).to_contain_text("cannot be undone")
    page.locator("#dialog button[type=submit]").click()
    expect(page.locator("#dialog")).to_be_hidden()
    expect(page.locator("[data-count=orders]")).to_have_text("0")
    assert working_rows(page) == []
    assert [o for o in orders_of(server, carol, first) if o["status"] == 6] == []
    assert [o["qty"] for o in orders_of(server, carol, second)] == [5]
    reset = [r for r in desk.requests if r.url.endswith(f"/broker/accounts/{first}/reset")]
    assert [r.method for r in reset] == ["POST"]


def test_login_keeps_no_secret_and_logout_returns_to_the_form(
    server: KeysServer, open_desk: Any
) -> None:
    dave = create_user(server, "dave")
    desk = open_desk()
    page = desk.page
    # a wrong key: the 401's detail at the form, still logged out
    page.locator("#login-key").fill("trk_000000000000_" + "x" * 43)
    page.locator("#login-submit").click()
    expect(page.locator("#login-error")).to_have_text("Invalid credentials")
    expect(page.locator("#session")).to_be_hidden()
    log_in(desk, dave)

    # the key went once, in the body of POST /auth/login, and is kept nowhere
    logins = [r for r in desk.requests if r.url.endswith("/api/v1/auth/login")]
    assert [json.loads(r.post_data or "{}")["key"] for r in logins][-1] == dave.key
    assert sum(dave.key in (r.post_data or "") for r in desk.requests) == 1
    assert not any(dave.key in r.url for r in desk.requests)
    assert not any(dave.key in json.dumps(f) for f in desk.frames)
    assert dave.key not in page.content()
    stored = page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}])")
    assert dave.key not in stored
    cookies = {c["name"]: c for c in desk.context.cookies()}
    assert cookies["trading_session"]["httpOnly"] is True
    assert cookies["trading_session"]["value"] != dave.key

    place_limit(page, 1, 150)
    page.wait_for_function("() => window.__app.orders.length === 1")
    since = len(desk.requests)
    page.locator("#logout").click()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#session")).to_be_hidden()
    expect(page.locator("#blotter")).to_be_hidden()
    expect(page.locator("#ticket")).to_be_hidden()
    state = app_state(page)
    assert (state["orders"], state["positions"], state["accountId"]) == ([], [], None)
    page.wait_for_function("() => window.__app.connection === 'connected'")  # anonymous again
    page.wait_for_timeout(500)
    assert [r.url for r in desk.requests[since:] if "/api/v1/broker/" in r.url] == []
    status = page.evaluate("() => fetch('../api/v1/auth/me').then(r => r.status)")
    assert status == 401
    # and back in: the order is still there
    log_in(desk, dave)
    page.wait_for_function("() => window.__app.orders.length === 1")


def test_a_revoked_key_sends_the_page_back_to_the_login_form(
    server: KeysServer, open_desk: Any
) -> None:
    erin = create_user(server, "erin")
    (account,) = accounts_of(server, erin)
    desk = open_desk(allow=REVOKED_NOISE)
    page = desk.page
    log_in(desk, erin)
    place_limit(page, 1, 150)
    page.wait_for_function("() => window.__app.orders.length === 1")

    result = run_cli(server.data_dir, "users", "revoke", erin.key_id)
    assert result.returncode == 0, result.stderr
    # the server closes the key's socket (1008) within a second; the page notices by itself
    expect(page.locator("#login")).to_be_visible(timeout=5000)
    expect(page.locator("#login-note")).to_contain_text("ended")
    expect(page.locator("#blotter")).to_be_hidden()
    assert app_state(page)["orders"] == []
    status, _ = server.call("GET", "/api/v1/broker/orders", bearer=erin.key, account=account)
    assert status == 401
    # the key is refused at the form too
    page.locator("#login-key").fill(erin.key)
    page.locator("#login-submit").click()
    expect(page.locator("#login-error")).to_have_text("Invalid credentials")


def test_a_replay_trades_the_session_book_of_the_chosen_account(
    server: KeysServer, open_desk: Any
) -> None:
    """Keys mode (issue 17): the session is started for the account chosen in the switcher
    (the replay routes name it), the ticket and the broker topics then name the session's book,
    the switcher is locked meanwhile; End gives the chosen account back."""
    dave = create_user(server, "dave")
    (first,) = accounts_of(server, dave)
    status, second_meta = server.call(
        "POST", "/api/v1/broker/accounts", {"name": "Practice"}, bearer=dave.key
    )
    assert status in (200, 201), second_meta
    second = second_meta["id"]
    assert second != first
    desk = open_desk()
    page = desk.page
    log_in(desk, dave)
    page.locator("#account-select").select_option(second)
    page.wait_for_function("s => window.__app.accountId === s", arg=second)

    session = test_web.start_replay_on_page(page, test_web.REPLAY_START_MS)
    assert session["id"].startswith("RPL-")
    starts = [r for r in desk.requests if r.url.endswith("/api/v1/replay") and r.method == "POST"]
    assert [r.headers.get("x-account-id") for r in starts] == [second]
    status, listed = server.call("GET", "/api/v1/replay", bearer=dave.key, account=second)
    assert [s["id"] for s in listed] == [session["id"]]
    expect(page.locator("#account-select")).to_be_disabled()
    since = len(desk.requests)
    page.locator("#order-qty").fill("2")
    page.locator("#ticket-submit").click()
    row = page.locator("#positions-table tbody tr[data-key='AAPL']")
    expect(row.locator("td").nth(2)).to_have_text("2")
    assert_named_account(desk, session["id"], since)
    book_topics = [
        f for f in desk.broker_subscriptions()
        if f["type"] == "orders.subscribe" and f["payload"]["accountId"] == session["id"]
    ]  # fmt: skip
    assert book_topics
    status, fills = server.call(
        "GET", "/api/v1/broker/executions/AAPL", bearer=dave.key, account=session["id"]
    )
    assert status == 200
    assert [(f["qty"], f["time"]) for f in fills] == [(2, test_web.REPLAY_START_MS)]
    # neither of dave's own accounts traded anything
    assert orders_of(server, dave, second) == orders_of(server, dave, first) == []

    page.locator("#replay-end").click()
    page.wait_for_function("s => window.__app.replay === null && window.__app.accountId === s",
                           arg=second)  # fmt: skip
    expect(page.locator("#account-select")).to_be_enabled()
    expect(page.locator("#account-select")).to_have_value(second)
    expect(page.locator("[data-count=positions]")).to_have_text("0")
