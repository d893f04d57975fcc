"""``python -m trading import-bars FILE --symbol NAME``: real history into the data dir.

Works on ``<data_dir>/history`` directly, with or without a running server; a running server
keeps serving what it loaded at its start and serves the new bars after a restart (a rolling
restart of a cluster, docs/history.md §2). Exit codes: 0 imported; 1 nothing imported, the
problems listed on stderr with their line (CSV) or row (Parquet); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TextIO

from trading.market.bar_import import (
    MAX_COLLECTED,
    MAX_REPORTED,
    ImportError_,
    ImportOptions,
    import_bars,
)
from trading.market.symbols import DEFAULT_SYMBOLS
from trading.settings import Settings


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser(
        "import-bars",
        help="import OHLCV bars (CSV or Parquet, 1-minute or daily) into TRADING_DATA_DIR",
        description="Import OHLCV bars as a symbol served beside the synthetic ones "
        "(docs/history.md). Columns: time, open, high, low, close, volume (header row); time "
        "as epoch seconds or milliseconds or ISO 8601 (without an offset: the symbol's time "
        "zone). A file replaces the stored bars of its own time range.",
    )
    cmd.add_argument("file", type=Path, help="a .csv or .parquet file")
    cmd.add_argument("--symbol", required=True, help="the symbol's name (new or already imported)")
    cmd.add_argument("--exchange", help="exchange shown and matched as EXCHANGE:NAME (IMPORTED)")
    cmd.add_argument("--description", help="description (default: the name)")
    cmd.add_argument("--type", dest="symbol_type", help="symbol type (default stock)")
    cmd.add_argument("--session", help="TradingView session, e.g. 0930-1600 or 24x7 (default)")
    cmd.add_argument("--timezone", help="IANA time zone of the session (America/New_York)")
    cmd.add_argument("--pricescale", type=int, help="ticks per unit of price (default 100)")
    cmd.add_argument(
        "--max-problems",
        type=_problem_cap,
        default=MAX_REPORTED,
        metavar="N",
        help=f"problems listed when a file is refused, 1 to {MAX_COLLECTED} "
        f"(default {MAX_REPORTED}; the rest are counted)",
    )
    cmd.add_argument(
        "--resolution",
        choices=("1", "1D"),
        help="1-minute or daily bars (default: daily when every time is a midnight)",
    )


def _problem_cap(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_COLLECTED:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and {MAX_COLLECTED}")
    return value


def _iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(args: argparse.Namespace, settings: Settings,
        out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:  # fmt: skip
    options = ImportOptions(
        symbol=args.symbol,
        exchange=args.exchange,
        description=args.description,
        session=args.session,
        timezone=args.timezone,
        pricescale=args.pricescale,
        symbol_type=args.symbol_type,
        resolution=args.resolution,
        reserved=frozenset(s.name for s in DEFAULT_SYMBOLS),
    )
    try:
        result = import_bars(args.file, settings.data_dir, options)
    except ImportError_ as exc:
        print(f"trading import-bars: {args.file}: nothing imported", file=err)
        parquet = args.file.suffix.lower() in (".parquet", ".pq")
        listed = exc.problems[: args.max_problems]
        for where, message in listed:
            place = "file" if where == 0 else f"{'row' if parquet else 'line'} {where}"
            print(f"  {place}: {message}", file=err)
        if exc.total > len(listed):
            print(f"  ... and {exc.total - len(listed)} more problems", file=err)
        return 1
    kind = "1-minute" if result.base == "1" else "daily"
    print(
        f"imported {result.rows} {kind} bars of {result.name} "
        f"({_iso(result.first)} to {_iso(result.last)}); replaced {result.replaced} stored "
        f"bars of that range, kept {result.kept} outside it. A running server serves them "
        "after its restart.",
        file=out,
    )
    return 0


__all__ = ["MAX_REPORTED", "add_parser", "run"]
