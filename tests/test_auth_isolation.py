"""Two users on one keys-mode server (issue 14): neither can read nor change the other's orders,
positions, executions, equity, leverage, history or accounts, over REST or the WebSocket.

Every broker route is called by B with A's ids and must answer exactly as it answers for an
id that never existed (same status, same body but for the id), leaving A's state unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.brokerkit import (
    Client,
    MakeClient,
    broker_settings,
    limit_order,
    market_order,
    step,
)
from tests.wsclient import drain, request, updates
from trading.broker.enums import OrderType, Side
from trading.clock import ManualClock
from trading.settings import Settings

ADMIN = "admin-key-for-the-isolation-tests-0123456789"
B = "/api/v1/broker"
UNKNOWN_ACCOUNT = "ACC-000000000000"
LEVERAGE = {"symbol": "AAPL", "orderType": OrderType.MARKET, "side": Side.BUY}


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return broker_settings(tmp_path, trading_clock, auth="keys", admin_key=ADMIN)


class User:
    def __init__(self, client: Client, key: str) -> None:
        self.client = client
        self.key = key
        self.account = ""

    def headers(self, account: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.key}"}
        if account is not None:
            out["X-Account-Id"] = account
        return out

    async def call(
        self, method: str, path: str, body: Any = None, account: str | None = None
    ) -> tuple[int, Any]:
        resp = await self.client.request(method, B + path, json=body, headers=self.headers(account))
        return resp.status, await resp.json()

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = await self.call(method, path, body)
        assert status in (200, 201), (method, path, status, answer)
        return answer


async def new_user(c: Client, name: str) -> User:
    resp = await c.post(
        "/api/v1/admin/users", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert resp.status == 201, await resp.text()
    user = User(c, (await resp.json())["key"])
    (first,) = await user.ok("GET", "/accounts")
    user.account = first["id"]
    return user


async def two_traders(c: Client, clock: ManualClock) -> tuple[User, User]:
    """A holds an AAPL position with brackets, a resting order, a canceled one and leverage 5."""
    a, b = await new_user(c, "alice"), await new_user(c, "bob")
    await a.ok("POST", "/orders", market_order(Side.BUY, 4, takeProfit=300.0, stopLoss=200.0))
    await a.ok("POST", "/orders", limit_order(Side.BUY, 1, 200.0))
    await a.ok("POST", "/orders", limit_order(Side.BUY, 1, 201.0))
    await a.ok("DELETE", "/orders/ORDER-5")
    await a.ok("PUT", "/leverage/set", {**LEVERAGE, "leverage": 5})
    await step(c, clock)
    return a, b


async def snapshot(u: User) -> list[Any]:
    paths = ("/orders", "/positions", "/executions/AAPL", "/equity", "/orders/history",
             "/leverage/info?symbol=AAPL&orderType=2&side=1", "/margin", "/accounts",
             "/account")  # fmt: skip
    return [await u.ok("GET", p) for p in paths]


def same_refusal(mine: tuple[int, Any], unknown: tuple[int, Any], mine_id: str, other: str) -> None:
    assert mine[0] == unknown[0], (mine, unknown)
    assert str(mine[1]).replace(mine_id, "<id>") == str(unknown[1]).replace(other, "<id>")


async def test_a_foreign_id_answers_like_a_missing_one_and_changes_nothing(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client()
    a, b = await two_traders(c, trading_clock)
    before = await snapshot(a)
    orders = {o["id"] for o in before[0]}
    assert {"ORDER-1", "ORDER-2", "ORDER-3", "ORDER-4"} <= orders
    # B's own views hold nothing of A's
    assert await b.ok("GET", "/orders") == []
    assert await b.ok("GET", "/positions") == []
    assert await b.ok("GET", "/executions/AAPL") == []
    assert (await b.ok("GET", "/orders/history"))["orders"] == []
    assert (await b.ok("GET", "/leverage/info?symbol=AAPL&orderType=2&side=1"))["leverage"] == 10.0
    assert (await b.ok("GET", "/equity"))["balance"] == 100_000.0
    # A's ids, used by B, answer as ids that never existed
    body = limit_order(Side.BUY, 1, 199.0)
    for method, path, payload, unknown in [
        ("PUT", "/orders/ORDER-4", body, "/orders/ORDER-999"),
        ("DELETE", "/orders/ORDER-4", None, "/orders/ORDER-999"),
        ("DELETE", "/orders/ORDER-2", None, "/orders/ORDER-999"),  # a bracket of A
        ("DELETE", "/positions/AAPL", None, "/positions/MSFT"),
        ("DELETE", "/positions/AAPL?amount=1", None, "/positions/MSFT?amount=1"),
        ("PUT", "/positions/AAPL/brackets", {"brackets": {"takeProfit": 310.0}},
         "/positions/MSFT/brackets"),
        ("POST", "/positions/AAPL/reverse", {}, "/positions/MSFT/reverse"),
    ]:  # fmt: skip
        mine = await b.call(method, path, payload)
        missing = await b.call(method, unknown, payload)
        same_refusal(mine, missing, path.split("/")[2].split("?")[0],
                     unknown.split("/")[2].split("?")[0])  # fmt: skip
        assert mine[0] in (400, 404), (method, path, mine)
    # B's desk operations act on B's book only
    assert await b.ok("DELETE", "/orders") == {"canceled": []}
    assert await b.ok("DELETE", "/positions") == {"closed": []}
    await b.ok("PUT", "/leverage/set", {**LEVERAGE, "leverage": 2})
    await b.ok("POST", "/debug/reset", {})
    # A's account, named by B, is refused as an unknown one
    for method, path in [("GET", "/orders"), ("GET", "/equity"), ("POST", "/orders")]:
        mine = await b.call(method, path, body if method == "POST" else None, account=a.account)
        missing = await b.call(method, path, body if method == "POST" else None,
                               account=UNKNOWN_ACCOUNT)  # fmt: skip
        assert mine[0] == missing[0] == 404
        same_refusal(mine, missing, a.account, UNKNOWN_ACCOUNT)
    mine = await b.call("POST", f"/accounts/{a.account}/reset", {})
    missing = await b.call("POST", f"/accounts/{UNKNOWN_ACCOUNT}/reset", {})
    assert mine[0] == missing[0] == 404
    same_refusal(mine, missing, a.account, UNKNOWN_ACCOUNT)
    assert a.account not in {x["id"] for x in await b.ok("GET", "/accounts")}
    # and nothing of A's moved
    assert await snapshot(a) == before


async def test_the_same_idempotency_key_places_once_per_account(make_client: MakeClient) -> None:
    c = await make_client()
    a, b = await new_user(c, "alice"), await new_user(c, "bob")
    key = {"Idempotency-Key": "same-key-1"}
    for u in (a, b):
        resp = await c.post(B + "/orders", json=limit_order(Side.BUY, 1, 200.0),
                            headers={**u.headers(), **key})  # fmt: skip
        assert resp.status == 200
        assert "Idempotent-Replayed" not in resp.headers
    assert len(await a.ok("GET", "/orders")) == len(await b.ok("GET", "/orders")) == 1


async def test_a_user_switches_between_own_accounts(make_client: MakeClient) -> None:
    c = await make_client()
    a = await new_user(c, "alice")
    second = await a.ok("POST", "/accounts", {"name": "Swing", "initialBalance": 2500})
    assert second["name"] == "Swing"
    assert [x["id"] for x in await a.ok("GET", "/accounts")] == [a.account, second["id"]]
    status, _ = await a.call("POST", "/orders", limit_order(Side.BUY, 1, 200.0),
                             account=second["id"])  # fmt: skip
    assert status == 200
    status, equity = await a.call("GET", "/equity", account=second["id"])
    assert (status, equity["balance"]) == (200, 2500.0)
    assert await a.ok("GET", "/orders") == []  # the first account, the default
    status, orders = await a.call("GET", "/orders", account=second["id"])
    assert len(orders) == 1
    status, _ = await a.call("POST", f"/accounts/{second['id']}/reset", {})
    assert status == 200
    assert (await a.call("GET", "/orders", account=second["id"]))[1] == []


async def test_a_user_holds_at_most_the_configured_number_of_accounts(
    make_client: MakeClient,
) -> None:
    c = await make_client(max_accounts_per_user=3)
    a, b = await new_user(c, "alice"), await new_user(c, "bob")
    for _ in range(2):  # the first account was opened on first use
        await a.ok("POST", "/accounts", {})
    status, body = await a.call("POST", "/accounts", {"name": "one too many"})
    assert status == 409
    assert body["detail"].startswith("Account limit reached: a user may hold 3 accounts")
    assert len(await a.ok("GET", "/accounts")) == 3
    assert (await b.call("POST", "/accounts", {}))[0] == 201  # another user's own count


async def test_websocket_subscriptions_see_only_the_callers_account(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client()
    a, b = await new_user(c, "alice"), await new_user(c, "bob")
    async with (
        c.ws_connect("/api/v1/ws", headers=a.headers()) as ws_a,
        c.ws_connect("/api/v1/ws", headers=b.headers()) as ws_b,
    ):
        # B naming A's account: an error reply and no data, as for an unknown account
        for account in (a.account, UNKNOWN_ACCOUNT):
            for route in ("orders", "positions", "executions", "equity", "pl", "margin"):
                reply, _ = await request(ws_b, f"{route}.subscribe", {"accountId": account})
                assert reply["payload"]["status"] == "error", reply
                assert reply["payload"]["message"] == f"Account {account} not found", reply
        reply, _ = await request(ws_a, "orders.subscribe", {"accountId": a.account})
        assert reply["payload"]["status"] == "ok"
        reply, _ = await request(ws_b, "orders.subscribe", {"accountId": b.account})
        assert reply["payload"]["status"] == "ok"
        await drain(ws_a)
        await drain(ws_b)
        await a.ok("POST", "/orders", limit_order(Side.BUY, 1, 200.0))
        (update,) = await updates(ws_a, 1)
        assert update["payload"]["payload"]["id"] == "ORDER-1"
        assert await drain(ws_b) == []  # B hears nothing of A's order
        await b.ok("POST", "/orders", limit_order(Side.SELL, 2, 300.0))
        (update,) = await updates(ws_b, 1)
        assert update["payload"]["payload"]["side"] == Side.SELL
        assert await drain(ws_a) == []
