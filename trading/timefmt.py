"""Timestamp formatting shared by the health routes."""

from __future__ import annotations

import datetime as dt


def iso_ms(t: float) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``, like JavaScript's ``toISOString()``."""
    stamp = dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
