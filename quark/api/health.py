"""Probes, outside authentication: ``/healthz`` (the process answers),
``/readyz`` (the database answers and its schema is the migrations' head) and
``/metrics`` (Prometheus text, every worker's values: ``quark.metrics``)."""

from __future__ import annotations

import asyncio
import functools
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import metrics
from quark.api.responses import json_response
from quark.db import migrate

LOG = logging.getLogger(__name__)
READY_TIMEOUT = 5.0  # seconds: a database that does not answer in this time is not ready


@functools.cache
def _head() -> str:
    return migrate.head_revision()


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    db = request.app.state.services.db
    try:
        current = await asyncio.wait_for(migrate.stored_revision(db), READY_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure to read the schema version: not ready
        LOG.warning("not ready: database unavailable: %s", str(exc).splitlines()[0] if str(exc) else repr(exc))
        return json_response({"status": "unavailable", "database": "unreachable"}, 503, {"Retry-After": "1"})
    if current != _head():
        return json_response(
            {"status": "unavailable", "database": "ok", "schema": current, "schema_head": _head()},
            503,
            {"Retry-After": "1"},
        )
    return json_response({"status": "ok", "database": "ok", "schema": current})


async def metrics_text(request: Request) -> Response:
    body, content_type = await asyncio.to_thread(metrics.render)  # reads every worker's files
    return Response(body, headers={"Content-Type": content_type})


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics_text, methods=["GET"]),
]
