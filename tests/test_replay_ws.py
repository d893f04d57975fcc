"""The ``replay`` WebSocket route (issue 17, docs/replay.md §6): a session's state, bars and
quotes pushed at replay speed, never of a second after replay-now, on the real app and a real
socket (every frame checked against the AsyncAPI document by tests/conftest.py).

The wall clock is the market's manual clock (``trading_clock``, what ``POST
/api/v1/debug/clock`` moves under ``TRADING_CLOCK=manual``): a session moves only when a test
moves it, so "nothing moved, nothing pushed" is as checkable as "it moved, it pushed".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import aiohttp
import pytest

from tests.brokerkit import Client, MakeClient, two_workers
from tests.realservers import RedisServer
from tests.test_replay import ADMIN, new_user
from tests.wsclient import WS, Frame, drain, recv, request, subscribe
from trading.clock import ManualClock
from trading.market.resolution import ny_day_start
from trading.settings import Settings
from trading.ws.setup import REPLAY_FEED

R = "/api/v1/replay"
START = (ny_day_start(dt.date(2025, 9, 24).toordinal()) + 11 * 3600) * 1000 + 250
"""A Wednesday 11:00:00.250 New York: inside the session, not on a bar boundary."""
PERIOD = 0.05
pytestmark = pytest.mark.trading_settings(replay_push_s=PERIOD)


async def new_session(c: Client, headers: dict[str, str] | None = None, **body: Any) -> str:
    payload = {"startTime": START, "speed": 60, "symbols": ["AAPL", "MSFT"], **body}
    resp = await c.post(R, json=payload, headers=headers or {})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def patch(c: Client, sid: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await c.patch(f"{R}/{sid}", json=body)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def rest_bars(c: Client, sid: str, symbol: str, resolution: str) -> list[dict[str, Any]]:
    """The session's own datafeed route: what every push must agree with."""
    resp = await c.get(f"{R}/{sid}/datafeed/bars", params={
        "symbol": symbol, "resolution": resolution, "from_time": 0,
        "to_time": 4_000_000_000_000, "count_back": 400,
    })  # fmt: skip
    assert resp.status == 200
    return list((await resp.json())["bars"])


