"""WebSocket benchmark, ours vs the minimal server, as ratios: runs ``scripts/bench_ws.sh``
(fresh servers per run, ours and the minimal server back to back, the order alternating
between repeats) and reduces its result lines to the issue's figures.

Each figure is the **median over the repeats of the paired ratio** (ours / minimal of the two
runs made back to back), next to the medians of ours and of the minimal server. Pairing is what
makes the ratio stable on a shared 2-core machine: both runs of a pair see the same neighbours,
while the load from other processes drifts between pairs.

    .venv/bin/python scripts/bench_ws.py                  # 5 repeats, long runs (~15 min)
    .venv/bin/python scripts/bench_ws.py --quick --json /tmp/ws.json   # 3 repeats (~4 min)
    .venv/bin/python scripts/bench_ws.py --from /tmp/bench_ws.X/results.jsonl   # summarise only

``--json PATH`` also writes the rows ``{"workload", "metric", "ours", "minimal", "ratio",
"goal", "met"}`` that ``scripts/bench_all.py`` gathers into one table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

Row = dict[str, Any]
Line = dict[str, Any]


@dataclass(frozen=True)
class Mode:
    """The environment ``bench_ws.sh`` runs with (its knobs are documented at its top)."""

    env: dict[str, str]
    about: str


FULL = Mode(
    {
        "REPEATS": "5",
        "CLIENTS": "1000",
        "FAN_RATE": "20",
        "FAN_COUNT": "300",  # 300 000 messages per run: long enough to be stable
        "SAT_RATE": "5000",
        "SAT_COUNT": "300",
        "CHURN_CLIENTS": "50",
        "CHURN_OPS": "200",
        "CHURN_ROUNDS": "3",
        "MAX_CONNS": "10000",
        "CONN_STEP": "2000",
        "CONNS_SUBSCRIBE": "0",
    },
    "5 repeats; fan-out 1000 clients x 300 updates at 20/s",
)
QUICK = Mode(
    {
        **FULL.env,
        "REPEATS": "3",
        "FAN_COUNT": "120",
        "SAT_COUNT": "120",
        "CHURN_OPS": "100",
        "CHURN_ROUNDS": "2",
        "MAX_CONNS": "2000",
        "CONN_STEP": "1000",
    },
    "quick: 3 repeats; fan-out 1000 clients x 120 updates at 20/s",
)


@dataclass(frozen=True)
class Figure:
    """One row: which result lines, which number of each line, and the issue's goal."""

    workload: str
    metric: str
    label: str
    """The label's middle part, between the server name and ``repN`` (bench_ws.sh)."""
    value: Callable[[Line], float | None]
    goal_ratio: float | None
    """The goal as a ratio to the minimal server (None: reported, no goal)."""


def field(name: str) -> Callable[[Line], float | None]:
    def get(line: Line) -> float | None:
        value = line.get(name)
        return float(value) if isinstance(value, int | float) else None

    return get


def churn_cpu_per_op(line: Line) -> float | None:
    """The median over the rounds of one churn run (load.py reports it per round only)."""
    values = [r["server_cpu_us_per_op"] for r in line.get("rounds", [])]
    values = [v for v in values if isinstance(v, int | float)]
    return statistics.median(values) if values else None


PER_MSG = "server CPU µs / delivered msg"
FIGURES = (
    Figure("ws fan-out", PER_MSG, "fanout", field("server_cpu_us_per_msg"), 1.15),
    Figure("ws fan-out", "delivery ratio", "fanout", field("delivery_ratio"), None),
    Figure("ws saturation", PER_MSG, "sat", field("server_cpu_us_per_msg"), None),
    Figure("ws churn", "server CPU µs / sub or unsub", "churn", churn_cpu_per_op, 1.25),
    Figure("ws idle conns", "KB / connection", "conns-idle", field("server_kb_per_conn"), None),
)

LABEL = re.compile(r"^(?P<server>\S+) (?P<middle>.*?) ?rep(?P<rep>\d+)$")


def kind(label: str) -> str:
    """bench_ws.sh's labels: ``S c1000 r20``, ``S c1000 sat``, ``S churn``, ``S conns-idle``."""
    if label.endswith(" sat"):
        return "sat"
    if label.startswith("c") and " r" in label:
        return "fanout"
    return label


def pairs(lines: Iterable[Line], figure: Figure) -> list[tuple[float | None, float | None]]:
    """(ours, minimal) per repeat, for the lines of ``figure``."""
    by_rep: dict[int, dict[str, float | None]] = {}
    for line in lines:
        match = LABEL.match(str(line.get("label", "")))
        if match is None or kind(match["middle"]) != figure.label:
            continue
        by_rep.setdefault(int(match["rep"]), {})[match["server"]] = figure.value(line)
    return [(runs.get("ours"), runs.get("baseline")) for _, runs in sorted(by_rep.items())]


def median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def rows(lines: list[Line]) -> list[Row]:
    result = []
    for figure in FIGURES:
        runs = pairs(lines, figure)
        if not runs:
            continue
        ours = median(o for o, _ in runs)
        minimal = median(m for _, m in runs)
        ratio = median(o / m for o, m in runs if o is not None and m)
        if figure.goal_ratio is not None:
            goal = f"≤ {figure.goal_ratio}× minimal"
            met = None if ratio is None else ratio <= figure.goal_ratio
        else:
            goal, met = "reported", None
        if figure.metric == "delivery ratio":
            goal = "1.0 (every message)"
            met = None if ours is None else ours >= 1.0
        result.append(
            {
                "workload": figure.workload,
                "metric": figure.metric,
                "ours": ours,
                "minimal": minimal,
                "ratio": ratio,
                "goal": goal,
                "met": met,
                "runs": len(runs),
            }
        )
    return result


def table(result: list[Row]) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, bool):
            return "yes" if v else "NO"
        return f"{v:g}" if isinstance(v, float) else str(v)

    head = ("workload", "metric", "ours", "minimal", "ratio", "goal", "met", "runs")
    body = [[fmt(r[h]) for h in head] for r in result]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(out)


def run(mode: Mode, out: Path, repeats: int | None) -> Path:
    env = {**os.environ, **mode.env, "OUT": str(out)}
    env.setdefault("WORKLOADS", "fanout sat churn conns")
    if repeats is not None:
        env["REPEATS"] = str(repeats)
    print(f"bench_ws.sh ({mode.about}), output in {out}", file=sys.stderr, flush=True)
    subprocess.run([str(ROOT / "scripts" / "bench_ws.sh")], env=env, check=True, stdout=sys.stderr)
    return out / "results.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, shorter runs")
    parser.add_argument("--repeats", type=int, help="override the number of repeats")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--out", type=Path, help="folder for bench_ws.sh's results and logs")
    parser.add_argument("--from", dest="source", type=Path, help="summarise this results.jsonl")
    args = parser.parse_args(argv)
    if args.source is not None:
        results = args.source
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = args.out or Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_ws.{stamp}"
        results = run(QUICK if args.quick else FULL, out, args.repeats)
    lines = [json.loads(x) for x in results.read_text().splitlines() if x.startswith("{")]
    result = rows(lines)
    print(table(result))
    if args.json is not None:
        contract = [{k: v for k, v in r.items() if k != "runs"} for r in result]
        args.json.write_text(json.dumps(contract, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
