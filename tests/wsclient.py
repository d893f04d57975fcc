"""Helpers for talking to /api/v1/ws as a client would (tests only)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

WS = "/api/v1/ws"
Frame = dict[str, Any]


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3.0) -> Frame:
    msg = await ws.receive(timeout=timeout)
    assert msg.type is aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type} {msg.data}"
    frame: Frame = orjson.loads(msg.data)
    return frame


async def send(ws: aiohttp.ClientWebSocketResponse, type_: str, payload: Any = None) -> None:
    await ws.send_str(orjson.dumps({"type": type_, "payload": payload}).decode())


async def request(
    ws: aiohttp.ClientWebSocketResponse, type_: str, payload: Any = None
) -> tuple[Frame, list[Frame]]:
    """Send a request; return its reply and the updates that arrived before it."""
    await send(ws, type_, payload)
    skipped: list[Frame] = []
    while True:
        frame = await recv(ws)
        if frame["type"].endswith(".update"):
            skipped.append(frame)
            continue
        return frame, skipped


async def subscribe(
    ws: aiohttp.ClientWebSocketResponse, route: str, payload: Any
) -> tuple[Frame, list[Frame]]:
    """Subscribe; return the ok reply and the snapshot frames that follow it."""
    reply, _ = await request(ws, f"{route}.subscribe", payload)
    assert reply["payload"]["status"] == "ok", reply
    return reply, await drain(ws)


async def drain(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.15) -> list[Frame]:
    """Every frame that arrives until the socket stays quiet for ``quiet`` seconds."""
    frames: list[Frame] = []
    while True:
        try:
            frames.append(await recv(ws, timeout=quiet))
        except TimeoutError:
            return frames


async def updates(
    ws: aiohttp.ClientWebSocketResponse, count: int, timeout: float = 3.0
) -> list[Frame]:
    out: list[Frame] = []
    async with asyncio.timeout(timeout):
        while len(out) < count:
            frame = await recv(ws, timeout)
            assert frame["type"].endswith(".update"), frame
            out.append(frame)
    return out
