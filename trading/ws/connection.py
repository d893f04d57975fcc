"""One WebSocket connection's outbound side: a bounded queue drained by its own writer task.

Overflow policy (websocket.md §7): below the bound nothing is dropped or reordered; when the
queue is full, a market-state update replaces its queued twin (same coalescing key) in place;
anything else means the client cannot keep up, and the connection is closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Hashable

from aiohttp import WSCloseCode, WSMsgType, web

from trading.ws.hub import Counters

log = logging.getLogger(__name__)

SLOW_CONSUMER = "Slow consumer"
CLOSE_TIMEOUT_S = 2.0
FRAME_HEADER_MAX = 14  # bytes a WebSocket frame header can add to a payload


class _Entry:
    __slots__ = ("data", "key")

    def __init__(self, key: Hashable | None, data: bytes) -> None:
        self.key = key
        self.data = data


class Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        counters: Counters,
        *,
        queue_size: int,
        send_timeout_s: float,
    ) -> None:
        self.ws = ws
        self.peer = request.remote or "?"
        self._transport = request.transport
        # Flow-control thresholds of the transport (fixed: nothing here changes them).
        self._low_water, self._high_water = (
            (0, 0) if self._transport is None else self._transport.get_write_buffer_limits()
        )
        self._compressed = bool(ws.compress)
        self.topics: set[str] = set()
        self._counters = counters
        self._max = queue_size
        self._send_timeout = send_timeout_s
        self._queue: deque[_Entry] = deque()
        self._latest: dict[Hashable, _Entry] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False
        self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer {self.peer}")
        self._closer: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def send(self, data: bytes, key: Hashable | None = None) -> None:
        if self.closing:
            return
        if len(self._queue) >= self._max:
            twin = self._latest.get(key) if key is not None else None
            if twin is not None:
                twin.data = data
                self._counters.messages_coalesced += 1
                return
            self._slow_consumer(f"queue full ({self._max} messages)")
            return
        entry = _Entry(key, data)
        self._queue.append(entry)
        if key is not None:
            self._latest[key] = entry
        self._idle.clear()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _may_block(self, size: int) -> bool:
        """Whether ``send_frame`` could wait for the peer; only such sends get a timer.

        An uncompressed frame is written to the transport at once; aiohttp then awaits a drain
        only while the transport has paused writing, which asyncio does when its buffer goes
        above the high-water mark and undoes when it is back at or below the low-water mark.
        Arming a timer for every frame (a TimerHandle pushed on and cancelled from the loop's
        heap) cost more CPU than the send itself under fan-out."""
        transport = self._transport
        if transport is None or self._compressed:
            return True
        buffered = transport.get_write_buffer_size()
        return buffered > self._low_water or buffered + size + FRAME_HEADER_MAX > self._high_water

    async def _write_loop(self) -> None:
        ws, counters, queue = self.ws, self._counters, self._queue
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not queue:
                    self._idle.set()
                    waiter = self._waiter = loop.create_future()
                    await waiter  # send() resolves it: cheaper than an Event per message
                    continue
                entry = queue.popleft()
                if entry.key is not None and self._latest.get(entry.key) is entry:
                    del self._latest[entry.key]
                if self._may_block(len(entry.data)):
                    async with asyncio.timeout(self._send_timeout):
                        await ws.send_frame(entry.data, WSMsgType.TEXT)
                else:
                    await ws.send_frame(entry.data, WSMsgType.TEXT)
                counters.messages_sent += 1
                # Don't pin the last frame while parked: a small orjson result owns a ~4 KiB
                # buffer, i.e. ~4 KiB per idle subscribed connection.
                del entry
        except TimeoutError:
            self._slow_consumer(f"send blocked for {self._send_timeout}s")
        except (ConnectionError, RuntimeError):
            pass  # the socket is gone; the read loop ends and releases everything

    def _slow_consumer(self, why: str) -> None:
        if self.closing:
            return
        self.closing = True
        self._counters.slow_consumer_closes += 1
        log.warning("closing slow WebSocket consumer %s: %s", self.peer, why)
        self._queue.clear()
        self._latest.clear()
        self.close_soon(WSCloseCode.POLICY_VIOLATION, SLOW_CONSUMER)

    def close_soon(self, code: int, message: str) -> None:
        """Start closing from synchronous code (overflow, timers); stop() waits for it."""
        self.closing = True
        if self._closer is None:
            self._closer = asyncio.create_task(self.close(code, message), name="ws-close")

    async def close(self, code: int, message: str) -> None:
        """Close with a code, or abort the transport when the close frame cannot be written."""
        self.closing = True
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.ws.close(code=code, message=message.encode())
        except (TimeoutError, ConnectionError, RuntimeError):
            if self._transport is not None:
                self._transport.abort()

    async def flush(self) -> None:
        """Wait until every queued frame is written (callers bound it with a timeout)."""
        if not self._writer.done():
            await self._idle.wait()

    async def stop(self) -> None:
        """End the writer once the socket is finished; let a pending close finish (bounded)."""
        self.closing = True
        if not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._closer is not None:
            await self._closer
