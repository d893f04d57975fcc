"""The Redis backplane: broker pushes of one process reach the WebSocket subscribers of every
other process (issue 15; the pitfalls are those the scale-out research found in redis-py 8.1).

One Redis pub/sub channel per account (``trading:acct:<account>``), SUBSCRIBEd only while this
process has local subscribers of that account, and one control channel per process. Why each
part is the way it is:

- **Ref counting** (:meth:`Backplane.hold` / :meth:`Backplane.release`): many local
  subscribers of one account cost one upstream SUBSCRIBE. ``hold`` is synchronous and only its
  0 → 1 transition asks for a SUBSCRIBE, so concurrent first subscribers cannot both subscribe
  (the race of encode/broadcaster); every SUBSCRIBE/UNSUBSCRIBE of a channel runs under that
  channel's lock and re-checks what is wanted there. The last ``release`` UNSUBSCRIBEs only
  after ``redis_linger_s`` and a re-check, so a flapping client does not churn.
- **Confirmed subscriptions** (:meth:`Backplane.ready`): redis-py's ``subscribe()`` only writes
  the command; the reader resolves a future when Redis confirms, and a snapshot is read only
  after that, so no push can fall between the snapshot and the subscription.
- **A control channel** subscribed first: the connection exists before any account channel
  (redis-py refuses to read before), and its re-confirmation after a dropped
  connection is how a reconnect is noticed.
- **One reader task**: per-channel order is Redis' PUBLISH order, kept by never spawning a
  task per message; dispatch only queues frames (the hub never awaits a socket).
- **Publishing never blocks** (:mod:`trading.ws.publisher`): a bounded queue, one task that
  sends everything pending per wake on one connection (order per channel kept), many
  PUBLISHes per script call, each flush bounded by ``redis_timeout_s``; dropped pushes are
  counted and repaired by fresh snapshots (pub/sub is at-most-once; a snapshot repairs a gap).
- **Reconnect**: redis-py re-SUBSCRIBEs what it remembers when its connection comes back, but
  it forgets failed subscribes and remembers unsubscribes that failed during the outage; the
  backplane reconciles wanted against subscribed, waits for the confirmations and then calls
  ``on_resync`` with every held account (fresh snapshots for their subscribers). Retries are
  this module's (every ``redis_retry_s``), not redis-py's backoff, which would block for
  seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from trading.ws.publisher import ACCOUNT_PREFIX, ERRORS, PREFIX, RESYNC, Publisher, channel_of
from trading.ws.remote import BackplaneCounters

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes], None]
"""Called by the reader with an account and the bytes published for it, in Redis' order."""
OnResync = Callable[[list[str]], Awaitable[None]]
"""Send fresh snapshots to every local subscriber of these accounts (pushes may be lost)."""


