"""The outbound side of WebSocket connections: a bounded queue per connection, written by one
shared flush task while sockets keep up, and by a per-connection writer task when one lags.

Fan-out cost is dominated by task switches, so a publish to N subscribers must not wake N
tasks. :meth:`Connection.send` only queues (never awaits); the :class:`Flusher` then writes
every marked connection's queue in one task, as long as each frame goes straight into the
transport (aiohttp's ``send_frame`` returns without waiting below the transport's flow-control
marks). A connection whose transport is congested gets its own writer task, which sends with a
timeout; a lagging client therefore never delays the others.

Memory per connection is bounded (docs/websockets.md "Limits"):

- **Live traffic** (updates a publisher pushes) counts against ``queue_bytes`` (payload plus
  :data:`ENTRY_OVERHEAD` per frame) and ``queue_size`` (frames). Below both nothing is dropped.
- **Market state** (bars, quotes, equity, connection status) that does not fit is *deferred*:
  the connection keeps the newest item per coalescing key (in place, in first-deferred order),
  not its bytes, and serializes it when the queue has room again. A client that reads, however
  much one tick produces, is therefore never closed; it gets the latest state, later. The
  deferred items are shared with every other subscriber of the same publish, and there is at
  most one per key, so they are bounded by the subscription limits (not by traffic).
- **Answers** to a request (reply, snapshot, error) are exempt from the bound, so a snapshot is
  delivered whatever its size and the reply comes first. The read loop does not read the next
  request until the answer is written (:meth:`Connection.answered`), so at most one answer is
  held per connection, and its size is that of the state it shows.
- Anything else that does not fit (an ``orders`` update, ...) means the client cannot keep up:
  the connection is closed with 1008, as it is when one send blocks for the send timeout.

Closing frees the hub slot, the topics and the queue at once (:meth:`Connection.close`), and
aborts the transport whenever the close handshake cannot complete, whatever the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable

from aiohttp import WSCloseCode, WSMsgType, web

from trading.auth.principal import Principal
from trading.ws import protocol
from trading.ws.frames import TextFrames
from trading.ws.hub import Counters, Source

log = logging.getLogger(__name__)

SLOW_CONSUMER = "Slow consumer"
CLOSE_TIMEOUT_S = 2.0
FRAME_HEADER_MAX = 14  # bytes a WebSocket frame header can add to a payload
ENTRY_OVERHEAD = 96
"""What a queued frame costs beyond its payload (its list slot, the bytes object's
header); counted so that many tiny frames are bounded too."""


class _Answer:
    """A queued frame exempt from the bound (part of an answer). Live frames are queued as
    their bare ``bytes``: a fan-out then allocates no object per subscriber, which the garbage
    collector would count, promote while the batch waits, and traverse in full collections
    (measured: a few percent of a fan-out's CPU)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


_Entry = bytes | _Answer


def _payload(entry: _Entry) -> bytes:
    return entry if isinstance(entry, bytes) else entry.data


class Flusher:
    """Writes the queues of connections that received frames, in one task per batch.

    The task ends when the batch is written, so nothing outlives the traffic (and no task is
    left behind for leak checks); a new batch starts one again.
    """

    def __init__(self) -> None:
        self._pending: list[Connection] = []
        self._task: asyncio.Task[None] | None = None
        self.frames = TextFrames()
        """Frames each published payload once for all the connections that write it."""

    def mark(self, conn: Connection) -> None:
        self._pending.append(conn)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ws-flush")

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                for conn in batch:
                    if not conn.flush():  # the common case writes without a coroutine
                        await conn.write_pending()
        finally:
            self._task = None


class Connection:
    # Per-connection memory matters at 10 000+ sockets: slots, a plain list as the queue (an
    # empty deque or Event costs ~0.6 KB each), the deferred map and futures only when used.
    __slots__ = (
        "_answer_waiter", "_closer", "_compressed", "_counters", "_deferred", "_drain_waiter",
        "_exempt_bytes", "_flusher", "_held", "_high_water", "_live_bytes", "_live_count",
        "_low_water", "_marked", "_max", "_max_bytes", "_on_close", "_queue", "_send_timeout",
        "_transport", "_writer", "closing", "peer", "principal", "topics", "ws",
    )  # fmt: skip

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        counters: Counters,
        flusher: Flusher,
        *,
        queue_size: int,
        queue_bytes: int,
        send_timeout_s: float,
        on_close: Callable[[Connection], None],
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
        self._max_bytes = queue_bytes
        self._send_timeout = send_timeout_s
        self._on_close: Callable[[Connection], None] | None = on_close
        self._queue: list[_Entry] = []
        self._live_bytes = 0
        self._live_count = 0
        self._exempt_bytes = 0
        self._deferred: OrderedDict[Hashable, Source] | None = None
        self._marked = False
        self._held = False
        self._writer: asyncio.Task[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._answer_waiter: asyncio.Future[None] | None = None
        self.closing = False
        self._closer: asyncio.Task[None] | None = None
        self.principal: Principal | None = None
        """Keys mode: who opened the socket (None: anonymous, or off mode)."""

    @property
    def queued(self) -> int:
        """Frames waiting: queued plus deferred market state."""
        return len(self._queue) + (len(self._deferred) if self._deferred else 0)

    @property
    def queued_bytes(self) -> int:
        """Bytes of live traffic queued (what ``queue_bytes`` bounds)."""
        return self._live_bytes

    # -- queueing -----------------------------------------------------------------------------

    def send(self, data: bytes, key: Hashable | None = None, source: Source | None = None) -> None:
        """Queue a frame without waiting (deferring market state or closing on overflow).

        ``key`` is the coalescing key of a market-state update and ``source`` its
        ``(route, topic, item)``, from which a deferred update is serialized again later.
        """
        if self.closing:
            return
        if self._held:
            self._append_answer(data, key)
            return
        cost = len(data) + ENTRY_OVERHEAD
        if key is not None and source is not None:
            deferred = self._deferred
            if deferred:  # keep market state in order: behind what is deferred already
                self._defer(deferred, key, source)
                return
            if self._live_count >= self._max or self._live_bytes + cost > self._max_bytes:
                if deferred is None:
                    deferred = self._deferred = OrderedDict()
                self._defer(deferred, key, source)
                return
        elif self._live_count >= self._max or self._live_bytes + cost > self._max_bytes:
            self._slow_consumer(
                f"queue full ({self._live_count} messages, {self._live_bytes} bytes)"
            )
            return
        self._live_bytes += cost
        self._live_count += 1
        self._queue.append(data)
        self._wake()

    def _defer(self, deferred: OrderedDict[Hashable, Source], key: Hashable, src: Source) -> None:
        if key in deferred:
            self._counters.messages_coalesced += 1
        deferred[key] = src  # an existing key keeps its place: the newer state replaces it

    def _append_answer(self, data: bytes, key: Hashable | None) -> None:
        deferred = self._deferred
        if key is not None and deferred:
            deferred.pop(key, None)  # the snapshot is newer than the deferred state
        self._exempt_bytes += len(data) + ENTRY_OVERHEAD
        self._queue.append(_Answer(data))
        self._wake()

    def _wake(self) -> None:
        if not self._marked and not self._held and self._writer is None:
            self._marked = True
            self._flusher.mark(self)

    def settle(self, topic: str) -> None:
        """Queue the deferred updates of ``topic`` before an answer about it, so that no update
        of an unsubscribed topic follows the reply and a re-sent snapshot follows the older
        updates."""
        deferred = self._deferred
        if not deferred:
            return
        for key in [k for k, src in deferred.items() if src[1] == topic]:
            route, _, item = deferred.pop(key)
            self._append_answer(protocol.update(route, topic, item), None)

    def _undefer(self) -> None:
        """Serialize deferred market state into the queue while it fits (in deferred order)."""
        deferred = self._deferred
        queue = self._queue
        while deferred:
            key, src = deferred.popitem(last=False)
            data = protocol.update(*src)
            cost = len(data) + ENTRY_OVERHEAD
            if queue and (
                self._live_count >= self._max or self._live_bytes + cost > self._max_bytes
            ):
                deferred[key] = src
                deferred.move_to_end(key, last=False)
                return
            self._live_bytes += cost
            self._live_count += 1
            queue.append(data)
        self._deferred = None  # empty: give the map back

    def _dequeued(self, entry: _Entry) -> None:
        cost = len(_payload(entry)) + ENTRY_OVERHEAD
        if isinstance(entry, _Answer):
            self._exempt_bytes -= cost
            if not self._exempt_bytes:
                self._answer_done()
        else:
            self._live_bytes -= cost
            self._live_count -= 1

    def _dequeued_many(self, sent: int) -> None:
        """Account for the first ``sent`` queued frames being written, in one pass (the fan-out
        hot path: no method call per frame)."""
        queue = self._queue
        live_bytes = exempt_bytes = live_count = 0
        for entry in queue if sent == len(queue) else queue[:sent]:
            if isinstance(entry, bytes):
                live_bytes += len(entry)
                live_count += 1
            else:
                exempt_bytes += len(entry.data) + ENTRY_OVERHEAD
        if sent == len(queue):
            queue.clear()
        else:
            del queue[:sent]
        self._counters.messages_sent += sent
        self._live_bytes -= live_bytes + live_count * ENTRY_OVERHEAD
        self._live_count -= live_count
        if exempt_bytes:
            self._exempt_bytes -= exempt_bytes
            if not self._exempt_bytes:
                self._answer_done()

    def hold(self) -> None:
        """The read loop is answering a request: what it queues until :meth:`release` is the
        answer (exempt from the bound), and it writes it itself afterwards, which saves
        starting a flush task for every request."""
        self._held = True

    async def release(self) -> None:
        self._held = False
        if self._queue and not self._marked:
            await self.write_pending()

    async def answered(self) -> None:
        """Wait until the answers queued so far are written (or the connection is closing):
        the read loop takes no new request before, which bounds what answers hold."""
        if not self._exempt_bytes or self.closing:
            return
        if self._answer_waiter is None:
            self._answer_waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._answer_waiter)

    def _answer_done(self) -> None:
        waiter, self._answer_waiter = self._answer_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- writing ------------------------------------------------------------------------------

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

    def flush(self) -> bool:
        """Write the queue without awaiting: frames that fit below the transport's high-water
        mark go out at once (one ``transport.write``), the rest to a writer task. False when
        aiohttp must frame them (a compressed connection): the caller awaits
        :meth:`write_pending` then."""
        if self._compressed or self._transport is None:
            return False
        self._marked = False
        if self.closing or self._writer is not None:
            return True
        queue = self._queue
        while True:
            if not self._write_frames():
                return True
            if queue or not self._deferred:
                break
            self._undefer()
        if queue:
            self._writer = asyncio.create_task(self._write_loop(), name="ws-writer")
        else:
            self._set_idle()
        return True

    async def write_pending(self) -> None:
        """Write queued frames that go straight out; hand the rest to a writer task."""
        if self.flush():
            return
        self._marked = False
        if self.closing or self._writer is not None:
            return
        queue = self._queue
        try:
            while True:
                await self._send_frames()
                if queue or not self._deferred:
                    break
                self._undefer()
        except (ConnectionError, RuntimeError):
            self._gone()
            return
        if queue:
            self._writer = asyncio.create_task(self._write_loop(), name="ws-writer")
        else:
            self._set_idle()

    def _write_frames(self) -> bool:
        """Write the queued frames that fit below the transport's high-water mark in one
        ``transport.write`` (a subscribe's reply and snapshot, or a burst of updates, become
        one syscall); the rest stays queued. False if the socket is gone."""
        transport = self._transport
        assert transport is not None  # flush() leaves a connection without one to aiohttp
        buffered = transport.get_write_buffer_size()
        if buffered > self._low_water:
            return True  # congested: the writer task waits for the drain
        if transport.is_closing() or self.ws.closed:
            self._gone()
            return False
        room = self._high_water - buffered
        text = self._flusher.frames.text
        queue = self._queue
        if len(queue) == 1:  # a fan-out's usual case: one update per connection per batch
            frame = text(_payload(queue[0]))
            if len(frame) <= room:
                transport.write(frame)
                self._dequeued_many(1)
            return True
        chunks: list[bytes] = []
        for entry in queue:
            frame = text(_payload(entry))
            if len(frame) > room:
                break
            room -= len(frame)
            chunks.append(frame)
        if chunks:
            transport.write(b"".join(chunks))
            self._dequeued_many(len(chunks))
        return True

    async def _send_frames(self) -> None:
        """Compressed connections: aiohttp frames (and deflates) each one, in order."""
        queue, ws = self._queue, self.ws
        sent = 0
        try:
            for entry in queue:
                data = _payload(entry)
                if self._may_block(len(data)):
                    break
                await ws.send_frame(data, WSMsgType.TEXT)
                sent += 1
        finally:
            if sent:
                self._dequeued_many(sent)

    async def _write_loop(self) -> None:
        """A congested socket: send one frame at a time, each bounded by the send timeout."""
        queue, ws, counters = self._queue, self.ws, self._counters
        try:
            while not self.closing:
                if not queue:
                    if not self._deferred:
                        break
                    self._undefer()
                    continue
                entry = queue.pop(0)
                self._dequeued(entry)
                async with asyncio.timeout(self._send_timeout):
                    await ws.send_frame(_payload(entry), WSMsgType.TEXT)
                counters.messages_sent += 1
                del entry  # don't pin the last frame while the socket drains
            self._set_idle()
        except TimeoutError:
            self._slow_consumer(f"send blocked for {self._send_timeout}s")
        except (ConnectionError, RuntimeError):
            self._gone()
        finally:
            self._writer = None

    # -- closing ------------------------------------------------------------------------------

    def _gone(self) -> None:
        """The socket is gone or going: drop what is queued and wake whoever waits."""
        self.closing = True
        self._queue.clear()
        self._deferred = None
        self._live_bytes = self._live_count = self._exempt_bytes = 0
        self._set_idle()
        self._answer_done()

    def _release_slot(self) -> None:
        """Give back the hub slot and the topics (once; never from inside a publish)."""
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close(self)

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

    async def close(self, code: int, message: str, *, within_s: float = CLOSE_TIMEOUT_S) -> None:
        """Free the slot, then close with a code; abort the transport when the close frame
        cannot be written within ``within_s`` (the peer's buffers are full), whatever the
        exception.

        When a send timed out, aiohttp's shared drain future is already cancelled, so the close
        frame's own drain raises CancelledError here although nobody cancelled this task."""
        self.closing = True
        self._release_slot()
        clean = False
        try:
            async with asyncio.timeout(within_s):
                await self.ws.close(code=code, message=message.encode())
            clean = True
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # a real cancellation (finally still aborts)
        except Exception as exc:  # any failure: the transport must go
            log.debug("WebSocket close of %s failed: %r", self.peer, exc)
        finally:
            transport = self._transport
            if transport is not None and not (clean and not transport.get_write_buffer_size()):
                transport.abort()  # unwritten bytes would keep the socket (and read loop) alive
        self._gone()

    async def drained(self) -> None:
        """Wait until every queued frame is written (callers bound it with a timeout)."""
        if not self._queue and not self._deferred:
            return
        if self._drain_waiter is None:
            self._drain_waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._drain_waiter)

    async def stop(self) -> None:
        """End the writer once the socket is finished; let a pending close finish (bounded)."""
        self.closing = True
        self._release_slot()
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        if self._closer is not None:
            await self._closer
        self._gone()
