"""Command line: ``python -m trading serve | export-specs | reset-broker | users ... |
import-bars``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from trading import cluster, http_server
from trading import history_cli as import_cli
from trading.app import create_app, reset_broker
from trading.auth import cli as users_cli
from trading.broker.sqlite_file import StartupError
from trading.logs import configure_logging
from trading.settings import Settings, SettingsError
from trading.specs.export import build_documents, export_specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trading", description="Trading API service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP/WebSocket server")
    serve.add_argument("--host", help="bind address (default TRADING_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default TRADING_PORT or 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port, under a supervisor (default TRADING_WORKERS "
        "or 1; above 1 needs TRADING_REDIS_URL; docs/deployment.md)",
    )
    # worker mode: how `serve --workers N` starts its workers (not for operators)
    serve.add_argument(cluster.CHANNEL_FLAG, type=int, help=argparse.SUPPRESS)
    serve.add_argument(cluster.LOCK_FLAG, type=int, help=argparse.SUPPRESS)
    export = commands.add_parser(
        "export-specs", help="write openapi.json and asyncapi.json (deterministic)"
    )
    export.add_argument("--out", type=Path, default=Path("specs"), help="directory (default specs)")
    export.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the files are out of date"
    )
    commands.add_parser(
        "reset-broker",
        help="wipe the paper account in TRADING_DATA_DIR to its initial state (server stopped)",
    )
    users_cli.add_parser(commands)
    import_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "export-specs":
        return _export_specs(args.out, check=args.check)

    try:
        settings = Settings.from_env(**_cli_overrides(args))
    except SettingsError as exc:
        print("trading: cannot start, bad settings:", file=sys.stderr)
        for line in str(exc).splitlines():
            print(f"  {line}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        if args.command == "users":
            return users_cli.run(args, settings)
        if args.command == "serve":
            return _serve(args, settings)
        if args.command == "import-bars":
            return import_cli.run(args, settings)
        if args.command == "reset-broker":
            asyncio.run(reset_broker(settings))
            print(f"reset the paper account in {settings.data_dir}")
    except StartupError as exc:
        # a data dir that cannot be served: one clear line, no traceback, nothing written
        print(f"trading: {exc.detail}", file=sys.stderr)
        return 3
    except cluster.ClusterError as exc:
        print(f"trading: {exc}", file=sys.stderr)
        return 1
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    """One server; a worker of a cluster (its supervisor passed the channel); or, with more
    than one worker, the cluster's supervisor (trading/cluster.py)."""
    channel = getattr(args, "cluster_channel", None)
    if channel is not None:
        asyncio.run(
            http_server.serve(
                create_app(settings), settings.host, settings.port,
                reuse_port=True, started=cluster.worker_started(channel),
            )
        )  # fmt: skip
        return 0
    if settings.workers > 1:
        return cluster.run_supervisor(settings, settings.host, settings.port)
    asyncio.run(http_server.serve(create_app(settings), settings.host, settings.port))
    return 0


def _cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--host``/``--port``/``--workers`` win over the environment, validated like it (and a
    worker's inherited data-dir lock, which only the code sets)."""
    given = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "workers": getattr(args, "workers", None),
        "data_dir_lock_fd": getattr(args, "data_dir_lock_fd", None),
    }
    return {name: value for name, value in given.items() if value is not None}


def _export_specs(out: Path, *, check: bool) -> int:
    """Built from the code with default settings: the environment never changes the output."""
    if not check:
        for path in export_specs(out):
            print(f"wrote {path}")
        return 0
    stale = [
        name
        for name, text in build_documents().items()
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
    ]
    for name in stale:
        print(f"{out / name} is out of date: run `make export-specs`", file=sys.stderr)
    return 1 if stale else 0


def exit_served(code: int) -> NoReturn:
    """End a ``serve`` process without the interpreter's teardown of its heap.

    By the time a server's ``serve`` returns, the runner's cleanup has closed what it opened
    (sockets, the broker database, the users database) and no thread is left; what remains is
    freeing tens of thousands of objects one by one, which took 0.3 to 0.6 s after serving a
    few hundred WebSockets: most of a rolling restart's SIGTERM-to-exit time. The logs are
    flushed first; other commands exit normally."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    code = main()
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        exit_served(code)
    sys.exit(code)
