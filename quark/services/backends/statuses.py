"""Port status from the backends: what a driver reports of its ports' state.

Drivers whose backend knows whether a port is really plugged (``ovn``: a
logical switch port's ``up``, set once a chassis claimed it) declare
``reports_port_status``; every ``worker_status_interval`` seconds a worker
asks each such driver about the ports of its networks and writes the
answer (``ACTIVE`` / ``DOWN``) into the ports' ``status``. A port in
``ERROR`` (its backend work failed) is left as it is, and ``ACTIVE`` is
refused for a port that is administratively down, as for agents' reports.

The status is what the backend observed, not desired state: the write does
not bump the port's revision (a revision bump would make the backend's rows
look stale to sync and write them again for nothing).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.drivers import loading
from quark.drivers.base import RetryableError, UnknownDriver

LOG = logging.getLogger(__name__)
p, n = models.ports, models.networks
STATUSES = ("ACTIVE", "DOWN")


def reporting(name: str) -> bool:
    try:
        return loading.driver_class(name).reports_port_status
    except UnknownDriver:
        return False


async def refresh(worker: Any) -> int:
    """One pass over every reporting driver's ports; how many statuses changed."""
    plugin = func.coalesce(n.c.network_plugin, worker.settings.backend_driver).label("plugin")
    query = select(p.c.id, p.c.status, p.c.admin_state_up, plugin).join(n, n.c.id == p.c.network_id)
    async with worker.db.read() as conn:
        rows = (await conn.execute(query.where(p.c.status != "ERROR"))).all()
    by_driver: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if reporting(row.plugin):
            by_driver[row.plugin].append(row)
    changed = 0
    for name, ports in by_driver.items():
        try:
            seen = await worker.driver(name).port_statuses([r.id for r in ports])
        except RetryableError as exc:
            LOG.info("port statuses of driver %s: %s", name, exc)
            continue
        wanted = {}
        for row in ports:
            status = seen.get(row.id)
            if status == "ACTIVE" and not row.admin_state_up:
                status = "DOWN"
            if status in STATUSES and status != row.status:
                wanted[row.id] = (row.status, status)
        if wanted:
            changed += await worker.db.run_write(lambda conn, w=wanted: _write(conn, w, worker.clock()))
    return changed


async def _write(conn: AsyncConnection, wanted: dict[str, tuple[str, str]], now: Any) -> int:
    changed = 0
    for port_id, (old, new) in sorted(wanted.items()):
        # only over the status read: a job's ERROR or another writer's change in between wins
        result = await conn.execute(
            update(p).where(p.c.id == port_id, p.c.status == old).values(status=new, updated_at=now)
        )
        changed += result.rowcount
    return changed
