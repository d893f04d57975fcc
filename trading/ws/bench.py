"""Benchmark support (``TRADING_BENCH=1`` only): topics the market stream must leave alone.

``POST /api/v1/__bench/publish`` pushes synthetic bar updates to a real topic through the real
hub; the stream's own updates to that topic would disturb the measured rate, so while the hook
runs they are dropped. The filter wraps the stream's emit callbacks, and only when benchmark
hooks are on: the stream itself knows nothing of it and a normal server pays nothing.
"""

from __future__ import annotations

from trading.market.source import Bars
from trading.market.stream import EmitBar


class MutedTopics:
    def __init__(self) -> None:
        self._topics: set[str] = set()

    def mute(self, topic: str) -> None:
        self._topics.add(topic)

    def unmute(self, topic: str) -> None:
        self._topics.discard(topic)

    def bars(self, emit: EmitBar) -> EmitBar:
        """``emit`` for every topic that is not muted."""

        def emit_unless_muted(topic: str, bars: Bars) -> None:
            if topic not in self._topics:
                emit(topic, bars)

        return emit_unless_muted
