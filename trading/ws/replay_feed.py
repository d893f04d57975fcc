"""The ``replay`` route (docs/replay.md §6): a replay session's state, and its symbols' bars
and quotes at replay-now, pushed at replay speed.

Nothing of a session's stream crosses the Redis backplane: its state is the stored clock and
the market is deterministic, so every worker computes the stream of the sessions its own
sockets follow. Once per ``TRADING_REPLAY_PUSH_S`` a worker reads all of them in one store
transaction (not one per subscriber) and, per session and resolution, computes one update,
which the hub serializes once for all its subscribers. A session that neither moved nor
changed pushes nothing (a paused one, or a manual clock standing still). A change stored
through this worker's REST routes is pushed at once (:meth:`Replays.on_change
<trading.broker.replays.Replays.on_change>`); one stored by another worker shows at the next
period, when this worker reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from trading.broker.errors import StorageError
from trading.broker.replays import Replays
from trading.market.at_time import MarketAt
from trading.market.replay import ReplaySession
from trading.market.replay_bars import SymbolMoment, moment, view_of
from trading.market.resolution import Resolution, parse_resolution
from trading.market.source import MarketSource, TimedMarket
from trading.models.replay import ReplaySessionState
from trading.models.ws import ReplaySubscriptionRequest
from trading.wire.replay import replay_update, session_state
from trading.ws.hub import FeedUnavailable, Hub, Item, Start
from trading.ws.protocol import REPLAY

log = logging.getLogger(__name__)

Accounts = Callable[[str | None], Awaitable[Collection[str]]]
"""The accounts whose sessions a caller may follow: off mode DEMO-ACCOUNT's, keys mode the
caller's (none for an anonymous socket), as the REST routes decide."""


@dataclass
class _Topic:
    resolution: Resolution
    after: dict[str, int | None] = field(default_factory=dict)
    """Per symbol, the last completed bar pushed (what the next push starts after)."""
    shown: tuple[int, int] | None = None
    """(version, replay-now ms) of the last push: the same again is not pushed."""


@dataclass
class _Followed:
    """A session this worker's sockets follow: its latest read, and its topics."""

    session: ReplaySession
    topics: dict[str, _Topic] = field(default_factory=dict)
    ended: bool = False


def not_found(session_id: str) -> str:
    return f"Replay session {session_id} not found"


