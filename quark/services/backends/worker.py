"""``quark worker``: runs the outbox's jobs through the backend drivers.

Each round a worker claims due jobs (quark.services.backends.claims: each
resource's jobs in order, leased to this worker), calls each job's driver
outside any transaction, with the resource's view at its revision, under
``worker_call_timeout``, then records the outcome, only if the job is still
its own (a worker whose lease expired records nothing: another has it):

- success: ``succeeded``;
- ``RetryableError`` or a timeout: queued again after
  ``worker_retry_delay * 2**(attempts-1)`` seconds (at most
  ``worker_retry_max_delay``), drawn with +-50% jitter; ``failed`` after
  ``worker_max_attempts``;
- any other error: ``failed`` at once.

Between rounds the worker starts the periodic backend sync when its time
has come (quark.services.backends.periodic; one worker of all runs each).

A failed job puts its resource's ``status`` in ``ERROR`` (networks, ports,
routers: the resources with a status). A floating IP's succeeded create or
update, for a driver that ``reports_floatingip_status`` (ovn), makes it
``ACTIVE`` if the job's view was associated, else ``DOWN``, unless the floating
IP changed since (its next job decides). A create or update whose resource is
gone by the time it runs has nothing left to do (the delete's job follows).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.db import l3_models, models
from quark.db.jobs_model import FAILED, QUEUED, RUNNING, SUCCEEDED, jobs
from quark.drivers import loading
from quark.drivers.base import Change, Driver, RetryableError
from quark.services.backends import claims, statuses
from quark.services.backends.periodic import PeriodicSync
from quark.services.backends.sync import ADMIN, COLLECTIONS

LOG = logging.getLogger(__name__)
j = jobs

IDLE_INTERVAL = 0.2
STATUS_TABLES = {
    "network": models.networks,
    "port": models.ports,
    "router": l3_models.routers,
    "floatingip": models.floatingips,
}


def precise_now() -> datetime:
    """Naive UTC with microseconds (leases and retry delays are sub-second)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Gone(Exception):
    """The resource of a create or update no longer exists."""


