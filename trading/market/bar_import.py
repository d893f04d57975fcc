"""``python -m trading import-bars``: OHLCV files into the history store (docs/history.md §1).

All or nothing: the whole file is read and checked before anything is written, every problem
found is reported with its line (CSV, the header being line 1) or row (Parquet, from 1), up to
:data:`MAX_COLLECTED` (the command lists :data:`MAX_REPORTED` by default), and then nothing is
imported. A good file replaces the stored bars of its own time range (first to last bar,
inclusive) and keeps the others; the symbol's new tables are written as one generation
(:mod:`trading.market.bar_store`).

Parsing is columnar where it can be: CSV is read in chunks of :data:`CHUNK_ROWS` by the
standard ``csv`` module and each chunk's columns converted by numpy in one call; only a chunk
holding a bad cell is walked cell by cell to name the bad ones. Parquet is read by pyarrow.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from trading.market import aggregate, bar_store
from trading.market.aggregate import TIME, Table
from trading.market.resolution import DAY_S, EPOCH_ORDINAL, Resolution
from trading.market.sessions import (
    Session,
    SessionError,
    local_ordinals,
    parse_session,
    parse_timezone,
    session_ranges,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

MAX_REPORTED = 20
"""Problems listed per failed import by default (``import-bars --max-problems``)."""
MAX_COLLECTED = 100
"""Problems kept with their line (the first ones of each check, at most this many in all are
handed back, in line order); every other one is only counted."""
CHUNK_ROWS = 200_000
MS_THRESHOLD = 100_000_000_000
"""Epoch values at or above this (year 5138 in seconds) are milliseconds."""
MAX_PRICESCALE = 10**10

COLUMNS = ("time", "open", "high", "low", "close", "volume")
ALIASES = {
    "time": ("time", "timestamp", "date", "datetime", "t"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
}


class ImportError_(Exception):
    """An import refused: ``problems`` are (line or row, message), line 0 for the file."""

    def __init__(self, problems: Sequence[tuple[int, str]], total: int | None = None) -> None:
        self.problems = list(problems)
        self.total = total if total is not None else len(self.problems)
        super().__init__("; ".join(m for _, m in self.problems))


@dataclass(frozen=True)
class ImportOptions:
    symbol: str
    exchange: str | None = None
    description: str | None = None
    session: str | None = None
    timezone: str | None = None
    pricescale: int | None = None
    symbol_type: str | None = None
    resolution: str | None = None
    """``"1"``, ``"1D"`` or None (detected: daily when every time is a midnight)."""
    reserved: frozenset[str] = frozenset()
    """Names the service already lists (the synthetic symbols), refused case-insensitively."""


@dataclass(frozen=True)
class ImportResult:
    name: str
    base: str
    rows: int
    """Rows of the file."""
    replaced: int
    """Stored bars of the file's range that it replaced."""
    kept: int
    """Stored bars outside the range, kept."""
    first: int
    last: int


@dataclass
class _Columns:
    """The parsed file: raw cells per column plus the line (or row) of each."""

    lines: list[IntArray] = field(default_factory=list)
    times: list[IntArray] = field(default_factory=list)
    date_only: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    prices: list[FloatArray] = field(default_factory=list)
    volumes: list[FloatArray] = field(default_factory=list)
    exact: bool = True
    """Whether ``lines`` are the file's own (False: assumed one line per row)."""


class _Problems:
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self.total = 0

    def add(self, line: int, message: str) -> None:
        self.total += 1
        if len(self.found) < MAX_COLLECTED:
            self.found.append((line, message))

    def add_mask(self, lines: IntArray, mask: npt.NDArray[np.bool_], message: str) -> None:
        hits = np.flatnonzero(mask)
        self.total += len(hits)
        for i in hits[:MAX_COLLECTED]:
            self.found.append((int(lines[i]), message))

    def any(self) -> bool:
        return self.total > 0

    def raise_if_any(self) -> None:
        if self.total:
            found = sorted(self.found)[:MAX_COLLECTED]
            raise ImportError_(found, self.total)


# --- reading ---------------------------------------------------------------------------------


