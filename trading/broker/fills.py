"""The fill path (broker.md §3-§5): evaluating working orders second by second, executing
them, and what an execution does to the position and its brackets.

The fill loop calls :func:`evaluate` on every tick; placement and modification call
:func:`try_fill` for the current second, so a marketable order fills before it is answered.
"""

from __future__ import annotations

import math
from decimal import Decimal

from trading.broker import brackets, children, durations
from trading.broker.book import Book
from trading.broker.brackets import AfterFill
from trading.broker.changes import Changes
from trading.broker.enums import MessageType, OrderStatus
from trading.broker.matching import Prices, match
from trading.broker.money import round2
from trading.broker.state import Fill, Order, OrderMessage, Position


def evaluate(book: Book, symbol: str, first: int, last: int, now: float) -> Changes:
    """Evaluate ``book``'s working orders on ``symbol`` for the seconds ``first..last`` (§4).

    The fill loop (:mod:`trading.broker.evaluator`) chooses the window, remembering the last
    second done per symbol, so a late tick replays the seconds it missed and none is
    evaluated twice; it calls this only for the accounts the working-order index says the
    window can fill (:mod:`trading.broker.working`)."""
    changes = Changes()
    scale = book.market.spec(symbol).pricescale
    trailed: dict[str, Order] = {}
    candidates: list[Order] = []
    # the candidates are rebuilt only when a fill may have made orders WORKING (brackets)
    known = -1
    for second in range(first, last + 1):
        if len(changes.fills) != known:
            known = len(changes.fills)
            candidates = [o for o in book.live() if o.symbol == symbol and o.working]
        prices = book.prices(symbol, second)
        for order in candidates:
            if not order.working or second < order.since:
                continue  # never against a second before it was placed or modified
            if durations.expired(order, second):
                durations.expire(book, order, now, changes)
                continue  # never at a second after its expiry (broker.md §18)
            if order.trailing and brackets.trail(order, prices, scale):
                trailed[order.id] = order
            try_fill(book, order, prices, second * 1000, changes, now)
    for order in trailed.values():
        if order.working:
            order.update_time = int(now * 1000)
            changes.order(order)
    return changes


def try_fill(
    book: Book, order: Order, prices: Prices, time_ms: int, changes: Changes, now: float
) -> None:
    decision = match(order, prices)
    if decision.triggers:
        order.triggered = True
        changes.orders[order.id] = order  # persisted; the status does not change
    if decision.price is not None:
        execute(book, order, decision.price, time_ms, changes, now)


def execute(
    book: Book, order: Order, price: Decimal, time_ms: int, changes: Changes, now: float
) -> None:
    """Fill ``order`` whole at ``price``: book the execution, net the position, push equity,
    then let the position's brackets follow. An entry whose margin no longer fits (the market
    moved since placement) is REJECTED instead."""
    position = book.positions.get(order.symbol) or Position(order.symbol)
    before = position.q
    problem = (
        None
        if order.parent is not None
        else book.buying_power_problem(order.symbol, order.side, order.qty, price, now)
    )
    if problem is not None:
        order.message = OrderMessage(MessageType.ERROR, f"Rejected at fill time: {problem}")
        book.set_status(order, OrderStatus.REJECTED, now, changes)
        children.cancel_of_entry(book, order, now, changes)
        return
    realized = position.apply(order.side, order.qty, price)
    commission = round2(order.qty * price * book.commission_rate)
    account = book.account
    account.realized += realized
    account.commissions += commission
    account.fill_seq += 1
    fill = Fill(account.fill_seq, order.id, order.symbol, order.side, order.qty, price, time_ms,
                commission, realized)  # fmt: skip
    book.fills.append(fill)
    changes.fill(fill)
    if position.q == 0:
        book.positions.pop(order.symbol, None)
    else:
        book.positions[order.symbol] = position
    changes.position(position)
    order.status = OrderStatus.FILLED
    order.filled_qty = order.qty
    order.avg_price = price
    order.update_time = int(now * 1000)
    changes.order(order)
    changes.equity(book.equity(now))
    _follow_position(book, order, position, before, now, changes)


def _follow_position(
    book: Book, order: Order, position: Position, before: Decimal, now: float, changes: Changes
) -> None:
    """Bracket consequences of a fill (§3, §14): OCO, resize, replace, cancel on flip; then the
    filled order's own INACTIVE children become the position's or are canceled."""
    after = position.q
    outcome = brackets.after_fill(before, after, order)
    for child in book.children(order.symbol):
        if outcome is not AfterFill.KEEP:
            book.set_status(child, OrderStatus.CANCELED, now, changes)
        elif child.qty != abs(after):
            child.qty = abs(after)
            child.update_time = int(now * 1000)
            changes.order(child)
    if outcome is AfterFill.REPLACE:
        prices = book.prices(order.symbol, math.floor(now))
        children.activate(book, order, position, prices, now, changes)
    else:
        children.cancel_of_entry(book, order, now, changes)