async def next_update(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> Frame:
    frame = await recv(ws, timeout)
    assert frame["type"] == "replay.update", frame
    return dict(frame["payload"]["payload"])


def symbol(update: Frame, name: str) -> dict[str, Any]:
    return next(s for s in update["symbols"] if s["symbol"] == name)


async def test_a_snapshot_then_one_push_per_period_while_the_clock_runs(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client()
    sid = await new_session(c)
    async with c.ws_connect(WS) as ws:
        reply, snapshot = await subscribe(ws, "replay", {"replayId": sid})
        assert reply["payload"]["topic"] == f'replay:{{"replayId":"{sid}","resolution":"1"}}'
        assert len(snapshot) == 1
        first = snapshot[0]["payload"]["payload"]
        assert first["session"]["time"] == START
        assert first["session"]["state"] == "running"
        assert (first["resolution"], first["ended"]) == ("1", False)
        assert [s["symbol"] for s in first["symbols"]] == ["AAPL", "MSFT"]
        rest = await rest_bars(c, sid, "AAPL", "1")
        aapl = symbol(first, "AAPL")
        assert aapl["bars"] == []
        assert aapl["truncated"] is False
        assert aapl["forming"] == rest[-1]  # the same bar as the session's datafeed route
        assert aapl["quote"]["v"]["lp"] == aapl["forming"]["close"]
        # the clock stands still: nothing moved, nothing pushed (several periods)
        assert await drain(ws, quiet=6 * PERIOD) == []
        trading_clock.advance(1)  # one wall second at 60x: one replay minute
        moved = await next_update(ws)
        assert moved["session"]["time"] == START + 60_000
        rest = await rest_bars(c, sid, "AAPL", "1")
        aapl = symbol(moved, "AAPL")
        assert aapl["bars"] == rest[-2:-1]  # the minute that completed, as REST lists it
        assert aapl["forming"] == rest[-1]
        trading_clock.advance(1)
        again = await next_update(ws)
        assert again["session"]["time"] == START + 120_000
        assert [b["time"] for b in symbol(again, "AAPL")["bars"]] == [rest[-1]["time"]]


async def test_no_pushed_bar_or_quote_is_later_than_replay_now_and_none_is_missed(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    """A random walk of wall time, jumps, steps, speed changes and pauses: every pushed bar
    is labelled at or before replay-now, a completed one is over by then, the forming bar is
    the session's datafeed's last bar, the quote its close; and the completed bars pushed
    (none truncated here) are exactly the bars the session's route lists meanwhile."""
    c = await make_client(replay_push_max_bars=5000)
    sid = await new_session(c, speed=30, symbols=["AAPL"])
    rng = random.Random(17)
    res_s = 300
    seen: dict[int, dict[str, Any]] = {}
    async with c.ws_connect(WS) as ws:
        _, snapshot = await subscribe(ws, "replay", {"replayId": sid, "resolution": "5"})
        before = {b["time"]: b for b in await rest_bars(c, sid, "AAPL", "5")}
        first_forming = symbol(snapshot[0]["payload"]["payload"], "AAPL")["forming"]
        forming = first_forming
        for _ in range(25):
            move = rng.choice(["wall", "wall", "jump", "step", "speed", "pause", "resume"])
            if move == "wall":
                trading_clock.advance(rng.uniform(0.5, 40))
            elif move == "jump":
                await patch(c, sid, {"action": "jump", "ms": rng.randrange(1, 4 * 3_600_000)})
            elif move == "step":
                await patch(c, sid, {"action": "step", "resolution": rng.choice(["1", "15"])})
            elif move == "speed":
                await patch(c, sid, {"action": "speed", "speed": rng.choice([1, 60, 600])})
            else:
                await patch(c, sid, {"action": move})
            for frame in await drain(ws, quiet=4 * PERIOD):
                update = frame["payload"]["payload"]
                now_s = update["session"]["time"] // 1000
                aapl = symbol(update, "AAPL")
                assert aapl["truncated"] is False
                for bar in aapl["bars"]:
                    assert bar["time"] // 1000 + res_s <= now_s, (update["session"], bar)
                    seen[bar["time"]] = bar
                forming = aapl["forming"]
                assert forming is not None
                assert forming["time"] // 1000 <= now_s
                assert aapl["quote"]["v"]["lp"] == forming["close"]
        # the last push is the session now: its forming bar is the route's last bar
        final = await rest_bars(c, sid, "AAPL", "5")
        assert forming == final[-1]
    completed_since = [
        b for b in final[:-1] if b["time"] not in before or b["time"] == first_forming["time"]
    ]
    assert completed_since, "the walk completed bars"
    assert [seen[b["time"]] for b in completed_since] == completed_since


@pytest.mark.trading_settings(replay_push_s=30.0)
async def test_a_rest_change_pushes_at_once_and_a_paused_session_stays_quiet(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    """With a 30 s period, only the change itself can push within the test: pause, step,
    resume and delete each push at once; a paused session then pushes nothing as time
    passes; the end is one ``ended`` push, then silence."""
    c = await make_client()
    sid = await new_session(c)
    async with c.ws_connect(WS) as ws:
        await subscribe(ws, "replay", {"replayId": sid})
        paused = await patch(c, sid, {"action": "pause"})
        pushed = await next_update(ws, timeout=1.0)
        assert pushed["session"] == paused
        trading_clock.advance(5)
        assert await drain(ws, quiet=0.3) == []
        stepped = await patch(c, sid, {"action": "step", "resolution": "5"})
        pushed = await next_update(ws, timeout=1.0)
        assert pushed["session"] == stepped
        assert stepped["time"] % 300_000 == 0
        aapl = symbol(pushed, "AAPL")
        assert aapl["forming"]["time"] == stepped["time"]  # a new bar starts at the step
        assert aapl["bars"][-1]["time"] == stepped["time"] - 60_000  # the minute before: over
        resp = await c.delete(f"{R}/{sid}")
        assert resp.status == 204
        ended = await next_update(ws, timeout=1.0)
        assert ended["ended"] is True
        assert ended["symbols"] == []
        assert ended["session"]["id"] == sid
        trading_clock.advance(5)
        assert await drain(ws, quiet=0.3) == []
        # the topic is still held; a new subscribe to the ended session is refused
        reply, _ = await request(ws, "replay.subscribe", {"replayId": sid, "resolution": "5"})
        assert reply["payload"] == {
            "status": "error",
            "message": f"Replay session {sid} not found",
            "topic": f'replay:{{"replayId":"{sid}","resolution":"5"}}',
        }


@pytest.mark.trading_settings(replay_push_max_bars=3)
async def test_a_jump_pushes_at_most_the_cap_of_the_latest_bars(
    make_client: MakeClient,
) -> None:
    c = await make_client()
    sid = await new_session(c, paused=True, symbols=["AAPL"])
    async with c.ws_connect(WS) as ws:
        await subscribe(ws, "replay", {"replayId": sid})
        await patch(c, sid, {"action": "jump", "ms": 3_600_000})
        pushed = symbol(await next_update(ws), "AAPL")
        rest = await rest_bars(c, sid, "AAPL", "1")
        assert pushed["truncated"] is True
        assert pushed["bars"] == rest[-4:-1]
        assert pushed["forming"] == rest[-1]
        await patch(c, sid, {"action": "jump", "ms": 120_000})
        pushed = symbol(await next_update(ws), "AAPL")
        rest = await rest_bars(c, sid, "AAPL", "1")
        assert pushed["truncated"] is False
        assert pushed["bars"] == rest[-3:-1]


async def test_refusals_name_the_problem(make_client: MakeClient) -> None:
    c = await make_client()
    sid = await new_session(c)
    async with c.ws_connect(WS) as ws:
        for payload, message in (
            ({"replayId": "RPL-0000000000000000"}, "Replay session RPL-0000000000000000 not found"),
            ({"replayId": sid, "resolution": "7X"}, "Unsupported resolution: 7X"),
            ({"replayId": ""}, "replayId must not be empty"),
        ):
            reply, _ = await request(ws, "replay.subscribe", payload)
            assert reply["payload"]["status"] == "error"
            assert reply["payload"]["message"] == message
        reply, _ = await request(ws, "replay.subscribe", {"resolution": "1"})
        assert reply["payload"]["message"] == "Invalid payload: replayId: Field required"
        # any advertised resolution, daily included
        _, daily = await subscribe(ws, "replay", {"replayId": sid, "resolution": "1D"})
        update = daily[0]["payload"]["payload"]
        assert update["resolution"] == "1D"
        assert symbol(update, "AAPL")["forming"] == (await rest_bars(c, sid, "AAPL", "1D"))[-1]


@pytest.mark.trading_settings(auth="keys", admin_key=ADMIN)
async def test_keys_mode_another_users_session_is_refused_like_a_missing_one(
    make_client: MakeClient,
) -> None:
    c = await make_client()
    alice, bob = await new_user(c, "alice"), await new_user(c, "bob")
    sid = await new_session(c, alice)
    missing = "RPL-0000000000000000"
    async with c.ws_connect(WS, headers=bob) as ws:
        theirs, _ = await request(ws, "replay.subscribe", {"replayId": sid})
        nothing, _ = await request(ws, "replay.subscribe", {"replayId": missing})
        assert theirs["payload"]["status"] == nothing["payload"]["status"] == "error"
        assert str(theirs["payload"]).replace(sid, "<id>") == str(nothing["payload"]).replace(
            missing, "<id>"
        )
    async with c.ws_connect(WS) as anonymous:
        reply, _ = await request(anonymous, "replay.subscribe", {"replayId": sid})
        assert reply["payload"]["message"].startswith("Authentication required")
    # alice follows it from any of her accounts' sockets (the session is of her first)
    resp = await c.post("/api/v1/broker/accounts", json={"name": "second"}, headers=alice)
    assert resp.status == 201
    async with c.ws_connect(WS, headers=alice) as ws:
        _, snapshot = await subscribe(ws, "replay", {"replayId": sid})
        assert snapshot[0]["payload"]["payload"]["session"]["id"] == sid


async def test_one_store_read_and_one_computation_per_period_whatever_the_subscribers(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    """Two sessions, four sockets, three topics: one store read per period for all of them,
    and each topic's push is the same frame on every socket that holds it."""
    c = await make_client()
    first, second = await new_session(c), await new_session(c, speed=600)
    sockets = [await c.ws_connect(WS) for _ in range(4)]
    try:
        for ws in sockets[:3]:
            await subscribe(ws, "replay", {"replayId": first})
        await subscribe(sockets[2], "replay", {"replayId": first, "resolution": "5"})
        await subscribe(sockets[3], "replay", {"replayId": second})
        feed = c.app[REPLAY_FEED]
        reads = feed.reads
        await asyncio.sleep(10 * PERIOD)
        ticks = feed.reads - reads
        assert 1 <= ticks <= 11  # one read per period, not one per session or subscriber
        trading_clock.advance(1)
        got = [await drain(ws, quiet=3 * PERIOD) for ws in sockets]
        assert [len(g) for g in got] == [1, 1, 2, 1]
        assert got[0] == got[1] == got[2][:1]
        assert got[2][1]["payload"]["payload"]["resolution"] == "5"
        assert got[3][0]["payload"]["payload"]["session"]["id"] == second
    finally:
        for ws in sockets:
            await ws.close()


async def test_a_change_made_through_another_worker_reaches_the_socket_within_a_period(
    aiohttp_client: Any,
    trading_settings: Settings,
    trading_clock: ManualClock,
    redis_server: RedisServer,
) -> None:
    """Two workers on one store (and the Redis backplane, as a cluster runs them): a socket
    on A follows a session that B pauses and then ends; A shows each within a period,
    computed by A itself from the stored clock."""
    async with two_workers(
        aiohttp_client, trading_settings.replace(redis_url=redis_server.url)
    ) as (a, b):
        sid = await new_session(b)
        async with a.ws_connect(WS) as ws:
            await subscribe(ws, "replay", {"replayId": sid})
            trading_clock.advance(1)
            running = await next_update(ws)
            assert running["session"]["time"] == START + 60_000
            paused = await patch(b, sid, {"action": "pause"})
            loop = asyncio.get_running_loop()
            asked = loop.time()
            pushed = await next_update(ws)
            assert pushed["session"] == paused
            assert loop.time() - asked < PERIOD + 1.0  # a period, plus a loaded machine's slack
            trading_clock.advance(5)
            assert await drain(ws, quiet=5 * PERIOD) == []
            assert (await b.delete(f"{R}/{sid}")).status == 204
            ended = await next_update(ws)
            assert ended["ended"] is True