def _header_map(header: Sequence[str]) -> dict[str, int] | str:
    names = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    for column in COLUMNS:
        for alias in ALIASES[column]:
            if alias in names:
                found[column] = names.index(alias)
                break
        else:
            return f"no {column!r} column in the header (columns: {', '.join(header)})"
    return found


def _parse_float_cells(
    cells: list[str], lines: IntArray, column: str, problems: _Problems
) -> FloatArray:
    try:
        values = np.asarray(cells, dtype=np.float64)
    except ValueError:
        values = np.empty(len(cells), dtype=np.float64)
        for i, cell in enumerate(cells):
            try:
                values[i] = float(cell)
            except ValueError:
                problems.add(int(lines[i]), f"{column} {cell.strip()!r} is not a number")
                values[i] = np.nan
        return values
    bad = ~np.isfinite(values)
    if bad.any():
        problems.add_mask(lines, bad, f"{column} is not a finite number")
    return values


def _parse_time_cells(
    cells: list[str], lines: IntArray, zone: ZoneInfo, problems: _Problems
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """(UTC epoch seconds, date-only) per cell; epoch s or ms, or ISO 8601 (a time without an
    offset is the symbol's local time)."""
    n = len(cells)
    date_only = np.zeros(n, dtype=np.bool_)
    try:
        raw = np.asarray(cells, dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    else:
        return _epoch(raw, lines, problems), date_only
    out = np.zeros(n, dtype=np.int64)
    for i, cell in enumerate(cells):
        text = cell.strip()
        try:
            if text.lstrip("-").isdigit():
                value = int(text)
                out[i] = value // 1000 if abs(value) >= MS_THRESHOLD else value
                if abs(value) >= MS_THRESHOLD and value % 1000:
                    problems.add(int(lines[i]), f"time {text} ms is not a whole second")
                continue
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                date_only[i] = True
                stamp = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
            else:
                stamp = dt.datetime.fromisoformat(text)
                if stamp.tzinfo is None:
                    stamp = stamp.replace(tzinfo=zone)
            if stamp.microsecond:
                problems.add(int(lines[i]), f"time {text!r} is not a whole second")
            out[i] = math.floor(stamp.timestamp())
        except (ValueError, OverflowError):
            problems.add(
                int(lines[i]), f"time {text!r} is neither epoch seconds/milliseconds nor ISO 8601"
            )
    return out, date_only


def _epoch(raw: IntArray, lines: IntArray, problems: _Problems) -> IntArray:
    ms = np.abs(raw) >= MS_THRESHOLD
    if ms.any():
        problems.add_mask(lines, ms & (raw % 1000 != 0), "time in ms is not a whole second")
        return np.where(ms, raw // 1000, raw)
    return raw


def _csv_chunks(path: Path, problems: _Problems) -> Iterator[tuple[IntArray, list[list[str]]]]:
    """(lines, cells per needed column) per chunk of rows."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportError_([(1, "the file is empty (a header row is expected)")]) from None
        mapping = _header_map(header)
        if isinstance(mapping, str):
            raise ImportError_([(1, mapping)])
        width = len(header)
        idx = [mapping[c] for c in COLUMNS]
        lines: list[int] = []
        rows: list[list[str]] = []
        for row in reader:
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line (often the last)
                problems.add(reader.line_num, f"expected {width} fields, got {len(row)}")
                continue
            lines.append(reader.line_num)
            rows.append(row)
            if len(rows) == CHUNK_ROWS:
                yield np.asarray(lines, dtype=np.int64), [[r[i] for r in rows] for i in idx]
                lines, rows = [], []
        if rows:
            yield np.asarray(lines, dtype=np.int64), [[r[i] for r in rows] for i in idx]


def _read_csv(path: Path, zone: ZoneInfo, problems: _Problems) -> _Columns:
    out = _Columns()
    for lines, cells in _csv_chunks(path, problems):
        times, date_only = _parse_time_cells(cells[0], lines, zone, problems)
        out.lines.append(lines)
        out.times.append(times)
        out.date_only.append(date_only)
        out.prices.append(
            np.stack(
                [_parse_float_cells(cells[k], lines, COLUMNS[k], problems) for k in range(1, 5)]
            )
        )
        out.volumes.append(_parse_float_cells(cells[5], lines, "volume", problems))
    return out


def _read_csv_fast(path: Path, zone: ZoneInfo, problems: _Problems) -> _Columns | None:
    """The whole CSV through pyarrow's reader (C++, several threads), or None when it cannot
    read it (a malformed row, a cell that is not a number). Its line numbers assume one line
    per row (blank lines are skipped): they are used only when nothing is wrong, since any
    problem sends the file to the exact reader (``_Columns.exact`` is False)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    try:
        with open(path, encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle))
    except (StopIteration, UnicodeDecodeError):
        return None
    mapping = _header_map(header)
    if isinstance(mapping, str):
        return None
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, OSError):
        return None
    n = table.num_rows
    lines = np.arange(2, n + 2, dtype=np.int64)
    try:
        cols = [
            np.asarray(pc.cast(table.column(mapping[c]), pa.float64()).to_numpy())
            for c in COLUMNS[1:]
        ]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    time_col = table.column(mapping["time"])
    try:
        raw = np.asarray(pc.cast(time_col, pa.int64()).to_numpy(), dtype=np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        times, date_only = _parse_time_cells(time_col.to_pylist(), lines, zone, problems)
    else:
        times = _epoch(raw, lines, problems)
        date_only = np.zeros(n, dtype=np.bool_)
    finite = np.isfinite(np.stack(cols))
    if not finite.all():
        problems.add_mask(lines, ~finite.all(axis=0), "a price or volume is not a finite number")
    return _Columns([lines], [times], [date_only], [np.stack(cols[:4])], [cols[4]], False)


def _read_parquet(path: Path, zone: ZoneInfo, problems: _Problems) -> _Columns:
    import pyarrow as pa  # imported here: only Parquet imports load it
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportError_([(0, f"not a readable Parquet file: {exc}")]) from None
    mapping = _header_map(table.column_names)
    if isinstance(mapping, str):
        raise ImportError_([(0, mapping)])
    n = table.num_rows
    lines = np.arange(1, n + 1, dtype=np.int64)
    out = _Columns(lines=[lines])
    time_col = table.column(mapping["time"])
    date_only = np.zeros(n, dtype=np.bool_)
    kind = time_col.type
    nulls = np.asarray(time_col.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    if nulls.any():
        problems.add_mask(lines, nulls, "time is missing")
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            time_col = pc.assume_timezone(time_col, str(zone.key))
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[kind.unit]
        if per_second > 1:
            raw = np.asarray(pc.cast(time_col, pa.int64()).fill_null(0).to_numpy(), np.int64)
            problems.add_mask(lines, raw % per_second != 0, "time is not a whole second")
        seconds = pc.cast(pc.cast(time_col, pa.timestamp("s", "UTC"), safe=False), pa.int64())
        times = np.asarray(seconds.fill_null(0).to_numpy(), dtype=np.int64)
    elif pa.types.is_date(kind):
        days = pc.cast(pc.cast(time_col, pa.date32()), pa.int32()).fill_null(0).to_numpy()
        ordinals = np.asarray(days, dtype=np.int64) + EPOCH_ORDINAL
        times = np.asarray([bar_day_instant(int(o), zone) for o in ordinals], dtype=np.int64)
        date_only[:] = True
    elif pa.types.is_integer(kind):
        raw = np.asarray(time_col.fill_null(0).to_numpy(), dtype=np.int64)
        times = _epoch(raw, lines, problems)
    else:
        cells = [str(v) for v in time_col.cast(pa.string()).fill_null("").to_pylist()]
        times, date_only = _parse_time_cells(cells, lines, zone, problems)
    out.times.append(times)
    out.date_only.append(date_only)
    cols = []
    for column in COLUMNS[1:]:
        chunked = table.column(mapping[column])
        try:
            values = pc.cast(chunked, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise ImportError_([(0, f"column {column!r} is not numeric")]) from None
        missing = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
        if missing.any():
            problems.add_mask(lines, missing, f"{column} is missing")
        array = np.asarray(values.fill_null(np.nan).to_numpy(), dtype=np.float64)
        bad = ~np.isfinite(array) & ~missing
        if bad.any():
            problems.add_mask(lines, bad, f"{column} is not a finite number")
        cols.append(array)
    out.prices.append(np.stack(cols[:4]))
    out.volumes.append(cols[4])
    return out


def bar_day_instant(ordinal: int, zone: ZoneInfo) -> int:
    day = dt.date.fromordinal(ordinal)
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


# --- checking ------------------------------------------------------------------------------


def _to_ticks(
    prices: FloatArray, pricescale: int, lines: IntArray, problems: _Problems
) -> IntArray:
    """Prices on the tick grid as integers; a price more than float noise off the grid is an
    error, not rounded (a wrong ``--pricescale`` must not pass silently)."""
    scaled = prices * pricescale
    ticks = np.rint(np.nan_to_num(scaled))
    tolerance = np.maximum(1e-6, np.abs(scaled) * 1e-14)
    off = np.abs(scaled - ticks) > tolerance
    names = COLUMNS[1:5]
    for k in range(4):
        if off[k].any():
            problems.add_mask(
                lines, off[k], f"{names[k]} is not a multiple of the tick 1/{pricescale}"
            )
    return ticks.astype(np.int64)


def _check_bars(
    ticks: IntArray, prices: FloatArray, volume: FloatArray, lines: IntArray, problems: _Problems
) -> IntArray:
    """The OHLC rules on rows whose four prices are numbers (the others are reported already)."""
    o, h, lo, c = ticks
    known = np.isfinite(prices).all(axis=0)
    problems.add_mask(lines, known & (lo <= 0), "low must be above 0")
    problems.add_mask(lines, known & (lo > np.minimum(o, c)), "low is above open or close")
    problems.add_mask(lines, known & (h < np.maximum(o, c)), "high is below open or close")
    problems.add_mask(lines, volume < 0, "volume is negative")
    finite = np.nan_to_num(volume)
    problems.add_mask(lines, finite != np.floor(finite), "volume is not a whole number")
    return finite.astype(np.int64)


def _check_order(times: IntArray, lines: IntArray, what: str, problems: _Problems) -> None:
    if len(times) < 2:
        return
    back = np.flatnonzero(times[1:] <= times[:-1]) + 1
    problems.total += len(back)
    for i in back[:MAX_COLLECTED]:
        same = "repeats" if times[i] == times[i - 1] else "is before"
        problems.found.append(
            (int(lines[i]), f"{what} {same} the previous row's (line {int(lines[i - 1])})")
        )


# --- the import ------------------------------------------------------------------------------


def import_bars(path: Path, data_dir: Path, options: ImportOptions) -> ImportResult:
    """Read, check, merge and store; :class:`ImportError_` when anything is wrong."""
    if not bar_store.NAME_PATTERN.match(options.symbol):
        raise ImportError_(
            [(0, f"symbol {options.symbol!r}: letters, digits, '.', '_', '-', at most 40")]
        )
    if options.symbol.upper() in {r.upper() for r in options.reserved}:
        raise ImportError_([(0, f"{options.symbol} is a synthetic symbol; choose another name")])
    root = bar_store.history_dir(data_dir)
    with bar_store.import_lock(root):
        name = bar_store.stored_name(root, options.symbol)
        previous = bar_store.load(root / name, mmap=False)
        meta = _meta(name, options, previous.meta if previous else None)
        zone = parse_timezone(meta.timezone)
        session = parse_session(meta.session)
        if not path.is_file():
            raise ImportError_([(0, f"no such file: {path}")])
        parquet = path.suffix.lower() in (".parquet", ".pq")
        problems = _Problems()
        cols = (
            _read_parquet(path, zone, problems) if parquet else _read_csv_fast(path, zone, problems)
        )
        if cols is None or (problems.total and not parquet):
            # the exact reader names every bad line (the fast one's line numbers assume one
            # line per row)
            problems = _Problems()
            cols = _read_csv(path, zone, problems)
        checked = _check(cols, options, meta, previous, zone, session, problems)
        if checked is None and not parquet and cols.exact is False:
            problems = _Problems()
            cols = _read_csv(path, zone, problems)
            checked = _check(cols, options, meta, previous, zone, session, problems)
        problems.raise_if_any()
        assert checked is not None
        base, times, ticks, volume, lines = checked
        table = np.vstack((times[None, :], ticks, volume[None, :])).astype(np.int64)
        stored = previous.tables.get(Resolution(base)) if previous is not None else None
        merged, replaced, kept = _merge(stored, table)
        if previous is not None and meta.pricescale != previous.meta.pricescale and kept:
            raise ImportError_(
                [(0, f"--pricescale {meta.pricescale} differs from the stored "
                  f"{previous.meta.pricescale}; import the whole stored range again")]
            )  # fmt: skip
        outside = _outside(merged[TIME], base, session, zone)
        message = f"outside the session {session.text} ({meta.timezone})"
        if outside.any():  # stored bars outside a changed session or time zone
            first = _iso(int(merged[TIME][np.argmax(outside)]))
            raise ImportError_(
                [(0, f"{int(outside.sum())} stored bars (the first at {first}) are {message}; "
                  "import their range again or keep the session")]
            )  # fmt: skip
        meta = replace(meta, base=base, rows=merged.shape[1])
        tables, days = _tables(merged, base, session, zone)
        bar_store.write(root, meta, tables, days)
    return ImportResult(name, base, len(lines), replaced, kept, int(times[0]), int(times[-1]))


def _meta(
    name: str, options: ImportOptions, previous: bar_store.SymbolMeta | None
) -> bar_store.SymbolMeta:
    """Options given win; otherwise the stored symbol's values; otherwise the defaults."""

    def pick(given: str | None, stored: str | None, default: str) -> str:
        return given if given is not None else stored if stored is not None else default

    p = previous
    pricescale = options.pricescale or (p.pricescale if p else 100)
    if not 1 <= pricescale <= MAX_PRICESCALE or str(pricescale).strip("0") != "1":
        raise ImportError_([(0, f"--pricescale {pricescale}: a power of ten, 1 to 10^10")])
    meta = bar_store.SymbolMeta(
        name=name,
        description=pick(options.description, p.description if p else None, name),
        exchange=pick(options.exchange, p.exchange if p else None, "IMPORTED"),
        type=pick(options.symbol_type, p.type if p else None, "stock"),
        session=pick(options.session, p.session if p else None, "24x7"),
        timezone=pick(options.timezone, p.timezone if p else None, "America/New_York"),
        pricescale=pricescale,
        base=p.base if p else "1",
        rows=0,
    )
    try:
        parse_session(meta.session)
        parse_timezone(meta.timezone)
    except SessionError as exc:
        raise ImportError_([(0, str(exc))]) from None
    return meta


def _detect(
    times: IntArray,
    date_only: npt.NDArray[np.bool_],
    zone: ZoneInfo,
    previous: bar_store.StoredSymbol | None,
) -> str:
    """Daily when every time is a date, 00:00 UTC or local midnight; else 1-minute."""
    if len(times) == 0:
        return previous.meta.base if previous else "1"
    utc_midnight = times % DAY_S == 0
    if bool(np.all(date_only | utc_midnight)):
        return "1D"
    ordinals = local_ordinals(times, zone)
    local = np.asarray([bar_day_instant(int(o), zone) for o in np.unique(ordinals)])
    starts = local[np.searchsorted(np.unique(ordinals), ordinals)]
    return "1D" if bool(np.all(utc_midnight | (times == starts))) else "1"


def _day_labels(times: IntArray, date_only: npt.NDArray[np.bool_], zone: ZoneInfo) -> IntArray:
    """A daily row's trading date as its label: 00:00 UTC is TradingView's label of that
    date; any other instant (local midnight, a date) is dated in the symbol's zone."""
    utc_midnight = (times % DAY_S == 0) & ~date_only
    ordinals = np.where(utc_midnight, times // DAY_S + EPOCH_ORDINAL, local_ordinals(times, zone))
    return aggregate.ordinal_labels(ordinals)


def _check(
    cols: _Columns,
    options: ImportOptions,
    meta: bar_store.SymbolMeta,
    previous: bar_store.StoredSymbol | None,
    zone: ZoneInfo,
    session: Session,
    problems: _Problems,
) -> tuple[str, IntArray, IntArray, IntArray, IntArray] | None:
    """(base, times, ticks, volumes, lines) of a parsed file, or None with ``problems``."""
    lines = np.concatenate(cols.lines) if cols.lines else np.zeros(0, np.int64)
    if len(lines) == 0 and problems.total == 0:
        raise ImportError_([(0, "no bars in the file")])
    times = np.concatenate(cols.times) if cols.times else np.zeros(0, np.int64)
    date_only = np.concatenate(cols.date_only) if cols.date_only else np.zeros(0, np.bool_)
    prices = np.concatenate(cols.prices, axis=1) if cols.prices else np.zeros((4, 0))
    volumes = np.concatenate(cols.volumes) if cols.volumes else np.zeros(0)
    base = options.resolution or _detect(times, date_only, zone, previous)
    if previous is not None and previous.meta.base != base:
        kind = "1-minute" if previous.meta.base == "1" else "daily"
        raise ImportError_([(0, f"{meta.name} holds {kind} bars; import the same kind")])
    ticks = _to_ticks(prices, meta.pricescale, lines, problems)
    volume = _check_bars(ticks, prices, volumes, lines, problems)
    if base == "1":
        problems.add_mask(lines, times % 60 != 0, "time is not on a whole minute")
    else:
        times = _day_labels(times, date_only, zone)
    _check_order(times, lines, "time" if base == "1" else "date", problems)
    if problems.any():
        return None
    message = f"outside the session {session.text} ({meta.timezone})"
    problems.add_mask(lines, _outside(times, base, session, zone), message)
    if problems.any():
        return None
    return base, times, ticks, volume, lines


def _merge(stored: Table | None, new: Table) -> tuple[Table, int, int]:
    """The new rows in place of the stored ones of their range [first, last]."""
    if stored is None or stored.shape[1] == 0:
        return new, 0, 0
    first, last = int(new[TIME, 0]), int(new[TIME, -1])
    t = np.asarray(stored[TIME])
    a = int(np.searchsorted(t, first, side="left"))
    b = int(np.searchsorted(t, last, side="right"))
    merged = np.concatenate((np.asarray(stored[:, :a]), new, np.asarray(stored[:, b:])), axis=1)
    return merged, b - a, a + (len(t) - b)


def _outside(times: IntArray, base: str, session: Session, zone: ZoneInfo) -> npt.NDArray[np.bool_]:
    """Which bars lie outside the session (a 1-minute bar must end by its range's close; a
    daily bar must fall on a trading weekday)."""
    if len(times) == 0:
        return np.zeros(0, dtype=np.bool_)
    if base == "1D":
        weekday = (times // DAY_S + EPOCH_ORDINAL - 1) % 7
        return ~np.isin(weekday, sorted(session.weekdays))
    ordinals = local_ordinals(times, zone)
    ranges = session_ranges(session, zone, int(ordinals.min()) - 1, int(ordinals.max()) + 1)
    return ranges.locate(times, 60) < 0


def _tables(
    base_table: Table, base: str, session: Session, zone: ZoneInfo
) -> tuple[dict[Resolution, Table], Table | None]:
    """Every resolution of the (checked) base table, and the trading date of each base bar."""
    if base == "1D":
        return aggregate.from_days(base_table), None
    times = base_table[TIME]
    ordinals = local_ordinals(times, zone)
    ranges = session_ranges(session, zone, int(ordinals.min()) - 1, int(ordinals.max()) + 1)
    idx = ranges.locate(times, 60)
    day_labels = aggregate.ordinal_labels(ranges.ordinals[idx])
    return aggregate.from_minutes(base_table, ranges.starts[idx], day_labels), day_labels


def _iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
