"""``GET /api/v1/replay/{id}/report`` on the real app (docs/replay.md "The report"): a session
without a book answers the empty report (nothing traded, a flat curve at the initial
balance), the curve honours ``TRADING_REPLAY_REPORT_POINTS``, the report starts at the
session's start however its clock moved since, and another account's session answers 404
exactly as a missing one. The figures of a traded book are tested on the pure computation
(tests/test_replay_report_units.py); the answers here are checked against the OpenAPI
document by tests/conftest.py.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests import brokerkit
from tests.brokerkit import Client, MakeClient
from tests.test_replay import ADMIN, START, call, new_user, start
from trading.broker import migrations
from trading.broker.accounts import DEFAULT_ACCOUNT
from trading.broker.enums import Side
from trading.broker.errors import UnknownAccount
from trading.broker.report import session_report
from trading.broker.sqlite_file import migrate
from trading.clock import ManualClock
from trading.keys import BROKER
from trading.settings import Settings, SettingsError
from trading.wire.replay import report as wire_report


async def report(c: Client, sid: str, **headers: str) -> tuple[int, Any]:
    status, body = await call(c, "GET", f"/{sid}/report", None, **headers)
    return status, body


async def test_a_session_without_trades_reports_nothing_traded_and_a_flat_curve(
    make_client: MakeClient, trading_settings: Settings
) -> None:
    c = await make_client()
    sid = (await start(c, paused=True))["id"]
    status, body = await report(c, sid)
    assert status == 200, body
    balance = trading_settings.initial_balance
    assert body == {
        "id": sid, "from": START, "to": START, "initialBalance": balance, "balance": balance,
        "equity": balance, "realizedPL": 0.0, "unrealizedPL": 0.0, "commissions": 0.0,
        "trades": [], "closingTrades": 0, "wins": 0, "losses": 0, "winRate": None,
        "maxDrawdown": 0.0, "maxDrawdownPct": 0.0,
        # the start and replay-now, the same instant
        "equityCurve": [{"time": START, "equity": balance}, {"time": START, "equity": balance}],
    }  # fmt: skip


@pytest.mark.trading_settings(replay_report_points=5)
async def test_the_curve_has_at_most_the_configured_points_from_the_start_to_replay_now(
    make_client: MakeClient, trading_clock: ManualClock, trading_settings: Settings
) -> None:
    """Ten wall seconds at 60x: 10 replay minutes, sampled every whole 3 minutes (5 points); after
    a jump the report still starts at the session's start (the clock's anchor moved)."""
    c = await make_client()
    sid = (await start(c))["id"]
    trading_clock.advance(10)
    status, body = await report(c, sid)
    assert status == 200, body
    balance = trading_settings.initial_balance
    assert (body["from"], body["to"]) == (START, START + 600_000)
    # a 2.5-minute step rounds up to 3 whole minutes, on minute starts
    minute = START - START % 60_000
    times = [START, minute + 180_000, minute + 360_000, minute + 540_000, START + 600_000]
    assert body["equityCurve"] == [{"time": t, "equity": balance} for t in times]
    await call(c, "PATCH", f"/{sid}", {"action": "jump", "ms": 3_600_000})
    await c.close()
    again = await make_client()  # a restart: the start is stored with the session
    status, body = await report(again, sid)
    assert (status, body["from"]) == (200, START)
    assert body["to"] > START + 3_600_000
    assert len(body["equityCurve"]) == 5


async def test_a_missing_or_ended_session_has_no_report(make_client: MakeClient) -> None:
    c = await make_client()
    sid = (await start(c))["id"]
    assert (await call(c, "DELETE", f"/{sid}"))[0] == 204
    for gone in (sid, "RPL-0000000000000000"):
        status, body = await report(c, gone)
        assert (status, body["detail"]) == (404, f"Replay session {gone} not found")


@pytest.mark.trading_settings(auth="keys", admin_key=ADMIN)
async def test_another_accounts_report_answers_like_a_missing_one(
    make_client: MakeClient,
) -> None:
    c = await make_client()
    alice, bob = await new_user(c, "alice"), await new_user(c, "bob")
    status, mine = await call(c, "POST", "", {"startTime": START, "symbols": ["AAPL"]}, **alice)
    assert status == 201
    sid, missing = mine["id"], "RPL-0000000000000000"
    assert (await report(c, sid))[0] == 401  # no credentials
    theirs, nothing = await report(c, sid, **bob), await report(c, missing, **bob)
    assert theirs[0] == nothing[0] == 404
    assert str(theirs[1]).replace(sid, "<id>") == str(nothing[1]).replace(missing, "<id>")
    resp = await c.post("/api/v1/broker/accounts", json={"name": "second"}, headers=alice)
    second = (await resp.json())["id"]
    assert (await report(c, sid, **alice, **{"X-Account-Id": second}))[0] == 404
    status, body = await report(c, sid, **alice)
    assert (status, body["id"], body["trades"]) == (200, sid, [])


async def test_a_books_record_reports_what_the_book_shows(
    make_client: MakeClient, trading_clock: ManualClock
) -> None:
    """``book_record`` of a traded account (DEMO-ACCOUNT here: no session has a book in this
    landing) reported at now gives the equity, balance and P&L GET /equity answers, and the
    executions GET /executions answers; an account that does not exist is UnknownAccount."""
    c = await make_client(market_factory=brokerkit.scripted, commission_rate=0.001)
    brokerkit.market(c).set_price("AAPL", 200)
    start_ms = round(trading_clock.now() * 1000)
    await brokerkit.place(c, brokerkit.market_order(Side.BUY, 10))
    await brokerkit.step(c, trading_clock, 210)
    await brokerkit.place(c, brokerkit.market_order(Side.SELL, 4))
    await brokerkit.step(c, trading_clock, 190)
    record = await c.app[BROKER].book_record(DEFAULT_ACCOUNT)
    now_ms = round(trading_clock.now() * 1000)
    found = wire_report(
        "RPL-x", session_report(record.initial_balance, record.fills, start_ms, now_ms,
                                record.prices, 50),
    ).model_dump(by_alias=True)  # fmt: skip
    equity = await brokerkit.get(c, "/equity")
    assert (found["equity"], found["balance"]) == (equity["equity"], equity["balance"])
    assert (found["realizedPL"], found["unrealizedPL"]) == (
        equity["realizedPL"], equity["unrealizedPL"],
    )  # fmt: skip
    assert found["unrealizedPL"] < 0  # 6 long, bought above 190
    assert found["trades"] == await brokerkit.get(c, "/executions/AAPL")
    assert (found["closingTrades"], found["wins"], found["winRate"]) == (1, 1, 1.0)
    assert found["equityCurve"][-1] == {"time": now_ms, "equity": equity["equity"]}
    with pytest.raises(UnknownAccount):
        await c.app[BROKER].book_record("RPL-0000000000000000")


# -- the setting and the stored start ------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "5001", "many"])
def test_the_point_budget_is_validated(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"TRADING_REPLAY_REPORT_POINTS": value})
    message = str(caught.value)
    assert message.startswith("TRADING_REPLAY_REPORT_POINTS"), message
    assert ("2 <= value <= 5000" if value.isdigit() else "integer") in message, message


def test_the_point_budget_defaults_to_500_and_takes_its_bounds() -> None:
    assert Settings.from_env({}).replay_report_points == 500
    for value in (2, 5000):
        env = {"TRADING_REPLAY_REPORT_POINTS": str(value)}
        assert Settings.from_env(env).replay_report_points == value


def test_a_session_stored_before_the_start_was_kept_starts_at_its_anchor(tmp_path: Path) -> None:
    """The migration that adds ``start_time`` gives an older session its last anchor (the
    best known instant: its start unless its clock was changed)."""
    db = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    before = migrations.MIGRATIONS.index(
        next(m for m in migrations.MIGRATIONS if "start_time" in m)
    )
    db.execute("PRAGMA user_version = 0")
    for script in migrations.MIGRATIONS[:before]:
        db.executescript(script)
    db.execute(f"PRAGMA user_version = {before}")
    db.execute(
        "INSERT INTO replay_sessions (id, account, symbols, created, speed, state, anchor_wall, "
        "anchor_replay, version) VALUES ('RPL-1', 'DEMO-ACCOUNT', '[\"AAPL\"]', 5, 60, "
        "'paused', 5, 1234, 0)"
    )
    migrate(db, Decimal(100_000))
    assert db.execute("SELECT start_time FROM replay_sessions").fetchone() == (1234,)
