"""``python -m trading serve --workers N``: a supervisor and N worker processes on one port.

Each worker is a whole server (``python -m trading serve`` in worker mode) that binds the same
``host:port`` with ``SO_REUSEPORT``: every worker has its own accept queue and the kernel
spreads new connections over them by their addresses' hash, which keeps long-lived WebSockets
balanced (one shared listening socket, gunicorn's model, let whichever worker woke first take
them: 85 % on one of two workers in the research, docs/deployment.md).

The supervisor (:class:`Supervisor`, this process):

- prepares what must be done once before any worker runs: it takes the data-dir lock and
  creates or migrates the broker database and switches it to WAL (two processes doing that on
  a fresh file at the same moment fail with "database is locked"), and in keys mode the users
  database and the session secret the same way;
- keeps that lock for the cluster's lifetime and hands the locked fd to every worker
  (``pass_fds``): a server started on the same data dir outside the cluster is still refused
  with the lock message, while the workers share it;
- starts the workers and restarts one that died, after a back-off that doubles per failure;
  when the workers of a slot keep dying before they were ever ready, or one exits with the
  code of bad settings (2) or an unusable data dir (3), it gives up: it stops the others and
  exits with that code, instead of looping;
- on SIGTERM or SIGINT sends SIGTERM to every worker (each closes its WebSockets with 1001 and
  exits), waits for them (bounded by :data:`STOP_TIMEOUT_S`, then SIGKILL) and exits 0;
- on SIGHUP replaces the workers one at a time (a rolling restart, new code included): a new
  worker first, the old one stopped once the new one is ready, so capacity never drops; when a
  new worker fails to start, the rolling restart stops and the old workers keep serving.

Each worker holds one end of a socket pair whose other end the supervisor keeps: the worker
writes :data:`READY` into it once it listens (so the supervisor knows a start-up succeeded),
and sees end-of-file when the supervisor is gone (even killed with SIGKILL), and then shuts
down by itself rather than serving on, orphaned, with the lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import FrameType

from trading.broker.store import prepare_store
from trading.http_server import Started
from trading.settings import Settings

log = logging.getLogger(__name__)

CHANNEL_FLAG = "--cluster-channel"
"""Hidden ``serve`` flag: the fd of the worker's end of its supervisor channel (worker mode)."""
LOCK_FLAG = "--data-dir-lock-fd"
"""Hidden ``serve`` flag: the fd of the data-dir lock the supervisor holds."""
READY = b"ready\n"
"""What a worker writes into its channel once it listens."""

RESTART_BACKOFF_S = 0.5
"""Delay before restarting a worker that died; doubled for each further death of its slot
in a row (up to :data:`RESTART_BACKOFF_MAX_S`)."""
RESTART_BACKOFF_MAX_S = 10.0
STABLE_S = 30.0
"""A worker that served this long before it died is restarted after the first back-off again:
it was a crash, not a crash loop."""
START_FAILURES = 5
"""Workers of one slot dying before they were ready this many times in a row: give up (a
start-up that cannot succeed, such as an unreachable dependency, must not loop forever)."""
START_TIMEOUT_S = 60.0
"""A worker not ready this long after it was started is killed (counts as a failed start)."""
STOP_TIMEOUT_S = 10.0
"""How long the workers get to exit after SIGTERM before they are killed (they need well
under a second: docs/deployment.md)."""
FATAL_EXITS = frozenset({2, 3})
"""Exit codes of ``serve`` that no restart can fix: bad settings (2), an unusable data dir (3)."""


class ClusterError(Exception):
    """The cluster cannot start (the port is taken): one line for the operator."""


@dataclass(eq=False)
class Worker:
    slot: int
    process: subprocess.Popen[bytes]
    channel: socket.socket
    started_at: float
    ready: bool = False
    retiring: bool = False
    """Sent SIGTERM on purpose (rolling restart): its exit is expected, not restarted."""
    stalled: bool = False
    """Killed for not getting ready within :data:`START_TIMEOUT_S`."""

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class _Slot:
    failures: int = 0
    """Deaths in a row of this slot's workers (reset by a worker that served STABLE_S)."""
    start_failures: int = 0
    """Deaths before ready in a row (reset when one of its workers is ready)."""
    restart_at: float | None = None


@dataclass
class _Roll:
    """A rolling restart in progress: the slots still to replace, the new worker starting,
    the old worker stopping."""

    pending: deque[int] = field(default_factory=deque)
    new: Worker | None = None
    old: Worker | None = None


