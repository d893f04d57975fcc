"""Property tests of trading.broker.engine.Engine (broker.md §4-§6), driven directly.

The engine reads prices through a ``touch`` function; here it returns scripted :class:`Touch`
values (integer ticks) per symbol and second. An independent model (exact fractions) nets the
executions and is compared with the engine after every step.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.brokerkit import SoloLoop
from trading.broker import desk
from trading.broker.engine import Engine
from trading.broker.enums import OrderStatus, OrderType, ParentType, Side
from trading.broker.errors import BrokerError, RuleViolations, UnknownPosition
from trading.broker.requests import BracketRequest, OrderRequest
from trading.broker.state import Position
from trading.market.source import Touch
from trading.market.symbols import SymbolCatalog, SymbolSpec
from trading.testing import TEST_NOW

RATE = Decimal("0.001")
INITIAL = Decimal(10**9)  # large enough that buying power never interferes
CENT = Decimal("0.01")
SYMBOLS = ("AAPL", "MSFT")
PROPERTY = settings(max_examples=60, deadline=None)


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def cents(ticks: int) -> Decimal:
    return Decimal(ticks) / 100


@dataclass
class Tape:
    """Scripted prices: per symbol, (lp, half-spread) in ticks from a given second on."""

    prices: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)

    def set(self, symbol: str, second: int, lp: int, half: int = 0) -> None:
        self.prices.setdefault(symbol, {})[second] = (lp, half)

    def touch(self, spec: SymbolSpec, second: int) -> Touch:
        script = self.prices.get(spec.name, {})
        known = [s for s in script if s <= second]
        lp, half = script[max(known)] if known else (10_000, 0)
        return Touch(time=second, lp=lp, bid=lp - half, ask=lp + half)


def make_engine(tape: Tape, leverage: Decimal = Decimal(100)) -> Engine:
    return Engine(
        SymbolCatalog(),
        tape.touch,
        initial_balance=INITIAL,
        commission_rate=RATE,
        default_leverage=leverage,
    )


def market_order(symbol: str, side: Side, qty: int) -> OrderRequest:
    return OrderRequest(symbol=symbol, type=OrderType.MARKET, side=side, qty=Decimal(qty))


@dataclass
class Model:
    """Exact netting of broker.md §5 with fractions (no rounding of A at all)."""

    q: int = 0
    avg: Fraction = Fraction(0)
    reducing: int = 0
    """Executions that reduced, closed or flipped (k of the round-trip identity)."""

    def apply(self, s: int, x: int, p: Fraction) -> Fraction:
        """Book one execution; returns its exact realized P&L."""
        if self.q == 0 or (self.q > 0) == (s > 0):
            self.avg = (abs(self.q) * self.avg + x * p) / (abs(self.q) + x)
            self.q += s * x
            return Fraction(0)
        self.reducing += 1
        sign = 1 if self.q > 0 else -1
        r = min(x, abs(self.q)) * (p - self.avg) * sign
        if x > abs(self.q):
            self.avg = p
        self.q += s * x
        if self.q == 0:
            self.avg = Fraction(0)
        return r


class Step(NamedTuple):
    """One market order at a scripted price."""

    symbol: str
    side: Side
    qty: int
    lp: int
    """Last price in ticks (90.00 .. 110.00)."""
    half: int
    """Half-spread in ticks."""


step_strategy = st.builds(
    Step,
    symbol=st.sampled_from(SYMBOLS),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    qty=st.integers(1, 40),
    lp=st.integers(9_000, 11_000),
    half=st.integers(0, 5),
)


def check_money(engine: Engine, tape: Tape, now: float) -> None:
    """equity = balance + Σ unrealized; balance = initial + realized − commissions."""
    fills = engine.fills
    commissions = sum((round2(f.qty * f.price * RATE) for f in fills), Decimal(0))
    assert [f.commission for f in fills] == [round2(f.qty * f.price * RATE) for f in fills]
    realized = sum((f.realized for f in fills), Decimal(0))
    assert engine.account.realized == realized
    assert engine.account.balance == INITIAL + realized - commissions
    second = math.floor(now)
    unrealized = margin = Decimal(0)
    for pos in engine.positions.values():
        lp = cents(tape.touch(engine.market.spec(pos.symbol), second).lp)
        unrealized += round2((lp - pos.avg) * pos.q)
        margin += round2(abs(pos.q) * lp / engine.leverage_of(pos.symbol))
    eq = engine.equity(now)
    assert eq.balance == engine.account.balance
    assert eq.unrealized == unrealized
    assert eq.equity == eq.balance + unrealized
    assert eq.realized == realized
    assert eq.margin_used == margin


@PROPERTY
@given(st.lists(step_strategy, min_size=1, max_size=30))
def test_netting_and_money_after_any_sequence_of_fills(
    steps: list[Step],
) -> None:
    tape = Tape()
    engine = make_engine(tape)
    models = {s: Model() for s in SYMBOLS}
    now = TEST_NOW
    for symbol, side, qty, lp, half in steps:
        now += 1
        tape.set(symbol, math.floor(now), lp, half)
        order, _ = engine.place(market_order(symbol, side, qty), now)
        assert order.status is OrderStatus.FILLED
        fill = engine.fills[-1]
        # buys trade at the ask, sells at the bid
        assert fill.price == cents(lp + half if side is Side.BUY else lp - half)
        exact = models[symbol].apply(side.value, qty, Fraction(fill.price))
        # each execution books its own r rounded to cents (A kept with >= 12 decimals)
        assert abs(Fraction(fill.realized) - exact) <= Fraction(1, 200) + Fraction(1, 10**9)
        for sym, model in models.items():
            net = sum((Decimal(f.side.value) * f.qty for f in engine.fills_of(sym)), Decimal(0))
            assert net == model.q
            pos = engine.positions.get(sym)
            if model.q == 0:
                assert pos is None
            else:
                assert pos is not None
                assert pos.q == model.q
                assert abs(Fraction(pos.avg) - model.avg) < Fraction(1, 10**12)
        check_money(engine, tape, now)
    # prices move with no fill: the identities still hold
    for symbol in SYMBOLS:
        tape.set(symbol, math.floor(now) + 1, 10_123, 2)
    check_money(engine, tape, now + 1)


@PROPERTY
@given(st.lists(step_strategy, min_size=1, max_size=25), st.integers(9_000, 11_000))
def test_round_trip_realized_identity(steps: list[Step], close_at: int) -> None:
    """Flat again: realizedPL = Σ sells − Σ buys within 0.005 per reducing execution."""
    tape = Tape()
    engine = make_engine(tape)
    models = {s: Model() for s in SYMBOLS}
    now = TEST_NOW
    for symbol, side, qty, lp, half in steps:
        now += 1
        tape.set(symbol, math.floor(now), lp, half)
        engine.place(market_order(symbol, side, qty), now)
        models[symbol].apply(side.value, qty, Fraction(engine.fills[-1].price))
    now += 1
    for sym, model in models.items():  # back to flat, one closing execution per symbol
        if model.q:
            tape.set(sym, math.floor(now), close_at, 1)
            closing = Side.SELL if model.q > 0 else Side.BUY
            engine.place(market_order(sym, closing, int(abs(model.q))), now)
            model.apply(closing.value, abs(model.q), Fraction(engine.fills[-1].price))
    assert engine.positions == {}
    for sym, model in models.items():
        fills = engine.fills_of(sym)
        flow = sum((-Decimal(f.side.value) * f.qty * f.price for f in fills), Decimal(0))
        booked = sum((f.realized for f in fills), Decimal(0))
        assert abs(booked - flow) <= Decimal("0.005") * model.reducing
    check_money(engine, tape, now)


@PROPERTY
@given(
    st.sampled_from([Side.BUY, Side.SELL]),
    st.lists(st.tuples(st.integers(1, 50), st.integers(9_000, 11_000)), min_size=1, max_size=12),
    st.integers(9_000, 11_000),
)
def test_one_execution_closing_everything_books_the_exact_round_trip(
    side: Side, opens: list[tuple[int, int]], close_at: int
) -> None:
    tape = Tape()
    engine = make_engine(tape)
    now = TEST_NOW
    for qty, lp in opens:
        now += 1
        tape.set("AAPL", math.floor(now), lp)
        engine.place(market_order("AAPL", side, qty), now)
    now += 1
    tape.set("AAPL", math.floor(now), close_at)
    total = sum(q for q, _ in opens)
    engine.place(market_order("AAPL", side.opposite, total), now)
    flow = sum((-Decimal(f.side.value) * f.qty * f.price for f in engine.fills), Decimal(0))
    assert engine.account.realized == flow
    assert engine.positions == {}


@PROPERTY
@given(
    st.sampled_from([Side.BUY, Side.SELL]),
    st.sampled_from([OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT]),
    st.integers(9_500, 10_500),  # limit price, ticks
    st.integers(9_500, 10_500),  # stop price, ticks
    st.lists(st.tuples(st.integers(9_400, 10_600), st.integers(0, 3)), min_size=1, max_size=15),
)
def test_resting_orders_fill_at_the_first_marketable_second(
    side: Side,
    order_type: OrderType,
    limit: int,
    stop: int,
    path: list[tuple[int, int]],
) -> None:
    """broker.md §4: the first second that satisfies the trigger fills, at the contract price."""
    tape = Tape()
    engine = make_engine(tape)
    loop = SoloLoop(engine)
    buy = side is Side.BUY
    start = math.floor(TEST_NOW)
    for i, (lp, half) in enumerate(path):
        tape.set("AAPL", start + i, lp, half)

    expected: tuple[int, int] | None = None  # (second, fill price in ticks)
    triggered = False
    for i, (lp, half) in enumerate(path):
        bid, ask = lp - half, lp + half
        touch = ask if buy else bid
        if order_type is not OrderType.LIMIT and not triggered:
            triggered = touch >= stop if buy else touch <= stop
            if triggered and order_type is OrderType.STOP:
                expected = (start + i, touch)
                break
        acts_as_limit = order_type is OrderType.LIMIT or triggered
        if acts_as_limit and (touch <= limit if buy else touch >= limit):
            expected = (start + i, touch)
            break

    request = OrderRequest(
        symbol="AAPL", type=order_type, side=side, qty=Decimal(3),
        limit_price=cents(limit), stop_price=cents(stop),
    )  # fmt: skip
    order, _ = engine.place(request, TEST_NOW)
    for i in range(1, len(path)):
        loop.evaluate(start + i + 0.5)
    if expected is None:
        assert order.status is OrderStatus.WORKING
        assert engine.fills == []
        return
    assert order.status is OrderStatus.FILLED
    (fill,) = engine.fills
    # the acceptance check fills at the acceptance instant, later seconds at their start
    time_ms = int(TEST_NOW * 1000) if expected[0] == start else expected[0] * 1000
    assert (fill.time, fill.price) == (time_ms, cents(expected[1]))
    assert order.type is order_type  # a triggered STOP_LIMIT stays type 4


@PROPERTY
@given(
    st.integers(1, 100),  # leverage
    st.lists(st.tuples(st.sampled_from(SYMBOLS), st.integers(-60, 60)), min_size=1, max_size=8),
    st.integers(8_000, 12_000),
)
def test_buying_power_refuses_exactly_what_exceeds_available(
    leverage: int, orders: list[tuple[str, int]], lp: int
) -> None:
    """An order is accepted iff round2(increase · price / L) <= round2(available) (§6)."""
    tape = Tape()
    for sym in SYMBOLS:
        tape.set(sym, 0, lp)
    engine = Engine(
        SymbolCatalog(), tape.touch, initial_balance=Decimal(20_000), commission_rate=RATE,
        default_leverage=Decimal(leverage),
    )  # fmt: skip
    for symbol, signed in orders:
        if signed == 0:
            continue
        side = Side.BUY if signed > 0 else Side.SELL
        pos = engine.positions.get(symbol)
        q = pos.q if pos else Decimal(0)
        x = Decimal(abs(signed))
        increase = x if q == 0 or (q > 0) == (signed > 0) else max(Decimal(0), x - abs(q))
        required = round2(increase * cents(lp) / leverage)
        available = round2(engine.equity(TEST_NOW).available)
        before = len(engine.fills)
        request = market_order(symbol, side, abs(signed))
        if increase > 0 and required > available:
            message = (
                f"Insufficient buying power: required {required:.2f}, available {available:.2f}"
            )
            with pytest.raises(BrokerError, match=re.escape(message)):
                engine.place(request, TEST_NOW)
            assert len(engine.fills) == before
        else:
            engine.place(request, TEST_NOW)
            assert len(engine.fills) == before + 1


# -- bracket parent links (broker.md §14) ----------------------------------------------------


class Act(NamedTuple):
    """One random step: place (market or resting limit, with brackets), modify or cancel an
    order, edit a position's brackets, or move the market and evaluate."""

    kind: str
    symbol: str
    side: Side
    qty: int
    offset: int
    """Ticks: a limit's distance under (buy) / over (sell) the market, or the price move."""
    tp: int | None
    """Take profit distance from the entry price in ticks (None: no take profit)."""
    sl: int | None
    pick: int
    """Which order (modulo the count) a modify or cancel addresses."""


