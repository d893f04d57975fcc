"""``python -m trading serve --workers N`` as a real subprocess, and what ``/proc`` says about
its workers (tests and scripts/bench_cluster_serving.py).

Which worker holds a connection is read from the kernel, not from the server: each worker's
socket fds (``/proc/<pid>/fd``) are matched with the established connections to the port
(``/proc/<pid>/net/tcp``), whose peer port is the client's local port. Nothing in the service
has to report its pid for that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.serverproc import REPO, free_port, server_env

ESTABLISHED = "01"


def children(pid: int) -> set[int]:
    """The live (not zombie) child processes of ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: split after it
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _established_to(pid: int, port: int) -> dict[int, int]:
    """inode → peer port of every established connection whose local port is ``port``."""
    peers = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if state == ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == port and inode:
                peers[inode] = int(remote.rsplit(":", 1)[1], 16)
    return peers


def client_ports(pid: int, port: int) -> set[int]:
    """The client-side ports of the connections to ``port`` that process ``pid`` serves."""
    peers = _established_to(pid, port)
    return {peers[inode] for inode in _socket_inodes(pid) if inode in peers}


class Cluster:
    """A supervisor with ``workers`` workers on a free port; its log (INFO, no access log)
    says when each worker is ready."""

    def __init__(
        self, data_dir: Path, log_path: Path, redis_url: str, workers: int = 2, **env: str
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.env = {
            "TRADING_REDIS_URL": redis_url,
            "TRADING_LOG_LEVEL": "INFO",
            "TRADING_ACCESS_LOG": "false",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self, timeout: float = 60) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "trading", "serve", "--workers", str(self.workers)],
                cwd=REPO,
                env=server_env(self.data_dir, self.port, **self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_ready(self.workers, timeout)

    def ready_count(self) -> int:
        return self.log().count(") is ready")

    def wait_ready(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` "is ready" lines were logged in all, and the port answers."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.ready_count() < count:
            if self.process.poll() is not None:
                raise RuntimeError(f"supervisor exited: {self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready in {timeout} s: {self.log()[-3000:]}")
            time.sleep(0.05)
        while True:
            try:
                with urllib.request.urlopen(f"{self.origin}/api/v1/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def worker_pids(self) -> set[int]:
        return children(self.pid)

    def wait_workers(self, count: int, timeout: float = 30) -> set[int]:
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if len(pids) == count:
                return pids
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pids)} workers, not {count}: {self.log()[-3000:]}")
            time.sleep(0.05)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM to the supervisor; its exit code (killed after ``timeout``)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            workers = self.worker_pids()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                for pid in workers:  # never leave a worker behind
                    if alive(pid):
                        os.kill(pid, signal.SIGKILL)
        return self.process.returncode