def describe_exit(code: int) -> str:
    """``exit status 3`` or ``killed by SIGKILL`` (Popen's negative codes are signals)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class Supervisor:
    """Runs ``count`` workers of ``command`` (the worker's argv without the channel flag)."""

    def __init__(self, command: Sequence[str], count: int, *, pass_fds: Sequence[int] = ()) -> None:
        self._command = list(command)
        self._count = count
        self._pass_fds = tuple(pass_fds)
        self._workers: set[Worker] = set()
        self._current: dict[int, Worker] = {}
        self._slots = {slot: _Slot() for slot in range(count)}
        self._roll: _Roll | None = None
        self._selector = selectors.DefaultSelector()
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._exit_code: int | None = None
        """Set when the supervisor decided to end (0 on a signal, else why it gave up)."""

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        """Start the workers and supervise them until a stop signal or giving up; the exit
        code of the cluster."""
        self._install_signals()
        try:
            for slot in range(self._count):
                self._spawn(slot)
            while self._exit_code is None:
                self._step(self._next_timeout())
            self._stop_all()
            return self._exit_code
        finally:
            self._restore_signals()
            self._selector.close()
            self._wakeup_r.close()
            self._wakeup_w.close()

    def _step(self, timeout: float | None) -> None:
        for key, _ in self._selector.select(timeout):
            if key.fileobj is self._wakeup_r:
                self._on_signals()
            else:
                assert isinstance(key.data, Worker)
                self._on_channel(key.data)
        self._reap()
        now = time.monotonic()
        for worker in list(self._workers):
            late = now - worker.started_at > START_TIMEOUT_S
            if late and not worker.ready and not worker.stalled:
                worker.stalled = True
                log.error(
                    "worker %d (pid %d) not ready after %.0f s: killing it",
                    worker.slot, worker.pid, START_TIMEOUT_S,
                )  # fmt: skip
                worker.process.kill()
        if self._exit_code is None:
            for slot, state in self._slots.items():
                if state.restart_at is not None and now >= state.restart_at:
                    state.restart_at = None
                    if slot not in self._current:  # a rolling restart may have filled it
                        self._spawn(slot)

    def _next_timeout(self) -> float:
        now = time.monotonic()
        due = [s.restart_at for s in self._slots.values() if s.restart_at is not None]
        due += [w.started_at + START_TIMEOUT_S for w in self._workers if not w.ready]
        # a short cap: an exit whose SIGCHLD raced the selector is still reaped promptly
        return max(0.0, min([now + 1.0, *due]) - now)

    # --- workers ----------------------------------------------------------------------------
    def _spawn(self, slot: int, *, surge: bool = False) -> Worker:
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [*self._command, CHANNEL_FLAG, str(theirs.fileno())],
                pass_fds=(theirs.fileno(), *self._pass_fds),
            )
        finally:
            theirs.close()
        worker = Worker(slot, process, ours, time.monotonic())
        self._workers.add(worker)
        if not surge:
            self._current[slot] = worker
        self._selector.register(ours, selectors.EVENT_READ, worker)
        log.info("worker %d started (pid %d)", slot, worker.pid)
        return worker

    def _on_channel(self, worker: Worker) -> None:
        try:
            data = worker.channel.recv(64)
        except OSError:
            data = b""
        if not data:  # the worker closed its end: it is exiting (reaped below)
            self._selector.unregister(worker.channel)
            return
        if READY in data and not worker.ready:
            worker.ready = True
            self._slots[worker.slot].start_failures = 0
            log.info("worker %d (pid %d) is ready", worker.slot, worker.pid)
            roll = self._roll
            if roll is not None and roll.new is worker:
                self._promote(roll, worker)

    def _reap(self) -> None:
        for worker in list(self._workers):
            code = worker.process.poll()
            if code is not None:
                self._exited(worker, code)

    def _exited(self, worker: Worker, code: int) -> None:
        self._workers.discard(worker)
        if self._registered(worker):
            self._selector.unregister(worker.channel)
        worker.channel.close()
        how = describe_exit(code)
        if worker.retiring or self._exit_code is not None:
            log.info("worker %d (pid %d) stopped (%s)", worker.slot, worker.pid, how)
            roll = self._roll
            if roll is not None and roll.old is worker:
                roll.old = None
                self._roll_next(roll)
            return
        roll = self._roll
        if roll is not None and roll.new is worker:
            log.error(
                "rolling restart stopped: the new worker %d (pid %d) ended before it was ready "
                "(%s); the old workers keep serving",
                worker.slot, worker.pid, how,
            )  # fmt: skip
            self._roll = None
            return
        state = self._slots[worker.slot]
        if self._current.get(worker.slot) is worker:
            del self._current[worker.slot]
        if not worker.ready:
            state.start_failures += 1
            if code in FATAL_EXITS or state.start_failures >= START_FAILURES:
                log.error(
                    "worker %d (pid %d) ended at start-up (%s), %d time(s) in a row: giving up",
                    worker.slot, worker.pid, how, state.start_failures,
                )  # fmt: skip
                self._exit_code = code if code in FATAL_EXITS else 1
                return
        if time.monotonic() - worker.started_at >= STABLE_S:
            state.failures = 0
        delay = min(RESTART_BACKOFF_MAX_S, RESTART_BACKOFF_S * 2**state.failures)
        state.failures += 1
        state.restart_at = time.monotonic() + delay
        log.warning(
            "worker %d (pid %d) ended (%s): restarting it in %.1f s",
            worker.slot, worker.pid, how, delay,
        )  # fmt: skip

    def _registered(self, worker: Worker) -> bool:
        try:
            self._selector.get_key(worker.channel)
        except (KeyError, ValueError):
            return False
        return True

    # --- rolling restart (SIGHUP) ---------------------------------------------------------
    def _rolling_restart(self) -> None:
        if self._roll is not None:
            log.info("rolling restart already in progress")
            return
        log.info("rolling restart of %d workers", self._count)
        self._roll = _Roll(deque(range(self._count)))
        self._roll_next(self._roll)

    def _roll_next(self, roll: _Roll) -> None:
        while roll.pending:
            slot = roll.pending.popleft()
            if slot in self._current:  # a slot waiting for its restart is fresh anyway
                roll.new = self._spawn(slot, surge=True)
                return
        log.info("rolling restart done")
        self._roll = None

    def _promote(self, roll: _Roll, new: Worker) -> None:
        old = self._current.get(new.slot)
        self._current[new.slot] = new
        self._slots[new.slot].restart_at = None  # its old worker died meanwhile: filled now
        roll.new = None
        if old is None:
            self._roll_next(roll)
            return
        old.retiring = True
        roll.old = old
        log.info("stopping worker %d (pid %d), replaced by pid %d", old.slot, old.pid, new.pid)
        old.process.send_signal(signal.SIGTERM)

    # --- signals and stopping -----------------------------------------------------------
    def _install_signals(self) -> None:
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ)
        self._previous_wakeup = signal.set_wakeup_fd(self._wakeup_w.fileno())
        self._previous = {
            sig: signal.signal(sig, _note)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)
        }

    def _restore_signals(self) -> None:
        signal.set_wakeup_fd(self._previous_wakeup)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signals(self) -> None:
        try:
            numbers = self._wakeup_r.recv(256)
        except BlockingIOError:
            return
        for number in numbers:
            if number in (signal.SIGTERM, signal.SIGINT) and self._exit_code is None:
                log.info("%s: stopping %d workers", signal.Signals(number).name, len(self._workers))
                self._exit_code = 0
            elif number == signal.SIGHUP and self._exit_code is None:
                self._rolling_restart()

    def _stop_all(self) -> None:
        """SIGTERM every worker, wait for all (bounded), SIGKILL what is left."""
        for worker in self._workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self._workers and time.monotonic() < deadline:
            self._step(min(0.05, max(0.0, deadline - time.monotonic())))
        for worker in list(self._workers):
            log.error("worker %d (pid %d) still running: killing it", worker.slot, worker.pid)
            worker.process.kill()
            self._exited(worker, worker.process.wait())