class Backplane:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        queue_size: int,
        linger_s: float,
        retry_s: float,
        on_message: OnMessage,
        on_resync: OnResync,
        counters: BackplaneCounters | None = None,
    ) -> None:
        # redis-py's default retry backs off for seconds (pitfall 4): the reader retries
        # itself, every retry_s; a publish retries once at once (a pooled connection that a
        # Redis restart closed), all of it within timeout_s
        options: dict[str, Any] = {
            "socket_connect_timeout": timeout_s,
            "socket_timeout": timeout_s,
        }
        self._redis = Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)
        self._subscriber = Redis.from_url(url, retry=Retry(NoBackoff(), 0), **options)
        self._pubsub: PubSub = self._subscriber.pubsub()
        self._timeout = timeout_s
        self._linger = linger_s
        self._retry = retry_s
        self._on_message = on_message
        self._on_resync = on_resync
        self.counters = counters or BackplaneCounters()
        self.control = PREFIX + b"ctl:" + uuid.uuid4().hex.encode()
        self._holds: dict[str, int] = {}
        self._locks: dict[bytes, asyncio.Lock] = {}
        """One per account channel ever followed here (bounded by the accounts), never
        dropped: a task still waiting on a dropped lock would race one on its successor."""
        self._sent: set[bytes] = set()
        """Account channels SUBSCRIBEd on the current connection (not UNSUBSCRIBEd since)."""
        self._waiters: dict[bytes, asyncio.Future[None]] = {}
        """Held channels whose SUBSCRIBE Redis has not confirmed yet on this connection."""
        self._lingering: dict[bytes, asyncio.TimerHandle] = {}
        self._connected = False
        self._started = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._publisher = Publisher(
            self._redis, self.counters, timeout_s=timeout_s, queue_size=queue_size,
            retry_s=retry_s,
        )  # fmt: skip
        self._publishing: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None

    # -- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the reader and the publisher; wait (at most ``timeout_s``) until the control
        channel is confirmed. Redis being down does not stop the server: subscribers then get
        their pushes (and fresh snapshots) from when it is reachable."""
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read_loop(), name="backplane-reader")
        self._publishing = loop.create_task(self._publisher.run(), name="backplane-publisher")
        try:
            async with asyncio.timeout(self._timeout):
                await self._started.wait()
        except TimeoutError:
            log.warning("Redis backplane not reachable yet; retrying every %s s", self._retry)

    async def close(self) -> None:
        """Stop the tasks, then the connections, each step waiting at most ``timeout_s``: a
        Redis killed or restarting at that instant must not hold the process's shutdown (a
        test teardown once waited forever here, under load, after Redis was stopped and
        started again); what does not finish in time is logged and left to the loop's end."""
        tasks = [t for t in (self._reader, self._publishing, self._resync) if t is not None]
        tasks += self._tasks
        for task in tasks:
            task.cancel()
        for handle in self._lingering.values():
            handle.cancel()
        await self._within(asyncio.gather(*tasks, return_exceptions=True), "its tasks")
        with contextlib.suppress(*ERRORS):
            await self._within(self._pubsub.aclose(), "the subscription")  # type: ignore[no-untyped-call]
        for client in (self._redis, self._subscriber):
            with contextlib.suppress(*ERRORS):
                await self._within(client.aclose(), "a connection pool")

    async def _within(self, step: Awaitable[object], what: str) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await step
        except TimeoutError:
            log.warning("closing the Redis backplane: %s did not stop within %s s", what,
                        self._timeout)  # fmt: skip

    @property
    def connected(self) -> bool:
        return self._connected

    # -- subscriptions ----------------------------------------------------------------------

    def hold(self, account: str) -> None:
        """One more local subscriber of ``account``: the first SUBSCRIBEs its channel."""
        count = self._holds.get(account, 0)
        self._holds[account] = count + 1
        if count:
            return
        channel = channel_of(account)
        handle = self._lingering.pop(channel, None)
        if handle is not None:
            handle.cancel()
        if channel in self._sent:
            return  # still subscribed (it lingered)
        if channel not in self._waiters:
            self._waiters[channel] = asyncio.get_running_loop().create_future()
        self._spawn(self._apply(channel))

    def release(self, account: str) -> None:
        """One local subscriber less; after the last, UNSUBSCRIBE once the linger is over."""
        count = self._holds[account] - 1
        if count:
            self._holds[account] = count
            return
        del self._holds[account]
        channel = channel_of(account)
        waiter = self._waiters.pop(channel, None)
        if waiter is not None and not waiter.done():
            waiter.cancel()
        loop = asyncio.get_running_loop()
        self._lingering[channel] = loop.call_later(self._linger, self._linger_over, channel)

    def _linger_over(self, channel: bytes) -> None:
        del self._lingering[channel]
        self._spawn(self._apply(channel))

    async def ready(self, account: str) -> None:
        """Return once Redis confirmed the subscription of a held ``account`` (pushes of it
        reach this process from then on). Without a connection, or after ``timeout_s``, return
        anyway: the fresh snapshots sent when Redis is back repair what was missed."""
        waiter = self._waiters.get(channel_of(account))
        if waiter is None or not self._connected:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.shield(waiter)
        except TimeoutError:
            log.warning("Redis did not confirm the subscription of %s in time", account)
        except asyncio.CancelledError:
            if not waiter.cancelled():
                raise  # we were cancelled, not the waiter (released meanwhile)

    def holds(self) -> list[str]:
        return list(self._holds)

    def _lock(self, channel: bytes) -> asyncio.Lock:
        lock = self._locks.get(channel)
        if lock is None:
            lock = self._locks[channel] = asyncio.Lock()
        return lock

    def _wanted(self, channel: bytes) -> bool:
        return channel[len(ACCOUNT_PREFIX) :].decode() in self._holds

    async def _apply(self, channel: bytes) -> None:
        """Make the channel's upstream state what is wanted now (under its lock). Without a
        connection nothing is sent: the reconcile after the reconnect does it."""
        lock = self._lock(channel)
        async with lock:
            wanted = self._wanted(channel)
            try:
                if not self._connected:
                    pass
                elif wanted and channel not in self._sent:
                    self._sent.add(channel)
                    self.counters.subscribes += 1
                    try:
                        await self._pubsub.subscribe(channel)
                    except BaseException:
                        self._sent.discard(channel)  # redis-py forgets it too
                        raise
                elif not wanted and channel in self._sent:
                    self._sent.discard(channel)
                    self.counters.unsubscribes += 1
                    await self._pubsub.unsubscribe(channel)
            except ERRORS as exc:  # the reader sees the drop and reconciles after it
                log.warning("Redis (un)subscribe of %s failed: %s", channel.decode(), exc)

    async def _reconcile(self) -> None:
        """After a reconnect: SUBSCRIBE what is held and missing, UNSUBSCRIBE what redis-py
        resubscribed without anyone holding it (pitfall 3), then wait for the confirmations."""
        channels = set(self._sent) | {channel_of(a) for a in self._holds}
        for channel in channels:
            await self._apply(channel)
        waiters = [asyncio.shield(w) for w in self._waiters.values()]
        if waiters:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(self._timeout):
                    await asyncio.gather(*waiters, return_exceptions=True)

    # -- the reader -------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        pubsub = self._pubsub
        while True:
            try:
                if pubsub.connection is None:  # never connected yet
                    await pubsub.subscribe(self.control)
                # the raw reply, not get_message(): that wraps every message in a dict and
                # awaits observability hooks, a third of the receive path's CPU
                response = await pubsub.parse_response(block=True)
            except asyncio.CancelledError:
                raise
            except (*ERRORS, RuntimeError) as exc:
                self._lost(exc)
                connection: Any = pubsub.connection  # (typed None by redis-py)
                if connection is not None:  # the next read connects (and resubscribes)
                    with contextlib.suppress(*ERRORS):
                        await connection.disconnect(nowait=True)
                await asyncio.sleep(self._retry)
                continue
            if isinstance(response, list) and len(response) == 3:
                self._handle(response[0], response[1], response[2])

    def _handle(self, kind: bytes, channel: bytes, data: Any) -> None:
        if kind == b"message":
            account = channel[len(ACCOUNT_PREFIX) :].decode()
            if data == RESYNC:
                self._start_resync([account], reconcile=False)
                return
            self.counters.received += 1
            try:
                self._on_message(account, data)
            except Exception:
                log.exception("backplane message for %s could not be dispatched", account)
        elif kind == b"subscribe":
            if channel == self.control:
                self._control_confirmed()
                return
            waiter = self._waiters.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif kind == b"unsubscribe":  # what PubSub.handle_message keeps: its memory
            pending = self._pubsub.pending_unsubscribe_channels
            if channel in pending:
                pending.remove(channel)
                self._pubsub.channels.pop(channel, None)

    def _control_confirmed(self) -> None:
        first = not self._started.is_set()
        self._connected = True
        self._started.set()
        # what redis-py resubscribed on this connection (its memory, not ours)
        self._sent = {c for c in self._pubsub.channels if c != self.control}
        if not first:
            self.counters.reconnects += 1
            log.warning("Redis backplane connection is back; sending fresh snapshots")
        if first and not self._holds:
            return
        self._start_resync(None, reconcile=True)

    def _lost(self, exc: BaseException) -> None:
        if self._connected:
            log.warning("Redis backplane connection lost: %s", exc)
        self._connected = False
        self._sent.clear()
        if self._resync is not None:
            self._resync.cancel()
            self._resync = None
        loop = asyncio.get_running_loop()
        for account in self._holds:
            channel = channel_of(account)
            waiter = self._waiters.get(channel)
            if waiter is None or waiter.done():
                self._waiters[channel] = loop.create_future()

    def _start_resync(self, accounts: list[str] | None, *, reconcile: bool) -> None:
        """Fresh snapshots for ``accounts`` (None: every held one), after a reconcile."""
        previous = self._resync
        if previous is not None and not previous.done():
            if accounts is not None:  # a peer's drop: on its own, not replacing a reconnect
                self._spawn(self._resync_round(accounts, reconcile=False))
                return
            previous.cancel()
        self._resync = asyncio.get_running_loop().create_task(
            self._resync_round(accounts, reconcile=reconcile), name="backplane-resync"
        )

    async def _resync_round(self, accounts: list[str] | None, *, reconcile: bool) -> None:
        if reconcile:
            await self._reconcile()
        held = [a for a in (accounts if accounts is not None else self.holds()) if a in self._holds]
        if not held:
            return
        self.counters.resyncs += 1
        try:
            await self._on_resync(held)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sending fresh snapshots after a backplane gap failed")

    # -- publishing -------------------------------------------------------------------------

    def publish(self, account: str, data: bytes) -> None:
        """Queue a push of ``account`` (never waits; a full queue drops it, counted)."""
        self._publisher.publish(account, data)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
