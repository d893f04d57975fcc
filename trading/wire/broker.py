"""Broker wire shapes, built in one place for REST and the WebSocket (rest.md §3).

Decimals become floats here: prices on the tick grid, average prices with at most 8 decimals.
"""

from __future__ import annotations

from decimal import Decimal

from trading.broker.accounts import AccountInfo
from trading.broker.durations import DurationInfo
from trading.broker.instrument import Instrument
from trading.broker.margin import Margin
from trading.broker.money import to_decimal
from trading.broker.preview import LeveragePreview, Preview
from trading.broker.requests import BracketRequest, Duration, OrderRequest
from trading.broker.state import Equity, Fill, Order, OrderMessage, Position
from trading.models.broker import (
    AccountMetainfo,
    Brackets,
    EquityData,
    Execution,
    InstrumentInfo,
    LeveragePreviewResult,
    MarginData,
    OrderDuration,
    OrderDurationMetaInfo,
    OrderPreviewResult,
    OrderPreviewSection,
    OrderPreviewSectionRow,
    PlacedOrder,
    PositionPL,
    PreOrder,
    QuantityInfo,
)
from trading.models.broker import OrderMessage as OrderMessageModel
from trading.models.broker import Position as PositionModel


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _d(value: float | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


# -- requests: wire → domain ------------------------------------------------------------------


def account_metainfo(a: AccountInfo, *, currency: bool = True) -> AccountMetainfo:
    """TradingView ``AccountMetainfo``; ``currency=False`` for the reference's ``/account``
    answer, which has none."""
    return AccountMetainfo(id=a.id, name=a.name, currency=a.currency if currency else None)


def order_request(pre: PreOrder) -> OrderRequest:
    """A ``PreOrder`` as the broker's request: each float as the decimal the client typed."""
    return OrderRequest(
        symbol=pre.symbol, type=pre.type, side=pre.side, qty=to_decimal(pre.qty),
        limit_price=_d(pre.limitPrice), stop_price=_d(pre.stopPrice),
        take_profit=_d(pre.takeProfit), stop_loss=_d(pre.stopLoss),
        guaranteed_stop=_d(pre.guaranteedStop), trailing_stop_pips=_d(pre.trailingStopPips),
        stop_type=pre.stopType, duration=duration_request(pre.duration),
    )  # fmt: skip


def duration_request(d: OrderDuration | None) -> Duration | None:
    return None if d is None else Duration(d.type, d.datetime)


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
        parentId=o.parent,
        parentType=o.parent_type,
        duration=duration(o.duration),
        message=message(o.message),
    )


def duration(d: Duration | None) -> OrderDuration | None:
    return None if d is None else OrderDuration(type=d.type, datetime=d.datetime)


def message(m: OrderMessage | None) -> OrderMessageModel | None:
    return None if m is None else OrderMessageModel(type=m.type, text=m.text)


def duration_meta(d: DurationInfo) -> OrderDurationMetaInfo:
    return OrderDurationMetaInfo(
        name=d.name, value=d.type, default=d.default, supportedOrderTypes=list(d.order_types),
        hasDatePicker=d.date_picker, hasTimePicker=d.time_picker,
    )  # fmt: skip


def position(p: Position) -> PositionModel:
    return PositionModel(
        id=p.symbol, symbol=p.symbol, qty=float(abs(p.q)), side=p.side,
        avgPrice=float(round(p.avg, 8)),
    )  # fmt: skip


def execution_id(seq: int) -> str:
    """``EXEC-<n>``: the execution's number in the account, as stored (broker.md §17)."""
    return f"EXEC-{seq}"


def net_amount(f: Fill) -> Decimal:
    """The execution's signed cash flow: ``-side · qty · price − commission`` (broker.md §17)."""
    return -Decimal(f.side.value) * f.qty * f.price - f.commission


def execution(f: Fill) -> Execution:
    return Execution(
        symbol=f.symbol, price=float(f.price), qty=float(f.qty), side=f.side, time=f.time,
        id=execution_id(f.seq), orderId=f.order_id, commission=float(f.commission),
        netAmount=float(net_amount(f)),
    )  # fmt: skip


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
