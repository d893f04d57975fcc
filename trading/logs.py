"""Logs for operators: text or one JSON object per line, a request id on every request.

``TRADING_LOG_FORMAT=json`` makes every record one line ``{"time", "level", "logger",
"message", "request_id"?, ...}`` (extra fields of a record, such as the access log's
``method``/``path``/``status``/``duration_ms``, are added as keys), for log shippers that
parse JSON. Stdlib :mod:`logging` only: the formatter is the whole difference.

Each HTTP request gets an id: the client's ``X-Request-ID`` when it is a short token, else a
fresh one. It is echoed in the response's ``X-Request-ID`` header, stamped on every record
logged while the request is handled (a context variable: aiohttp runs each request in its own
task), and on its access-log line.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import itertools
import logging
import os
import re
import secrets
import sys
import time as _time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from trading.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = contextvars.ContextVar[str | None]("request_id", default=None)
"""The id of the request being handled in this task (None outside requests)."""
REQUEST_ID_KEY = web.RequestKey("request_id", str)
ACCESS_LOGGER = logging.getLogger("aiohttp.access")

_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")
"""A client's id is kept only if it is a short token (no spaces, quotes or control bytes:
it goes into a header and into log lines verbatim)."""

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


_PROCESS_TOKEN = secrets.token_hex(6)
_SEQUENCE = itertools.count(1)


def request_id_for(header: str | None) -> str:
    """The client's id, or ``<process token>-<counter>``: unique across processes and restarts
    (the token is random per process), cheap (``uuid4`` reads the kernel's random source on
    every request, measured at ~60 µs each here), and it sorts in arrival order."""
    if header is not None and _ACCEPTED_ID.fullmatch(header):
        return header
    return f"{_PROCESS_TOKEN}-{next(_SEQUENCE):x}"


def start_request(request: web.Request) -> None:
    """Give the request its id, first thing (every log line of the request carries it)."""
    request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
    request[REQUEST_ID_KEY] = request_id
    REQUEST_ID.set(request_id)  # this request's own task: nothing to reset


def echo_request_id(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Part of the ``on_response_prepare`` hook: every response, WebSocket upgrades and errors
    included."""
    request_id = request.get(REQUEST_ID_KEY)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id


SECRET_QUERY_PARAMS = ("ticket",)
"""Query parameters that carry a credential (the WebSocket's one-time ticket): never logged."""


def logged_path(request: web.BaseRequest) -> str:
    """The path and query, with credentials in the query replaced by ``-``."""
    if not any(name in request.query for name in SECRET_QUERY_PARAMS):
        return request.path_qs
    return str(request.rel_url.update_query({name: "-" for name in SECRET_QUERY_PARAMS
                                              if name in request.query}))  # fmt: skip


ACCESS_MESSAGE = '%s "%s %s" %s %s %.1fms'
"""The access line's message: remote, method, path, status, bytes, duration."""


class AccessLogger(AbstractAccessLogger):
    """One INFO line per request on ``aiohttp.access``, with the fields as record extras.

    The line is the same whichever way it is written. When the record could only reach the
    handler :func:`configure_logging` installed, unchanged (no other handler or filter on the
    way, the standard record factory), the formatter renders the line from the fields and it
    is written to that handler's stream directly: building a ``LogRecord`` (the caller's frame
    looked up, thread and process names read) and passing it through the logging machinery
    cost more than the rest of a small request's answer. Anything else (a test's log capture,
    an operator's extra handler) takes the ordinary ``logger.info`` path."""

    @property
    def enabled(self) -> bool:
        """aiohttp skips timing and :meth:`log` when the level filters the line out anyway."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        fields = {
            "remote": request.remote,
            "method": request.method,
            "path": logged_path(request),
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 3),
            "user_agent": request.headers.get("User-Agent"),
            "request_id": response.headers.get(REQUEST_ID_HEADER),
        }
        args = (
            fields["remote"], fields["method"], fields["path"], fields["status"],
            fields["bytes"], fields["duration_ms"],
        )  # fmt: skip
        handler = _direct_handler(self.logger)
        if handler is not None and handler.lock is not None:
            formatter = handler.formatter
            assert isinstance(formatter, TextFormatter | JsonFormatter)
            try:
                line = formatter.line(
                    _time.time(), logging.getLevelName(logging.INFO), self.logger.name,
                    os.getpid(), ACCESS_MESSAGE % args, fields,
                )  # fmt: skip
                with handler.lock:  # as StreamHandler.emit, under Handler.handle's lock
                    handler.stream.write(line + handler.terminator)
                    handler.flush()
                return
            except Exception:  # the logging path below reports it (Handler.handleError)
                pass
        self.logger.info(ACCESS_MESSAGE, *args, extra=fields)


_INSTALLED: list[logging.StreamHandler[Any]] = []
"""The root handler :func:`configure_logging` installed (none before it ran)."""


def _direct_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The installed handler, when an INFO record of ``logger`` would reach it and only it,
    with nothing on the way that could drop or change the record."""
    if not _INSTALLED or logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    handler = _INSTALLED[0]
    if handler.filters or handler.level > logging.INFO:
        return None
    if not isinstance(handler.formatter, TextFormatter | JsonFormatter):
        return None
    current: logging.Logger | None = logger
    if logger.disabled:
        return None
    while current is not None:
        if current.filters:
            return None
        if current.handlers and (current.parent is not None or current.handlers != [handler]):
            return None
        if not current.propagate:
            return None if current.parent is not None else handler
        current = current.parent
    return handler