class Worker:
    def __init__(self, services: Any, *, clock: Callable[[], datetime] = precise_now, seed: int | None = None) -> None:
        self.services = services
        self.db = services.db
        s = services.settings
        self.settings = s
        self.clock = clock
        self.token = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.random = random.Random(seed)
        self.drivers: dict[str, Driver] = {}
        self.periodic = PeriodicSync(services, self.driver, self.token, clock)

    def driver(self, name: str) -> Driver:
        if name not in self.drivers:
            self.drivers[name] = loading.load(name, self.settings.backend_driver_options.get(name, {}))
        return self.drivers[name]

    async def close(self) -> None:
        await self.periodic.stop()
        for driver in self.drivers.values():
            await driver.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Run jobs until ``stop`` is set; a failed round is logged and the loop goes on.
        Every ``worker_status_interval`` seconds, the ports' statuses drivers report."""
        next_statuses = 0.0
        while not stop.is_set():
            self.periodic.tick()
            try:
                done = await self.run_once()
            except Exception:
                LOG.exception("a round of backend jobs failed")
                done = 0
            interval = self.settings.worker_status_interval
            if interval > 0 and time.monotonic() >= next_statuses:
                next_statuses = time.monotonic() + interval
                try:
                    await statuses.refresh(self)
                except Exception:
                    LOG.exception("a pass over the drivers' port statuses failed")
            if not done:
                try:
                    await asyncio.wait_for(stop.wait(), IDLE_INTERVAL)
                except TimeoutError:
                    pass

    async def run_once(self) -> int:
        """One round: claim, run and record; how many jobs were run."""
        s = self.settings

        async def take(conn: AsyncConnection) -> list[Any]:
            return await claims.claim(conn, self.clock(), s.worker_batch, s.worker_lease, self.token)

        rows = await self.db.run_write(take)
        await asyncio.gather(*(self.run_job(row) for row in rows))
        return len(rows)

    async def run_job(self, row: Any) -> None:
        attempts = row.attempts + 1
        try:
            change = await self.change(row)
            await asyncio.wait_for(self.driver(row.driver).call(change), self.settings.worker_call_timeout)
        except Gone:
            await self.record(row, SUCCEEDED, "")
        except (RetryableError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempts >= self.settings.worker_max_attempts:
                await self.record(row, FAILED, error)
            else:
                await self.record(row, QUEUED, error, retry_in=self.backoff(attempts))
        except Exception as exc:  # noqa: BLE001 - a driver's refusal, whatever its type: the job fails
            LOG.warning("job %s (%s %s %s) failed: %s", row.id, row.operation, row.resource_type, row.resource_id, exc)
            await self.record(row, FAILED, f"{type(exc).__name__}: {exc}")
        else:
            await self.record(row, SUCCEEDED, "", realised=self.realised_status(row, change))

    def realised_status(self, row: Any, change: Change) -> tuple[str, int] | None:
        """The floating IP's status its succeeded job implies, for a driver that reports it."""
        if change.kind != "floatingip" or change.operation == "delete":
            return None
        if not self.driver(row.driver).reports_floatingip_status:
            return None
        associated = change.body.get("port_id") and change.body.get("router_id")
        return ("ACTIVE" if associated else "DOWN"), change.revision

    def backoff(self, attempts: int) -> float:
        s = self.settings
        delay = min(s.worker_retry_max_delay, s.worker_retry_delay * 2 ** max(0, attempts - 1))
        return delay * self.random.uniform(0.5, 1.5)

    async def change(self, row: Any) -> Change:
        """What the driver is given: the resource's view now (its revision is at least the job's)."""
        if row.operation == "delete":
            body = {"id": row.resource_id, "project_id": row.project_id}
            if row.network_id:
                body["network_id"] = row.network_id
            return Change(row.resource_type, "delete", row.resource_id, row.revision, body, row.id)
        service = self.services.by_collection(COLLECTIONS[row.resource_type])
        try:
            view = await service.get(ADMIN, row.resource_id)
        except errors.NotFound:
            raise Gone(row.resource_id) from None
        revision = int(view.get("revision_number", row.revision))
        return Change(row.resource_type, row.operation, row.resource_id, revision, view, row.id)

    async def record(
        self, row: Any, status: str, error: str, retry_in: float = 0.0, realised: tuple[str, int] | None = None
    ) -> None:
        """The outcome, if the job is still this worker's (its lease may have gone to another);
        ``realised``: the resource's status after a success (floating IPs, ``realised_status``)."""

        async def work(conn: AsyncConnection) -> None:
            now = self.clock()
            values: dict[str, Any] = {"status": status, "last_error": error[:255], "updated_at": now}
            if status == QUEUED:
                values.update(next_attempt_at=now + timedelta(seconds=retry_in), lease_until=None, worker="")
            else:
                values.update(finished_at=now, lease_until=None)
            mine = (j.c.id == row.id, j.c.worker == self.token, j.c.status == RUNNING)
            result = await conn.execute(update(j).where(*mine).values(**values))
            if result.rowcount != 1:
                LOG.info("job %s is no longer this worker's: its outcome is not recorded", row.id)
                return
            if status == QUEUED:
                return
            await claims.count_in_parent(conn, row.parent_id, failed=status == FAILED, now=now)
            table = STATUS_TABLES.get(row.resource_type)
            if status == FAILED and table is not None:
                await conn.execute(update(table).where(table.c.id == row.resource_id).values(status="ERROR"))
            if realised is not None and table is not None:
                # only at the revision the driver realised: a later change's job decides then;
                # an observed status, not a change: no revision bump (as port statuses)
                at = (table.c.id == row.resource_id, table.c.revision_number == realised[1])
                await conn.execute(update(table).where(*at).values(status=realised[0]))

        await self.db.run_write(work)
