"""Group commit (broker.md §12): many commands in one transaction, each answered after it.

A command runs on the in-memory books at once, under the service's lock, and its
:class:`~trading.broker.changes.Changes` join the *pending* group. One committer writes a
group at a time; while it waits for the database, the next commands accumulate the next
group. So the lock is held for the engine's microseconds, not for a transaction, and one
transaction (one account row, one stamp, one WAL append) stores every order that arrived
meanwhile: at concurrency 16 a group holds up to 16 commands, at concurrency 1 it holds one
and nothing waits longer than before.

The rows are read from the books when the group is *cut*: the committer takes the pending
group and hands it to the store in the same step, and the store reads every row before it
first awaits (:meth:`~trading.broker.storage.BrokerStore.commit`). At that instant the books
hold exactly the commands of this group and of the groups before it, so one account's changes
can be merged (:meth:`Changes.merge <trading.broker.changes.Changes.merge>`: the latest state
of each order, every fill, the account row once) instead of written command by command.

Each command's future resolves only after the transaction holding it committed and its
events were published, in commit order. When a group's write fails, no command of it is
acknowledged, and neither is any command of the pending group: they ran on books holding the
failed group's changes, so each may have read state that is now lost. All of them get the
error that one command would have got; the service then reloads the committed state
(:meth:`~trading.broker.service.BrokerService._recover`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from trading.broker.changes import Changes
from trading.broker.events import BrokerEvent
from trading.broker.marks import Moved

log = logging.getLogger(__name__)


@dataclass
class Command:
    """One command of a group: what it publishes once committed, and who waits for that."""

    account: str
    events: list[BrokerEvent]
    moved: Moved | None
    """Its P&L and margin, read when it ran (:meth:`~trading.broker.marks.Marks.moved`)."""
    done: asyncio.Future[None]


@dataclass
class Group:
    changes: dict[str, Changes] = field(default_factory=dict)
    """Per account, every command's changes merged in command order (the rows to write)."""
    commands: list[Command] = field(default_factory=list)

    def add(
        self, account: str, changes: Changes, moved: Moved | None, done: asyncio.Future[None]
    ) -> None:
        self.commands.append(Command(account, list(changes.events), moved, done))
        merged = self.changes.get(account)
        if merged is None:  # the command's own changes: nothing uses them after it is submitted
            self.changes[account] = changes
        else:
            merged.merge(changes)

    def fail(self, exc: BaseException) -> None:
        for command in self.commands:
            if not command.done.done():  # its request may have gone (cancelled)
                command.done.set_exception(exc)

    def cancel(self) -> None:
        for command in self.commands:
            command.done.cancel()

    def acknowledge(self) -> None:
        for command in self.commands:
            if not command.done.done():
                command.done.set_result(None)


Write = Callable[[Group], Awaitable[None]]
"""Store a group in one transaction (raising when nothing was stored)."""
Published = Callable[[Group], None]
"""After a group's commit: stamp the accounts and publish the events, in command order."""
Failed = Callable[[BaseException], None]
"""A group's write failed: memory may hold changes that are not stored."""


class GroupCommitter:
    def __init__(self, write: Write, published: Published, failed: Failed) -> None:
        self._write = write
        self._published = published
        self._failed = failed
        self._pending: Group | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, items: list[tuple[str, Changes, Moved | None]]) -> asyncio.Future[None]:
        """Add one command's changes (of one account, or of several: a fill tick) to the
        pending group; the future resolves after their commit, or raises its error."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if self._pending is None:
            self._pending = Group()
        for account, changes, moved in items:
            self._pending.add(account, changes, moved, done)
        if self._task is None:
            self._idle.clear()
            # started on the next turn of the loop: the commands of this turn join it
            self._task = loop.create_task(self._run(), name="broker-group-commit")
        return done

    @property
    def busy(self) -> bool:
        """A group is pending or being written: memory is ahead of the store."""
        return self._task is not None

    async def settled(self) -> None:
        """Wait until every submitted command is committed (or failed). Under the service's
        lock, where no command can submit, this is the instant memory equals the store."""
        while self._task is not None:
            await self._idle.wait()

    def _cut(self) -> Group | None:
        group, self._pending = self._pending, None
        return group

    async def _run(self) -> None:
        try:
            while (group := self._cut()) is not None:
                try:
                    await self._write(group)  # the rows are read before its first await
                except Exception as exc:
                    later = self._cut()  # ran on the failed group's changes: fails with it
                    self._failed(exc)
                    for failed in (group, later):
                        if failed is not None:
                            failed.fail(exc)
                    continue
                except BaseException:  # the loop is closing: nobody waits for an answer
                    for gone in (group, self._cut()):
                        if gone is not None:
                            gone.cancel()
                    raise
                try:
                    self._published(group)
                except Exception:  # stored: a listener's fault must not fail the commands
                    log.exception("publishing a committed broker group failed")
                group.acknowledge()
        finally:
            self._task = None
            self._idle.set()
