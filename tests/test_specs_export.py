"""``specs/`` holds what the code produces (generated clients are built from it), and the export
is deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest

from trading.__main__ import main
from trading.specs.export import ASYNCAPI_FILE, OPENAPI_FILE, build_documents

SPECS = Path(__file__).resolve().parent.parent / "specs"


@pytest.mark.parametrize("name", [OPENAPI_FILE, ASYNCAPI_FILE])
def test_committed_specs_match_the_code(name: str) -> None:
    committed = (SPECS / name).read_text(encoding="utf-8")
    assert committed == build_documents()[name], (
        f"specs/{name} is out of date: run `make export-specs` and commit the result"
    )


def test_export_is_deterministic_and_checkable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADING_BENCH", "1")  # the environment never changes the documents
    assert main(["export-specs", "--out", str(tmp_path)]) == 0
    first = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()}
    assert first == build_documents()
    assert main(["export-specs", "--out", str(tmp_path), "--check"]) == 0
    (tmp_path / OPENAPI_FILE).write_text("{}\n", encoding="utf-8")
    assert main(["export-specs", "--out", str(tmp_path), "--check"]) == 1
    text = first[OPENAPI_FILE]
    assert text.endswith("}\n")
    assert '\n  "components": {' in text, "sorted keys, indent 2"
