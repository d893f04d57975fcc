"""The import rules between layers (docs/architecture.md "Layers"), checked on the source.

Every ``import`` / ``from ... import`` of every module under ``trading/`` is read with ``ast``
(imports under ``if TYPE_CHECKING:`` and inside functions count too: they are still
dependencies), and each layer may only name the layers the architecture allows. A rule the
code does not keep yet is marked ``xfail(strict=True)`` with the step that fixes it, so the
test fails the day the code starts keeping it and the mark has to go.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "trading"

LEAVES = (
    "trading.clock",
    "trading.market.resolution",
    "trading.market.limits",
    "trading.broker.enums",
)
"""Modules that import nothing of ours, so any layer may import them: the clock protocol, the
market's constants (resolutions, request limits) and the broker's vocabulary (sides, order
types, statuses) that wire models describe."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, absolute (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            # ``from trading.market import noise`` imports the module trading.market.noise
            yield from (f"{target}.{alias.name}" for alias in node.names)


def modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package.removeprefix("trading.").replace(".", "/")).rglob("*.py"))


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


def violations(
    package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()
) -> list[str]:
    """``module: import`` for each import of ``package`` under a forbidden prefix."""
    found = []
    for path in modules(package):
        for target in imports_of(path):
            if within(target, forbidden) and not within(target, allowed):
                found.append(f"{module_name(path)}: {target}")
    return sorted(set(found))


def foreign(package: str, allowed: tuple[str, ...]) -> list[str]:
    """``module: import`` for each import of one of our modules outside ``allowed``."""
    return violations(package, ("trading",), (package, *allowed))


TRANSPORT = ("aiohttp", "trading.api", "trading.ws", "trading.specs", "trading.web")


def test_the_import_reader_sees_the_imports() -> None:
    """Guard the checker itself: imports known to exist are found."""
    assert {"trading.models.broker", "trading.market.stream"} <= set(
        imports_of(PACKAGE / "ws" / "feeds.py")
    )
    assert "aiohttp" in set(imports_of(PACKAGE / "app.py"))
    assert foreign("trading.ws", ()) != [], "the ws layer does import other layers"


@pytest.mark.parametrize("package", ["trading.market", "trading.broker"])
def test_domain_imports_no_transport(package: str) -> None:
    """No aiohttp, no routes, no hub, no spec builders: the domain runs without a server."""
    assert violations(package, TRANSPORT) == []


def test_market_imports_only_itself_and_the_clock() -> None:
    """Not the settings (it gets a MarketConfig), not the broker, not the wire models."""
    assert foreign("trading.market", ("trading.clock",)) == []


def test_market_imports_nothing_of_the_broker() -> None:
    assert violations("trading.market", ("trading.broker",)) == []


def test_broker_imports_only_itself_the_market_and_the_clock() -> None:
    """No wire models (the broker has its own requests, enums and events), no settings, no
    app keys, no HTTP errors."""
    assert foreign("trading.broker", ("trading.market", "trading.clock")) == []


def test_broker_imports_no_wire_models() -> None:
    assert violations("trading.broker", ("trading.models", "trading.wire", "pydantic")) == []


def test_wire_mapping_is_pure() -> None:
    """``trading.wire`` maps domain objects to wire models: no HTTP, no hub, no settings."""
    allowed = ("trading.models", "trading.broker", "trading.market", "trading.clock")
    assert violations("trading.wire", TRANSPORT) == []
    assert foreign("trading.wire", allowed) == []


def test_streaming_uses_no_rest_modules() -> None:
    """The WebSocket side shares shapes with REST through ``trading.wire``, not ``api/``."""
    assert violations("trading.ws", ("trading.api",)) == []


def test_ws_reads_the_broker_only_through_its_service() -> None:
    """No engine, no book, no store: the service's atomic subscribe-with-snapshot (and the
    read-only snapshot it hands out) is the one way the streaming side reads broker state;
    its events and errors are plain values. Replay sessions are read through theirs
    (``Replays``, the sessions' rules over the same store)."""
    allowed = (
        "trading.broker.service",
        "trading.broker.replays",
        "trading.broker.snapshot",
        "trading.broker.events",
        "trading.broker.errors",
        "trading.broker.accounts",
    )
    assert violations("trading.ws", ("trading.broker",), allowed) == []
