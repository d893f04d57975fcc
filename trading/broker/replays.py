"""Bar-replay sessions of accounts (docs/replay.md): their rules, over the store.

A session's state is one row of the broker's store (:mod:`trading.broker.replay_rows`), read
on every request rather than held by a worker, so any worker answers for any session and a
restart loses none. A change reads the row, applies one clock operation
(:class:`~trading.market.replay.ReplayClock`) at the wall time of the market's clock and
stores it under the version it read; when another worker changed it meanwhile the change is
applied again to what that worker stored (the operations compose: each re-anchors).
"""

from __future__ import annotations

import functools
import math
import sqlite3
from collections.abc import Callable, Sequence

from trading.broker import replay_rows
from trading.broker.service import BrokerService
from trading.market.limits import MAX_REPLAY_SYMBOLS
from trading.market.replay import (
    ReplayClock,
    ReplayConflict,
    ReplayError,
    ReplaySession,
    ReplayState,
    new_session_id,
)
from trading.market.symbols import SymbolCatalog

Change = Callable[[ReplayClock, int], ReplayClock]
"""A clock operation at a wall time (ms), e.g. ``lambda c, w: c.pause(w)``."""
Changed = Callable[[str, ReplaySession | None], None]
"""Told of every change this process stores: the session id and what it is now (None:
ended). The ``replay`` WebSocket route pushes it at once instead of at its next period."""

_RETRIES = 8
FIND_CHUNK = 500
"""Ids per statement of :meth:`Replays.find_many` (SQLite allows 32766 parameters)."""


class Replays:
    def __init__(
        self,
        broker: BrokerService,
        catalog: SymbolCatalog,
        wall_s: Callable[[], float],
        earliest_ms: int,
        max_sessions: int,
    ) -> None:
        self._broker = broker
        self._catalog = catalog
        self._wall_s = wall_s
        self.earliest_ms = earliest_ms
        """The earliest start time: the history start (00:00 New York of its first day)."""
        self.max_sessions = max_sessions
        self._listeners: list[Changed] = []

    def on_change(self, listener: Changed) -> None:
        self._listeners.append(listener)

    def _changed(self, session_id: str, session: ReplaySession | None) -> None:
        for listener in self._listeners:
            listener(session_id, session)

    def wall_ms(self) -> int:
        return math.floor(self._wall_s() * 1000)

    async def start(
        self,
        account: str,
        start_ms: int,
        speed: int,
        symbols: Sequence[str],
        state: ReplayState = ReplayState.PAUSED,
    ) -> ReplaySession:
        """A new session of ``account`` showing ``start_ms``; refused (:class:`ReplayError`)
        for an unknown symbol, a start in the future or before the history, a speed not in
        :data:`~trading.market.replay.SPEEDS`, or an account at its limit."""
        names: list[str] = []
        for text in symbols:
            spec = self._catalog.lookup(text)
            if spec is None:
                raise ReplayError("symbols", f"unknown symbol {text!r}")
            if spec.name not in names:
                names.append(spec.name)
        if not names:
            raise ReplayError("symbols", "a session needs at least one symbol")
        if len(names) > MAX_REPLAY_SYMBOLS:
            raise ReplayError(
                "symbols", f"{len(names)} symbols given, at most {MAX_REPLAY_SYMBOLS}"
            )
        wall = self.wall_ms()
        clock = ReplayClock.start(start_ms, speed, wall, self.earliest_ms, state)
        session = ReplaySession(
            new_session_id(), account, tuple(names), wall, clock, start=start_ms
        )
        limit = self.max_sessions
        stored = await self._broker.transact(lambda db: replay_rows.insert(db, session, limit))
        await self._broker.open_session_book(stored)
        return stored

    async def get(self, account: str, session_id: str) -> ReplaySession | None:
        """``account``'s session ``session_id``; None for a missing one and for another
        account's alike."""
        return await self._broker.transact(lambda db: replay_rows.get(db, account, session_id))

    async def find(self, session_id: str) -> ReplaySession | None:
        """The session ``session_id`` whatever its account: the caller decides who may see it
        (the WebSocket route, which answers another account's as a missing one)."""
        found = await self.find_many([session_id])
        return found.get(session_id)

    async def find_many(self, session_ids: Sequence[str]) -> dict[str, ReplaySession]:
        """The stored sessions of these ids (missing ones absent), in one transaction."""
        ids = list(session_ids)

        def read(db: sqlite3.Connection) -> list[ReplaySession]:
            out: list[ReplaySession] = []
            for i in range(0, len(ids), FIND_CHUNK):
                out += replay_rows.find(db, ids[i : i + FIND_CHUNK])
            return out

        return {s.id: s for s in await self._broker.transact(read)} if ids else {}

    async def of_account(self, account: str) -> list[ReplaySession]:
        return await self._broker.transact(lambda db: replay_rows.of_account(db, account))

    async def change(self, account: str, session_id: str, change: Change) -> ReplaySession | None:
        """Apply ``change`` now and store it; the stored session (None: not found)."""
        for _ in range(_RETRIES):
            found = await self.get(account, session_id)
            if found is None:
                return None
            changed = ReplaySession(
                found.id, found.account, found.symbols, found.created,
                change(found.clock, self.wall_ms()), found.version, found.start,
            )  # fmt: skip
            if await self._broker.transact(functools.partial(replay_rows.update, session=changed)):
                stored = ReplaySession(
                    changed.id, changed.account, changed.symbols, changed.created,
                    changed.clock, changed.version + 1, changed.start,
                )  # fmt: skip
                self._broker.follow_session(stored)
                self._changed(session_id, stored)
                return stored
        raise ReplayConflict(session_id)

    async def end(self, account: str, session_id: str) -> bool:
        """Reset the session's book and delete the session; whether there was one (of this
        account). The book is reset first: a crash between the two leaves a session with an
        empty book, never a book trading on without its session."""
        if await self.get(account, session_id) is None:
            return False
        await self._broker.end_session_book(session_id)
        ended = await self._broker.transact(lambda db: replay_rows.delete(db, account, session_id))
        if ended:
            self._changed(session_id, None)
        return ended
