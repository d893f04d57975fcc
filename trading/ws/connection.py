"""The outbound side of WebSocket connections: a bounded queue per connection, written by one
shared flush task while sockets keep up, and by a per-connection writer task when one lags.

Fan-out cost is dominated by task switches, so a publish to N subscribers must not wake N
tasks. :meth:`Connection.send` only queues (never awaits); the :class:`Flusher` then writes
every marked connection's queue in one task, as long as each frame goes straight into the
transport (aiohttp's ``send_frame`` returns without waiting below the transport's flow-control
marks). A connection whose transport is congested gets its own writer task, which sends with a
timeout; a lagging client therefore never delays the others.

Overflow policy (websocket.md §7): below the bound nothing is dropped or reordered; when the
queue is full, a market-state update replaces its queued twin (same coalescing key) in place;
anything else means the client cannot keep up, and the connection is closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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


class Flusher:
    """Writes the queues of connections that received frames, in one task per batch.

    The task ends when the batch is written, so nothing outlives the traffic (and no task is
    left behind for leak checks); a new batch starts one again.
    """

    def __init__(self) -> None:
        self._pending: list[Connection] = []
        self._task: asyncio.Task[None] | None = None

    def mark(self, conn: Connection) -> None:
        self._pending.append(conn)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ws-flush")

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                for conn in batch:
                    await conn.write_pending()
        finally:
            self._task = None


class Connection:
    # Per-connection memory matters at 10 000+ sockets: slots, a plain list as the queue (an
    # empty deque or Event costs ~0.6 KB each), and a drain future only while someone waits.
    __slots__ = (
        "_closer", "_compressed", "_counters", "_drain_waiter", "_flusher", "_held",
        "_high_water", "_low_water", "_marked", "_max", "_queue", "_send_timeout", "_transport",
        "_writer", "closing", "peer", "topics", "ws",
    )  # fmt: skip

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        counters: Counters,
        flusher: Flusher,
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
        self._flusher = flusher
        self._max = queue_size
        self._send_timeout = send_timeout_s
        self._queue: list[_Entry] = []
        self._marked = False
        self._held = False
        self._writer: asyncio.Task[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self.closing = False
        self._closer: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def send(self, data: bytes, key: Hashable | None = None) -> None:
        """Queue a frame without waiting (coalescing or closing on overflow)."""
        if self.closing:
            return
        queue = self._queue
        if len(queue) >= self._max:
            # Full: a market-state update replaces its newest queued twin. Searching here (only
            # under overflow) keeps the common path free of per-message key bookkeeping.
            if key is not None:
                for twin in reversed(queue):
                    if twin.key == key:
                        twin.data = data
                        self._counters.messages_coalesced += 1
                        return
            self._slow_consumer(f"queue full ({self._max} messages)")
            return
        queue.append(_Entry(key, data))
        if not self._marked and not self._held and self._writer is None:
            self._marked = True
            self._flusher.mark(self)

    def hold(self) -> None:
        """The read loop is answering a request: it writes the replies itself afterwards
        (:meth:`release`), which saves starting a flush task for every request."""
        self._held = True

    async def release(self) -> None:
        self._held = False
        if self._queue and not self._marked:
            await self.write_pending()

    def _may_block(self, size: int) -> bool:
        """Whether ``send_frame`` could wait for the peer.

        An uncompressed frame is written to the transport at once; aiohttp then awaits a drain
        only while the transport has paused writing, which asyncio does when its buffer goes
        above the high-water mark and undoes when it is back at or below the low-water mark.
        """
        transport = self._transport
        if transport is None or self._compressed:
            return True
        buffered = transport.get_write_buffer_size()
        return buffered > self._low_water or buffered + size + FRAME_HEADER_MAX > self._high_water

    def _set_idle(self) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def write_pending(self) -> None:
        """Write queued frames that go straight out; hand the rest to a writer task."""
        self._marked = False
        if self.closing or self._writer is not None:
            return
        queue, ws, counters = self._queue, self.ws, self._counters
        sent = 0
        try:
            for entry in queue:
                if self._may_block(len(entry.data)):
                    break
                await ws.send_frame(entry.data, WSMsgType.TEXT)
                sent += 1
        except (ConnectionError, RuntimeError):
            self._gone()
            return
        finally:
            del queue[:sent]
            counters.messages_sent += sent
        if queue:
            self._writer = asyncio.create_task(self._write_loop(), name="ws-writer")
        else:
            self._set_idle()

    async def _write_loop(self) -> None:
        """A congested socket: send one frame at a time, each bounded by the send timeout."""
        queue, ws, counters = self._queue, self.ws, self._counters
        try:
            while queue and not self.closing:
                entry = queue.pop(0)
                async with asyncio.timeout(self._send_timeout):
                    await ws.send_frame(entry.data, WSMsgType.TEXT)
                counters.messages_sent += 1
                del entry  # don't pin the last frame while the socket drains
            self._set_idle()
        except TimeoutError:
            self._slow_consumer(f"send blocked for {self._send_timeout}s")
        except (ConnectionError, RuntimeError):
            self._gone()
        finally:
            self._writer = None

    def _gone(self) -> None:
        """The socket is gone; the read loop ends and releases everything."""
        self.closing = True
        self._queue.clear()
        self._set_idle()

    def _slow_consumer(self, why: str) -> None:
        if self.closing:
            return
        self._counters.slow_consumer_closes += 1
        log.warning("closing slow WebSocket consumer %s: %s", self.peer, why)
        self._gone()
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

    async def drained(self) -> None:
        """Wait until every queued frame is written (callers bound it with a timeout)."""
        if not self._queue:
            return
        if self._drain_waiter is None:
            self._drain_waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._drain_waiter)

    async def stop(self) -> None:
        """End the writer once the socket is finished; let a pending close finish (bounded)."""
        self.closing = True
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        if self._closer is not None:
            await self._closer
