"""Clients generated from our OpenAPI document compile where the reference's do (docs/api-specs.md).

Two generators, as frontends use them: openapi-generator ``typescript-axios`` (the reference
frontend's client; both its layouts: one ``api.ts``, and separate ``api/`` + ``models/`` files)
and openapi-typescript. Each usage file in ``tools/node/client-check/`` is written against the
names a client generated from the *reference's* document has (``V1Api``, ``QuoteDataSEnum``,
``Side.NUMBER_1``, every model, operation and parameter type); tsc --strict fails on any of
them our document does not produce.

Needs Java (openapi-generator's jar comes from PyPI's ``openapi-generator-cli``) and Node.js
(``make node-deps``). Without them the test skips with the reason, except in CI (``CI`` set),
where it fails: CI installs both (.ci/run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tools" / "node"
CHECK_DIR = NODE_DIR / "client-check"
BIN = NODE_DIR / "node_modules" / ".bin"
NEEDED_NODE_PACKAGES = ("axios", "openapi-typescript", "typescript")
# typescript-axios layouts: the default, and the reference frontend's (separate files)
AXIOS_LAYOUTS: dict[str, dict[str, Any]] = {
    "axios": {},
    "axios-split": {
        "withSeparateModelsAndApi": True,
        "apiPackage": "api",
        "modelPackage": "models",
    },
}


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; fail in CI, which must run this test."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: this test must run there; see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def tools() -> tuple[str, str]:
    """(java, node) paths, with the pinned Node tools installed (npm ci if missing)."""
    java, node, npm = shutil.which("java"), shutil.which("node"), shutil.which("npm")
    if java is None:
        _unavailable("java not found: openapi-generator needs a JRE (apt-get install default-jre)")
    if node is None or npm is None:
        _unavailable("Node.js/npm not found: tsc and openapi-typescript need them (make node-deps)")
    if not all((NODE_DIR / "node_modules" / p).is_dir() for p in NEEDED_NODE_PACKAGES):
        done = subprocess.run(
            [npm, "ci"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"npm ci in {NODE_DIR} failed:\n{done.stderr[-3000:]}"
    return java, node


def _run(args: list[str], timeout: float, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kw)


def _generate_axios(spec: Path, out: Path) -> None:
    """Every typescript-axios layout in one JVM (openapi-generator's ``batch``)."""
    configs = []
    for name, properties in AXIOS_LAYOUTS.items():
        config = out / f"{name}.generator.json"
        config.write_text(
            json.dumps(
                {
                    "generatorName": "typescript-axios",
                    "inputSpec": str(spec),
                    "outputDir": str(out / name),
                    "additionalProperties": properties,
                    "globalProperties": {"apiDocs": "false", "modelDocs": "false"},
                }
            ),
            encoding="utf-8",
        )
        configs.append(str(config))
    cli = Path(sys.executable).with_name("openapi-generator-cli")
    done = _run([str(cli), "batch", "--fail-fast", *configs], timeout=300, cwd=out)
    assert done.returncode == 0, f"openapi-generator failed:\n{(done.stdout + done.stderr)[-4000:]}"


def _tsconfig(out: Path, name: str, base: str, files: list[Path], paths: dict[str, Any]) -> Path:
    config = out / f"tsconfig.{name}.json"
    config.write_text(
        json.dumps(
            {
                "extends": str(CHECK_DIR / base),
                "compilerOptions": {"paths": paths},
                "include": [str(f) for f in files],
            }
        ),
        encoding="utf-8",
    )
    return config


def test_clients_generated_from_our_document_compile_with_reference_code(
    tools: tuple[str, str], openapi_document: dict[str, Any], tmp_path: Path
) -> None:
    _, node = tools
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(openapi_document), encoding="utf-8")

    # openapi-typescript: types + usage.ts (written against the reference's names)
    generated = tmp_path / "generated"
    generated.mkdir()
    done = _run(
        [node, str(BIN / "openapi-typescript"), str(spec), "--default-non-nullable", "false",
         "-o", str(generated / "api.d.ts")],
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.copy(CHECK_DIR / "usage.ts", tmp_path / "usage.ts")
    configs = {
        "openapi-typescript": _tsconfig(
            tmp_path, "types", "tsconfig.json",
            [tmp_path / "usage.ts", generated / "api.d.ts"], {},
        ),
    }  # fmt: skip

    # typescript-axios, both layouts: axios-usage.ts (reference names) + our additions
    _generate_axios(spec, tmp_path)
    for layout in AXIOS_LAYOUTS:
        configs[layout] = _tsconfig(
            tmp_path, layout, "tsconfig.axios.json",
            [CHECK_DIR / "axios-usage.ts", CHECK_DIR / "axios-tradingview-names.ts",
             tmp_path / layout / "**" / "*.ts"],
            {"@client": [str(tmp_path / layout / "index.ts")],
             "axios": [str(NODE_DIR / "node_modules" / "axios")]},
        )  # fmt: skip

    # the type-checks run side by side (each is one single-threaded tsc)
    checks = {
        name: subprocess.Popen(
            [node, str(BIN / "tsc"), "-p", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, config in configs.items()
    }
    failures = {}
    for name, check in checks.items():
        output, _ = check.communicate(timeout=300)
        if check.returncode != 0:
            failures[name] = output[-6000:]
    assert not failures, "generated clients do not compile with reference code:\n" + "\n".join(
        f"--- {name}\n{output}" for name, output in failures.items()
    )
