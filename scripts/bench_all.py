"""Every benchmark of issue 16 in one run, gathered into one table (``make bench``).

Runs each script of :data:`BENCHMARKS` in turn with ``--json <tmpfile>`` (and ``--quick`` when
this script is given ``--quick``), reads the rows it wrote (``workload``, ``metric``, ``ours``,
``minimal``, ``ratio``, ``goal``, ``met``; docs/performance.md) and prints one markdown table:
ours, the minimal server and the ratio, each measured in the same run of its script. A script
that is absent, fails or writes no rows gets a row saying so, and the exit status is then 1,
as it is when a goal is not met (``--allow-unmet`` keeps 0 for those).

    .venv/bin/python scripts/bench_all.py --quick                 # about 10 minutes
    .venv/bin/python scripts/bench_all.py --out /tmp/bench.txt     # medians of 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Benchmark:
    """One script: its path under ``scripts/`` and the arguments it always gets."""

    name: str
    script: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ("--quick",)
    timeout_s: float = 1800


BENCHMARKS = (
    Benchmark("REST (bars, small routes)", "bench_http.py"),
    Benchmark("loop lag (cold history)", "bench_loop_lag.py"),
    Benchmark("WebSocket", "bench_ws.py"),
    Benchmark("broker orders", "bench_broker.py"),
    Benchmark("broker accounts", "bench_accounts.py"),
)
"""The benchmarks ``make bench`` runs, in this order: the one place to add or change one."""

COLUMNS = ("workload", "metric", "ours", "minimal", "ratio", "goal", "met")


def run(bench: Benchmark, quick: bool, tmp: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The rows one script wrote, or none and why."""
    script = ROOT / "scripts" / bench.script
    if not script.exists():
        return [], f"absent (scripts/{bench.script})"
    out = tmp / f"{script.stem}.json"
    cmd = [sys.executable, str(script), *bench.args, *(bench.quick_args if quick else ()),
           "--json", str(out)]  # fmt: skip
    print(f"== {bench.name}: {' '.join(cmd[1:])}", flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=ROOT, timeout=bench.timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return [], f"timed out after {bench.timeout_s:.0f} s"
    print(f"== {bench.name}: exit {done.returncode} in {time.monotonic() - started:.0f} s")
    if done.returncode != 0:
        return _rows(out), f"failed (exit {done.returncode})"
    rows = _rows(out)
    return rows, None if rows else "wrote no rows (--json)"


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}" if abs(value) >= 100 else f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value).replace("|", "\\|")


def table(results: list[tuple[Benchmark, list[dict[str, Any]], str | None]]) -> str:
    lines = [
        "| benchmark | workload | metric | ours | minimal | ratio | goal | met |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for bench, rows, problem in results:
        for row in rows:
            met = {True: "yes", False: "**no**", None: ""}.get(row.get("met"), "?")
            cells = [_cell(row.get(c)) for c in COLUMNS[:-1]]
            lines.append(f"| {bench.name} | " + " | ".join(cells) + f" | {met} |")
        if problem is not None:
            lines.append(f"| {bench.name} | — | {problem} | | | | | **no** |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every script's quick mode")
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "bench_all.txt",
        help="also write the table here (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--only", action="append", help="scripts to run (file names)")
    parser.add_argument("--allow-unmet", action="store_true", help="exit 0 when goals are unmet")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b.script in args.only]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-all-") as tmp:
        for bench in chosen:
            rows, problem = run(bench, args.quick, Path(tmp))
            results.append((bench, rows, problem))
    text = table(results)
    mode = "quick" if args.quick else "full"
    header = f"# make bench ({mode}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
    args.out.write_text(header + text)
    print()
    print(text, end="")
    print(f"\n(written to {args.out})")
    broken = any(problem is not None for _, _, problem in results)
    unmet = any(row.get("met") is False for _, rows, _ in results for row in rows)
    return 1 if broken or (unmet and not args.allow_unmet) else 0


if __name__ == "__main__":
    sys.exit(main())
