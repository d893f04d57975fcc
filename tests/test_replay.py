"""Bar replay, first landing (issue 17, docs/replay.md): a session's clock, its REST control,
its persistence and account isolation, and its market as of replay-now with no bar or quote
of a later second.

The clock's rules are property-tested on the pure :class:`ReplayClock`; everything else is
black box on the real app (aiohttp's test client, its answers checked against the OpenAPI
document by tests/conftest.py), with the market's manual clock standing for the wall clock.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.brokerkit import Client, MakeClient, two_workers
from tests.history_sample import minute_rows, write_csv
from tests.historykit import import_bars
from tests.realservers import RedisServer
from trading.clock import ManualClock
from trading.market.replay import SPEEDS, ReplayClock, ReplayError, ReplayState
from trading.market.resolution import ny_day_start
from trading.market.series import SyntheticMarket
from trading.settings import Settings
from trading.testing import TEST_NOW

R = "/api/v1/replay"
NOW_MS = math.floor(TEST_NOW * 1000)
DAY_MS = 86_400_000
START = NOW_MS - 30 * DAY_MS  # a month back: 2025-09-24 12:34:56.250 UTC
ADMIN = "admin-key-for-the-replay-tests-0123456789"


# -- the clock (pure) ---------------------------------------------------------------------------

Op = tuple[str, int, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(["pause", "resume", "speed", "jump", "step", "read"]),
        st.integers(0, 120_000),  # wall ms elapsed before the operation
        st.integers(0, 10**9),  # its argument
    ),
    max_size=30,
)


def apply(clock: ReplayClock, op: str, arg: int, wall: int) -> ReplayClock:
    if op == "pause":
        return clock.pause(wall)
    if op == "resume":
        return clock.resume(wall)
    if op == "speed":
        return clock.with_speed(SPEEDS[arg % len(SPEEDS)], wall)
    if op == "jump":
        return clock.jump(arg + 1, wall)
    if op == "step":
        return clock.step(60_000 * (1, 5, 15, 30, 60)[arg % 5], wall)
    return clock


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10 * DAY_MS), st.sampled_from(SPEEDS), st.booleans(), ops)
def test_replay_now_never_decreases_and_never_passes_the_present(
    back: int, speed: int, paused: bool, sequence: list[Op]
) -> None:
    """Any sequence of operations at increasing wall times: replay-now never decreases, is
    never after the wall time, is continuous across every change (the change shows, at its
    instant, what the clock showed just before), and a paused clock stands still."""
    wall = NOW_MS
    state = ReplayState.PAUSED if paused else ReplayState.RUNNING
    clock = ReplayClock.start(wall - back, speed, wall, 0, state)
    shown = clock.now(wall)
    assert shown == wall - back
    for op, elapsed, arg in sequence:
        wall += elapsed
        before = clock.now(wall)
        assert shown <= before <= wall
        if clock.state is ReplayState.PAUSED:
            assert before == shown
        else:
            assert before == min(shown + clock.speed * elapsed, wall)
        clock = apply(clock, op, arg, wall)
        shown = clock.now(wall)
        if op in ("pause", "resume", "speed", "read"):
            assert shown == before  # continuity
        else:
            assert before <= shown <= wall
        if op in ("pause", "step"):
            assert clock.state is ReplayState.PAUSED
            assert clock.now(wall + 10**6) == shown  # paused: frozen
        if op == "resume":
            assert clock.state is ReplayState.RUNNING


@given(st.integers(0, 10**6), st.sampled_from([1, 5, 15, 30, 60]))
def test_a_step_lands_on_the_next_bar_start_and_pauses(offset: int, minutes: int) -> None:
    bar = minutes * 60_000
    start = NOW_MS - DAY_MS + offset
    clock = ReplayClock.start(start, 60, NOW_MS, 0, ReplayState.RUNNING).step(bar, NOW_MS)
    assert clock.state is ReplayState.PAUSED
    shown = clock.now(NOW_MS)
    assert shown % bar == 0
    assert start < shown <= start + bar


def test_the_clock_refuses_what_its_rules_do_not_allow() -> None:
    with pytest.raises(ReplayError, match="future") as future:
        ReplayClock.start(NOW_MS + 1, 1, NOW_MS, 0, ReplayState.RUNNING)
    assert future.value.field == "start_time"
    with pytest.raises(ReplayError, match="before the history start"):
        ReplayClock.start(5, 1, NOW_MS, 10, ReplayState.RUNNING)
    with pytest.raises(ReplayError, match="speed 7 is not one of") as speed:
        ReplayClock.start(NOW_MS, 7, NOW_MS, 0, ReplayState.RUNNING)
    assert speed.value.field == "speed"
    clock = ReplayClock.start(START, 1, NOW_MS, 0, ReplayState.RUNNING)
    with pytest.raises(ReplayError, match="forward"):
        clock.jump(0, NOW_MS)
    # a jump past the present stops at it
    assert clock.jump(365 * DAY_MS, NOW_MS).now(NOW_MS) == NOW_MS


# -- REST -------------------------------------------------------------------------------------


async def call(c: Client, method: str, path: str, body: Any = None, **headers: str) -> Any:
    resp = await c.request(method, R + path, json=body, headers=headers)
    return resp.status, (await resp.json() if resp.status != 204 else None)


async def start(c: Client, **changes: Any) -> dict[str, Any]:
    body = {"startTime": START, "speed": 60, "symbols": ["AAPL", "msft"], **changes}
    status, session = await call(c, "POST", "", body)
    assert status == 201, session
    return dict(session)


async def test_a_session_runs_pauses_steps_jumps_and_ends(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client()
    session = await start(c)
    sid = session["id"]
    assert session["accountId"] == "DEMO-ACCOUNT"
    assert session["symbols"] == ["AAPL", "MSFT"]
    assert (session["state"], session["speed"], session["time"]) == ("running", 60, START)
    assert session["iso"] == "2025-09-24T12:34:56.250Z"
    # 10 wall seconds at 60x: 10 replay minutes
    trading_clock.advance(10)
    status, now = await call(c, "GET", f"/{sid}")
    assert status == 200
    assert now["time"] == START + 600_000
    status, paused = await call(c, "PATCH", f"/{sid}", {"action": "pause"})
    assert (status, paused["state"], paused["time"]) == (200, "paused", START + 600_000)
    trading_clock.advance(30)
    assert (await call(c, "GET", f"/{sid}"))[1]["time"] == START + 600_000
    status, stepped = await call(c, "PATCH", f"/{sid}", {"action": "step", "resolution": "5"})
    five = 300_000
    assert stepped["time"] == (START + 600_000) // five * five + five
    status, jumped = await call(c, "PATCH", f"/{sid}", {"action": "jump", "ms": 3_600_000})
    assert jumped["time"] == stepped["time"] + 3_600_000
    status, fast = await call(c, "PATCH", f"/{sid}", {"action": "speed", "speed": 600})
    assert (fast["speed"], fast["state"], fast["time"]) == (600, "paused", jumped["time"])
    status, _resumed = await call(c, "PATCH", f"/{sid}", {"action": "resume"})
    trading_clock.advance(2)
    assert (await call(c, "GET", f"/{sid}"))[1]["time"] == jumped["time"] + 1_200_000
    status, listed = await call(c, "GET", "")
    assert [s["id"] for s in listed] == [sid]
    assert (await call(c, "DELETE", f"/{sid}"))[0] == 204
    for method, body in (("GET", None), ("PATCH", {"action": "pause"}), ("DELETE", None)):
        status, missing = await call(c, method, f"/{sid}", body)
        assert (status, missing["detail"]) == (404, f"Replay session {sid} not found")
    assert (await call(c, "GET", ""))[1] == []


async def test_bad_input_is_refused_naming_the_fields(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    c = await make_client()

    async def refused(method: str, path: str, body: Any) -> list[list[str]]:
        status, answer = await call(c, method, path, body)
        assert status == 422, answer
        return [item["loc"] for item in answer["detail"]]

    assert await refused("POST", "", {"speed": 60}) == [["body", "startTime"], ["body", "symbols"]]
    assert await refused("POST", "", {"startTime": START, "symbols": []}) == [["body", "symbols"]]
    base = {"startTime": START, "symbols": ["AAPL"]}
    assert await refused("POST", "", {**base, "speed": 7}) == [["body", "speed"]]
    assert await refused("POST", "", {**base, "symbols": ["NOPE"]}) == [["body", "symbols"]]
    status, future = await call(c, "POST", "", {**base, "startTime": NOW_MS + 60_000})
    assert status == 422
    assert "in the future" in future["detail"][0]["msg"]
    assert future["detail"][0]["loc"] == ["body", "startTime"]
    history_start = ny_day_start(trading_settings.history_start.toordinal()) * 1000
    status, early = await call(c, "POST", "", {**base, "startTime": history_start - 1})
    assert status == 422
    assert "before the history start" in early["detail"][0]["msg"]
    sid = (await start(c))["id"]
    path = f"/{sid}"
    assert await refused("PATCH", path, {"action": "rewind"}) == [["body", "action"]]
    assert await refused("PATCH", path, {"action": "jump"}) == [["body", "ms"]]
    assert await refused("PATCH", path, {"action": "jump", "ms": -5}) == [["body", "ms"]]
    assert await refused("PATCH", path, {"action": "speed"}) == [["body", "speed"]]
    assert await refused("PATCH", path, {"action": "speed", "speed": 6000}) == [["body", "speed"]]
    assert await refused("PATCH", path, {"action": "step", "resolution": "1D"}) == [
        ["body", "resolution"]
    ]
    # none of the refusals changed the session
    status, same = await call(c, "GET", path)
    assert (same["state"], same["speed"]) == ("running", 60)


@pytest.mark.trading_settings(replay_max_sessions=2)
async def test_the_sessions_per_account_are_limited(make_client: MakeClient) -> None:
    c = await make_client()
    first = await start(c)
    await start(c)
    status, answer = await call(c, "POST", "", {"startTime": START, "symbols": ["AAPL"]})
    assert status == 409
    assert "TRADING_REPLAY_MAX_SESSIONS" in answer["detail"]
    assert (await call(c, "DELETE", f"/{first['id']}"))[0] == 204
    await start(c)


async def test_sessions_survive_a_restart(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    c = await make_client()
    session = await start(c)
    await call(c, "PATCH", f"/{session['id']}", {"action": "jump", "ms": 1_000})
    await c.close()
    trading_clock.advance(1)
    again = await make_client()
    status, found = await call(again, "GET", f"/{session['id']}")
    assert status == 200
    assert found["time"] == START + 1_000 + 60_000  # the stored anchor, then one second at 60x
    assert found["symbols"] == session["symbols"]


# -- keys mode: a session is its account's ----------------------------------------------------


async def new_user(c: Client, name: str) -> dict[str, str]:
    resp = await c.post(
        "/api/v1/admin/users", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert resp.status == 201, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['key']}"}


@pytest.mark.trading_settings(auth="keys", admin_key=ADMIN)
async def test_another_accounts_session_answers_like_a_missing_one(
    make_client: MakeClient,
) -> None:
    c = await make_client()
    alice, bob = await new_user(c, "alice"), await new_user(c, "bob")
    assert (await call(c, "GET", ""))[0] == 401  # no credentials: no sessions at all
    body = {"startTime": START, "symbols": ["AAPL"]}
    status, mine = await call(c, "POST", "", body, **alice)
    assert status == 201
    sid, missing = mine["id"], "RPL-0000000000000000"
    for method, suffix, payload in (
        ("GET", "", None), ("PATCH", "", {"action": "pause"}), ("DELETE", "", None),
        ("GET", "/udf/time", None), ("GET", "/udf/config", None),
    ):  # fmt: skip
        theirs = await call(c, method, f"/{sid}{suffix}", payload, **bob)
        nothing = await call(c, method, f"/{missing}{suffix}", payload, **bob)
        assert theirs[0] == nothing[0] == 404
        assert str(theirs[1]).replace(sid, "<id>") == str(nothing[1]).replace(missing, "<id>")
    assert (await call(c, "GET", "", None, **bob))[1] == []
    # alice's other account (X-Account-Id) does not see it either
    resp = await c.post("/api/v1/broker/accounts", json={"name": "second"}, headers=alice)
    second = (await resp.json())["id"]
    assert (await call(c, "GET", f"/{sid}", None, **alice, **{"X-Account-Id": second}))[0] == 404
    status, still = await call(c, "GET", f"/{sid}", None, **alice)
    assert (status, still["state"]) == (200, "running")


# -- the market at replay-now: no peeking ------------------------------------------------------


def bar_times_s(body: dict[str, Any]) -> list[int]:
    return [b["time"] // 1000 for b in body["bars"]]


async def test_the_session_datafeed_is_the_market_as_of_replay_now(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    """Bars and quotes of the session are exactly those of a market whose clock shows
    replay-now (the synthetic series is a function of time), and end there."""
    c = await make_client()
    session = await start(c, paused=True)
    sid = session["id"]
    now_s = math.floor(START / 1000)
    then = SyntheticMarket(
        trading_settings.replace(clock=ManualClock(START / 1000)).market_config()
    )
    spec = then.catalog.lookup("AAPL")
    assert spec is not None
    for resolution in ("1", "5", "60", "1D"):
        resp = await c.get(
            f"{R}/{sid}/datafeed/bars",
            params={"symbol": "AAPL", "resolution": resolution, "from_time": 0,
                    "to_time": 4_000_000_000_000, "count_back": 300},
        )  # fmt: skip
        body = await resp.json()
        assert resp.status == 200, body
        expected = then.history(spec, parse(resolution), 0, 4_000_000_000, 300)
        assert bar_times_s(body) == expected.bars.time.tolist()
        assert [b["close"] for b in body["bars"]] == expected.bars.prices(
            expected.bars.close
        ).tolist()
        assert max(bar_times_s(body)) <= now_s
    udf = await c.get(f"{R}/{sid}/udf/quotes", params={"symbols": "AAPL"})
    quote = (await udf.json())["d"][0]["v"]
    assert quote["lp"] == then.quote(spec).lp
    time_resp = await c.get(f"{R}/{sid}/udf/time")
    assert await time_resp.text() == str(now_s)
    # only the session's symbols
    nvda = await c.get(f"{R}/{sid}/udf/symbols", params={"symbol": "NVDA"})
    assert (await nvda.json()) == {"s": "error", "errmsg": "unknown_symbol"}
    config = await (await c.get(f"{R}/{sid}/udf/config")).json()
    assert config["supported_resolutions"]
    assert config["supports_search"] is True  # so the stock adapter searches, here:
    found = await (await c.get(f"{R}/{sid}/udf/search", params={"query": ""})).json()
    assert [r["symbol"] for r in found] == ["AAPL", "MSFT"]


def parse(resolution: str) -> Any:
    from trading.market.resolution import parse_resolution

    return parse_resolution(resolution)


async def test_no_bar_or_quote_after_replay_now_over_random_session_states(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    """Random sessions (start, speed, jumps, steps, wall time passing), random queries of
    both shapes at every resolution: never a bar labelled after replay-now, and the forming
    bar is the series' at replay-now (its close is the quote's last price)."""
    c = await make_client()
    rng = random.Random(17)
    sessions = [
        await start(
            c,
            startTime=NOW_MS - rng.randrange(1, 200) * DAY_MS,
            speed=rng.choice(SPEEDS),
            symbols=["AAPL"],
        )
        for _ in range(3)
    ]
    for _ in range(40):
        s = rng.choice(sessions)
        move = rng.choice(["wall", "jump", "step", "none"])
        if move == "wall":
            trading_clock.advance(rng.uniform(0, 90))
        elif move == "jump":
            await call(c, "PATCH", f"/{s['id']}", {"action": "jump", "ms": rng.randrange(1, 10**8)})
        elif move == "step":
            await call(c, "PATCH", f"/{s['id']}", {"action": "step", "resolution": "15"})
        resolution = rng.choice(["1", "5", "15", "30", "60", "1D", "1W", "1M"])
        state = (await call(c, "GET", f"/{s['id']}"))[1]
        now_s = state["time"] // 1000
        to = now_s + rng.randrange(0, 10 * 86_400)  # asking beyond replay-now
        span = (3 if parse(resolution).is_intraday else 400) * 86_400
        sid = s["id"]
        udf = await (await c.get(f"{R}/{sid}/udf/history", params={
            "symbol": "AAPL", "resolution": resolution, "from": now_s - span, "to": to,
        })).json()  # fmt: skip
        rest = await (await c.get(f"{R}/{sid}/datafeed/bars", params={
            "symbol": "AAPL", "resolution": resolution, "from_time": (now_s - span) * 1000,
            "to_time": to * 1000, "count_back": 50,
        })).json()  # fmt: skip
        # the manual wall clock did not move between the reads: one replay-now for all
        quote = await (await c.get(f"{R}/{sid}/udf/quotes", params={"symbols": "AAPL"})).json()
        assert udf["s"] == "ok", (state, resolution, to, span, udf)
        assert rest["bars"]
        assert udf["c"][-1] == rest["bars"][-1]["close"] == quote["d"][0]["v"]["lp"]
        times = udf["t"] + bar_times_s(rest)
        assert max(times) <= now_s, (state, resolution, max(times))


@pytest.fixture
def imported_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    rows = minute_rows()
    file = write_csv(tmp_path / "acme.csv", rows)
    run = import_bars(data, file, "--symbol", "ACME", "--session", "0930-1600",
                      "--timezone", "America/New_York")  # fmt: skip
    assert run.code == 0, run.err
    return data


async def test_an_imported_symbol_shows_only_bars_over_by_replay_now(
    make_client: MakeClient, imported_dir: Path
) -> None:
    """Imported bars cannot be cut inside: at replay-now a bar still forming is left out
    (its stored high, low and close are of later seconds), at every resolution."""
    rows = minute_rows()
    c = await make_client(data_dir=imported_dir)
    rng = random.Random(3)
    for _ in range(12):
        at_ms = (rows[rng.randrange(len(rows))].time + rng.randrange(0, 120)) * 1000
        status, session = await call(c, "POST", "", {"startTime": at_ms, "symbols": ["ACME"],
                                                     "paused": True})  # fmt: skip
        assert status == 201, session
        now_s = at_ms // 1000
        over = [r for r in rows if r.time + 60 <= now_s]
        for resolution, length in (("1", 60), ("5", 300), ("60", 3600), ("1D", None)):
            query: dict[str, str | int] = {
                "symbol": "ACME",
                "resolution": resolution,
                "from": 0,
                "to": 2 * 10**9,
            }
            resp = await c.get(f"{R}/{session['id']}/udf/history", params=query)
            body = await resp.json()
            times = body.get("t", [])
            if length is not None:
                assert all(t + length <= now_s for t in times), (resolution, now_s, times[-1:])
            else:
                assert all(t + 86_400 <= now_s for t in times)
            if resolution == "1":
                assert times == [r.time for r in over]
        quote = await (
            await c.get(f"{R}/{session['id']}/udf/quotes", params={"symbols": "ACME"})
        ).json()
        expected = over[-1].close / 100 if over else rows[0].open / 100
        assert quote["d"][0]["v"]["lp"] == expected
        await call(c, "DELETE", f"/{session['id']}")


# -- the same rule for every instant: a property of the market view itself ------------------


@pytest.fixture(scope="module")
def both_markets(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app's market (the synthetic symbols and an imported ACME) as the app builds it."""
    from trading.app import create_app
    from trading.keys import MARKET

    root = tmp_path_factory.mktemp("replay-market")
    file = write_csv(root / "acme.csv", minute_rows())
    run = import_bars(root / "data", file, "--symbol", "ACME", "--session", "0930-1600",
                      "--timezone", "America/New_York")  # fmt: skip
    assert run.code == 0, run.err
    return create_app(Settings(data_dir=root / "data", clock=ManualClock(TEST_NOW)))[MARKET]


