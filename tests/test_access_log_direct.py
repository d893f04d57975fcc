"""The access log's direct path (issue 16) writes the very line the logging path writes.

With only the handler ``configure_logging`` installed, :class:`trading.logs.AccessLogger`
renders the line itself and writes it to that handler's stream; with anything else on the way
(here: a pass-through filter) it goes through ``logger.info``. Both must give the same bytes,
for every format, with and without the process id, for any request.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading import http_server
from trading.app import create_app
from trading.logs import ACCESS_LOGGER, REQUEST_ID_HEADER, AccessLogger, configure_logging
from trading.settings import Settings


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The root logger as ``serve`` leaves it (pytest's capture handlers set aside)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _configure(
    log_format: Literal["text", "json"], workers: int
) -> tuple[logging.Handler, io.StringIO]:
    configure_logging(
        Settings.model_construct(  # only the fields configure_logging reads
            log_format=log_format, workers=workers, log_level="INFO"
        )
    )
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    return handler, stream


RECORDS: list[logging.LogRecord] = []


def _line(
    handler: logging.Handler, stream: io.StringIO, request: Any, response: Any, direct: bool
) -> str:
    def keep(record: logging.LogRecord) -> bool:
        RECORDS.append(record)
        return True

    if not direct:
        handler.addFilter(keep)  # any filter: the record must go through logging
    try:
        AccessLogger(ACCESS_LOGGER, "").log(request, response, 0.0123456)
    finally:
        handler.removeFilter(keep)
    text = stream.getvalue()
    stream.seek(0)
    stream.truncate()
    return text


_TOKEN = st.text(st.sampled_from("abcXYZ019-._:@+=/"), min_size=1, max_size=20)
_SEGMENT = st.text(st.sampled_from("abcXYZ019-._"), min_size=1, max_size=12)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    log_format=st.sampled_from(["text", "json"]),
    workers=st.sampled_from([1, 3]),
    path=st.lists(_SEGMENT, max_size=3).map(lambda parts: "/" + "/".join(parts)),
    query=st.dictionaries(st.sampled_from(["a", "ticket", "symbol"]), _TOKEN, max_size=2),
    user_agent=st.none() | _TEXT,
    request_id=st.none() | _TOKEN,
    status=st.sampled_from([200, 201, 307, 404, 422, 500]),
    now=st.floats(min_value=1e9, max_value=4e9),
)
def test_direct_and_logging_paths_write_the_same_line(
    installed: None,
    monkeypatch: pytest.MonkeyPatch,
    log_format: Literal["text", "json"],
    workers: int,
    path: str,
    query: dict[str, str],
    user_agent: str | None,
    request_id: str | None,
    status: int,
    now: float,
) -> None:
    handler, stream = _configure(log_format, workers)
    headers = {} if user_agent is None else {"User-Agent": user_agent}
    url = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    request = make_mocked_request("GET", url, headers=headers)
    response = web.Response(status=status, body=b"{}")
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    monkeypatch.setattr(time, "time", lambda: now)
    direct = _line(handler, stream, request, response, direct=True)
    logged = _line(handler, stream, request, response, direct=False)
    assert direct == logged
    if log_format == "text":  # as logging's own formatter writes it, plus the request id
        pid = "[%(process)d]" if workers > 1 else ""
        reference = logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{pid}: %(message)s")
        record = RECORDS.pop()
        suffix = f" [{request_id}]" if request_id else ""
        assert direct == reference.format(record) + suffix + "\n"
    assert direct.endswith("\n")
    assert direct.count("\n") == 1


async def test_a_served_request_has_every_field_on_the_direct_path(
    installed: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, stream = _configure("json", 1)

    def no_record(*args: object, **kwargs: object) -> None:
        raise AssertionError("the access line went through logger.info")

    monkeypatch.setattr(ACCESS_LOGGER, "info", no_record)
    app = create_app(Settings(data_dir=tmp_path))
    runner = await http_server.start(app, "127.0.0.1", 0)
    try:
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/api/v1/health?ticket=secret"
            headers = {REQUEST_ID_HEADER: "direct-1", "User-Agent": "probe/1"}
            async with session.get(url, headers=headers) as resp:
                body = await resp.read()
                assert resp.status == 200
    finally:
        await runner.cleanup()
    records = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    [access] = [r for r in records if r["logger"] == "aiohttp.access"]
    assert access["message"].startswith('127.0.0.1 "GET /api/v1/health?ticket=-" 200 ')
    assert {k: access[k] for k in ("level", "request_id", "remote", "method", "path")} == {
        "level": "INFO",
        "request_id": "direct-1",
        "remote": "127.0.0.1",
        "method": "GET",
        "path": "/api/v1/health?ticket=-",
    }
    assert (access["status"], access["user_agent"]) == (200, "probe/1")
    assert access["bytes"] > len(body)  # aiohttp counts the head too
    assert access["duration_ms"] >= 0
    assert "pid" not in access
    assert access["time"].endswith("Z")
