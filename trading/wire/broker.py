"""Broker wire shapes, built in one place for REST and the WebSocket (rest.md §3).

Decimals become floats here: prices on the tick grid, average prices with at most 8 decimals.
"""

from __future__ import annotations

from decimal import Decimal

from trading.broker.instrument import Instrument
from trading.broker.margin import Margin
from trading.broker.money import to_decimal
from trading.broker.preview import LeveragePreview, Preview
from trading.broker.requests import BracketRequest, OrderRequest
from trading.broker.state import Equity, Fill, Order, Position
from trading.models.broker import (
    Brackets,
    EquityData,
    Execution,
    InstrumentInfo,
    LeveragePreviewResult,
    MarginData,
    OrderPreviewResult,
    OrderPreviewSection,
    OrderPreviewSectionRow,
    PlacedOrder,
    PositionPL,
    PreOrder,
    QuantityInfo,
)
from trading.models.broker import Position as PositionModel


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _d(value: float | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


# -- requests: wire → domain ------------------------------------------------------------------


def order_request(pre: PreOrder) -> OrderRequest:
    """A ``PreOrder`` as the broker's request: each float as the decimal the client typed."""
    return OrderRequest(
        symbol=pre.symbol, type=pre.type, side=pre.side, qty=to_decimal(pre.qty),
        limit_price=_d(pre.limitPrice), stop_price=_d(pre.stopPrice),
        take_profit=_d(pre.takeProfit), stop_loss=_d(pre.stopLoss),
        guaranteed_stop=_d(pre.guaranteedStop), trailing_stop_pips=_d(pre.trailingStopPips),
        stop_type=pre.stopType,
    )  # fmt: skip


def bracket_request(b: Brackets) -> BracketRequest:
    return BracketRequest(
        take_profit=_d(b.takeProfit), stop_loss=_d(b.stopLoss),
        guaranteed_stop=_d(b.guaranteedStop), trailing_stop_pips=_d(b.trailingStopPips),
    )  # fmt: skip


# -- state: domain → wire ---------------------------------------------------------------------


def placed_order(o: Order) -> PlacedOrder:
    return PlacedOrder(
        id=o.id,
        symbol=o.symbol,
        type=o.type,
        side=o.side,
        qty=float(o.qty),
        status=o.status,
        limitPrice=_f(o.limit_price),
        stopPrice=_f(o.stop_price),
        takeProfit=_f(o.take_profit),
        stopLoss=_f(o.stop_loss),
        guaranteedStop=_f(o.guaranteed_stop),
        trailingStopPips=_f(o.trailing_stop_pips),
        stopType=o.stop_type,
        filledQty=float(o.filled_qty),
        avgPrice=_f(o.avg_price),
        updateTime=o.update_time,
    )


def position(p: Position) -> PositionModel:
    return PositionModel(
        id=p.symbol, symbol=p.symbol, qty=float(abs(p.q)), side=p.side,
        avgPrice=float(round(p.avg, 8)),
    )  # fmt: skip


def execution(f: Fill) -> Execution:
    return Execution(symbol=f.symbol, price=float(f.price), qty=float(f.qty), side=f.side,
                     time=f.time)  # fmt: skip


def equity(e: Equity) -> EquityData:
    return EquityData(
        equity=float(e.equity), balance=float(e.balance), unrealizedPL=float(e.unrealized),
        realizedPL=float(e.realized),
    )  # fmt: skip


def order_preview(p: Preview) -> OrderPreviewResult:
    return OrderPreviewResult(
        sections=[
            OrderPreviewSection(
                header=header, rows=[OrderPreviewSectionRow(title=t, value=v) for t, v in rows]
            )
            for header, rows in p.sections
        ],
        confirmId=p.confirm_id,
        warnings=p.warnings or None,
        errors=p.errors or None,
    )


def leverage_preview(p: LeveragePreview) -> LeveragePreviewResult:
    return LeveragePreviewResult(
        infos=p.infos or None, warnings=p.warnings or None, errors=p.errors or None
    )


def instrument_info(i: Instrument) -> InstrumentInfo:
    return InstrumentInfo(
        symbol=i.symbol, description=i.description,
        qty=QuantityInfo(min=float(i.qty_min), max=float(i.qty_max), step=float(i.qty_step),
                         default=float(i.qty_default)),
        minTick=float(i.min_tick), pipSize=float(i.pip_size), pipValue=float(i.pip_value),
        leverage=float(i.leverage), marginRate=float(i.margin_rate), currency=i.currency,
        allowedOrderTypes=list(i.order_types), allowedDurations=[d.value for d in i.durations],
    )  # fmt: skip


def margin(m: Margin) -> MarginData:
    return MarginData(
        marginUsed=float(m.used), marginAvailable=float(m.available),
        buyingPower=float(m.buying_power), leverage=float(m.leverage),
    )  # fmt: skip


def position_pl(position_id: str, pl: Decimal) -> PositionPL:
    return PositionPL(id=position_id, pl=float(pl))
