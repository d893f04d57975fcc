"""Order and leverage previews (broker.md §7, §8): the texts a ticket shows before placing.

Previews never change state; every reason a placement would fail goes into ``errors``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from trading.broker.book import Book
from trading.broker.durations import duration_label, duration_rules
from trading.broker.enums import OrderType, Side
from trading.broker.errors import BrokerError
from trading.broker.margin import leverage_problem
from trading.broker.money import money, one_decimal
from trading.broker.requests import OrderRequest
from trading.broker.rules import bracket_side_rules as side_rules
from trading.broker.rules import entry_price, field_rules
from trading.market.symbols import SymbolSpec

TYPE_NAMES = {
    OrderType.MARKET: "Market",
    OrderType.LIMIT: "Limit",
    OrderType.STOP: "Stop",
    OrderType.STOP_LIMIT: "Stop Limit",
}


@dataclass
class Preview:
    sections: list[tuple[str, list[tuple[str, str]]]]
    confirm_id: str
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def order_preview(book: Book, request: OrderRequest, now: float) -> Preview:
    spec = book.catalog.lookup(request.symbol)
    order_spec, violations = field_rules(request, spec.pricescale if spec else 100)
    errors = [v.message for v in violations + duration_rules(request.duration, now)]
    entry: Decimal | None = None
    crossed: str | None = None
    if spec is None:
        errors.append(f"Symbol {request.symbol} not found")
    else:
        prices = book.prices(spec.name, math.floor(now))
        entry = entry_price(order_spec, prices.bid, prices.ask)
        crossed = _stop_already_reached(order_spec.type, order_spec.side, order_spec.stop_price,
                                        order_spec.limit_price, prices.bid,
                                        prices.ask)  # fmt: skip
        if entry is not None:
            errors += [
                v.message
                for v in side_rules(order_spec.side, entry, order_spec.take_profit,
                                    order_spec.stop_loss, order_spec.guaranteed_stop)
            ]  # fmt: skip
    if not errors and spec is not None and entry is not None:
        try:
            book.check_buying_power(spec.name, order_spec, entry, now)
        except BrokerError as exc:
            errors.append(exc.detail)

    qty = order_spec.qty
    details = [
        ("Symbol", spec.name if spec else request.symbol),
        ("Side", "Buy" if request.side is Side.BUY else "Sell"),
        ("Quantity", f"{qty:.2f}"),
        ("Order Type", TYPE_NAMES[request.type]),
    ]
    if order_spec.limit_price is not None:
        details.append(("Limit Price", money(order_spec.limit_price)))
    if order_spec.stop_price is not None:
        details.append(("Stop Price", money(order_spec.stop_price)))
    if request.duration is not None:
        details.append(("Duration", duration_label(request.duration)))
    sections = [("Order Details", details), ("Cost Analysis", _costs(book, spec, qty, entry))]
    risk = _risk(order_spec.take_profit, order_spec.stop_loss, order_spec.guaranteed_stop,
                 order_spec.trailing_stop_pips, entry, qty)  # fmt: skip
    if risk:
        sections.append(("Risk Management", risk))
    warnings = []
    if request.type is OrderType.MARKET:
        warnings.append("Market orders execute immediately at current market price")
    if qty > 1000:
        warnings.append("Large order size may experience slippage")
    if crossed is not None:
        warnings.append(crossed)
    return Preview(sections, str(uuid.uuid4()), warnings, errors)


def _stop_already_reached(
    type_: OrderType,
    side: Side,
    stop: Decimal | None,
    limit: Decimal | None,
    bid: Decimal,
    ask: Decimal,
) -> str | None:
    """The warning for a stop the market has already crossed (broker.md §4: a BUY stop triggers
    when ask >= stopPrice, a SELL stop when bid <= stopPrice), or None.

    Such an order does not wait: a STOP fills at once at the market price and a STOP_LIMIT
    works at once as a limit, which is rarely what someone placing a stop *below* the market
    (buy) or *above* it (sell) meant. Placement allows it (the contract does), so it is a
    warning, not an error."""
    if type_ not in (OrderType.STOP, OrderType.STOP_LIMIT) or stop is None:
        return None
    buy = side is Side.BUY
    reached = ask >= stop if buy else bid <= stop
    if not reached:
        return None
    where = f"at or below the ask {money(ask)}" if buy else f"at or above the bid {money(bid)}"
    if type_ is OrderType.STOP:
        outcome = "the order fills at once at the market price"
    else:
        outcome = f"the order works at once as a limit at {money(limit) if limit else 'n/a'}"
    return f"Stop price {money(stop)} is {where}: the stop is already reached and {outcome}"


def _costs(
    book: Book, spec: SymbolSpec | None, qty: Decimal, entry: Decimal | None
) -> list[tuple[str, str]]:
    titles = ("Estimated Price", "Order Value", "Commission", "Margin Required", "Total Cost")
    if spec is None or entry is None:
        return [(t, "n/a") for t in titles]
    value = qty * entry
    commission = value * book.commission_rate
    margin = value / book.leverage_of(spec.name)
    amounts = (entry, value, commission, margin, value + commission)
    return [(t, money(a)) for t, a in zip(titles, amounts, strict=True)]


def _risk(
    tp: Decimal | None,
    sl: Decimal | None,
    gs: Decimal | None,
    trailing: Decimal | None,
    entry: Decimal | None,
    qty: Decimal,
) -> list[tuple[str, str]]:
    rows = []
    if tp is not None:
        gain = f" (+{money(abs(tp - entry) * qty)})" if entry is not None else ""
        rows.append(("Take Profit", f"{money(tp)}{gain}"))
    if sl is not None:
        loss = f" (-{money(abs(sl - entry) * qty)})" if entry is not None else ""
        rows.append(("Stop Loss", f"{money(sl)}{loss}"))
    if gs is not None:
        rows.append(("Guaranteed Stop", money(gs)))
    if trailing is not None:
        rows.append(("Trailing Stop", f"{one_decimal(trailing)} pips"))
    return rows


@dataclass
class LeveragePreview:
    infos: list[str]
    warnings: list[str]
    errors: list[str]


def leverage_preview(value: Decimal) -> LeveragePreview:
    problem = leverage_problem(value)
    if problem is not None:
        return LeveragePreview([], [], [problem])
    lev = one_decimal(value)
    infos = [f"Margin requirement: {Decimal(100) / value:.2f}%"]
    if value == 1:
        infos.append("No leverage applied (1:1 ratio)")
    else:
        infos.append(
            f"With {lev}x leverage, a $1,000 investment controls ${1000 * value:,.2f} in assets"
        )
    warnings = []
    if value > 50:
        warnings.append(
            f"High leverage ({lev}x) significantly increases risk. "
            "You may lose more than your initial investment."
        )
    elif value > 20:
        warnings.append(
            f"Moderate leverage ({lev}x) increases risk. Ensure adequate risk management."
        )
    return LeveragePreview(infos, warnings, [])
