"""What a replay session's book costs the fill loop (issue 17, docs/replay.md §5).

One tick of ``BrokerService.evaluate()`` (a manual clock moved one wall second per tick, CPU
from ``time.process_time``) with resting orders that cannot fill on every symbol of the
catalog, held (a) by the live account — the baseline: a tick covers one second — and (b) by a
running replay session's book at each speed, whose tick covers ``speed`` replayed seconds.
The session's evaluator asks the market for the extremes of those seconds
(``touch_range``: the synthetic market's minute bars), so a tick should not grow with the
speed: what it costs beyond the live tick is generating the seconds of the partial minutes at
each end of the run (~1.5 ms a minute). Runs are interleaved, repeated and the medians
printed, with their ratio to the baseline.

    .venv/bin/python scripts/bench_replay_ticks.py [--ticks 30] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from trading.app import broker_service
from trading.broker.enums import OrderType, Side
from trading.broker.replays import Replays
from trading.broker.requests import OrderRequest
from trading.clock import ManualClock
from trading.market.replay import ReplayState
from trading.market.series import SyntheticMarket
from trading.settings import Settings
from trading.testing import TEST_NOW

DAY_S = 86_400
START_MS = ((int(TEST_NOW) - 30 * DAY_S) // DAY_S * DAY_S + 15 * 3600) * 1000
"""A Wednesday, 11:00 in New York: the market moves."""


async def tick_cpu(speed: int | None, ticks: int) -> float:
    """Median CPU seconds of one tick; ``speed`` None: the orders are the live account's."""
    clock = ManualClock(TEST_NOW)
    settings = Settings(clock=clock, data_dir=Path(tempfile.mkdtemp()))
    service = broker_service(settings, SyntheticMarket(settings.market_config()))
    service.followed = lambda: ()
    await service.load()
    names = [s.name for s in service.catalog.symbols]
    account = "DEMO-ACCOUNT"
    if speed is not None:
        replays = Replays(service, service.catalog, clock.now, 0, 5)
        session = await replays.start(account, START_MS, speed, names, ReplayState.RUNNING)
        account = session.id
    for name in names:  # a BUY limit at one cent: it never fills, it is evaluated every tick
        request = OrderRequest(
            symbol=name, type=OrderType.LIMIT, side=Side.BUY, qty=Decimal(1),
            limit_price=Decimal("0.01"),
        )  # fmt: skip
        await service.place(account, request)
    await service.evaluate()
    spent = []
    for _ in range(ticks):
        clock.advance(1)
        started = time.process_time()
        await service.evaluate()
        spent.append(time.process_time() - started)
    await service.stop()
    return statistics.median(spent)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases: list[int | None] = [None, 1, 60, 600, 3600]
    found: dict[int | None, list[float]] = {c: [] for c in cases}
    for _ in range(args.repeat):
        for case in cases:
            found[case].append(await tick_cpu(case, args.ticks))
    base = statistics.median(found[None])
    print(f"one tick, 6 symbols with a resting order each (median of {args.repeat} runs)")
    print(f"  live account                 {base * 1e6:8.0f} µs")
    for case in cases[1:]:
        value = statistics.median(found[case])
        print(f"  replay book at {case:>4}x         {value * 1e6:8.0f} µs  {value / base:5.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
