"""``python -m trading serve`` as a real subprocess on a free loopback port (tests only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TRADING_HOST": "127.0.0.1",
        "TRADING_PORT": str(port),
        "TRADING_DATA_DIR": str(data_dir),
        "TRADING_LOG_LEVEL": "WARNING",
        **extra,
    }


def run_cli(data_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One command that is expected to end by itself (a refused start, reset-broker)."""
    return subprocess.run(
        [sys.executable, "-m", "trading", *args],
        cwd=REPO,
        env=server_env(data_dir, free_port()),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Server:
    """A server on a fixed port and data dir that can be killed and started again; ``env``
    adds variables (``os.environ`` is read at each start)."""

    def __init__(self, data_dir: Path, log_path: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "trading", "serve"],
                cwd=REPO,
                env=server_env(self.data_dir, self.port, **self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.origin}/api/v1/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server not ready in {timeout} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, like a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM: a clean shutdown; the exit code."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        return None if self.process is None else self.process.returncode
