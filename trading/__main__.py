"""Command line: ``python -m trading serve``."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from trading.app import create_app
from trading.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trading", description="Trading API service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP/WebSocket server")
    serve.add_argument("--host", help="bind address (default TRADING_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default TRADING_PORT or 8000)")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"trading: bad setting: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        host = args.host or settings.host
        port = args.port or settings.port
        web.run_app(create_app(settings), host=host, port=port, shutdown_timeout=5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
