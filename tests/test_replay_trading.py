"""Trading in a bar-replay session (issue 17, docs/replay.md §5): a session's own book,
filled on the replayed prices at replay time, beside the live account and other sessions.

Black box on the real app with a manual clock (``TRADING_CLOCK=manual``: the fill loop is off
and an evaluation runs when the test asks, docs/scenarios.md §4), so every fill is decided at
a known instant. The expected prices are read off a second, independent synthetic market of
the same settings at the replayed seconds: the series is a function of time, so the price of
a replayed second is the price the live market showed then.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.brokerkit import Client, MakeClient, limit_order, market_order, two_workers
from tests.realservers import RedisServer
from tests.test_replay import ADMIN, new_user
from tests.wsclient import WS, drain, recv, subscribe
from trading.broker.enums import Side
from trading.clock import ManualClock
from trading.keys import BROKER
from trading.market.series import SyntheticMarket
from trading.settings import Settings
from trading.testing import TEST_NOW

R = "/api/v1/replay"
B = "/api/v1/broker"
NOW_MS = math.floor(TEST_NOW * 1000)
DAY_MS = 86_400_000
START = (NOW_MS - 30 * DAY_MS) // DAY_MS * DAY_MS + 15 * 3_600_000 + 250
"""Wednesday 2025-09-24 15:00:00.250 UTC, 11:00 in New York: the session is open, prices move."""


@pytest.fixture
def trading_settings(tmp_path: Path, trading_clock: ManualClock) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        clock=trading_clock,
        clock_mode="manual",
        tick_interval_s=0.02,
        commission_rate=0.001,
    )


def then(settings: Settings) -> SyntheticMarket:
    """An independent synthetic market of the same settings: its prices at any second."""
    return SyntheticMarket(settings.replace(clock=ManualClock(TEST_NOW)).market_config())


def ask(market: SyntheticMarket, symbol: str, second: int) -> Decimal:
    spec = market.catalog.lookup(symbol)
    assert spec is not None
    return Decimal(market.touch(spec, second).ask) / spec.pricescale


def bid(market: SyntheticMarket, symbol: str, second: int) -> Decimal:
    spec = market.catalog.lookup(symbol)
    assert spec is not None
    return Decimal(market.touch(spec, second).bid) / spec.pricescale


async def start_session(c: Client, start_ms: int = START, **body: Any) -> str:
    payload = {"startTime": start_ms, "speed": 60, "symbols": ["AAPL"], "paused": True, **body}
    resp = await c.post(R, json=payload, headers=body.pop("headers", {}))
    assert resp.status == 201, await resp.text()
    session_id: str = (await resp.json())["id"]
    return session_id


async def in_book(
    c: Client, book: str, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    resp = await c.request(method, B + path, json=body, headers={"X-Account-Id": book, **headers})
    return resp.status, await resp.json()


async def ok(c: Client, book: str, method: str, path: str, body: Any = None, **h: str) -> Any:
    status, answer = await in_book(c, book, method, path, body, **h)
    assert status == 200, answer
    return answer


async def patch(c: Client, session: str, body: dict[str, Any], **headers: str) -> Any:
    resp = await c.patch(f"{R}/{session}", json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def evaluate(c: Client) -> None:
    await c.app[BROKER].evaluate()


async def test_a_market_order_fills_at_the_replayed_price_at_replay_time(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    c = await make_client()
    book = await start_session(c)
    replay_s = START // 1000
    order = await ok(c, book, "POST", "/orders", market_order(Side.BUY, 10))
    (fill,) = await ok(c, book, "GET", "/executions/AAPL")
    market = then(trading_settings)
    price = ask(market, "AAPL", replay_s)
    assert Decimal(str(fill["price"])) == price
    assert fill["time"] == START, "an execution of the book is stamped in replay time"
    assert fill["orderId"] == order["orderId"]
    assert Decimal(str(fill["commission"])) == (price * 10 * Decimal("0.001")).quantize(
        Decimal("0.01")
    )
    # the live price now is another one, and the live account holds nothing of it
    assert ask(market, "AAPL", math.floor(TEST_NOW)) != price
    assert (await c.get(f"{B}/orders")).status == 200
    assert await (await c.get(f"{B}/orders")).json() == []
    assert await (await c.get(f"{B}/executions/AAPL")).json() == []
    (position,) = await ok(c, book, "GET", "/positions")
    assert (position["qty"], Decimal(str(position["avgPrice"]))) == (10, price)


async def test_a_resting_limit_fills_on_the_first_replayed_second_that_reaches_it(
    make_client: MakeClient, trading_settings: Settings, trading_clock: ManualClock
) -> None:
    """At 60x, 10 wall seconds replay 600 seconds: a BUY limit at the lowest ask of those
    seconds fills at the first one whose ask reaches it, at that ask, at that replayed time;
    closing it realizes the hand-computed P&L."""
    c = await make_client()
    book = await start_session(c)
    first = START // 1000
    market = then(trading_settings)
    asks = {s: ask(market, "AAPL", s) for s in range(first + 1, first + 601)}
    limit = min(asks.values())
    assert limit < ask(market, "AAPL", first), "the window must not fill at placement"
    await ok(c, book, "POST", "/orders", limit_order(Side.BUY, 5, float(limit)))
    await patch(c, book, {"action": "resume"})
    trading_clock.advance(10)
    await evaluate(c)
    (fill,) = await ok(c, book, "GET", "/executions/AAPL")
    second = min(s for s, a in asks.items() if a <= limit)
    assert fill["time"] == second * 1000
    assert Decimal(str(fill["price"])) == asks[second]
    # sell at replay-now: realized = (bid then − ask at the fill) × 5
    now_s = first + 600
    session = await (await c.get(f"{R}/{book}")).json()
    assert session["time"] == START + 600_000
    await ok(c, book, "POST", "/orders", market_order(Side.SELL, 5))
    fills = await ok(c, book, "GET", "/executions/AAPL")
    assert [f["time"] for f in fills] == [second * 1000, START + 600_000]
    sold = bid(market, "AAPL", now_s)
    assert Decimal(str(fills[1]["price"])) == sold
    equity = await ok(c, book, "GET", "/equity")
    realized = (sold - asks[second]) * 5
    commissions = sum(
        (Decimal(str(f["price"])) * 5 * Decimal("0.001")).quantize(Decimal("0.01")) for f in fills
    )
    assert Decimal(str(equity["realizedPL"])) == realized.quantize(Decimal("0.01"))
    assert Decimal(str(equity["balance"])) == (
        Decimal(str(trading_settings.initial_balance)) + realized - commissions
    ).quantize(Decimal("0.01"))


async def test_a_paused_session_fills_nothing_and_a_jump_does_not_trade_through(
    make_client: MakeClient, trading_settings: Settings, trading_clock: ManualClock
) -> None:
    """Paused, wall time passes and nothing fills; a jump lands later without filling on the
    seconds it skipped; a step does trade through the bar it completes."""
    c = await make_client()
    book = await start_session(c)
    first = START // 1000
    market = then(trading_settings)
    hour = {s: ask(market, "AAPL", s) for s in range(first + 1, first + 3601)}
    low_second = min(hour, key=lambda s: hour[s])
    limit = hour[low_second]
    await ok(c, book, "POST", "/orders", limit_order(Side.BUY, 1, float(limit)))
    trading_clock.advance(120)  # paused: two wall minutes, the clock stands still
    await evaluate(c)
    assert await ok(c, book, "GET", "/executions/AAPL") == []
    jumped = await patch(c, book, {"action": "jump", "ms": 3_600_000})
    assert jumped["time"] == START + 3_600_000
    await evaluate(c)
    fills = await ok(c, book, "GET", "/executions/AAPL")
    landing_s = math.ceil(jumped["time"] / 1000)
    assert all(f["time"] >= landing_s * 1000 for f in fills), "a jump skips, it does not trade"
    # a step trades through the minute it completes: a limit that minute reaches fills in it
    (working,) = [o for o in await ok(c, book, "GET", "/orders") if o["status"] == 6] or [None]
    if working is not None:
        await ok(c, book, "DELETE", f"/orders/{working['id']}")
    now_s = jumped["time"] // 1000
    minute = {s: ask(market, "AAPL", s) for s in range(now_s + 1, now_s - now_s % 60 + 61)}
    target = min(minute.values())
    await ok(c, book, "POST", "/orders", limit_order(Side.BUY, 1, float(target)))
    stepped = await patch(c, book, {"action": "step", "resolution": "1"})
    assert stepped["time"] == (now_s - now_s % 60 + 60) * 1000
    await evaluate(c)
    last = (await ok(c, book, "GET", "/executions/AAPL"))[-1]
    hit = min(s for s, a in minute.items() if a <= target)
    assert (last["time"], Decimal(str(last["price"]))) == (hit * 1000, minute[hit])


async def test_two_sessions_at_different_dates_trade_side_by_side(
    make_client: MakeClient, trading_settings: Settings, trading_clock: ManualClock
) -> None:
    c = await make_client()
    early, late = START - 7 * DAY_MS, START
    one = await start_session(c, early)
    two = await start_session(c, late, speed=600)
    for book in (one, two):
        await ok(c, book, "POST", "/orders", market_order(Side.BUY, 2))
    await patch(c, one, {"action": "resume"})
    await patch(c, two, {"action": "resume"})
    trading_clock.advance(3)
    for book in (one, two):
        await ok(c, book, "POST", "/orders", market_order(Side.SELL, 2))
    market = then(trading_settings)
    for book, start_ms, speed in ((one, early, 60), (two, late, 600)):
        fills = await ok(c, book, "GET", "/executions/AAPL")
        s0, s1 = start_ms // 1000, start_ms // 1000 + 3 * speed
        assert [f["time"] for f in fills] == [start_ms, start_ms + 3 * speed * 1000]
        assert [Decimal(str(f["price"])) for f in fills] == [
            ask(market, "AAPL", s0),
            bid(market, "AAPL", s1),
        ]
    assert await (await c.get(f"{B}/executions/AAPL")).json() == []


async def test_the_book_streams_over_the_websocket_and_ends_with_its_session(
    make_client: MakeClient,
) -> None:
    c = await make_client()
    book = await start_session(c)
    async with c.ws_connect(WS) as ws:
        _, snapshot = await subscribe(ws, "orders", {"accountId": book})
        assert snapshot == []
        order = await ok(c, book, "POST", "/orders", market_order(Side.BUY, 1))
        pushed = [f for f in await drain(ws) if f["type"] == "orders.update"]
        assert {f["payload"]["payload"]["id"] for f in pushed} == {order["orderId"]}
        assert all(f["payload"]["payload"]["updateTime"] == START for f in pushed)
    assert (await c.delete(f"{R}/{book}")).status == 204
    status, gone = await in_book(c, book, "GET", "/orders")
    assert (status, gone["detail"]) == (404, f"Account {book} not found")


async def test_the_book_and_its_clock_survive_a_restart(
    make_client: MakeClient, trading_settings: Settings, trading_clock: ManualClock
) -> None:
    c = await make_client()
    book = await start_session(c)
    first = START // 1000
    market = then(trading_settings)
    asks = {s: ask(market, "AAPL", s) for s in range(first + 1, first + 601)}
    limit = min(asks.values())
    await ok(c, book, "POST", "/orders", limit_order(Side.BUY, 3, float(limit)))
    await patch(c, book, {"action": "resume"})
    await c.close()
    trading_clock.advance(10)
    c = await make_client()
    await evaluate(c)
    (fill,) = await ok(c, book, "GET", "/executions/AAPL")
    second = min(s for s, a in asks.items() if a <= limit)
    assert (fill["time"], Decimal(str(fill["price"]))) == (second * 1000, asks[second])


async def test_only_the_sessions_owner_may_use_its_book(make_client: MakeClient) -> None:
    c = await make_client(auth="keys", admin_key=ADMIN)
    alice, bob = await new_user(c, "alice"), await new_user(c, "bob")
    book = await start_session(c, headers=alice)
    await ok(c, book, "POST", "/orders", market_order(Side.BUY, 1), **alice)
    missing = "RPL-0000000000000000"
    for path in ("/orders", "/positions", "/executions/AAPL", "/equity", "/account"):
        theirs = await in_book(c, book, "GET", path, **bob)
        nothing = await in_book(c, missing, "GET", path, **bob)
        assert theirs[0] == nothing[0] == 404
        assert str(theirs[1]).replace(book, "<id>") == str(nothing[1]).replace(missing, "<id>")
    status, _ = await in_book(c, book, "POST", "/orders", market_order(Side.BUY, 1), **bob)
    assert status == 404
    assert len(await ok(c, book, "GET", "/orders", **alice)) == 1
    # the book is not one of alice's accounts
    listed = await (await c.get(f"{B}/accounts", headers=alice)).json()
    assert book not in {a["id"] for a in listed}
    for who, allowed in ((alice, True), (bob, False)):
        async with c.ws_connect(WS, headers=who) as ws:
            await ws.send_json({"type": "orders.subscribe", "payload": {"accountId": book}})
            reply = await ws.receive_json(timeout=3)
            assert (reply["payload"]["status"] == "ok") is allowed, reply


async def test_two_workers_trade_in_one_session(
    aiohttp_client: Any,
    tmp_path: Path,
    trading_clock: ManualClock,
    redis_server: RedisServer,
) -> None:
    """docs/replay.md §5 with several workers: a session started on one worker, an order
    placed in its book on the other, whose pushes reach a socket of the first through the
    backplane; whichever worker runs the fill loop fills it on the replayed prices, at the
    clock the other worker changed."""
    settings = Settings(
        data_dir=tmp_path / "data", clock=trading_clock, tick_interval_s=0.02,
        commission_rate=0.001, workers=2, redis_url=redis_server.url,
    )  # fmt: skip
    async with two_workers(aiohttp_client, settings) as (a, b):
        book = await start_session(a)
        first = START // 1000
        market = then(settings)
        asks = {s: ask(market, "AAPL", s) for s in range(first + 1, first + 601)}
        limit = min(asks.values())
        async with a.ws_connect(WS) as ws:
            await subscribe(ws, "executions", {"accountId": book})
            await ok(b, book, "POST", "/orders", limit_order(Side.BUY, 2, float(limit)))
            await patch(b, book, {"action": "resume"})
            trading_clock.advance(10)
            frame = await recv(ws, timeout=5)
            assert frame["type"] == "executions.update", frame
            pushed = frame["payload"]["payload"]
        second = min(s for s, a_ in asks.items() if a_ <= limit)
        assert (pushed["time"], Decimal(str(pushed["price"]))) == (second * 1000, asks[second])
        assert [f["id"] for f in await ok(a, book, "GET", "/executions/AAPL")] == [pushed["id"]]


async def test_the_report_adds_up_what_the_book_traded(
    make_client: MakeClient, trading_settings: Settings, trading_clock: ManualClock
) -> None:
    """A round trip at a profit or a loss, then an open position: the report's trades are
    the book's executions, its totals the hand-computed ones, its last curve point the
    equity at replay-now, and its win rate and drawdown follow from the round trip."""
    c = await make_client()
    book = await start_session(c)
    market = then(trading_settings)
    s0 = START // 1000
    await ok(c, book, "POST", "/orders", market_order(Side.BUY, 10))
    await patch(c, book, {"action": "resume"})
    trading_clock.advance(5)  # 300 replayed seconds
    await ok(c, book, "POST", "/orders", market_order(Side.SELL, 10))
    trading_clock.advance(5)
    await ok(c, book, "POST", "/orders", market_order(Side.BUY, 4))
    await patch(c, book, {"action": "pause"})
    s1, s2 = s0 + 300, s0 + 600
    bought, sold, again = ask(market, "AAPL", s0), bid(market, "AAPL", s1), ask(market, "AAPL", s2)
    cents = Decimal("0.01")
    fees = [
        (p * q * Decimal("0.001")).quantize(cents)
        for p, q in ((bought, 10), (sold, 10), (again, 4))
    ]
    realized = ((sold - bought) * 10).quantize(cents)
    resp = await c.get(f"{R}/{book}/report")
    assert resp.status == 200
    body = await resp.json()
    executions = await ok(c, book, "GET", "/executions/AAPL")
    assert body["trades"] == executions
    assert (body["from"], body["to"]) == (START, START + 600_000)
    assert Decimal(str(body["realizedPL"])) == realized
    assert Decimal(str(body["commissions"])) == sum(fees)
    initial = Decimal(str(trading_settings.initial_balance))
    balance = initial + realized - sum(fees)
    assert Decimal(str(body["balance"])) == balance
    equity = await ok(c, book, "GET", "/equity")
    assert Decimal(str(body["equity"])) == Decimal(str(equity["equity"]))
    assert body["equityCurve"][-1] == {"time": START + 600_000, "equity": equity["equity"]}
    assert body["equityCurve"][0]["time"] == START
    assert (body["closingTrades"], body["wins"], body["losses"]) == (
        1, int(realized > 0), int(realized < 0)
    )  # fmt: skip
    assert body["winRate"] == (1.0 if realized > 0 else 0.0)
    curve = [Decimal(str(p["equity"])) for p in body["equityCurve"]]
    peak, fall = curve[0], Decimal(0)
    for value in curve:
        peak = max(peak, value)
        fall = max(fall, peak - value)
    assert Decimal(str(body["maxDrawdown"])) == fall
