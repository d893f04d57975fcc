"""Wire models of bar-replay sessions (docs/replay.md): start one, change its clock, read it,
follow it over the WebSocket."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictBool

from trading.market.limits import MAX_REPLAY_SYMBOLS
from trading.market.replay import SPEEDS
from trading.market.resolution import INTRADAY_RESOLUTIONS
from trading.market.scenario import LATEST_MS
from trading.models.base import WireModel
from trading.models.broker import Execution
from trading.models.market import Bar, QuoteData

MAX_JUMP_MS = 366 * 86_400_000
"""Longest single jump (a leap year): a longer one is a typo; jump again to go further."""

_SPEEDS = ", ".join(map(str, SPEEDS))


class NewReplay(WireModel):
    """Start a session at ``startTime`` (epoch ms, between the history start and now)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"startTime": 1717430400000, "speed": 60, "symbols": ["AAPL"]}]
        }
    )

    startTime: int = Field(
        ge=0, le=LATEST_MS, description="Epoch milliseconds the session starts at (in the past)"
    )
    speed: int = Field(
        default=1, ge=1, description=f"Replay seconds per wall second, one of {_SPEEDS}"
    )
    symbols: list[str] = Field(
        min_length=1,
        max_length=MAX_REPLAY_SYMBOLS,
        description="The symbols the session's datafeed serves",
    )
    paused: StrictBool = Field(
        default=False, description="Start paused (else running); `true` or `false` only"
    )


class ReplayChange(WireModel):
    """One change of a session's clock: ``pause``, ``resume``, ``step`` (to the start of the
    next bar of ``resolution``, then paused), ``jump`` (forward by ``ms``), ``speed``
    (to ``speed``)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"action": "step", "resolution": "5"}]}
    )

    action: Literal["pause", "resume", "step", "jump", "speed"]
    resolution: str | None = Field(
        default=None,
        description=f"`step`: the bar to step by, one of {', '.join(INTRADAY_RESOLUTIONS)} "
        "(default `1`)",
    )
    ms: int | None = Field(
        default=None, ge=1, le=MAX_JUMP_MS, description="`jump`: milliseconds forward"
    )
    speed: int | None = Field(default=None, ge=1, description=f"`speed`: one of {_SPEEDS}")

    def missing(self) -> list[str]:
        """The fields this action needs and the body lacks."""
        needs = {"jump": "ms", "speed": "speed"}.get(self.action)
        return [needs] if needs is not None and getattr(self, needs) is None else []


class ReplaySessionState(WireModel):
    """A session as it is now."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "RPL-5f2c9e0a1b3d4c6e",
                    "accountId": "DEMO-ACCOUNT",
                    "symbols": ["AAPL"],
                    "state": "running",
                    "speed": 60,
                    "time": 1717430460000,
                    "iso": "2024-06-03T16:01:00.000Z",
                    "created": 1767000000000,
                }
            ]
        }
    )

    id: str
    accountId: str
    symbols: list[str]
    state: Literal["running", "paused"]
    speed: int
    time: int = Field(description="Replay-now, epoch milliseconds: the session's market time")
    iso: str = Field(description="The same instant in ISO 8601, UTC")
    created: int = Field(description="Wall time the session was started, epoch milliseconds")


class EquityPoint(WireModel):
    time: int = Field(description="Replay time, epoch milliseconds")
    equity: float = Field(description="The session book's equity marked at that second")


class ReplayReport(WireModel):
    """A session's results so far, from its book (docs/replay.md "The report")."""

    model_config = ConfigDict(
        serialize_by_alias=True,  # `from`: a Python keyword, so the field is `from_`
        json_schema_extra={
            "examples": [
                {
                    "id": "RPL-5f2c9e0a1b3d4c6e", "from": 1717430400000, "to": 1717434000000,
                    "initialBalance": 100000.0, "balance": 100097.9, "equity": 100097.9,
                    "realizedPL": 100.0, "unrealizedPL": 0.0, "commissions": 2.1,
                    "trades": [
                        {"symbol": "AAPL", "price": 100.0, "qty": 10.0, "side": 1,
                         "time": 1717430460000, "id": "EXEC-1", "orderId": "ORDER-1",
                         "commission": 1.0, "netAmount": -1001.0},
                        {"symbol": "AAPL", "price": 110.0, "qty": 10.0, "side": -1,
                         "time": 1717432200000, "id": "EXEC-2", "orderId": "ORDER-2",
                         "commission": 1.1, "netAmount": 1098.9},
                    ],
                    "closingTrades": 1, "wins": 1, "losses": 0, "winRate": 1.0,
                    "maxDrawdown": 1.0, "maxDrawdownPct": 0.00001,
                    "equityCurve": [
                        {"time": 1717430400000, "equity": 100000.0},
                        {"time": 1717430460000, "equity": 99999.0},
                        {"time": 1717432200000, "equity": 100097.9},
                        {"time": 1717434000000, "equity": 100097.9},
                    ],
                }
            ]
        }
    )  # fmt: skip

    id: str = Field(description="The session (and its book's account id)")
    from_: int = Field(alias="from", description="The session's start, epoch milliseconds")
    to: int = Field(description="Replay-now, epoch milliseconds: the report is as of it")
    initialBalance: float
    balance: float = Field(description="`initialBalance + realizedPL − commissions`")
    equity: float = Field(description="`balance + unrealizedPL` at replay-now")
    realizedPL: float
    unrealizedPL: float = Field(description="Open positions marked at replay-now's last price")
    commissions: float
    trades: list[Execution] = Field(description="Every execution of the session, in order")
    closingTrades: int = Field(description="Executions that reduced, closed or flipped a position")
    wins: int = Field(description="Closing trades that realized more than 0")
    losses: int = Field(description="Closing trades that realized less than 0")
    winRate: float | None = Field(
        description="`wins / closingTrades`, 0..1; null without a closing trade"
    )
    maxDrawdown: float = Field(
        description="Largest fall of `equityCurve` from a peak to a later point (≥ 0)"
    )
    maxDrawdownPct: float = Field(description="That fall as a fraction of its peak, 0..1")
    equityCurve: list[EquityPoint] = Field(
        description="The start, every fill and regular samples, then replay-now "
        "(at most TRADING_REPLAY_REPORT_POINTS points)"
    )


class ReplayPath(WireModel):
    replay_id: str = Field(description="A session id of the caller's account (`RPL-…`)")


class ReplaySymbolUpdate(WireModel):
    """One symbol of a ``replay`` push, as of the session's replay-now."""

    symbol: str
    bars: list[Bar] = Field(
        description="Bars completed since the previous push of the topic, oldest first, at "
        "most TRADING_REPLAY_PUSH_MAX_BARS (the latest); none in the snapshot (the session's "
        "history routes list them). A bar already received may come again: match by `time`"
    )
    truncated: bool = Field(
        description="More bars completed than `bars` holds (a jump, a fast session): fetch "
        "the gap from the session's `/udf/history` or `/datafeed/bars`"
    )
    forming: Bar | None = Field(
        description="The bar forming at replay-now (null: an imported symbol, whose bars "
        "appear once over, or a symbol without this resolution)"
    )
    quote: QuoteData = Field(description="The quote at replay-now")


class ReplayUpdate(WireModel):
    """A ``replay`` push: the session now, and its symbols' bars and quotes at replay-now."""

    session: ReplaySessionState
    resolution: str
    ended: bool = Field(
        description="The session was ended (deleted): the last push of the topic, no symbols"
    )
    symbols: list[ReplaySymbolUpdate]
