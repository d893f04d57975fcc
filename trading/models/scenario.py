"""Wire models of scenario control (``TRADING_CLOCK=manual``, docs/scenarios.md): the manual
clock, scripted prices and an evaluation on request."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import ConfigDict, Field, model_validator

from trading.market.scenario import LATEST_MS
from trading.market.scripted import MAX_SCRIPTED_PRICE
from trading.models.base import WireModel
from trading.models.broker import Execution, PlacedOrder, Position

MAX_ADVANCE_MS = 366 * 86_400_000
"""Longest single step of the clock (a leap year): larger jumps are typos; a long scenario
moves in several steps (the broker evaluates at most the last hour of a step anyway)."""


def _exactly_one(model: WireModel, names: tuple[str, ...]) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(names)} (got {len(given)})")


class ClockRequest(WireModel):
    """Set the manual clock to ``time``, or move it forward by ``advanceMs``: exactly one."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"advanceMs": 1000}]})

    time: int | None = Field(
        default=None,
        ge=0,
        le=LATEST_MS,
        description="Epoch milliseconds to show; not before the clock's time (409)",
    )
    advanceMs: int | None = Field(
        default=None, ge=0, le=MAX_ADVANCE_MS, description="Milliseconds to move forward"
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        _exactly_one(self, ("time", "advanceMs"))
        return self


class ClockState(WireModel):
    """The manual clock's time after the request."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"time": 1717430400000, "iso": "2024-06-03T16:00:00Z"}]}
    )

    time: int = Field(description="Epoch milliseconds the market and the broker read now")
    iso: str = Field(description="The same instant in ISO 8601, UTC")


class PriceStep(WireModel):
    time: int = Field(
        ge=0,
        le=LATEST_MS,
        description="Epoch milliseconds from which `price` holds (inside a second: from the "
        "next whole second)",
    )
    price: float = Field(gt=0, le=MAX_SCRIPTED_PRICE)


class PricesRequest(WireModel):
    """Pin ``symbol`` at ``price`` (every second), script a ``path`` of steps, or ``clear``
    its script: exactly one of the three."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"symbol": "AAPL", "price": 250.0}]})

    symbol: str = Field(min_length=1, description="A symbol of the catalogue (`AAPL`)")
    price: float | None = Field(
        default=None, gt=0, le=MAX_SCRIPTED_PRICE, description="Trade at this price, every second"
    )
    path: list[PriceStep] | None = Field(
        default=None,
        min_length=1,
        description="Steps in strictly increasing time; before the first one the synthetic "
        "series holds (at most TRADING_SCENARIO_MAX_STEPS)",
    )
    clear: Literal[True] | None = Field(
        default=None, description="`true`: back to the synthetic series"
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        _exactly_one(self, ("price", "path", "clear"))
        return self


class ScriptedStep(WireModel):
    time: int | None = Field(description="Epoch milliseconds it holds from; null: a pin")
    price: float


class PricesState(WireModel):
    """A symbol's script after the request, and its prices at the clock's time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "AAPL",
                    "time": 1717430400000,
                    "lp": 250.0,
                    "bid": 249.94,
                    "ask": 250.06,
                    "steps": [{"time": None, "price": 250.0}],
                }
            ]
        }
    )

    symbol: str = Field(description="The symbol's canonical name")
    time: int = Field(description="The clock's time (epoch ms) the prices below are of")
    lp: float
    bid: float
    ask: float
    steps: list[ScriptedStep] = Field(description="Empty: the symbol follows the series")


class AccountChanges(WireModel):
    accountId: str
    orders: list[PlacedOrder] = Field(description="Orders as the evaluation left them")
    positions: list[Position] = Field(description="Positions it opened, changed or closed")
    executions: list[Execution] = Field(description="Fills, in order")


class EvaluationResult(WireModel):
    """What one evaluation of working orders did (the same changes the WebSocket pushes)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"time": 1717430400000, "accounts": []}]}
    )

    time: int = Field(description="The clock's time (epoch ms) evaluated up to")
    accounts: list[AccountChanges] = Field(description="Only the accounts it changed")