ROWS = minute_rows()
instants = st.one_of(
    st.integers(ROWS[0].time - 86_400, ROWS[-1].time + 86_400),  # around the imported days
    st.integers(math.floor(TEST_NOW) - 400 * 86_400, math.floor(TEST_NOW)),
)


@settings(max_examples=150, deadline=None)
@given(
    instants,
    st.sampled_from(["AAPL", "ACME"]),
    st.sampled_from(["1", "5", "15", "30", "60", "1D", "1W", "1M"]),
    st.integers(0, 40 * 86_400),
    st.integers(0, 400),
)
def test_a_view_at_any_instant_holds_nothing_of_a_later_second(
    both_markets: Any, now_s: int, symbol: str, resolution: str, back: int, count_back: int
) -> None:
    """For every instant, symbol, resolution and query (including ranges past it): no bar is
    labelled after the instant; an imported bar is listed only once it is over; a synthetic
    forming bar closes at the instant's price; the quote is the instant's."""
    from trading.market.at_time import MarketAt

    market = both_markets
    view = MarketAt.of(market, market.catalog, [symbol], now_s)
    spec = view.catalog.lookup(symbol)
    assert spec is not None
    res = parse(resolution)
    history = view.history(spec, res, now_s - back, now_s + 10 * 86_400, count_back)
    times = history.bars.time.tolist()
    assert all(t <= now_s for t in times)
    touch = market.touch(spec, now_s)
    quote_lp = round(view.quote(spec).lp * spec.pricescale)
    if symbol == "ACME":
        over = [r for r in ROWS if r.time + 60 <= now_s]
        if res.is_intraday:
            assert all(t + res.seconds <= now_s for t in times)
        if resolution == "1" and count_back:
            assert times == [r.time for r in over][-count_back:]
        # the quote is the last bar over; the broker's price is on the forming bar's path
        # (docs/history.md §6), which no chart or quote shows before the bar is over
        assert quote_lp == (over[-1].close if over else ROWS[0].open)
        forming = [r for r in ROWS if r.time <= now_s < r.time + 60]
        if forming:
            assert forming[0].low <= touch.lp <= forming[0].high
        else:
            assert touch.lp == quote_lp
    else:
        assert quote_lp == touch.lp
        if times and res.is_intraday and times[-1] == now_s - now_s % res.seconds:
            assert int(history.bars.close[-1]) == touch.lp  # the forming bar, cut at the instant


