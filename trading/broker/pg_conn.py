"""Opening PostgreSQL sessions for the broker store: keepalives on both ends, a connect
timeout, and a name for logs that never shows the password.

A session whose host vanished (power loss, a partition) is noticed only by TCP: without
keepalives the server keeps it, and the fill evaluator's advisory lock with it, for the OS
default of about two hours (measured in issue 15's research). So the client sets ``keepalives_*``
and ``tcp_user_timeout`` (unacknowledged data fails the connection), and asks the server for
the same on its side of the session (``options``), all from ``settings.pg_keepalive_s``.

The server also ends a session left idle inside a transaction for that long
(``idle_in_transaction_session_timeout``): a transaction here lasts one commit, or one
command from its first read to its commit (milliseconds), so such a session belongs to a
frozen process (stopped, swapping) whose lock on the commit counter would otherwise stall the
writes of every host, and, for the evaluator, hold its lock.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

KEEPALIVE_COUNT = 3
"""Unanswered keepalive probes before the session counts as dead (idle + 3 intervals)."""
CONNECT_TIMEOUT_FLOOR_S = 2
"""The connect timeout is the keepalive period, but never below this (a TCP and TLS
handshake to another host must fit)."""


def describe(url: str) -> str:
    """``postgresql://host:port/db`` of ``url``: what logs and errors name (no user, no
    password). An unparsable URL is named by its scheme only."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://(unparsable URL)"
    host = str(params.get("host") or "localhost")
    port = params.get("port")
    return f"postgresql://{host}{f':{port}' if port else ''}/{params.get('dbname') or ''}"


def session_parameters(url: str, keepalive_s: int) -> dict[str, Any]:
    """The psycopg connect parameters of a broker session (autocommit: the store writes
    ``BEGIN``/``COMMIT`` itself)."""
    server_side = (
        f"-c tcp_keepalives_idle={keepalive_s} -c tcp_keepalives_interval={keepalive_s} "
        f"-c tcp_keepalives_count={KEEPALIVE_COUNT} -c tcp_user_timeout={keepalive_s * 1000} "
        f"-c idle_in_transaction_session_timeout={keepalive_s * 1000}"
    )
    given = conninfo_to_dict(url).get("options")
    return {
        "autocommit": True,
        "connect_timeout": max(CONNECT_TIMEOUT_FLOOR_S, keepalive_s),
        "keepalives": 1,
        "keepalives_idle": keepalive_s,
        "keepalives_interval": keepalive_s,
        "keepalives_count": KEEPALIVE_COUNT,
        "tcp_user_timeout": keepalive_s * 1000,
        "application_name": "trading-broker",
        "options": f"{given} {server_side}" if given else server_side,
    }


def connect(url: str, keepalive_s: int) -> psycopg.Connection[Any]:
    """A new session (blocking: call it on a store thread)."""
    return psycopg.connect(url, **session_parameters(url, keepalive_s))


def alive(conn: psycopg.Connection[Any] | None) -> bool:
    """Whether ``conn`` may still be used (psycopg marks a lost connection broken)."""
    return conn is not None and not conn.closed and not conn.broken