def _utc(created: float) -> str:
    stamp = dt.datetime.fromtimestamp(created, dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The record's own fields (``extra=``), in the order they were given."""
    return {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; with ``pid`` (the process id) when several
    processes share the log (``serve --workers N``)."""

    def __init__(self, *, with_pid: bool = False) -> None:
        super().__init__()
        self._with_pid = with_pid

    def format(self, record: logging.LogRecord) -> str:
        out = self._object(
            record.created, record.levelname, record.name, record.process, record.getMessage(),
            _extras(record),
        )  # fmt: skip
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = record.stack_info
        return orjson.dumps(out, default=str).decode()

    def line(
        self, created: float, level: str, name: str, process: int | None, message: str,
        extras: dict[str, Any],
    ) -> str:  # fmt: skip
        """A record's line from its parts (no traceback): the access log's direct path."""
        out = self._object(created, level, name, process, message, extras)
        return orjson.dumps(out, default=str).decode()

    def _object(
        self, created: float, level: str, name: str, process: int | None, message: str,
        extras: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        out: dict[str, Any] = {
            "time": _utc(created),
            "level": level,
            "logger": name,
            "message": message,
        }
        if self._with_pid:
            out["pid"] = process
        request_id = extras.get("request_id") or REQUEST_ID.get()
        if request_id is not None:
            out["request_id"] = request_id
        for key, value in extras.items():
            if key not in out:
                out[key] = value
        return out


class TextFormatter(logging.Formatter):
    """The human format, ``2026-01-02 10:00:00,123 INFO logger: message``, with
    `` [request_id]`` when the record belongs to a request, and the process id after the
    logger's name when several processes share the log. The time is logging's default
    (local time, milliseconds after a comma); its text is made once per second."""

    def __init__(self, *, with_pid: bool = False) -> None:
        super().__init__()
        self._with_pid = with_pid
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        text = self._head(record.created, record.levelname, record.name, record.process)
        text += record.message
        # the traceback and stack as logging.Formatter.format appends them
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = (text if text[-1:] == "\n" else text + "\n") + record.exc_text
        if record.stack_info:
            text = (text if text[-1:] == "\n" else text + "\n") + self.formatStack(
                record.stack_info
            )
        return self._with_request_id(text, getattr(record, "request_id", None))

    def line(
        self, created: float, level: str, name: str, process: int | None, message: str,
        extras: dict[str, Any],
    ) -> str:  # fmt: skip
        """A record's line from its parts (no traceback): the access log's direct path."""
        text = self._head(created, level, name, process) + message
        return self._with_request_id(text, extras.get("request_id"))

    def _head(self, created: float, level: str, name: str, process: int | None) -> str:
        second = int(created)
        if second != self._second:
            self._second_text = _time.strftime(self.default_time_format, self.converter(created))
            self._second = second
        msecs = int((created - second) * 1000)
        pid = f"[{process}]" if self._with_pid else ""
        return f"{self._second_text},{msecs:03d} {level} {name}{pid}: "

    @staticmethod
    def _with_request_id(text: str, request_id: str | None) -> str:
        request_id = request_id or REQUEST_ID.get()
        return f"{text} [{request_id}]" if request_id else text


def configure_logging(settings: Settings) -> None:
    """Root handler on stderr in ``TRADING_LOG_FORMAT`` at ``TRADING_LOG_LEVEL``; each line
    names its process when ``TRADING_WORKERS`` > 1 (the supervisor's and workers' lines mix)."""
    handler = logging.StreamHandler(sys.stderr)
    with_pid = settings.workers > 1
    handler.setFormatter(
        JsonFormatter(with_pid=with_pid)
        if settings.log_format == "json"
        else TextFormatter(with_pid=with_pid)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    _INSTALLED[:] = [handler]


def access_log_args(settings: Settings) -> dict[str, Any]:
    """aiohttp's access-log arguments: our logger class, or none when switched off."""
    if not settings.access_log:
        return {"access_log": None}
    return {"access_log": ACCESS_LOGGER, "access_log_class": AccessLogger}
