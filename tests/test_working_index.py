"""The fill loop over many accounts (broker.md §20): the working-order index only chooses which
accounts to evaluate, so the loop must fill exactly what evaluating every account would.

The property builds the same accounts twice on one scripted market, places the same random
orders (limits, stops, stop-limits, brackets, trailing stops, expiring orders), then runs the
same random ticks (with stalls) through the service's :class:`Evaluator` on one side and
through a brute-force loop that evaluates every account on every symbol on the other.
"""

from __future__ import annotations

import contextlib
import math
from decimal import Decimal
from typing import NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_broker_properties import Tape, cents, make_engine
from trading.broker import fills
from trading.broker.engine import Engine
from trading.broker.enums import DurationType, OrderStatus, OrderType, Side
from trading.broker.errors import BrokerError, RuleViolations
from trading.broker.evaluator import MAX_CATCH_UP_S, Evaluator
from trading.broker.requests import Duration, OrderRequest
from trading.broker.state import Order
from trading.broker.working import Window, WorkingIndex
from trading.testing import TEST_NOW

SYMBOLS = ("AAPL", "MSFT")
ACCOUNTS = ("A", "B", "C")


class Place(NamedTuple):
    account: str
    symbol: str
    side: Side
    type: OrderType
    offset: int
    """Level relative to 100.00, in ticks."""
    limit_gap: int
    brackets: bool
    trailing: bool
    good_for_s: int | None


place_strategy = st.builds(
    Place,
    account=st.sampled_from(ACCOUNTS),
    symbol=st.sampled_from(SYMBOLS),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    type=st.sampled_from([OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT]),
    offset=st.integers(-300, 300),
    limit_gap=st.integers(-50, 50),
    brackets=st.booleans(),
    trailing=st.booleans(),
    good_for_s=st.one_of(st.none(), st.integers(1, 40)),
)
path_strategy = st.lists(
    st.tuples(st.sampled_from(SYMBOLS), st.integers(9_600, 10_400), st.integers(0, 4)),
    min_size=1,
    max_size=40,
)


def request_of(p: Place, now: float) -> OrderRequest:
    level = cents(10_000 + p.offset)
    limit = level if p.type is OrderType.LIMIT else cents(10_000 + p.offset + p.limit_gap)
    sign = 1 if p.side is Side.BUY else -1
    return OrderRequest(
        symbol=p.symbol, type=p.type, side=p.side, qty=Decimal(2),
        limit_price=limit if p.type is not OrderType.STOP else None,
        stop_price=level if p.type is not OrderType.LIMIT else None,
        take_profit=(limit or level) + sign * Decimal(3) if p.brackets else None,
        stop_loss=None if not p.brackets or p.trailing else (limit or level) - sign * Decimal(3),
        trailing_stop_pips=Decimal(150) if p.brackets and p.trailing else None,
        duration=None if p.good_for_s is None
        else Duration(DurationType.GTD, int((now + p.good_for_s) * 1000)),
    )  # fmt: skip


def build(tape: Tape, places: list[Place]) -> dict[str, Engine]:
    books = {a: make_engine(tape) for a in ACCOUNTS}
    for p in places:
        with contextlib.suppress(BrokerError, RuleViolations):  # refused alike on both sides
            books[p.account].place(request_of(p, TEST_NOW), TEST_NOW)
    return books


def brute_force(books: dict[str, Engine], evaluated: dict[str, int], now: float) -> None:
    """What the loop did before the index: every account, every symbol with working orders."""
    now_s = math.floor(now)
    symbols = {o.symbol for b in books.values() for o in b.working_orders()}
    for symbol in sorted(symbols):  # the loop's order (trading/broker/evaluator.py)
        first = max(evaluated.get(symbol, now_s - 1) + 1, now_s - MAX_CATCH_UP_S)
        for book in books.values():
            fills.evaluate(book, symbol, first, now_s, now)
        evaluated[symbol] = now_s


def state(book: Engine) -> list[tuple[object, ...]]:
    def row(o: Order) -> tuple[object, ...]:
        return (o.id, o.status, o.qty, o.avg_price, o.stop_price, o.update_time, o.message)

    return [row(o) for o in book.orders.values()] + [tuple(vars(f).values()) for f in book.fills]


