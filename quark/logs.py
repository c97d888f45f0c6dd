"""Logging: the request id on every line a request causes, text or JSON lines.

``REQUEST_ID`` holds the ``x-openstack-request-id`` of the request being
served (set by the API middleware; a context variable, so each request's
task and the threads it hands work to see their own). ``RequestIdFilter``,
on every handler ``configure()`` installs, copies it onto each record.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import sys

import orjson

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("quark_request_id", default="-")
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Attributes of the access log's records (extra=...) that JSON lines carry as fields.
ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "project_id", "user_id")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process, request_id, message (+ access fields)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (as logging's last resort does)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


def configure(level: str = "info", log_format: str = "text") -> None:
    """Log to stderr at ``level``, as text lines or JSON lines; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_quark", False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler._quark = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