async def test_two_workers_on_one_store_answer_for_the_same_session(
    aiohttp_client: Any,
    trading_settings: Settings,
    trading_clock: ManualClock,
    redis_server: RedisServer,
) -> None:
    """docs/replay.md §3: the session is the store's, not a worker's: one worker starts it,
    the other reads and changes it, the first sees the change and the other ends it."""
    async with two_workers(
        aiohttp_client, trading_settings.replace(redis_url=redis_server.url)
    ) as (a, b):
        session = await start(a)
        sid = session["id"]
        trading_clock.advance(1)
        status, seen = await call(b, "GET", f"/{sid}")
        assert (status, seen["time"]) == (200, START + 60_000)
        status, paused = await call(b, "PATCH", f"/{sid}", {"action": "pause"})
        assert paused["state"] == "paused"
        trading_clock.advance(5)
        status, again = await call(a, "GET", f"/{sid}")
        assert (again["state"], again["time"]) == ("paused", START + 60_000)
        history = await b.get(f"{R}/{sid}/udf/time")
        assert await history.text() == str((START + 60_000) // 1000)
        assert (await call(b, "DELETE", f"/{sid}"))[0] == 204
        assert (await call(a, "GET", f"/{sid}"))[0] == 404


async def test_a_page_on_another_origin_may_patch_a_session(make_client: MakeClient) -> None:
    """The preflight allows PATCH (the only route that uses it), then the change is made from
    a loopback dev server's page (a write from any other site stays refused: 403)."""
    c = await make_client()
    sid = (await start(c))["id"]
    refused = await c.patch(
        f"{R}/{sid}", json={"action": "pause"}, headers={"Origin": "http://app.example"}
    )
    assert refused.status == 403
    origin = {"Origin": "http://localhost:5173"}
    preflight = await c.options(f"{R}/{sid}", headers={
        **origin, "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "content-type",
    })  # fmt: skip
    assert preflight.status == 200
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"].split(", ")
    resp = await c.patch(f"{R}/{sid}", json={"action": "pause"}, headers=origin)
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
