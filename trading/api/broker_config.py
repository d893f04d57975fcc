"""``GET /api/v1/broker/config``: what a TradingView broker adapter configures itself from
(rest.md §12): the duration menu, the order types and the feature flags.

Every flag is derived from what this server really serves, so none can claim a feature that is
missing: a flag about a route is true exactly when the app has that route (method and path, as
the issue names them), a flag about an order field exactly when the ``PreOrder`` model has the
field, a flag about a WebSocket feed exactly when the feed's route is registered; the few
constants are facts of the domain (netting, no partial fills, no depth), each with its reason.
The durations are :data:`trading.broker.durations.DURATIONS`, the list placement accepts.
"""

from __future__ import annotations

import re

from aiohttp import web

from trading.api.io import model_response
from trading.broker.durations import DURATIONS
from trading.broker.enums import OrderType, StopType
from trading.models.broker import (
    Brackets,
    BrokerConfig,
    BrokerConfigFlags,
    ClosePositionQuery,
    PreOrder,
)
from trading.specs.operation import operation
from trading.wire import broker as views
from trading.ws.protocol import ROUTES

routes = web.RouteTableDef()
B = "/api/v1/broker"

ORDER_TYPES = tuple(OrderType)
"""``PreOrder.type`` is this enum: every member is accepted (and fills, broker.md §4)."""


def _route_keys(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route, path parameters written ``{}`` whatever their name."""
    keys = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        keys.add((route.method, re.sub(r"\{[^}]*\}", "{}", path)))
    return keys


def config_flags(app: web.Application) -> BrokerConfigFlags:
    """The flags, each from the fact that makes it true (see the module docstring)."""
    served = _route_keys(app)

    def has(method: str, path: str) -> bool:
        return (method, B + path) in served

    order_fields = PreOrder.model_fields
    brackets = "takeProfit" in order_fields and "stopLoss" in order_fields
    modify = has("PUT", "/orders/{}")
    leverage = all(
        (
            has("GET", "/leverage/info"),
            has("PUT", "/leverage/set"),
            has("POST", "/leverage/preview"),
        )
    )
    reverse = has("POST", "/positions/{}/reverse")
    return BrokerConfigFlags(
        supportMarketOrders=OrderType.MARKET in ORDER_TYPES,
        supportLimitOrders=OrderType.LIMIT in ORDER_TYPES,
        supportStopOrders=OrderType.STOP in ORDER_TYPES,
        supportStopLimitOrders=OrderType.STOP_LIMIT in ORDER_TYPES,
        supportOrderBrackets=brackets,
        supportMarketBrackets=brackets and OrderType.MARKET in ORDER_TYPES,
        supportAddBracketsToExistingOrder=brackets and modify,
        supportModifyBrackets=brackets and modify,
        supportPositionBrackets=has("PUT", "/positions/{}/brackets"),
        supportStopLoss="stopLoss" in Brackets.model_fields,
        supportTrailingStop="trailingStopPips" in order_fields
        and StopType.TRAILING_STOP in StopType,
        supportGuaranteedStop="guaranteedStop" in order_fields,
        supportModifyOrderPrice=modify,
        supportEditAmount=modify,
        supportModifyDuration=modify and "duration" in order_fields,
        # a modify keeps the symbol, type and side (it is refused otherwise, broker.md §2)
        supportModifyOrderType=False,
        supportPositions=has("GET", "/positions"),
        supportClosePosition=has("DELETE", "/positions/{}"),
        supportPartialClosePosition=has("DELETE", "/positions/{}")
        and "amount" in ClosePositionQuery.model_fields,
        # a position that closes takes its brackets with it (broker.md §3)
        closePositionCancelsOrders=True,
        supportReversePosition=reverse,
        supportNativeReversePosition=reverse,
        # one netted position per symbol (broker.md §5): no multiposition, no individual ones
        supportMultiposition=False,
        supportPositionNetting=False,
        supportExecutions=has("GET", "/executions/{}"),
        supportOrdersHistory=has("GET", "/orders/history"),
        supportLeverage=leverage,
        supportLeverageButton=leverage,
        supportMargin="margin" in ROUTES,
        supportPLUpdate="pl" in ROUTES,
        supportPlaceOrderPreview=has("POST", "/orders/preview"),
        # no depth of market
        supportLevel2Data=False,
    )


def broker_config(app: web.Application) -> BrokerConfig:
    return BrokerConfig(
        configFlags=config_flags(app),
        durations=[views.duration_meta(d) for d in DURATIONS],
        orderTypes=list(ORDER_TYPES),
    )


@routes.get(f"{B}/config")
@operation(
    "getBrokerConfig",
    tag="broker",
    summary="Durations, order types and feature flags for a TradingView broker adapter",
    description="Read-only. `configFlags` are TradingView `BrokerConfigFlags` names, each true "
    "only when this server serves the feature; `durations` is the duration menu in "
    "TradingView's `OrderDurationMetaInfo` shape (pass it to `setDurations` or the widget's "
    "`brokerConfig.durations`); a duration's `value` is the `duration.type` an order takes.",
    responses={200: BrokerConfig},
)
async def get_broker_config(request: web.Request) -> web.Response:
    return model_response(broker_config(request.app))
