"""The outbox: a job for each change a backend driver must follow.

``Outbox.on_resources_written`` subscribes to ``ResourcesWritten`` and
writes, in the change's own transaction, one ``jobs`` row per resource whose
driver needs backend work (``Driver.needs_backend``: the ``agent`` and
``unmanaged`` drivers need none, so today's deployments write nothing here),
and a parent job when a caller's one request made several. Nothing is
called: ``quark worker`` runs the jobs after the commit
(quark.services.backends.worker). The job ids are told to the request's
Context (``ctx.jobs``), which the API answers with (``X-Quark-Job-Id``).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.clock import Clock, utcnow
from quark.config import Settings
from quark.db import models
from quark.db.jobs_model import BULK, QUEUED, jobs
from quark.drivers import loading
from quark.services.events import ResourcesWritten, Written

n = models.networks


class Outbox:
    def __init__(self, settings: Settings, clock: Clock = utcnow) -> None:
        self.default = settings.backend_driver
        self.clock = clock

    async def _driver(self, conn: AsyncConnection, item: Written, known: dict[str, str]) -> str:
        if item.driver is not None:
            return item.driver
        if item.network_id is None:
            return self.default
        if item.network_id not in known:
            plugin = await conn.scalar(select(n.c.network_plugin).where(n.c.id == item.network_id))
            known[item.network_id] = plugin or self.default
        return known[item.network_id]

    async def on_resources_written(self, conn: AsyncConnection, event: ResourcesWritten) -> None:
        known: dict[str, str] = {}
        wanted: list[tuple[Written, str]] = []
        for item in event.items:
            driver = await self._driver(conn, item, known)
            if loading.needs_backend(driver):
                wanted.append((item, driver))
        if not wanted:
            return
        now = self.clock()
        parent = str(uuid.uuid4()) if len(wanted) > 1 and event.ctx is not None else None
        rows = [self._row(event, item, driver, parent, now) for item, driver in wanted]
        if parent is not None:
            bulk = self._row(event, wanted[0][0], "", None, now)
            bulk.update(id=parent, resource_id="", network_id=None, operation=BULK, total=len(rows))
            await conn.execute(insert(jobs).values(**bulk))
        await conn.execute(insert(jobs), rows)
        if event.ctx is not None:
            event.ctx.jobs.update({row["resource_id"]: row["id"] for row in rows})
            if parent is not None:
                event.ctx.jobs["*"] = parent

    @staticmethod
    def _row(event: ResourcesWritten, item: Written, driver: str, parent: str | None, now: Any) -> dict[str, Any]:
        return job_row(
            now,
            parent_id=parent,
            project_id=item.project_id,
            resource_type=event.resource,
            resource_id=item.resource_id,
            network_id=item.network_id,
            revision=item.revision,
            operation=event.operation,
            driver=driver,
        )


def job_row(now: Any, **values: Any) -> dict[str, Any]:
    """A new ``jobs`` row, queued now, with ``values`` over the defaults."""
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "parent_id": None,
        "network_id": None,
        "status": QUEUED,
        "attempts": 0,
        "last_error": "",
        "superseded_by": None,
        "total": 1,
        "done": 0,
        "failed": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "worker": "",
        "created_at": now,
        "updated_at": now,
        "started_at": None,
        "finished_at": None,
    }
    row.update(values)
    return row
