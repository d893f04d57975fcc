"""Counter-based randomness and the bar-splitting bridges of the synthetic series.

Everything is a pure function of integer keys (splitmix64 over numpy uint64 arrays), so any bar
can be produced without generating the history before it (market.md S1, S2). Prices are integer
ticks throughout; the splits keep every parent's open/high/low/close/volume exactly, which is
what makes aggregation across resolutions exact (S3).
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_TO_UNIT = 2.0**-53


def mix64(x: U64) -> U64:
    """splitmix64 finalizer: a bijective, well-mixed hash of each element (wraps mod 2**64)."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def symbol_key(seed: int, name: str) -> int:
    """Stable 64-bit key of (seed, symbol); Python's own hash() is salted per process."""
    digest = hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def keys_for(base: int, level: int, index: I64 | int) -> U64:
    """Keys of the entities ``index`` (days, hour starts, ...) at one level of one symbol."""
    idx = np.atleast_1d(np.asarray(index, dtype=np.int64)).astype(np.uint64)
    head = mix64(np.array([base ^ (level * 0x632BE59BD9B4E019 & 0xFFFFFFFFFFFFFFFF)], np.uint64))
    return mix64(head ^ mix64(idx))


def uniforms(keys: U64, count: int, stream: int) -> F64:
    """``count`` independent uniforms in [0, 1) per key (shape ``(len(keys), count)``)."""
    cols = mix64(np.arange(count, dtype=np.uint64) + np.uint64(stream << 40))
    bits = mix64(keys[:, None] ^ cols[None, :])
    return (bits >> _S11).astype(np.float64) * _TO_UNIT


def _anchor_path(pos: F64, val: F64, points: int) -> tuple[F64, F64]:
    """Piecewise-linear path through 4 sorted anchors per row, sampled at 0..points-1.

    Returns the path and each sample's fraction within its segment (0 at an anchor), which
    shapes the noise envelope so the noise vanishes at the anchors.
    """
    j = np.arange(points, dtype=np.float64)[None, :]
    seg = (j >= pos[:, 1:2]).astype(np.int64) + (j >= pos[:, 2:3]).astype(np.int64)
    pa = np.take_along_axis(pos, seg, axis=1)
    pb = np.take_along_axis(pos, seg + 1, axis=1)
    va = np.take_along_axis(val, seg, axis=1)
    vb = np.take_along_axis(val, seg + 1, axis=1)
    frac = (j - pa) / (pb - pa)
    return va + (vb - va) * frac, frac


def _noisy(
    base: F64, frac: F64, steps: F64, spread: I64, amplitude: float, low: I64, high: I64
) -> I64:
    walk = np.cumsum(steps * 2.0 - 1.0, axis=1) / np.sqrt(steps.shape[1])
    noise = amplitude * spread[:, None] * walk * np.sin(np.pi * frac)
    lo, hi = low[:, None].astype(np.float64), high[:, None].astype(np.float64)
    path = base + noise
    path = np.where(path > hi, 2 * hi - path, path)  # reflect rather than clip: no flat tops
    path = np.where(path < lo, 2 * lo - path, path)
    clipped: I64 = np.clip(np.rint(path), lo, hi).astype(np.int64)
    return clipped


