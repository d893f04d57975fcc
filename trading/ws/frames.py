"""Server-to-client WebSocket text frames (RFC 6455 §5.2), built once and written as bytes.

Why not ``ws.send_frame`` for every frame: a server's frames are unmasked, so one update's
frame is the same bytes for every subscriber. Framing it once per publish and handing those
bytes to each transport saves aiohttp's per-frame coroutine and header packing (a fan-out's
main cost after the ``send`` syscall itself), and several queued frames of one connection (a
subscribe's reply and snapshot) can go out in a single ``transport.write``. aiohttp has no
call that writes several frames at once, so the few lines of framing live here; compressed
connections still go through aiohttp, which owns the deflate state.
"""

from __future__ import annotations

from struct import Struct
from typing import Final

_LEN1: Final = Struct("!BB").pack
_LEN2: Final = Struct("!BBH").pack
_LEN3: Final = Struct("!BBQ").pack
FIN_TEXT: Final = 0x81
"""First header byte: final fragment, opcode 1 (text); no RSV bits (no extension)."""
HEADER_MAX: Final = 10
"""The longest header of an unmasked frame (64-bit payload length)."""


def header(size: int) -> bytes:
    """The header of an unmasked text frame of ``size`` payload bytes (§5.2: 7-bit length,
    or 126 + 16-bit, or 127 + 64-bit, network order)."""
    if size < 126:
        return _LEN1(FIN_TEXT, size)
    if size < 65536:
        return _LEN2(FIN_TEXT, 126, size)
    return _LEN3(FIN_TEXT, 127, size)


class TextFrames:
    """``text(payload)`` → the whole frame, remembering the last one.

    The hub hands the same ``bytes`` object to every subscriber of a publish, one after the
    other, so a one-entry memo keyed by identity frames each update once however many
    connections write it. Holding a reference to the last payload keeps its identity unique
    (its id cannot be reused while it is held); it pins one frame, nothing more.
    """

    __slots__ = ("_frame", "_payload")

    def __init__(self) -> None:
        self._payload: bytes | None = None
        self._frame = b""

    def text(self, payload: bytes) -> bytes:
        if payload is not self._payload:
            self._frame = header(len(payload)) + payload
            self._payload = payload
        return self._frame
