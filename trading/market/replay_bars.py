"""What a replay session's stream carries per symbol (docs/replay.md §6): the bars completed
since the previous push, the forming bar and the quote, all as of replay-now.

Everything is read from a :class:`~trading.market.at_time.MarketAt` made at the session's
replay-now, so nothing here can be of a later second, and the bars are the very bars the
session's UDF and datafeed routes list. "Completed since the previous push" is kept as the
label of the last completed bar pushed (``after``), not as a time: an imported symbol's
windows never say which bar is final (its snapshot never changes), a listed bar of it is
complete by construction (:mod:`trading.market.at_time` leaves its forming bar out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trading.market.at_time import MarketAt
from trading.market.replay import ReplaySession
from trading.market.resolution import Resolution
from trading.market.source import Bars, Quote, TimedMarket
from trading.market.symbols import SymbolSpec

_FAR = 2**62


def view_of(market: TimedMarket, session: ReplaySession, wall_ms: int) -> MarketAt:
    """The session's market at its replay-now (whole seconds, as its routes see it)."""
    now_s = math.floor(session.clock.now(wall_ms) / 1000)
    return MarketAt.of(market, market.catalog, session.symbols, now_s)


@dataclass(frozen=True)
class SymbolMoment:
    """One symbol of a push: ``bars`` (completed ones, oldest first, then the forming bar if
    ``forming``), the quote, and where the next push starts (``after``)."""

    spec: SymbolSpec
    bars: Bars | None
    forming: bool
    truncated: bool
    """More bars completed since the previous push than the cap: the older ones are left out."""
    after: int | None
    """Label of the last completed bar up to now (None: none yet): the next push's start."""
    quote: Quote


def moment(
    view: MarketAt,
    spec: SymbolSpec,
    resolution: Resolution,
    after: int | None,
    max_bars: int,
    *,
    snapshot: bool = False,
) -> SymbolMoment:
    """``spec`` at the view's second. ``after``: the last completed label already pushed
    (None: from the start of history, capped). A ``snapshot`` carries no completed bar (the
    history routes have them), only the forming one, and sets ``after`` for what follows.
    A symbol without ``resolution`` (a daily import at ``1``) gets its quote alone."""
    quote = view.quote(spec)
    if resolution.value not in spec.resolutions:
        return SymbolMoment(spec, None, False, False, after, quote)
    if snapshot:
        window = view.window(spec, resolution, _FAR, _FAR, count_back=2)
    else:
        start = -_FAR if after is None else after + 1
        window = view.window(spec, resolution, start, _FAR)
    labels = window.labels
    done = int((labels < window.final_before).sum())  # labels ascend: completed ones first
    forming = done < len(labels)
    last_done = int(labels[done - 1]) if done else after
    keep = 0 if snapshot else min(done, max_bars)
    take = labels[done - keep : done + (1 if forming else 0)]
    bars = view.bars(spec, resolution, take, window.at) if len(take) else None
    return SymbolMoment(spec, bars, forming, done > keep and not snapshot, last_done, quote)
