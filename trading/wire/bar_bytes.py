"""History answers spliced from cached, already serialized segments of final bars (issue 16).

A bar before the source's :attr:`~trading.market.source.Window.final_before` can never change,
so its JSON can never change either. The REST ``/datafeed/bars`` and UDF ``/history`` bodies
are therefore assembled from bytes:

- **Segments.** The final bars of one symbol × resolution × shape are grouped in cells of
  :data:`SEGMENT_BARS` nominal bar lengths on the label axis (``label // span``; intraday labels
  are multiples of the resolution since the epoch, so the cells are stable however the
  window moves). A cell is serialized once, exactly as the uncached answer would write those
  bars (the same :func:`~trading.wire.market.bar_dicts` / :func:`~trading.wire.market.udf_columns`
  through orjson), and kept with the byte offset of every bar, so a range may start or end
  anywhere inside it. The cell holding the newest final bars is rebuilt when it no longer
  covers what a request needs (once a minute at 1-minute bars).
- **The forming bar** (labels at or after ``final_before``) is never cached: it is computed
  for the request's instant and serialized alone, then spliced after the segments.
- **Bound.** Segments live in one LRU bounded by bytes (``TRADING_BARS_CACHE_BYTES``; the
  serialized bytes, offsets and labels are counted); 0 turns the cache off and every answer is
  computed as before.
- **Off the loop.** Building a missing segment is CPU work of milliseconds to hundreds of
  milliseconds (a cold 60-minute year). It runs in a small thread pool
  (``TRADING_BARS_THREADS``; numpy releases the GIL in its array loops), so other clients and
  WebSocket pushes are not held up; warm answers are spliced on the loop.

The market domain knows nothing of this: it only says, through
:class:`~trading.market.source.WindowedSource`, which bars a query selects and which are final.
A source without that interface is served uncached.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import orjson

from trading.market.resolution import DAY_S, Resolution
from trading.market.source import (
    Bars,
    History,
    IntArray,
    MarketSource,
    Window,
    WindowedSource,
)
from trading.market.symbols import SymbolSpec
from trading.wire.market import UDF_COLUMNS, bar_dicts, udf_columns

SEGMENT_BARS = 512
"""Nominal bars per cached segment: few enough slices per 10 000-bar answer (about 20), small
enough that the newest, growing segment is cheap to rebuild."""

_NOMINAL_S = {Resolution.D1: DAY_S, Resolution.W1: 7 * DAY_S, Resolution.MN1: 31 * DAY_S}
_FORMING_KEYS = 4096  # forming bars remembered (one per symbol × resolution × shape)
_SEGMENT_OVERHEAD = 512  # bytes of Python objects per segment, counted in the budget


def segment_span(resolution: Resolution) -> int:
    """Seconds of label axis per segment cell."""
    return _SPANS[resolution]


_SPANS = {r: (r.seconds if r.is_intraday else _NOMINAL_S[r]) * SEGMENT_BARS for r in Resolution}


class Shape(enum.Enum):
    """The two JSON shapes of a history answer."""

    REST = "rest"  # {"bars":[{time(ms),open,high,low,close,volume},...],"no_data":false}
    UDF = "udf"  # {"s":"ok","t":[...],"o":[...],...,"v":[...]}


# What surrounds the elements of each column of a non-empty answer, as orjson writes it.
_OPENERS = {
    Shape.REST: (b'{"bars":[',),
    Shape.UDF: tuple(
        (b'{"s":"ok","' if i == 0 else b'],"') + name.encode() + b'":['
        for i, name in enumerate(UDF_COLUMNS)
    ),
}
_CLOSERS = {Shape.REST: b'],"no_data":false}', Shape.UDF: b"]}"}
_BRACE, _COMMA = ord("{"), ord(",")


def uncached_body(shape: Shape, history: History) -> bytes:
    """The answer as the routes wrote it before this cache (and still do without it)."""
    if shape is Shape.REST:
        return orjson.dumps({"bars": bar_dicts(history.bars), "no_data": history.no_data})
    bars = history.bars
    if len(bars) == 0:
        if history.next_time is None:
            return orjson.dumps({"s": "no_data"})
        return orjson.dumps({"s": "no_data", "nextTime": history.next_time})
    return orjson.dumps({"s": "ok", **udf_columns(bars)}, option=orjson.OPT_SERIALIZE_NUMPY)


def _empty_body(shape: Shape, window: Window) -> bytes:
    pricescale = 1  # no bar: no price to scale
    history = History(Bars.empty(pricescale), window.no_data, window.next_time)
    return uncached_body(shape, history)


@dataclass(frozen=True)
class Elements:
    """Serialized elements of the columns of a run of ``count`` bars (REST: one column of bar
    objects; UDF: six), with their offsets when a sub-run may be taken.

    ``offsets[c][i]`` is where element ``i`` of column ``c`` starts in ``data[c]``; a last
    entry ``len(data[c]) + 1`` marks the end as if a comma followed, so elements ``i..j`` are
    ``data[c][offsets[c][i] : offsets[c][j] - 1]``.
    """

    data: tuple[bytes, ...]
    count: int
    offsets: tuple[npt.NDArray[np.int32], ...] | None

    @classmethod
    def of(cls, shape: Shape, bars: Bars, *, offsets: bool = True) -> Elements:
        """The elements of ``bars`` as the uncached answer writes them; without ``offsets``
        only the whole run can be taken (the forming bar)."""
        if shape is Shape.REST:
            datas = [orjson.dumps(bar_dicts(bars))[1:-1]]
        else:
            datas = [
                orjson.dumps(column, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
                for column in udf_columns(bars).values()
            ]
        if not offsets:
            return cls(tuple(datas), len(bars), None)
        # a bar object nests nothing and holds no string: each "{" starts one; in a column
        # of numbers each comma ends one
        mark, shift = (_BRACE, 0) if shape is Shape.REST else (_COMMA, 1)
        ends = []
        for data in datas:
            found = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == mark) + shift
            first = [] if shape is Shape.REST else [0]
            # int32: a segment is far below 2 GiB, and offsets are a third of a UDF segment
            ends.append(np.concatenate((first, found, [len(data) + 1])).astype(np.int32))
        return cls(tuple(datas), len(bars), tuple(ends))

    def cut(self, i: int, j: int) -> Elements:
        """Elements ``i..j-1`` as their own copy (one segment out of a serialized range)."""
        assert self.offsets is not None
        datas, offsets = [], []
        for d, o in zip(self.data, self.offsets, strict=True):
            lo = int(o[i])
            datas.append(d[lo : int(o[j]) - 1])
            offsets.append(o[i : j + 1] - np.int32(lo))
        return Elements(tuple(datas), j - i, tuple(offsets))

    @property
    def nbytes(self) -> int:
        offsets = sum(o.nbytes for o in self.offsets) if self.offsets is not None else 0
        return sum(len(d) for d in self.data) + offsets

    def slices(self, i: int, j: int) -> tuple[bytes | memoryview, ...]:
        """Elements ``i..j-1`` of every column, without copying."""
        if i == 0 and j == self.count:
            return self.data
        assert self.offsets is not None
        return tuple(
            memoryview(d)[int(o[i]) : int(o[j]) - 1]
            for d, o in zip(self.data, self.offsets, strict=True)
        )


class Segment:
    """The serialized final bars of one cell: their labels and their elements."""

    __slots__ = ("count", "elements", "first", "labels", "last", "nbytes")

    def __init__(self, labels: IntArray, elements: Elements) -> None:
        self.labels = labels
        self.elements = elements
        self.count = len(labels)
        self.first, self.last = int(labels[0]), int(labels[-1])
        self.nbytes = elements.nbytes + labels.nbytes + _SEGMENT_OVERHEAD

    def index(self, first: int, last: int, count: int) -> int | None:
        """Where the run of ``count`` labels ``first..last`` starts in this segment, or None
        when the segment does not hold all of it (built before those bars were final)."""
        if first == self.first and last == self.last and count == self.count:
            return 0  # the usual case: a whole segment inside the answer
        i = int(np.searchsorted(self.labels, first))
        j = i + count
        if j > self.count or int(self.labels[i]) != first or int(self.labels[j - 1]) != last:
            return None
        return i


SegmentKey: TypeAlias = tuple[str, str, str, int]
"""(symbol, resolution value, shape value, cell)."""


def _key(symbol: SymbolSpec, resolution: Resolution, shape: Shape, cell: int) -> SegmentKey:
    return (symbol.name, resolution.value, shape.value, cell)


class SegmentCache:
    """Segments by (symbol, resolution, shape, cell), least recently used first out, bounded
    by the bytes they hold. Thread-safe (segments are built in the worker threads)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._data: OrderedDict[SegmentKey, Segment] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Bytes held now (never above the budget)."""
        return self._used

    def __len__(self) -> int:
        return len(self._data)

    def get_many(self, keys: list[SegmentKey]) -> list[Segment | None]:
        """The segments of ``keys`` (None where absent), all under one lock."""
        data = self._data
        with self._lock:
            found = [data.get(key) for key in keys]
            for key, segment in zip(keys, found, strict=True):
                if segment is not None:
                    data.move_to_end(key)
        return found

    def put(self, key: SegmentKey, segment: Segment) -> None:
        size = segment.nbytes
        if size > self.budget:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._used -= old.nbytes
            self._data[key] = segment
            self._used += size
            while self._used > self.budget:
                _, evicted = self._data.popitem(last=False)
                self._used -= evicted.nbytes


class _Piece:
    """One run of the answer's bars (labels ``first..last``): cached (``segment`` from ``i``)
    or still to serialize (``elements``)."""

    __slots__ = ("cell", "elements", "final", "first", "i", "labels", "last", "segment")

    def __init__(self, labels: IntArray, first: int, last: int, final: bool, cell: int) -> None:
        self.labels, self.first, self.last = labels, first, last
        self.final, self.cell = final, cell
        self.segment: Segment | None = None
        self.i = 0
        self.elements: Elements | None = None

    def take(self, segment: Segment | None) -> bool:
        """Use ``segment`` if it holds this run."""
        if segment is None:
            return False
        i = segment.index(self.first, self.last, len(self.labels))
        if i is None:
            return False
        self.segment, self.i = segment, i
        return True

    def slices(self) -> tuple[bytes | memoryview, ...]:
        if self.segment is not None:
            return self.segment.elements.slices(self.i, self.i + len(self.labels))
        assert self.elements is not None
        return self.elements.slices(0, len(self.labels))


class Answer:
    """One history answer in the making: :meth:`complete` does the CPU work (in a worker
    thread when :attr:`cold`), :attr:`body` is then the JSON."""

    def __init__(self, cold: bool, work: Callable[[], bytes]) -> None:
        self.cold = cold
        """Whether completing it builds segments or computes uncached history (milliseconds
        or more); otherwise only the forming bar is left, from cached pieces of the series."""
        self._work = work
        self._body: bytes | None = None

    def complete(self) -> None:
        self._body = self._work()

    @property
    def body(self) -> bytes:
        if self._body is None:
            raise RuntimeError("Answer.complete() has not run")
        return self._body


class BarBytes:
    """REST and UDF history bodies of one market source, from cached segments."""

    def __init__(self, source: MarketSource, budget: int) -> None:
        self._source = source
        self._windowed = source if budget > 0 and isinstance(source, WindowedSource) else None
        self.cache = SegmentCache(budget)
        # the forming bar of each (symbol, resolution, shape) as last serialized, with the
        # labels and the second it was computed for: requests within one second share it
        self._forming: dict[SegmentKey, tuple[int, int, int, Elements]] = {}

    def answer(
        self,
        shape: Shape,
        symbol: SymbolSpec,
        resolution: Resolution,
        start: int,
        end: int,
        count_back: int,
        limit: int | None,
        view: MarketSource | None = None,
    ) -> Answer:
        """The answer to a history query (same arguments as ``MarketSource.history``); cheap
        until :meth:`Answer.complete`. ``view``: ask it instead of this cache's source, a
        view of that source as of another second (a replay session's, docs/replay.md §4):
        its bars before ``final_before`` are the source's own, so they share the cache."""
        whole = self._source if view is None else view
        source = (
            self._windowed if view is None or self._windowed is None
            else self._windowed_view(view)
        )  # fmt: skip
        if source is None:
            return Answer(
                True,
                lambda: uncached_body(
                    shape, whole.history(symbol, resolution, start, end, count_back, limit)
                ),
            )
        window = source.window(symbol, resolution, start, end, count_back, limit)
        if len(window.labels) == 0:
            body = _empty_body(shape, window)
            return Answer(False, lambda: body)
        pieces = self._plan(shape, symbol, resolution, window)
        todo = [p for p in pieces if p.segment is None]

        def work() -> bytes:
            self._fill(source, shape, symbol, resolution, window, todo)
            return _assemble(shape, pieces)

        return Answer(any(p.final for p in todo), work)

    @staticmethod
    def _windowed_view(view: MarketSource) -> WindowedSource | None:
        return view if isinstance(view, WindowedSource) else None

    def _plan(
        self, shape: Shape, symbol: SymbolSpec, resolution: Resolution, window: Window
    ) -> list[_Piece]:
        labels = window.labels
        k = int(np.searchsorted(labels, window.final_before))  # labels[:k] are final
        pieces: list[_Piece] = []
        if k:
            final = labels[:k]
            span = segment_span(resolution)
            first_cell, last_cell = int(final[0]) // span, int(final[-1]) // span
            cells = range(first_cell, last_cell + 1)
            bounds: list[int] = []
            if last_cell > first_cell:
                edges = np.arange(first_cell + 1, last_cell + 1, dtype=np.int64) * span
                bounds = final.searchsorted(edges).tolist()
            # the keys of _key(), written out: str keys hash cheaper than enums
            name, res, form = symbol.name, resolution.value, shape.value
            found = self.cache.get_many([(name, res, form, cell) for cell in cells])
            for a, b, cell, segment in zip([0, *bounds], [*bounds, k], cells, found, strict=True):
                if a == b:
                    continue  # a cell with no bar (a gap in the source's labels)
                piece = _Piece(final[a:b], int(final[a]), int(final[b - 1]), True, cell)
                piece.take(segment)
                pieces.append(piece)
        if k < len(labels):
            fresh = labels[k:]
            pieces.append(_Piece(fresh, int(fresh[0]), int(fresh[-1]), False, 0))
        return pieces

    def _fill(
        self,
        source: WindowedSource,
        shape: Shape,
        symbol: SymbolSpec,
        resolution: Resolution,
        window: Window,
        todo: list[_Piece],
    ) -> None:
        """Serialize what the plan could not take from the cache (worker thread or loop)."""
        group: list[_Piece] = []
        for piece in todo:  # runs of consecutive missing cells: one call to the source each
            if piece.final:
                if group and piece.cell != group[-1].cell + 1:
                    self._build(source, shape, symbol, resolution, window, group)
                    group = []
                group.append(piece)
        if group:
            self._build(source, shape, symbol, resolution, window, group)
        for piece in todo:
            if piece.segment is None:
                self._serialize(source, shape, symbol, resolution, window, piece)

    def _build(
        self,
        source: WindowedSource,
        shape: Shape,
        symbol: SymbolSpec,
        resolution: Resolution,
        window: Window,
        group: list[_Piece],
    ) -> None:
        """Segments of consecutive cells, each as far as it is final (so later requests find
        it whole), from one call to the source (its generation is vectorised over a range)."""
        span = segment_span(resolution)
        lo = group[0].cell * span
        hi = min((group[-1].cell + 1) * span, window.final_before)
        labels = source.window(symbol, resolution, lo, hi).labels
        if len(labels) == 0:
            return
        # one serialization of the whole range (orjson and the offset scan per column, not
        # per cell), then cut at the cell edges
        elements = Elements.of(shape, source.bars(symbol, resolution, labels, window.at))
        edges = np.searchsorted(labels, np.asarray([p.cell * span for p in group[1:]], np.int64))
        bounds = [0, *edges.tolist(), len(labels)]
        for piece, a, b in zip(group, bounds, bounds[1:], strict=False):
            if a == b:
                continue
            segment = Segment(labels[a:b].copy(), elements.cut(a, b))
            if piece.take(segment):
                self.cache.put(_key(symbol, resolution, shape, piece.cell), segment)

    def _serialize(
        self,
        source: WindowedSource,
        shape: Shape,
        symbol: SymbolSpec,
        resolution: Resolution,
        window: Window,
        piece: _Piece,
    ) -> None:
        """Exactly these bars, uncached: the forming bar (serialized once per second), or a
        run the source no longer lists the same way (its clock was set back meanwhile)."""
        key = _key(symbol, resolution, shape, 0)
        memo = None if piece.final else self._forming.get(key)
        if memo is not None and memo[:3] == (piece.first, piece.last, window.at):
            piece.elements = memo[3]
            return
        bars = source.bars(symbol, resolution, piece.labels, window.at)
        piece.elements = Elements.of(shape, bars, offsets=False)
        if not piece.final:
            if len(self._forming) >= _FORMING_KEYS:
                self._forming.clear()  # symbols × resolutions × shapes: rarely reached
            self._forming[key] = (piece.first, piece.last, window.at, piece.elements)


def _assemble(shape: Shape, pieces: list[_Piece]) -> bytes:
    """One copy of every byte: the openers, each column's runs comma-joined, the closer."""
    runs = [p.slices() for p in pieces]
    parts: list[bytes | memoryview] = []
    for column, opener in enumerate(_OPENERS[shape]):
        parts.append(opener)
        for n, run in enumerate(runs):
            if n:
                parts.append(b",")
            parts.append(run[column])
    parts.append(_CLOSERS[shape])
    return b"".join(parts)
