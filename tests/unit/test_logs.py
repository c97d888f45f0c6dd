"""quark.logs: the request id on records, JSON lines."""

from __future__ import annotations

import logging

import orjson

from quark import logs


def record(msg: str = "hello", exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("quark.x", logging.ERROR, __file__, 1, msg, None, exc_info)


def test_filter_adds_the_current_request_id():
    token = logs.REQUEST_ID.set("req-abc")
    try:
        rec = record()
        assert logs.RequestIdFilter().filter(rec)
        assert rec.request_id == "req-abc"  # type: ignore[attr-defined]
    finally:
        logs.REQUEST_ID.reset(token)
    outside = record()
    logs.RequestIdFilter().filter(outside)
    assert outside.request_id == "-"  # type: ignore[attr-defined]


def test_text_format_carries_the_request_id():
    rec = record()
    rec.request_id = "req-1"  # type: ignore[attr-defined]
    assert "[req-1] hello" in logging.Formatter(logs.TEXT_FORMAT).format(rec)


def test_json_formatter():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = record(exc_info=sys.exc_info())
    rec.request_id = "req-2"  # type: ignore[attr-defined]
    rec.status = 503  # type: ignore[attr-defined]
    entry = orjson.loads(logs.JsonFormatter().format(rec))
    assert entry["request_id"] == "req-2" and entry["message"] == "hello" and entry["level"] == "ERROR"
    assert entry["status"] == 503 and "ValueError: boom" in entry["exception"]


def test_configure_is_idempotent():
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        logs.configure("warning", "json")
        logs.configure("info", "text")
        ours = [h for h in root.handlers if getattr(h, "_quark", False)]
        assert len(ours) == 1 and not isinstance(ours[0].formatter, logs.JsonFormatter)
        assert root.level == logging.INFO
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        root.setLevel(level)
