"""Where imported bars live: a directory per symbol (docs/history.md §2).

Chosen by measurement (docs/performance.md, ``scripts/bench_import.py``): every resolution of a
symbol is written at import time as a ``.npy`` table (``(6, n)`` int64, see
:mod:`trading.market.aggregate`) and the server maps the files read-only (``mmap``). A history
request is then two binary searches and six slices of the page cache, whatever the resolution
(no aggregation per request), and several workers on one host share the same pages.

**One import, one generation.** An import writes a new generation directory beside the
current one and then replaces the symbol's ``CURRENT`` file (one ``os.replace``, atomic on
POSIX) naming it: a failure at any earlier point leaves the symbol exactly as it was, a
success switches every file at once. Imports hold ``history/.lock`` (``flock``), so two of
them cannot interleave. Older generations are removed after the switch; a server that mapped
them keeps reading its mapping (POSIX keeps an unlinked file's pages while it is mapped), so
a running server keeps serving the snapshot it loaded until it restarts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from trading.market.aggregate import Table
from trading.market.resolution import Resolution

log = logging.getLogger(__name__)

HISTORY_DIR = "history"
CURRENT = "CURRENT"
META = "meta.json"
DAYS = "days.npy"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
"""Symbol names an import accepts (a directory name on every file system)."""


@dataclass(frozen=True)
class SymbolMeta:
    """What an import stores besides the bars: the symbol's SymbolInfo fields and its base."""

    name: str
    description: str
    exchange: str
    type: str
    session: str
    timezone: str
    pricescale: int
    base: str
    """``"1"`` (1-minute bars imported) or ``"1D"`` (daily bars imported)."""
    rows: int


@dataclass(frozen=True)
class StoredSymbol:
    meta: SymbolMeta
    tables: dict[Resolution, Table]
    days: Table | None
    """For a 1-minute base: the label of each base bar's trading date (quotes)."""


def history_dir(data_dir: Path) -> Path:
    return data_dir / HISTORY_DIR


def _file(resolution: Resolution) -> str:
    return f"{resolution.value}.npy"


@contextlib.contextmanager
def import_lock(root: Path) -> Iterator[None]:
    """Held for the whole of one import (a second import waits)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def stored_name(root: Path, name: str) -> str:
    """The stored spelling of ``name`` (names match case-insensitively), else ``name``."""
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name.upper() == name.upper() and (entry / CURRENT).is_file():
                return entry.name
    return name


def _generation(symbol_dir: Path) -> Path | None:
    try:
        current = (symbol_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return symbol_dir / current


def load(symbol_dir: Path, *, mmap: bool = True) -> StoredSymbol | None:
    """The symbol's current generation (mapped read-only), or None when it has none."""
    generation = _generation(symbol_dir)
    if generation is None:
        return None
    meta = SymbolMeta(**json.loads((generation / META).read_text(encoding="utf-8")))
    mode: Literal["r"] | None = "r" if mmap else None
    tables: dict[Resolution, Table] = {}
    for resolution in Resolution:
        path = generation / _file(resolution)
        if path.is_file():
            tables[resolution] = np.load(path, mmap_mode=mode)
    days_path = generation / DAYS
    days = np.load(days_path, mmap_mode=mode) if days_path.is_file() else None
    return StoredSymbol(meta, tables, days)


def load_all(data_dir: Path) -> list[StoredSymbol]:
    """Every imported symbol of a data dir, by name."""
    root = history_dir(data_dir)
    if not root.is_dir():
        return []
    found = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            try:
                stored = load(entry)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                # one damaged symbol (a file removed by hand, a disk error) must not keep the
                # service and every other symbol from starting: it is left out, loudly
                log.error(
                    "imported symbol %s left out, its files cannot be read: %s", entry.name, exc
                )
                continue
            if stored is not None:
                found.append(stored)
    return found


def write(
    root: Path, meta: SymbolMeta, tables: dict[Resolution, Table], days: Table | None
) -> Path:
    """Write a new generation and make it current (the caller holds :func:`import_lock`)."""
    symbol_dir = root / meta.name
    symbol_dir.mkdir(parents=True, exist_ok=True)
    name = f"g{time.time_ns():x}"
    tmp = symbol_dir / f".{name}.tmp"
    tmp.mkdir()
    try:
        for resolution, table in tables.items():
            np.save(tmp / _file(resolution), np.ascontiguousarray(table, dtype=np.int64))
        if days is not None:
            np.save(tmp / DAYS, np.ascontiguousarray(days, dtype=np.int64))
        (tmp / META).write_text(json.dumps(asdict(meta), indent=1), encoding="utf-8")
        _fsync_dir(tmp)
        tmp.rename(symbol_dir / name)
        pointer = symbol_dir / f".{CURRENT}.tmp"
        pointer.write_text(name + "\n", encoding="utf-8")
        with open(pointer, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(pointer, symbol_dir / CURRENT)  # the commit point
        _fsync_dir(symbol_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for entry in symbol_dir.iterdir():  # older generations and leftovers of failed imports
        if entry.is_dir() and entry.name != name:
            shutil.rmtree(entry, ignore_errors=True)
    return symbol_dir / name


def _fsync_dir(path: Path) -> None:
    for entry in path.iterdir():
        if entry.is_file():
            with open(entry, "rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