act_strategy = st.builds(
    Act,
    kind=st.sampled_from(["market", "limit", "modify", "cancel", "edit", "move", "move"]),
    symbol=st.sampled_from(SYMBOLS),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    qty=st.integers(1, 20),
    offset=st.integers(-300, 300),
    tp=st.none() | st.integers(1, 400),
    sl=st.none() | st.integers(1, 400),
    pick=st.integers(0, 50),
)


def check_links(engine: Engine) -> None:
    """Every WORKING child protects an open position (its symbol, parentType 2), on the
    opposite side, sized to it, at most one take profit and one stop each; every INACTIVE
    order is a child of a WORKING entry (parentType 1) on the entry's opposite side and
    quantity, so no child of a final entry is left INACTIVE."""
    orders = engine.orders
    roles: dict[tuple[ParentType | None, str], list[object]] = {}
    for o in orders.values():
        if o.parent is None:
            assert o.parent_type is None
            assert o.status is not OrderStatus.INACTIVE
            continue
        assert o.role is not None
        if o.status is OrderStatus.WORKING:
            assert (o.parent_type, o.parent) == (ParentType.POSITION, o.symbol)
            pos = engine.positions.get(o.symbol)
            assert pos is not None, f"{o.id} protects no open position"
            assert o.qty == abs(pos.q)
            assert o.side is (Side.SELL if pos.q > 0 else Side.BUY)
        elif o.status is OrderStatus.INACTIVE:
            assert o.parent_type is ParentType.ORDER
            entry = orders[o.parent]
            assert entry.status is OrderStatus.WORKING, f"{o.id} waits for a final {entry.id}"
            assert (o.symbol, o.side, o.qty) == (entry.symbol, entry.side.opposite, entry.qty)
        else:
            continue
        roles.setdefault((o.parent_type, o.parent), []).append(o.role)
    for found in roles.values():
        assert len(found) == len(set(found)), "one take profit and one stop at most"


