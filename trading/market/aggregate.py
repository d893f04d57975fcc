"""Coarser bars as exact aggregates of imported ones (docs/history.md §4).

A table of bars is a ``(6, n)`` int64 array: label (epoch seconds), open, high, low, close (in
ticks) and volume, ascending by label. The rule is market.md §3 S3's: open = first open, high =
max, low = min, close = last close, volume = sum, over the finer bars of the coarser bar's
interval; only intervals holding at least one imported bar exist (real history has nights,
weekends and holidays, and TradingView's ``has_empty_bars`` is false).

Intraday bars start at their session range's opening instant (:mod:`trading.market.sessions`);
1D bars hold one local trading date and are labelled by it at 00:00 UTC; 1W (Monday to Sunday)
and 1M are groups of 1D bars labelled by their first date, as the synthetic market labels them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trading.market.resolution import DAY_S, EPOCH_ORDINAL, Resolution

IntArray = npt.NDArray[np.int64]
Table = npt.NDArray[np.int64]
"""``(6, n)``: label, open, high, low, close, volume."""

TIME, OPEN, HIGH, LOW, CLOSE, VOLUME = range(6)


def group(table: Table, labels: IntArray) -> Table:
    """Aggregate consecutive rows sharing a label (``labels`` non-decreasing, one per row)."""
    n = table.shape[1]
    if n == 0:
        return np.zeros((6, 0), dtype=np.int64)
    starts = np.flatnonzero(np.diff(labels) != 0) + 1
    starts = np.concatenate(([0], starts)).astype(np.int64)
    ends = np.append(starts[1:], n) - 1
    return np.stack(
        (
            labels[starts],
            table[OPEN, starts],
            np.maximum.reduceat(table[HIGH], starts),
            np.minimum.reduceat(table[LOW], starts),
            table[CLOSE, ends],
            np.add.reduceat(table[VOLUME], starts),
        )
    )


def ordinal_labels(ordinals: IntArray) -> IntArray:
    """TradingView labels of dates: the date at 00:00 UTC."""
    return (ordinals - EPOCH_ORDINAL) * DAY_S


def week_starts(ordinals: IntArray) -> IntArray:
    """The Monday of each date's week (ordinal 1, 0001-01-01, is a Monday)."""
    return ordinals - (ordinals - 1) % 7


def month_starts(ordinals: IntArray) -> IntArray:
    """The 1st of each date's month."""
    days = (ordinals - EPOCH_ORDINAL).astype("datetime64[D]")
    first = days.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return first + EPOCH_ORDINAL


def periodic(daily: Table) -> dict[Resolution, Table]:
    """1W and 1M tables from a 1D table."""
    ordinals = daily[TIME] // DAY_S + EPOCH_ORDINAL
    return {
        Resolution.W1: group(daily, ordinal_labels(week_starts(ordinals))),
        Resolution.MN1: group(daily, ordinal_labels(month_starts(ordinals))),
    }


def from_minutes(
    minutes: Table, range_starts: IntArray, day_labels: IntArray
) -> dict[Resolution, Table]:
    """Every resolution from 1-minute bars, given for each bar the opening instant of its
    session range and the label of its trading date."""
    out: dict[Resolution, Table] = {Resolution.M1: minutes}
    times = minutes[TIME]
    for resolution in Resolution:
        if resolution.is_intraday and resolution is not Resolution.M1:
            step = resolution.seconds
            labels = range_starts + (times - range_starts) // step * step
            out[resolution] = group(minutes, labels)
    daily = group(minutes, day_labels)
    out[Resolution.D1] = daily
    out.update(periodic(daily))
    return out


def from_days(daily: Table) -> dict[Resolution, Table]:
    """1D, 1W and 1M from daily bars (a daily import has no intraday resolutions)."""
    return {Resolution.D1: daily, **periodic(daily)}
