"""Paper-broker wire models (rest.md §3 "Broker"). Enum values are TradingView's integers."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from trading.broker.accounts import ACCOUNT_NAME_MAX
from trading.broker.enums import (
    DurationType,
    MessageType,
    OrderStatus,
    OrderType,
    ParentType,
    Side,
    StopType,
)
from trading.models.base import WireModel, added


def _none(value: Any) -> bool:
    return value is None


class OrderDuration(WireModel):
    """TradingView ``OrderDuration``: time in force (broker.md §18)."""

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
    # a take profit of a resting entry: INACTIVE until ORDER-1 fills (broker.md §14)
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": "ORDER-2", "symbol": "AAPL", "type": 1, "side": -1, "qty": 4.0,
                 "status": 3, "limitPrice": 255.0, "stopPrice": None, "takeProfit": None,
                 "stopLoss": None, "guaranteedStop": None, "trailingStopPips": None,
                 "stopType": None, "filledQty": 0.0, "avgPrice": None,
                 "updateTime": 1761300000000, "parentId": "ORDER-1", "parentType": 1}
            ]
        }
    )  # fmt: skip

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
    duration: OrderDuration | None = added(
        "The time in force the order was given (absent: gtc, none given); broker.md §18"
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
    # one buy of 10 at 250.10 with 0.1 % commission (2.50): a cash flow of −2503.50
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"symbol": "AAPL", "price": 250.1, "qty": 10.0, "side": 1, "time": 1761300000000,
                 "id": "EXEC-1", "orderId": "ORDER-1", "commission": 2.5, "netAmount": -2503.5}
            ]
        }
    )  # fmt: skip

    symbol: str
    price: float
    qty: float = Field(gt=0)
    side: Side
    time: int = Field(description="Epoch milliseconds")
    id: str | None = added(
        "TradingView `Execution.id`: `EXEC-<n>`, n the execution's number in the account "
        "(stable across restarts, never reused)"
    )
    orderId: str | None = added("TradingView `Execution.orderId`: the order that executed")
    commission: float | None = added(
        "TradingView `Execution.commission`: the commission booked on it (≥ 0)"
    )
    netAmount: float | None = added(
        "TradingView `Execution.netAmount`: its signed cash flow, commission included: "
        "`-side · qty · price − commission` (a buy is negative, a sell positive; broker.md §17)"
    )


class EquityData(WireModel):
    equity: float
    balance: float
    unrealizedPL: float
    realizedPL: float


class AccountMetainfo(WireModel):
    """TradingView ``AccountMetainfo``: one paper account (broker.md §20)."""

    id: str
    name: str
    currency: str | None = added("The account's currency (every paper account is in USD)")


class NewAccount(WireModel):
    """``POST /broker/accounts``: a new paper account of the caller (keys mode)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Swing trading", "initialBalance": 25000.0}]}
    )

    name: str | None = Field(
        None, min_length=1, max_length=ACCOUNT_NAME_MAX, description="Shown in account lists"
    )
    initialBalance: float | None = Field(
        None, gt=0, le=1e12, allow_inf_nan=False,
        description="The starting balance (default: the server's TRADING_INITIAL_BALANCE)",
    )  # fmt: skip


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


class PlaceOrderHeaders(WireModel):
    """The headers ``POST /orders`` reads (broker.md §15)."""

    idempotency_key: str | SkipJsonSchema[None] = Field(
        default=None,
        alias="Idempotency-Key",
        min_length=1,
        pattern="^[ -~]+$",
        description="Optional. A client-chosen key (printable ASCII, at most "
        "`TRADING_IDEMPOTENCY_KEY_MAX_BYTES`, default 255) naming this placement: the same key "
        "with the same order within `TRADING_IDEMPOTENCY_TTL_S` (default 24 h) answers the "
        "first placement's response again (the same `orderId`, header `Idempotent-Replayed: "
        "true`) and places nothing; with a different order it is a 422. A refused placement "
        "is not remembered.",
    )


class OrdersHistoryQuery(WireModel):
    """Query of ``GET /orders/history`` (broker.md §16)."""

    from_time: int | None = Field(
        default=None, ge=0, description="Epoch ms, inclusive: orders last updated at or after"
    )
    to_time: int | None = Field(
        default=None, ge=0, description="Epoch ms, inclusive: orders last updated at or before"
    )
    status: list[OrderStatus] | None = Field(
        default=None,
        description="Final statuses to list (2 filled, 1 canceled, 5 rejected), repeated "
        "(`status=2&status=1`) or comma-separated (`status=2,1`); all three if absent",
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        description="Orders per page: default `TRADING_ORDERS_HISTORY_LIMIT` (100), at most "
        "`TRADING_ORDERS_HISTORY_MAX_LIMIT` (500)",
    )
    cursor: str | None = Field(
        default=None,
        max_length=64,
        description="The `nextCursor` of the previous page (opaque); absent for the first page",
    )


class OrdersHistory(WireModel):
    """One page of final orders, most recently finished first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "orders": [
                        {"id": "ORDER-7", "symbol": "AAPL", "type": 2, "side": 1, "qty": 10.0,
                         "status": 2, "filledQty": 10.0, "avgPrice": 250.1,
                         "updateTime": 1767225600000}
                    ],
                    "nextCursor": "aDE6Nw",
                }
            ]
        }
    )  # fmt: skip

    orders: list[PlacedOrder]
    nextCursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page"
    )


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


# -- broker configuration (GET /broker/config, rest.md §12) -----------------------------------


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
    "supportModifyOrderType", "supportMultiposition", "supportPositionNetting",
    "supportLevel2Data",
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


# -- desk operations (rest.md §13, broker.md §19) ---------------------------------------------


class QuantityInfo(WireModel):
    """TradingView ``QuantityMetainfo``: the quantities an order may have."""

    min: float
    max: float
    step: float
    default: float


class InstrumentInfo(WireModel):
    """TradingView ``InstrumentInfo``: the rules the broker enforces on a symbol's orders, so
    a ticket can validate before sending (broker.md §19)."""

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
    """The account's margin now (broker.md §19), pushed on the ``margin`` WebSocket route."""

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