@PROPERTY
@given(st.lists(act_strategy, min_size=1, max_size=30))
def test_bracket_links_hold_after_any_sequence(acts: list[Act]) -> None:
    tape = Tape()
    engine = make_engine(tape)
    loop = SoloLoop(engine)
    now = TEST_NOW
    lps = dict.fromkeys(SYMBOLS, 10_000)
    for act in acts:
        now += 1
        second = math.floor(now)
        lp = lps[act.symbol]
        buy = act.side is Side.BUY
        entry = lp - abs(act.offset) if buy else lp + abs(act.offset)
        sign = 1 if buy else -1
        tp = None if act.tp is None else cents(entry + sign * act.tp)
        sl = None if act.sl is None else cents(entry - sign * act.sl)
        request = OrderRequest(
            symbol=act.symbol, side=act.side, qty=Decimal(act.qty),
            type=OrderType.MARKET if act.kind == "market" else OrderType.LIMIT,
            limit_price=None if act.kind == "market" else cents(entry),
            take_profit=tp, stop_loss=sl,
        )  # fmt: skip
        ids = list(engine.orders)
        try:
            if act.kind == "move":
                lps[act.symbol] = max(100, lp + act.offset)
                tape.set(act.symbol, second, lps[act.symbol], 1)
                loop.evaluate(now)
            elif act.kind == "market" or (act.kind == "limit" and act.offset != 0):
                tape.set(act.symbol, second, lp)
                engine.place(request, now)
            elif act.kind == "modify" and ids:
                target = engine.orders[ids[act.pick % len(ids)]]
                if target.parent is None and target.limit_price is not None:
                    # new brackets and quantity for a resting entry, around its own price
                    e = int(target.limit_price * 100)
                    s = 1 if target.side is Side.BUY else -1
                    request = replace(
                        request, symbol=target.symbol, side=target.side,
                        limit_price=target.limit_price,
                        take_profit=None if act.tp is None else cents(e + s * act.tp),
                        stop_loss=None if act.sl is None else cents(e - s * act.sl),
                    )  # fmt: skip
                engine.modify(target.id, request, now)  # anything else: refused or a child
            elif act.kind == "cancel" and ids:
                engine.cancel(ids[act.pick % len(ids)], now)
            elif act.kind == "edit":
                engine.edit_brackets(act.symbol, BracketRequest(tp, sl), now)
        except (BrokerError, RuleViolations):
            pass  # refused: it changed nothing, the links must hold all the same
        check_links(engine)


