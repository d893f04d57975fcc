"""Paper-broker wire models (rest.md §3 "Broker"). Enum values are TradingView's integers."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from trading.broker.enums import OrderStatus, OrderType, Side, StopType
from trading.models.base import WireModel


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


# -- desk operations (rest.md §11, broker.md §14) ---------------------------------------------


class QuantityInfo(WireModel):
    """TradingView ``QuantityMetainfo``: the quantities an order may have."""

    min: float
    max: float
    step: float
    default: float


class InstrumentInfo(WireModel):
    """TradingView ``InstrumentInfo``: the rules the broker enforces on a symbol's orders, so
    a ticket can validate before sending (broker.md §14)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "AAPL", "description": "Apple Inc.",
                    "qty": {"min": 1.0, "max": 1000000.0, "step": 1.0, "default": 1.0},
                    "minTick": 0.01, "pipSize": 0.01, "pipValue": 0.01, "leverage": 10.0,
                    "marginRate": 0.1, "currency": "USD", "allowedOrderTypes": [1, 2, 3, 4],
                    "allowedDurations": ["gtc"],
                }
            ]
        }
    )  # fmt: skip

    symbol: str = Field(description="The canonical symbol")
    description: str
    qty: QuantityInfo
    minTick: float = Field(description="Prices are rounded to this tick")
    pipSize: float = Field(description="One pip in price (trailingStopPips count these)")
    pipValue: float = Field(description="Account currency one pip is worth on one unit")
    leverage: float = Field(description="The symbol's leverage now")
    marginRate: float = Field(description="1 / leverage: the margin share of an order's value")
    currency: str
    allowedOrderTypes: list[OrderType]
    allowedDurations: list[str] = Field(description="Duration (time in force) types accepted")


class MarginData(WireModel):
    """The account's margin now (broker.md §14), pushed on the ``margin`` WebSocket route."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"marginUsed": 250.1, "marginAvailable": 99747.4, "buyingPower": 997474.0,
                 "leverage": 10.0}
            ]
        }
    )  # fmt: skip

    marginUsed: float = Field(description="Σ round2(|q| · lp / leverage) over open positions")
    marginAvailable: float = Field(description="round2(equity − marginUsed); may be negative")
    buyingPower: float = Field(
        description="Notional an order may still add at `leverage`: max(0, marginAvailable) · "
        "leverage"
    )
    leverage: float = Field(description="The leverage buyingPower is computed at")


class PositionPL(WireModel):
    """One position's unrealized P&L (TradingView ``plUpdate(positionId, pl)``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "AAPL", "pl": -1.0}]})

    id: str = Field(description="The position id (as in Position.id)")
    pl: float = Field(description="round2((lp − avgPrice) · signed qty)")


class MarginQuery(WireModel):
    symbol: str | None = Field(
        default=None, description="Buying power at this symbol's leverage; the default if absent"
    )


class CancelOrdersQuery(WireModel):
    symbol: str | None = Field(default=None, description="Only this symbol's orders")
    side: Side | None = Field(default=None, description="Only orders on this side")


class CanceledOrders(WireModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"canceled": ["ORDER-3", "ORDER-4"]}]}
    )

    canceled: list[str] = Field(description="Ids of the orders canceled, creation order")


class ClosedPositions(WireModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"closed": ["MSFT", "AAPL"]}]})

    closed: list[str] = Field(description="Ids of the positions closed, in the order opened")
