"""The frames the service builds itself (trading/ws/frames.py), and what it writes at once.

- For every payload length, aiohttp's own frame parser reads ``header(len) + payload`` back as
  one final text message with exactly that payload (aiohttp is the oracle: it is what clients
  of this kind run).
- Over a real socket, frames on both sides of the 7-bit and 16-bit length limits arrive
  intact and in order (small ones framed here, the largest by aiohttp after a drain).
- A subscribe's reply and its snapshot leave the server in one transport write (still two
  WebSocket messages, the reply first).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import WSMsgType
from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp.http_websocket import WebSocketReader
from aiohttp.test_utils import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.wsclient import WS, drain, recv, send, subscribe
from trading.keys import HUB
from trading.ws.connection import Connection
from trading.ws.frames import TextFrames, header

Client = TestClient[Any, Any]
BARS_AAPL = 'bars:{"resolution":"1","symbol":"AAPL"}'


class Protocol:
    """What the parser's queue may ask of the connection it reads for (nothing, here)."""

    _reading_paused = False

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def parse(data: bytes) -> list[tuple[WSMsgType, Any]]:
    async def run() -> list[tuple[WSMsgType, Any]]:
        queue = WebSocketDataQueue(Protocol(), 2**20, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
        reader = WebSocketReader(queue, max_msg_size=0, compress=False, decode_text=True)
        reader.feed_data(data)
        queue.feed_eof()
        out = []
        while not queue.is_eof() or queue._buffer:  # drain what was parsed
            msg = await queue.read()
            out.append((msg.type, msg.data))
        return out

    return asyncio.run(run())


@settings(max_examples=60, deadline=None)
@example(0)
@example(125)
@example(126)
@example(65535)
@example(65536)
@example(70_000)
@given(st.integers(0, 70_000))
def test_aiohttp_parses_every_length_back_to_the_payload(size: int) -> None:
    payload = ("é" * (size // 2) + "x" * (size % 2)).encode()
    assert len(payload) == size
    frames = TextFrames()
    frame = frames.text(payload)
    assert frame == header(size) + payload
    assert frames.text(payload) is frame, "the same payload object is framed once"
    assert parse(frame + frame) == [(WSMsgType.TEXT, payload.decode())] * 2


async def test_frames_across_the_length_boundaries_arrive_intact(trading_client: Client) -> None:
    hub = trading_client.app[HUB]
    async with trading_client.ws_connect(WS) as ws:
        for size in (125, 126, 127):  # the 7-bit / 16-bit boundary, with pongs (28 bytes + pad)
            await send(ws, "ping", "x" * (size - 28))
            assert len(orjson.dumps(await recv(ws))) == size
        _, snapshot = await subscribe(ws, "bars", {"symbol": "AAPL"})
        bar = snapshot[0]["payload"]["payload"]
        empty = len(orjson.dumps({"type": "bars.update", "payload": {"topic": BARS_AAPL,
                                  "payload": {**bar, "pad": ""}}}))  # fmt: skip
        sizes = [65516, 65535, 65536, 300]  # below, at and above the 16-bit limit, then small
        for n, size in enumerate(sizes):
            item = {**bar, "time": bar["time"] + n, "pad": "x" * (size - empty)}
            hub.publish("bars", BARS_AAPL, item)
        got = [await recv(ws) for _ in sizes]
        assert [len(orjson.dumps(f)) for f in got] == sizes
        assert [f["payload"]["payload"]["time"] - bar["time"] for f in got] == [0, 1, 2, 3]


async def test_reply_and_snapshot_leave_in_one_write(trading_client: Client) -> None:
    hub = trading_client.app[HUB]
    async with trading_client.ws_connect(WS) as ws:
        await send(ws, "ping", {"n": 1})
        assert (await recv(ws))["type"] == "pong"
        (conn,) = [c for c in hub.connections if isinstance(c, Connection)]
        transport: Any = conn._transport
        writes: list[bytes] = []
        real_write = transport.write

        def spy(data: bytes) -> None:
            writes.append(bytes(data))
            real_write(data)

        transport.write = spy
        try:
            await send(ws, "bars.subscribe", {"symbol": "AAPL"})
            reply = await recv(ws)
            snapshot = await drain(ws)
        finally:
            del transport.write
    assert reply["type"] == "bars.subscribe.response"
    assert [f["type"] for f in snapshot] == ["bars.update"]
    assert len(writes) == 1, f"{len(writes)} writes for one answer"
    reply_bytes = orjson.dumps(reply)
    assert writes[0].startswith(header(len(reply_bytes)) + reply_bytes)
