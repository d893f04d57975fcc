"""kill -9 of the fill evaluator of a real ``serve --workers 2`` cluster, under concurrent
order load (broker.md §21): every acknowledged order is stored, none is filled twice, and the
next worker commits a fill tick well within a second of the kill (goal 5 of issue 15). The
harness is the benchmark's, scripts/bench_failover.py."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.realservers import RedisServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_failover  # a script, imported by path like its siblings


def test_kill_9_of_the_evaluator_loses_no_acknowledged_order_and_fills_none_twice(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    result = bench_failover.run(redis_server.url, tmp_path, rounds=3)
    assert len(result.failovers_ms) == 3, (tmp_path / "data.log").read_text()[-3000:]
    assert max(result.failovers_ms) < 1000, result.failovers_ms
    assert result.acked > 100, result
    assert result.stored == result.acked  # acknowledged = stored
    assert result.overfilled == []  # never filled twice
    assert result.filled_by_evaluator > 0, "the evaluator filled no resting order"


def test_kill_9_of_the_evaluator_host_on_postgres_loses_nothing_either(
    tmp_path: Path, redis_server: RedisServer, postgres_url: str
) -> None:
    """Two hosts on one PostgreSQL: the advisory lock's holder is killed, the other host's
    session takes the lock (polled every 100 ms) and commits the next tick."""
    result = bench_failover.run(redis_server.url, tmp_path, rounds=3, database_url=postgres_url)
    assert len(result.failovers_ms) == 3, (tmp_path / "host0.log").read_text()[-3000:]
    assert max(result.failovers_ms) < 1000, result.failovers_ms
    assert result.acked > 100, result
    assert result.stored == result.acked
    assert result.overfilled == []
    assert result.filled_by_evaluator > 0, "the evaluator filled no resting order"