def _note(signum: int, frame: FrameType | None) -> None:
    """Python-level handler: the number reaches the loop through the wakeup fd."""


# --- the two sides, as the CLI runs them -------------------------------------------------------
def run_supervisor(settings: Settings, argv_host: str, argv_port: int) -> int:
    """``serve --workers N``: prepare the data dir, check the port, run the workers."""
    lock_fd = _prepare(settings)
    try:
        port = _check_port(argv_host, argv_port)
        command = [
            sys.executable, "-m", "trading", "serve", "--host", argv_host, "--port", str(port),
            "--workers", str(settings.workers),
        ]  # fmt: skip
        if lock_fd is not None:
            command += [LOCK_FLAG, str(lock_fd)]
        log.info(
            "starting %d workers on %s:%d (supervisor pid %d)",
            settings.workers, argv_host, port, os.getpid(),
        )  # fmt: skip
        pass_fds = () if lock_fd is None else (lock_fd,)
        return Supervisor(command, settings.workers, pass_fds=pass_fds).run()
    finally:
        if lock_fd is not None:
            os.close(lock_fd)


def _prepare(settings: Settings) -> int | None:
    """Everything the workers would otherwise race on at their first start."""
    lock_fd = None
    if settings.database_url is None:
        lock_fd = prepare_store(settings.data_dir, Decimal(repr(settings.initial_balance)))
    try:
        if settings.auth == "keys":
            from trading.auth.sessions import session_secret
            from trading.auth.userstore import UserStore

            UserStore(settings.data_dir).close()
            session_secret(settings)
    except BaseException:
        if lock_fd is not None:
            os.close(lock_fd)
        raise
    return lock_fd


def _check_port(host: str, port: int) -> int:
    """Refuse a port something already listens on (a lone server, or another cluster, whose
    ``SO_REUSEPORT`` workers would otherwise silently share it with ours); port 0 becomes a
    free port, the same for every worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise ClusterError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        bound: int = probe.getsockname()[1]
        return bound


def worker_started(channel_fd: int) -> Started:
    """The worker's side of its channel: report ready, and stop when the supervisor is gone."""
    channel = socket.socket(fileno=channel_fd)

    def started(stop: asyncio.Event) -> None:
        channel.setblocking(False)
        channel.send(READY)
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = channel.recv(64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(channel)
                if not stop.is_set():
                    log.warning("the cluster supervisor is gone: shutting down")
                    stop.set()

        loop.add_reader(channel, readable)

    return started