@settings(max_examples=80, deadline=None)
@given(st.lists(place_strategy, max_size=25), path_strategy, st.lists(st.integers(1, 6)))
def test_the_indexed_loop_fills_exactly_what_evaluating_everything_fills(
    places: list[Place], path: list[tuple[str, int, int]], gaps: list[int]
) -> None:
    tape_a, tape_b = Tape(), Tape()
    start = math.floor(TEST_NOW)
    for i, (symbol, lp, half) in enumerate(path, start=1):
        for tape in (tape_a, tape_b):
            tape.set(symbol, start + i, lp, half)
    indexed, plain = build(tape_a, places), build(tape_b, places)
    assert [state(b) for b in indexed.values()] == [state(b) for b in plain.values()]
    evaluator = Evaluator(next(iter(indexed.values())).market)
    evaluator.restore(indexed)
    evaluated: dict[str, int] = {}
    now = TEST_NOW
    for gap in [*gaps, len(path) + 2]:
        now += gap
        for account, changes in evaluator.run(indexed, now):
            evaluator.follow(account, changes)  # as the service does after the commit
        evaluator.committed()
        brute_force(plain, evaluated, now)
        for account in ACCOUNTS:
            assert state(indexed[account]) == state(plain[account]), account
    # and the index holds exactly the working orders
    expected = {(a, o.id) for a, b in indexed.items() for o in b.working_orders()}
    assert set(evaluator.index._places) == expected


def test_candidates_are_the_accounts_whose_levels_the_window_reaches() -> None:
    tape = Tape()
    book = make_engine(tape)
    index = WorkingIndex()

    def order(account: str, side: Side, kind: OrderType, level: str) -> None:
        o, _ = book.place(
            OrderRequest(
                symbol="AAPL", type=kind, side=side, qty=Decimal(1),
                limit_price=Decimal(level) if kind is OrderType.LIMIT else None,
                stop_price=Decimal(level) if kind is OrderType.STOP else None,
            ),
            TEST_NOW,
        )  # fmt: skip
        assert o.status is OrderStatus.WORKING
        index.update(account, o)

    order("buy-limit", Side.BUY, OrderType.LIMIT, "99.00")
    order("buy-stop", Side.BUY, OrderType.STOP, "101.00")
    order("sell-limit", Side.SELL, OrderType.LIMIT, "101.00")
    order("sell-stop", Side.SELL, OrderType.STOP, "99.00")
    second = math.floor(TEST_NOW) + 1

    def reached(ask: tuple[str, str], bid: tuple[str, str]) -> list[str]:
        window = Window(Decimal(ask[0]), Decimal(ask[1]), Decimal(bid[0]), Decimal(bid[1]))
        return index.candidates("AAPL", window, second)

    assert reached(("99.50", "100.50"), ("99.40", "100.40")) == []
    assert reached(("99.00", "100.00"), ("98.90", "99.90")) == ["buy-limit", "sell-stop"]
    assert reached(("100.00", "101.00"), ("99.90", "101.00")) == ["buy-stop", "sell-limit"]
    assert index.candidates("MSFT", Window(*(Decimal(1),) * 4), second) == []
    assert len(index) == 4


@settings(max_examples=60, deadline=None)
@given(st.lists(place_strategy, max_size=40), st.lists(st.integers(0, 39), max_size=10))
def test_a_rebuilt_index_equals_one_updated_order_by_order(
    places: list[Place], cancels: list[int]
) -> None:
    """Start-up sorts each list once (WorkingIndex.rebuild); it must hold what following
    every order as it was placed, filled or canceled holds."""
    books = build(Tape(), places)
    followed = WorkingIndex()
    for account, book in books.items():
        for o in book.orders.values():
            followed.update(account, o)
    for i in cancels:  # some orders stop working: the rebuild must leave them out
        account = ACCOUNTS[i % len(ACCOUNTS)]
        working = list(books[account].working_orders())
        if working:
            with contextlib.suppress(BrokerError):
                books[account].cancel(working[i % len(working)].id, TEST_NOW)
            for o in books[account].orders.values():
                followed.update(account, o)
    rebuilt = WorkingIndex()
    for o in books["A"].orders.values():
        rebuilt.update("stale", o)  # what was indexed before is forgotten
    rebuilt.rebuild((a, o) for a, b in books.items() for o in b.orders.values())
    assert rebuilt._places == followed._places
    assert rebuilt._symbols == followed._symbols
