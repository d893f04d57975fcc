"""Properties of one connection's outbound queue, for every interleaving of publishes and a
peer that reads at its own pace (hypothesis drives the order; the real-socket cases are in
test_ws_resources.py).

For any sequence of market-state publishes (keyed, of any size) and reads by the peer:
- the live traffic queued never exceeds ``queue_bytes`` nor ``queue_size`` frames;
- the connection is never closed (a peer that reads is never a slow consumer);
- each key's states arrive in the order they were published (skipping is allowed);
- once the peer has read everything, the newest state of every key has arrived.

The socket is a stand-in object (``send_frame`` that waits for the peer to read), because the
property is about the queue's bookkeeping across thousands of interleavings; a real socket
would make each example take seconds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trading.ws import protocol
from trading.ws.connection import Connection, Flusher
from trading.ws.hub import Counters

QUEUE_BYTES = 4096
QUEUE_SIZE = 8
KEYS = 4


class CongestedTransport:
    """Always above its high-water mark, so every frame goes through the writer task."""

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, 1)

    def get_write_buffer_size(self) -> int:
        return 10

    def abort(self) -> None:
        raise AssertionError("a reading peer's transport was aborted")


@dataclass
class Peer:
    """The far end: each ``send_frame`` waits until the peer reads one frame."""

    compress = False
    reads: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(0))
    received: list[dict[str, Any]] = field(default_factory=list)

    async def send_frame(self, data: bytes, _opcode: Any) -> None:
        await self.reads.acquire()
        self.received.append(orjson.loads(data)["payload"])

    async def close(self, **_: Any) -> None:
        raise AssertionError("a reading peer was closed")


@dataclass
class Request:
    transport: CongestedTransport = field(default_factory=CongestedTransport)
    remote: str = "127.0.0.1"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


publish = st.tuples(st.just("publish"), st.integers(0, KEYS - 1), st.integers(0, 1500))
read = st.tuples(st.just("read"), st.integers(1, 6), st.just(0))


@settings(max_examples=200, deadline=None)
@example([("publish", 0, 1500)] * 5)  # held back twice: the newest state must be what is sent
@example([("publish", k % 2, 1200) for k in range(9)] + [("read", 2, 0)] * 3)
@given(st.lists(st.one_of(publish, publish, publish, read), max_size=80))  # mostly publishes
def test_a_reading_peer_gets_every_key_in_order_within_the_bound(
    ops: list[tuple[str, int, int]],
) -> None:
    asyncio.run(_run(ops))


async def _run(ops: list[tuple[str, int, int]]) -> None:
    peer = Peer()
    conn = Connection(
        peer,  # type: ignore[arg-type]
        Request(),  # type: ignore[arg-type]
        Counters(),
        Flusher(),
        queue_size=QUEUE_SIZE,
        queue_bytes=QUEUE_BYTES,
        send_timeout_s=60,
        on_close=lambda _conn: None,
    )
    newest: dict[int, int] = {}
    for op, arg, size in ops:
        if op == "publish":
            version = newest.get(arg, -1) + 1
            newest[arg] = version
            topic = f"equity:{arg}"  # a market-state route keyed by topic alone
            item = {"key": arg, "version": version, "pad": "x" * size}
            data = protocol.update("equity", topic, item)
            conn.send(data, protocol.coalesce_key("equity", topic, item), ("equity", topic, item))
        else:
            for _ in range(arg):
                peer.reads.release()
        await settle()
        assert conn.queued_bytes <= QUEUE_BYTES
        assert len(conn._queue) <= QUEUE_SIZE  # live frames only: no answers in this test
        assert not conn.closing
    # the peer now reads everything that is and will be queued
    for _ in range(len(ops) * 2 + 10):
        peer.reads.release()
        await settle()
    assert conn.queued == 0
    seen: dict[int, list[int]] = {}
    for payload in peer.received:
        item = payload["payload"]
        seen.setdefault(item["key"], []).append(item["version"])
    for key, versions in seen.items():
        assert versions == sorted(set(versions)), f"key {key} out of order: {versions}"
    assert {k: v[-1] for k, v in seen.items()} == newest
    await conn.stop()
