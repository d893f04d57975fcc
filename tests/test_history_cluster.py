"""Imported history on ``serve --workers 2`` (docs/history.md §2): both workers map the same
files and answer the same bars; a rolling restart (SIGHUP) serves a later import."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterproc import Cluster
from tests.history_sample import SESSION, minute_rows, write_csv
from tests.historykit import import_bars
from tests.realservers import RedisServer
from tests.test_cluster_serving import connections_by_worker, get

QUERY = "/api/v1/datafeed/bars?symbol=ACME&resolution=60&from_time=0&to_time=4000000000000"


@pytest.fixture
def imported(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Cluster, Path]]:
    rows = minute_rows()
    run = import_bars(tmp_path / "data", write_csv(tmp_path / "m.csv", rows), "--symbol", "ACME",
                      "--session", SESSION)  # fmt: skip
    assert run.code == 0, run.err
    server = Cluster(tmp_path / "data", tmp_path / "cluster.log", redis_server.url, workers=2)
    server.start()
    try:
        yield server, tmp_path
    finally:
        server.stop()


def answers_by_worker(server: Cluster) -> dict[int, bytes]:
    grouped = connections_by_worker(server, 24)
    answers = {}
    for pid, conns in grouped.items():
        status, body = get(conns[0], QUERY)
        assert status == 200, body
        answers[pid] = body
        for conn in conns:
            conn.close()
    return answers


def test_both_workers_serve_the_import_and_a_rolling_restart_the_next(
    imported: tuple[Cluster, Path],
) -> None:
    server, tmp_path = imported
    pids = server.wait_workers(2)
    first = answers_by_worker(server)
    assert set(first) == pids
    assert len(set(first.values())) == 1
    assert b'"bars":[{' in next(iter(first.values()))
    # one more day of bars: the running workers keep their snapshot until replaced
    later = [r.__class__(r.time + 86_400, r.open, r.high, r.low, r.close, r.volume)
             for r in minute_rows()[-390:]]  # fmt: skip
    run = import_bars(
        tmp_path / "data", write_csv(tmp_path / "day4.csv", later), "--symbol", "ACME"
    )
    assert run.code == 0, run.err
    assert set(answers_by_worker(server).values()) == set(first.values())
    os.kill(server.pid, signal.SIGHUP)
    deadline = time.monotonic() + 60
    while "rolling restart done" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    after = answers_by_worker(server)
    assert len(set(after.values())) == 1
    body = next(iter(after.values()))
    assert body != next(iter(first.values()))
    assert body.count(b'"time"') == next(iter(first.values())).count(b'"time"') + 7  # 7 hours
