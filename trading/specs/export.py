"""Deterministic JSON of the two documents, and ``python -m trading export-specs``.

The committed ``specs/openapi.json`` and ``specs/asyncapi.json`` are what generated clients are
built from, so their text must only change when the API does: sorted keys, two-space indent,
UTF-8, final newline. The app is built with default settings (not the environment) and a
throw-away data directory, so the output does not depend on who runs the command.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from trading.app import create_app
from trading.settings import Settings
from trading.specs.asyncapi import build_asyncapi
from trading.specs.openapi import build_openapi

OPENAPI_FILE = "openapi.json"
ASYNCAPI_FILE = "asyncapi.json"


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_documents() -> dict[str, str]:
    """File name → text of each document, as the code produces them now."""
    with tempfile.TemporaryDirectory(prefix="trading-specs-") as tmp:
        app = create_app(Settings(data_dir=Path(tmp) / "data"))
        openapi = build_openapi(app)
    return {OPENAPI_FILE: render(openapi), ASYNCAPI_FILE: render(build_asyncapi())}


def export_specs(out: Path) -> list[Path]:
    """Write both documents into ``out`` (created if needed); return the written paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in build_documents().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
