"""Paper-broker wire models (rest.md §3 "Broker"). Enum values are TradingView's integers."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from pydantic import Field

from trading.models.base import WireModel


class Side(IntEnum):
    BUY = 1
    SELL = -1


class OrderType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP = 3
    STOP_LIMIT = 4


class OrderStatus(IntEnum):
    CANCELED = 1
    FILLED = 2
    INACTIVE = 3
    PLACING = 4
    REJECTED = 5
    WORKING = 6


class StopType(IntEnum):
    STOP_LOSS = 0
    TRAILING_STOP = 1
    GUARANTEED_STOP = 2


class PlacedOrder(WireModel):
    id: str
    symbol: str
    type: OrderType
    side: Side
    qty: float = Field(gt=0)
    status: OrderStatus
    limitPrice: float | None = None
    stopPrice: float | None = None
    takeProfit: float | None = None
    stopLoss: float | None = None
    guaranteedStop: float | None = None
    trailingStopPips: float | None = None
    stopType: StopType | None = None
    filledQty: float | None = None
    avgPrice: float | None = None
    updateTime: int | None = Field(default=None, description="Epoch milliseconds")


class Position(WireModel):
    id: str
    symbol: str
    qty: float = Field(ge=0, description="0 only in the WebSocket update announcing a close")
    side: Side
    avgPrice: float


class Execution(WireModel):
    symbol: str
    price: float
    qty: float = Field(gt=0)
    side: Side
    time: int = Field(description="Epoch milliseconds")


class EquityData(WireModel):
    equity: float
    balance: float
    unrealizedPL: float
    realizedPL: float


class AccountMetainfo(WireModel):
    id: str
    name: str


class SuccessResponse(WireModel):
    success: bool = True
    message: str = "Operation completed successfully"


class BrokerConnectionStatus(WireModel):
    """TradingView ``ConnectionStatus``: 1 connected, 3 disconnected."""

    status: int
    message: str | None = None
    disconnectType: int | None = None
    timestamp: int = Field(description="Epoch milliseconds")


CustomFields = dict[str, Any]