# -- desk operations in the mix (broker.md §19) -----------------------------------------------


class Reverse(NamedTuple):
    symbol: str
    lp: int
    half: int


class Flatten(NamedTuple):
    lp: int
    half: int


class CancelAll(NamedTuple):
    symbol: str | None
    side: Side | None


class Rest(NamedTuple):
    """A limit order far from the market: it works until a cancel-all takes it."""

    symbol: str
    side: Side


desk_op = st.one_of(
    step_strategy,
    st.builds(Reverse, st.sampled_from(SYMBOLS), st.integers(9_000, 11_000), st.integers(0, 5)),
    st.builds(Flatten, st.integers(9_000, 11_000), st.integers(0, 5)),
    st.builds(
        CancelAll, st.sampled_from([None, *SYMBOLS]), st.sampled_from([None, Side.BUY, Side.SELL])
    ),
    st.builds(Rest, st.sampled_from(SYMBOLS), st.sampled_from([Side.BUY, Side.SELL])),
)


@PROPERTY
@given(st.lists(desk_op, min_size=1, max_size=30))
def test_netting_and_money_with_reverse_flatten_and_cancel_all(
    ops: list[Step | Reverse | Flatten | CancelAll | Rest],
) -> None:
    """Reverse and flatten are executions like any other (q = Σ s·x, the money identities);
    a reverse books exactly what closing at its price books and leaves −q at that price;
    flatten leaves no position and equity = balance; cancel-all cancels exactly the working
    orders that match and nothing else."""
    tape = Tape()
    engine = make_engine(tape)
    models = {s: Model() for s in SYMBOLS}
    now = TEST_NOW
    for op in ops:
        now += 1
        second = math.floor(now)
        match op:
            case Step(symbol, side, qty, lp, half):
                tape.set(symbol, second, lp, half)
                engine.place(market_order(symbol, side, qty), now)
                models[symbol].apply(side.value, qty, Fraction(engine.fills[-1].price))
            case Rest(symbol, side):
                limit = Decimal(1) if side is Side.BUY else Decimal(10**6)
                request = OrderRequest(symbol=symbol, type=OrderType.LIMIT, side=side,
                                       qty=Decimal(1), limit_price=limit)  # fmt: skip
                assert engine.place(request, now)[0].working
            case Reverse(symbol, lp, half):
                tape.set(symbol, second, lp, half)
                before = engine.positions.get(symbol)
                if before is None:
                    with pytest.raises(UnknownPosition):
                        desk.reverse(engine, symbol, now)
                    continue
                q, fills = before.q, len(engine.fills)
                closing = Position(symbol, before.q, before.avg)
                desk.reverse(engine, symbol, now)
                (fill,) = engine.fills[fills:]  # ONE execution of twice the size
                assert (fill.side, fill.qty) == (Side.SELL if q > 0 else Side.BUY, 2 * abs(q))
                assert fill.realized == closing.apply(fill.side, abs(q), fill.price)
                after = engine.positions[symbol]
                assert (after.q, after.avg) == (-q, fill.price)
                models[symbol].apply(fill.side.value, int(fill.qty), Fraction(fill.price))
            case Flatten(lp, half):
                for symbol in SYMBOLS:
                    tape.set(symbol, second, lp, half)
                opened = list(engine.positions)
                closed, _ = desk.flatten(engine, now)
                assert closed == opened
                assert engine.positions == {}
                for fill in engine.fills[len(engine.fills) - len(closed) :]:
                    models[fill.symbol].apply(fill.side.value, int(fill.qty),
                                              Fraction(fill.price))  # fmt: skip
                equity = engine.equity(now)
                assert equity.equity == equity.balance
                assert equity.margin_used == 0
            case CancelAll(symbol, side):
                working = {o.id for o in engine.working_orders()}
                expected = [
                    o.id for o in engine.working_orders()
                    if symbol in (None, o.symbol) and side in (None, o.side)
                ]  # fmt: skip
                canceled, _ = desk.cancel_all(engine, symbol, side, now)
                assert canceled == expected
                assert {o.id for o in engine.working_orders()} == working - set(expected)
        for sym, model in models.items():
            net = sum((Decimal(f.side.value) * f.qty for f in engine.fills_of(sym)), Decimal(0))
            assert net == model.q
            pos = engine.positions.get(sym)
            assert (pos.q if pos else 0) == model.q
        check_money(engine, tape, now)
