"""Paper-broker wire models (rest.md §3 "Broker"). Enum values are TradingView's integers."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from trading.broker.enums import OrderStatus, OrderType, ParentType, Side, StopType
from trading.models.base import WireModel, added


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
    parentId: str | None = added(
        "Bracket orders only: the id of what it protects, its entry order's id (parentType 1) "
        "while that has not filled, then the position's (parentType 2). TradingView "
        "BracketOrderBase.parentId"
    )
    parentType: ParentType | None = added(
        "Bracket orders only: 1 the entry order (the bracket is INACTIVE until it fills), "
        "2 the position. TradingView ParentType (Trade = 3 is not used)"
    )


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


class PreOrder(WireModel):
    """An order as a client places or modifies it; rules beyond types: broker.md §2.1."""

    # Swagger UI's "try it out" body: a limit buy far below the market, so it rests (working).
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"symbol": "AAPL", "type": 1, "side": 1, "qty": 10, "limitPrice": 100.0}]
        }
    )

    symbol: str
    type: OrderType
    side: Side
    qty: float = Field(gt=0)
    limitPrice: float | None = None
    stopPrice: float | None = None
    takeProfit: float | None = Field(default=None, gt=0)
    stopLoss: float | None = Field(default=None, gt=0)
    guaranteedStop: float | None = Field(default=None, gt=0)
    trailingStopPips: float | None = Field(default=None, gt=0)
    stopType: StopType | None = None


class PlaceOrderResult(WireModel):
    orderId: str


class OrderPreviewSectionRow(WireModel):
    title: str
    value: str


class OrderPreviewSection(WireModel):
    rows: list[OrderPreviewSectionRow]
    header: str | None = None


class OrderPreviewResult(WireModel):
    sections: list[OrderPreviewSection]
    confirmId: str | None = None
    warnings: list[str] | None = None
    errors: list[str] | None = None


class Brackets(WireModel):
    stopLoss: float | None = Field(default=None, gt=0)
    guaranteedStop: float | None = Field(default=None, gt=0)
    takeProfit: float | None = Field(default=None, gt=0)
    trailingStopPips: float | None = Field(default=None, gt=0)


class Body_editPositionBrackets(WireModel):
    # Wide enough to hold on either side of any simulated price (broker.md §5).
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"brackets": {"stopLoss": 1.0, "takeProfit": 100000.0}}]}
    )

    brackets: Brackets
    customFields: CustomFields | None = None


class LeverageSetParams(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"symbol": "AAPL", "orderType": 2, "side": 1, "leverage": 2}]
        }
    )

    symbol: str
    orderType: OrderType
    side: Side
    leverage: float
    customFields: CustomFields | None = None


class LeverageInfo(WireModel):
    title: str
    leverage: float
    min: float
    max: float
    step: float


class LeverageSetResult(WireModel):
    leverage: float


class LeveragePreviewResult(WireModel):
    infos: list[str] | None = None
    warnings: list[str] | None = None
    errors: list[str] | None = None


class ClosePositionQuery(WireModel):
    amount: float | None = Field(default=None, gt=0, description="Units to close; all if absent")


class LeverageInfoQuery(WireModel):
    symbol: str
    orderType: OrderType
    side: Side
