"""Replay sessions' books: each lives at its own time and is evaluated on its own
(docs/replay.md §5).

A replay session trades in a paper account of its own, its *book*, whose id is the
session's id (``RPL-…``) and whose owner is the session's account. Everything the broker does
with a book happens at the session's replay-now instead of the wall clock: orders are placed,
stamped, filled and expire in replay time, and equity is marked there. The broker's fill loop
evaluates the book with an evaluator of its own, up to the session's replay-now and never
before its ``trade_from`` (so several sessions at different dates and speeds never share a
remembered second, and the live accounts' evaluation is untouched).

:class:`Timelines` holds each session's clock (as stored; the service refreshes it) and the
evaluators, and routes what :class:`~trading.broker.books.Books` asks of "the evaluator"
(restore, replace, follow) to the live one or to a book's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from trading.broker.accounts import is_session_book
from trading.broker.book import Book
from trading.broker.changes import Changes
from trading.broker.evaluator import Evaluator
from trading.broker.matching import PriceFeed
from trading.market.replay import SPEEDS, ReplayClock, ReplaySession

SESSION_CATCH_UP_S = 4 * max(SPEEDS)
"""The longest run of replay seconds one evaluation of a book covers: four ticks at the
fastest speed, so a late tick never skips replayed time (a longer gap, a restart or a pause
of the host, resumes that much before replay-now)."""


def replay_now_s(clock: ReplayClock, wall_s: float) -> float:
    """The session's replay-now in seconds at wall time ``wall_s``."""
    return clock.now(math.floor(wall_s * 1000)) / 1000


class Timelines:
    def __init__(self, feed: PriceFeed, *, catch_up_new: bool = False) -> None:
        self._feed = feed
        self.live = Evaluator(feed, catch_up_new=catch_up_new)
        """The evaluator of every account that is not a session's book."""
        self._clocks: dict[str, ReplayClock] = {}
        self._books: dict[str, Evaluator] = {}

    # -- clocks -------------------------------------------------------------------------------

    def follow_session(self, session: ReplaySession) -> None:
        """``session``'s clock as stored now (after a change here, or read from the store)."""
        self._clocks[session.id] = session.clock

    def forget_session(self, session_id: str) -> None:
        self._clocks.pop(session_id, None)
        self._books.pop(session_id, None)

    def hold_sessions(self, sessions: Iterable[ReplaySession]) -> None:
        """Exactly these sessions exist (a full read of the store)."""
        sessions = list(sessions)
        ids = {s.id for s in sessions}
        for gone in [s for s in self._clocks if s not in ids]:
            self.forget_session(gone)
        for session in sessions:
            self.follow_session(session)

    def clock(self, account: str) -> ReplayClock | None:
        return self._clocks.get(account)

    def now(self, account: str, wall_s: float) -> float:
        """``account``'s now: the session's replay-now for a book whose session is known, the
        wall clock for every other account."""
        clock = self._clocks.get(account)
        return wall_s if clock is None else replay_now_s(clock, wall_s)

    # -- what Books asks of the evaluator -----------------------------------------------------

    def _of(self, account: str) -> Evaluator:
        if not is_session_book(account):
            return self.live
        found = self._books.get(account)
        if found is None:
            # a book's first evaluation goes back to its trade_from (bounded): its orders may
            # have been placed while no evaluator followed it (a restart, a new leader)
            found = self._books[account] = Evaluator(
                self._feed, catch_up_new=True, max_catch_up_s=SESSION_CATCH_UP_S
            )
        return found

    def restore(self, books: Mapping[str, Book]) -> None:
        self.live.restore({a: b for a, b in books.items() if not is_session_book(a)})
        self._books = {}
        for account, book in books.items():
            if is_session_book(account):
                self._of(account).restore({account: book})

    def replace(self, account: str, old: Book | None, new: Book) -> None:
        self._of(account).replace(account, old, new)

    def follow(self, account: str, changes: Changes) -> None:
        self._of(account).follow(account, changes)

    def working_count(self) -> int:
        return len(self.live.index) + sum(len(e.index) for e in self._books.values())

    # -- the fill loop ------------------------------------------------------------------------

    def run_books(self, books: Mapping[str, Book], wall_s: float) -> list[tuple[str, Changes]]:
        """Evaluate every session's book up to its replay-now (a book without a known
        session, whose session ended, is not evaluated)."""
        out: list[tuple[str, Changes]] = []
        for account, evaluator in self._books.items():
            clock = self._clocks.get(account)
            book = books.get(account)
            if clock is None or book is None:
                continue
            not_before = math.ceil(clock.trade_from / 1000)
            now = replay_now_s(clock, wall_s)
            out += evaluator.run({account: book}, now, not_before=not_before)
        return out

    def committed(self) -> None:
        self.live.committed()
        for evaluator in self._books.values():
            evaluator.committed()