def split_path(o: I64, h: I64, lo: I64, c: I64, n: int, keys: U64) -> tuple[I64, I64, I64, I64]:
    """Split each parent bar into ``n`` continuous children (child open = previous close).

    The children open at the parent's open, close at its close, stay inside its range, and
    one hash-chosen child reaches the high, another the low; the path runs through those two
    points with a random-walk bridge between anchors.
    """
    rows = np.arange(o.shape[0])
    u = uniforms(keys, 3 * n + 5, stream=1)
    # The high and the low are reached inside the middle 70 % of the parent and at least a
    # fifth of it apart: anchors near an edge or near each other would force a steep jump.
    ph = n * (0.15 + 0.7 * u[:, 0])
    pl = n * (0.15 + 0.7 * u[:, 1])
    pl = np.where(np.abs(ph - pl) < 0.2 * n, np.where(ph > n / 2, ph - 0.2 * n, ph + 0.2 * n), pl)
    hi_i = np.minimum(ph.astype(np.int64), n - 1)
    lo_i = np.minimum(pl.astype(np.int64), n - 1)
    high_first = ph < pl
    p1 = np.where(high_first, ph, pl)
    p2 = np.maximum(np.where(high_first, pl, ph), p1 + 1e-6)
    v1 = np.where(high_first, h, lo)
    v2 = np.where(high_first, lo, h)
    pos = np.stack([np.zeros_like(p1), p1, p2, np.full_like(p1, n)], axis=1)
    val = np.stack([o, v1, v2, c], axis=1).astype(np.float64)
    base, frac = _anchor_path(pos, val, n + 1)
    path = _noisy(base, frac, u[:, 4 : n + 5], h - lo, 0.9, lo, h)
    path[:, 0] = o
    path[:, n] = c
    co, cc = path[:, :-1], path[:, 1:]
    wick = (h - lo)[:, None] * (0.8 / np.sqrt(n))
    up = np.rint(wick * u[:, n + 5 : 2 * n + 5] ** 2).astype(np.int64)
    down = np.rint(wick * u[:, 2 * n + 5 : 3 * n + 5] ** 2).astype(np.int64)
    ch = np.minimum(np.maximum(co, cc) + up, h[:, None])
    cl = np.maximum(np.minimum(co, cc) - down, lo[:, None])
    ch[rows, hi_i] = h
    cl[rows, lo_i] = lo
    return co, ch, cl, cc


def split_points(o: I64, h: I64, lo: I64, c: I64, n: int, keys: U64) -> I64:
    """Split each parent into ``n`` single prices (the one-second grain, market.md S7).

    First price = open, last = close, one hash-chosen inner point is the high, another the low;
    everything stays inside the range, so the prices aggregate back to the parent exactly.
    """
    rows = np.arange(o.shape[0])
    u = uniforms(keys, n + 2, stream=3)
    # as in split_path: extremes inside the middle 70 %, at least a fifth of the points apart
    first, span, gap = round(0.15 * n), round(0.7 * n), round(0.2 * n)
    hi_i = first + np.minimum((u[:, 0] * span).astype(np.int64), span - 1)
    lo_i = first + np.minimum((u[:, 1] * span).astype(np.int64), span - 1)
    lo_i = np.where(
        np.abs(hi_i - lo_i) < gap, np.where(hi_i > n // 2, hi_i - gap, hi_i + gap), lo_i
    )
    high_first = hi_i < lo_i
    p1 = np.where(high_first, hi_i, lo_i).astype(np.float64)
    p2 = np.where(high_first, lo_i, hi_i).astype(np.float64)
    v1 = np.where(high_first, h, lo)
    v2 = np.where(high_first, lo, h)
    pos = np.stack([np.zeros_like(p1), p1, p2, np.full_like(p1, n - 1)], axis=1)
    val = np.stack([o, v1, v2, c], axis=1).astype(np.float64)
    base, frac = _anchor_path(pos, val, n)
    path = _noisy(base, frac, u[:, 2:], h - lo, 0.8, lo, h)
    path[:, 0] = o
    path[:, n - 1] = c
    path[rows, hi_i] = h
    path[rows, lo_i] = lo
    return path


def split_volume(v: I64, n: int, minimum: int, keys: U64) -> I64:
    """Split each volume into ``n`` integer parts of at least ``minimum`` that add up exactly."""
    u = uniforms(keys, n, stream=2)
    weights = np.cumsum(0.25 + u, axis=1)
    extra = v - n * minimum
    cum = np.floor(extra[:, None] * (weights / weights[:, -1:])).astype(np.int64)
    cum[:, -1] = extra
    return np.diff(cum, axis=1, prepend=0) + minimum