class ReplayFeed:
    def __init__(
        self,
        hub: Hub,
        replays: Replays,
        market: MarketSource,
        accounts: Accounts,
        *,
        period_s: float,
        max_bars: int,
    ) -> None:
        self._hub = hub
        self._replays = replays
        self._market = market
        self._accounts = accounts
        self._period = period_s
        self._max_bars = max_bars
        self._followed: dict[str, _Followed] = {}
        self._topic_session: dict[str, str] = {}
        self._starting: dict[str, tuple[ReplaySession, _Topic]] = {}
        """A topic's first subscribe, between its snapshot and :meth:`activate`."""
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.reads = 0
        """Store reads of the periodic loop (one per period with followed sessions)."""
        replays.on_change(self.changed)

    # -- the hub's Feed protocol ------------------------------------------------------------

    def check(self, request: ReplaySubscriptionRequest, caller: str | None) -> str | None:
        if not request.replayId:
            return "replayId must not be empty"
        if parse_resolution(request.resolution) is None:
            return f"Unsupported resolution: {request.resolution}"
        return None

    async def attach(
        self, topic: str, request: ReplaySubscriptionRequest, start: Start, caller: str | None
    ) -> None:
        """Read the session, refuse another account's exactly as a missing one, then answer
        with the snapshot: the state, the forming bars and the quotes at replay-now."""
        market = self._market
        if not isinstance(market, TimedMarket):
            raise FeedUnavailable("this server's market cannot be replayed (no TimedMarket)")
        try:
            session = await self._replays.find(request.replayId)
            allowed = await self._accounts(caller)
        except StorageError as exc:
            raise FeedUnavailable(f"Replay sessions unavailable: {exc.detail}") from None
        followed = self._followed.get(request.replayId)
        if followed is not None and session is not None:
            if followed.ended:
                session = None
            elif followed.session.version > session.version:
                session = followed.session  # a newer change arrived while this read ran
        if session is None or session.account not in allowed:
            raise FeedUnavailable(not_found(request.replayId))
        resolution = parse_resolution(request.resolution)
        assert resolution is not None  # check() refused the others
        wall = self._replays.wall_ms()
        view = view_of(market, session, wall)
        specs = [s for name in session.symbols if (s := view.catalog.lookup(name)) is not None]
        moments = [moment(view, s, resolution, None, self._max_bars, snapshot=True) for s in specs]
        state = session_state(session, wall)
        pending = _Topic(resolution, {m.spec.name: m.after for m in moments},
                         (session.version, state.time))  # fmt: skip
        self._starting[topic] = (session, pending)
        try:
            start([replay_update(state, resolution.value, moments)])
        finally:
            self._starting.pop(topic, None)

    def activate(self, topic: str, request: ReplaySubscriptionRequest) -> None:
        session, pending = self._starting[topic]
        followed = self._followed.get(session.id)
        if followed is None:
            followed = self._followed[session.id] = _Followed(session)
        followed.topics[topic] = pending
        self._topic_session[topic] = session.id
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ws-replay")

    def deactivate(self, topic: str) -> None:
        session_id = self._topic_session.pop(topic, None)
        followed = None if session_id is None else self._followed.get(session_id)
        if followed is None or session_id is None:
            return
        followed.topics.pop(topic, None)
        if not followed.topics:
            del self._followed[session_id]  # the loop ends by itself once nothing is followed

    # -- pushes -----------------------------------------------------------------------------

    def changed(self, session_id: str, session: ReplaySession | None) -> None:
        """A change this worker stored (REST): pushed now, not at the next period."""
        followed = self._followed.get(session_id)
        if followed is not None:
            self._apply(followed, session)

    async def tick(self) -> None:
        """One period: read every followed session (one transaction), push those that moved."""
        ids = [sid for sid, f in self._followed.items() if not f.ended]
        if not ids:
            return
        self.reads += 1
        try:
            found = await self._replays.find_many(ids)
        except StorageError as exc:  # the next period tries again; the sockets stay
            if not self._failing:
                log.warning("replay stream: sessions unreadable: %s", exc.detail)
            self._failing = True
            return
        self._failing = False
        for sid in ids:
            followed = self._followed.get(sid)
            if followed is not None:  # (its last subscriber may have left during the read)
                self._apply(followed, found.get(sid))

    async def _run(self) -> None:
        """Tick while any session is followed (not cancelled when the last one goes: it may
        be inside a store transaction)."""
        try:
            while self._followed:
                await asyncio.sleep(self._period)
                try:
                    await self.tick()
                except Exception:  # a bug must not end the stream of every session
                    log.exception("replay stream tick failed")
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _apply(self, followed: _Followed, session: ReplaySession | None) -> None:
        if followed.ended:
            return
        wall = self._replays.wall_ms()
        if session is None:
            followed.ended = True
            last = session_state(followed.session, wall)
            for topic, t in followed.topics.items():
                self._hub.publish(REPLAY, topic, replay_update(last, t.resolution.value, [],
                                                               ended=True))  # fmt: skip
            return
        if session.version < followed.session.version:
            return  # a read older than a change this worker already pushed
        followed.session = session
        market = self._market
        assert isinstance(market, TimedMarket)  # attach refused any other
        state = session_state(session, wall)
        view = None
        for topic, t in followed.topics.items():
            shown = (session.version, state.time)
            if t.shown == shown:
                continue
            if view is None:
                view = view_of(market, session, wall)
            self._hub.publish(REPLAY, topic, self._push(view, state, t))
            t.shown = shown

    def _push(self, view: MarketAt, state: ReplaySessionState, t: _Topic) -> Item:
        moments: list[SymbolMoment] = []
        for name in state.symbols:
            spec = view.catalog.lookup(name)
            if spec is None:
                continue
            m = moment(view, spec, t.resolution, t.after.get(name), self._max_bars)
            t.after[name] = m.after
            moments.append(m)
        return replay_update(state, t.resolution.value, moments)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
