"""Paper-broker wire models (rest.md §3 "Broker"). Enum values are TradingView's integers."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from trading.broker.enums import DurationType, MessageType, OrderStatus, OrderType, Side, StopType
from trading.models.base import WireModel, added


def _none(value: Any) -> bool:
    return value is None


class OrderDuration(WireModel):
    """TradingView ``OrderDuration``: time in force (broker.md §14)."""

    type: DurationType = Field(
        description="gtc (default), day (until the end of the New York day), gtd (until "
        "`datetime`), ioc and fok (fill at placement or be canceled)"
    )
    datetime: int | None = Field(
        default=None,
        gt=0,
        exclude_if=_none,
        description="Epoch milliseconds the order expires at; required for gtd, in the future "
        "(ignored for the other types)",
    )


class OrderMessage(WireModel):
    """TradingView ``OrderOrPositionMessage``: why an order ended as it did."""

    type: MessageType
    text: str


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
    duration: OrderDuration | None = added(
        "The time in force the order was given (absent: gtc, none given); broker.md §14"
    )
    message: OrderMessage | None = added(
        "Why the order ended as it did: expired, canceled by its ioc/fok duration, rejected at "
        "fill time (absent otherwise)"
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
    duration: OrderDuration | None = Field(
        default=None,
        description="Time in force; absent: gtc on placement, the order's own on a modify",
    )


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


# -- broker configuration (GET /broker/config, rest.md §11) -----------------------------------


class OrderDurationMetaInfo(WireModel):
    """TradingView ``OrderDurationMetaInfo``: one entry of the ticket's duration menu."""

    name: str
    value: DurationType
    default: bool
    supportedOrderTypes: list[OrderType]
    hasDatePicker: bool
    hasTimePicker: bool


class BrokerConfigFlags(WireModel):
    """TradingView ``BrokerConfigFlags`` this backend states explicitly, each derived from what
    it really serves (trading/api/broker_config.py); a flag not listed keeps the library's
    default."""

    supportMarketOrders: bool
    supportLimitOrders: bool
    supportStopOrders: bool
    supportStopLimitOrders: bool
    supportOrderBrackets: bool
    supportMarketBrackets: bool
    supportAddBracketsToExistingOrder: bool
    supportModifyBrackets: bool
    supportPositionBrackets: bool
    supportStopLoss: bool
    supportTrailingStop: bool
    supportGuaranteedStop: bool
    supportModifyOrderPrice: bool
    supportEditAmount: bool
    supportModifyDuration: bool
    supportModifyOrderType: bool
    supportPositions: bool
    supportClosePosition: bool
    supportPartialClosePosition: bool
    closePositionCancelsOrders: bool
    supportReversePosition: bool
    supportNativeReversePosition: bool
    supportMultiposition: bool
    supportPositionNetting: bool
    supportExecutions: bool
    supportOrdersHistory: bool
    supportLeverage: bool
    supportLeverageButton: bool
    supportMargin: bool
    supportPLUpdate: bool
    supportPlaceOrderPreview: bool
    supportLevel2Data: bool


_ALL_TYPES = [OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT]
_FALSE_FLAGS = frozenset({
    "supportModifyOrderType", "supportReversePosition", "supportNativeReversePosition",
    "supportMultiposition", "supportPositionNetting", "supportOrdersHistory", "supportMargin",
    "supportPLUpdate", "supportLevel2Data",
})  # fmt: skip
_DURATION_NAMES = (("gtc", "GTC"), ("day", "DAY"), ("gtd", "GTD"), ("ioc", "IOC"), ("fok", "FOK"))
CONFIG_EXAMPLE: dict[str, Any] = {
    "configFlags": {name: name not in _FALSE_FLAGS for name in BrokerConfigFlags.model_fields},
    "durations": [
        {
            "name": name,
            "value": value,
            "default": value == "gtc",
            "supportedOrderTypes": [int(t) for t in _ALL_TYPES],
            "hasDatePicker": value == "gtd",
            "hasTimePicker": value == "gtd",
        }
        for value, name in _DURATION_NAMES
    ],
    "orderTypes": [int(t) for t in _ALL_TYPES],
}
"""The answer of this version (a test compares it with the route's)."""


class BrokerConfig(WireModel):
    """What a TradingView broker adapter needs to configure itself (TradingView
    ``SingleBrokerMetaInfo``: ``configFlags`` and ``durations``, plus the order types)."""

    model_config = ConfigDict(json_schema_extra={"examples": [CONFIG_EXAMPLE]})

    configFlags: BrokerConfigFlags
    durations: list[OrderDurationMetaInfo]
    orderTypes: list[OrderType] = Field(description="Order types placeOrder accepts")
