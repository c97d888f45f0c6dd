"""The periodic backend sync of ``quark worker`` (docs/drivers.md#sync).

Every ``backend_sync_interval`` seconds each driver in use is synced with
repair, by one worker of all. Time is cut in slots of the interval (from
the epoch, so every worker counts the same slots); the worker that first
inserts the slot's *sync job* for a driver runs it. The job's id is derived
from the driver and the slot, so a second worker's insert of it fails on
the unique id (on every database, without locks or advisory locks), and
the job is the lease: ``running`` with ``lease_until``, renewed after each
page, so no worker starts a sync of that driver while one runs. A worker
that died mid-sync leaves a running job whose lease expires: the next slot's
sync marks it failed and runs.

The job shows in ``/v2.0/jobs`` (``operation`` ``sync``, ``resource_type``
``backend``, the ``driver``, admins only): ``succeeded`` with the drift it
found and repaired in ``last_error`` (empty: none), or ``failed`` with the
driver's error.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db.jobs_model import FAILED, RUNNING, SUCCEEDED, SYNC, jobs
from quark.drivers.base import Driver
from quark.services.backends.outbox import job_row
from quark.services.backends.sync import Syncer, drivers_in_use

LOG = logging.getLogger(__name__)
j = jobs
EPOCH = datetime(1970, 1, 1)
RESOURCE = "backend"
NAMESPACE = uuid.UUID("6b1c3d0e-5a43-4f39-9a7e-2f3a1b9d0c51")


class LostLease(Exception):
    """Another worker took the sync over (this one's lease expired)."""


def slot_of(now: datetime, interval: float) -> int:
    return int((now - EPOCH).total_seconds() // interval)


def job_id(driver: str, slot: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"sync:{driver}:{slot}"))


class PeriodicSync:
    """Started by ``tick`` from the worker's loop; one sync task at a time per worker."""

    def __init__(self, services: Any, driver: Callable[[str], Driver], token: str, clock: Callable[[], datetime]):
        self.services = services
        self.db = services.db
        self.settings = services.settings
        self.interval = float(services.settings.backend_sync_interval)
        self.driver = driver
        self.token = token
        self.clock = clock
        self.last_slot: int | None = None
        self.task: asyncio.Task | None = None

    def tick(self) -> None:
        """Start the sync of a new slot, unless one is running in this worker or syncs are off."""
        if self.interval <= 0 or (self.task is not None and not self.task.done()):
            return
        slot = slot_of(self.clock(), self.interval)
        if slot == self.last_slot:
            return
        self.last_slot = slot
        self.task = asyncio.create_task(self.run_slot(slot))

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping: its job's lease expires
                pass

    async def run_slot(self, slot: int) -> None:
        try:
            names = await drivers_in_use(self.db, self.settings.backend_driver)
            for name in names:
                job = await self.claim(name, slot)
                if job is not None:
                    await self.run(job, name)
        except Exception:
            LOG.exception("the periodic backend sync failed")

    async def claim(self, driver: str, slot: int) -> str | None:
        """The slot's sync job of ``driver``, if this worker got it."""

        async def work(conn: AsyncConnection) -> str | None:
            now = self.clock()
            mine = (j.c.operation == SYNC, j.c.driver == driver, j.c.status == RUNNING)
            if await conn.scalar(select(j.c.id).where(*mine, j.c.lease_until >= now).limit(1)) is not None:
                return None  # another worker syncs it now
            died = {"status": FAILED, "last_error": "the worker's lease expired", "finished_at": now, "updated_at": now}
            await conn.execute(update(j).where(*mine, j.c.lease_until < now).values(**died))
            row = job_row(
                now,
                id=job_id(driver, slot),
                project_id="",
                resource_type=RESOURCE,
                resource_id="",
                revision=0,
                operation=SYNC,
                driver=driver,
                status=RUNNING,
                attempts=1,
                worker=self.token,
                started_at=now,
                lease_until=now + timedelta(seconds=self.settings.worker_lease),
            )
            await conn.execute(insert(j).values(**row))
            return str(row["id"])

        try:
            return await self.db.run_write(work)
        except IntegrityError:
            return None  # another worker took this slot

    async def run(self, job: str, name: str) -> None:
        async def renew() -> None:
            await self.finish(job, RUNNING, "", lease=True)

        try:
            report = await Syncer(self.services).sync(self.driver(name), repair=True, on_page=renew)
        except LostLease:
            LOG.warning("backend sync of %s: another worker took it over", name)
            return
        except Exception as exc:  # noqa: BLE001 - the driver's failure, whatever it is: the job shows it
            LOG.warning("backend sync of %s failed: %s", name, exc)
            await self.finish(job, FAILED, f"{type(exc).__name__}: {exc}")
            return
        summary = report.summary()
        if summary:
            LOG.warning("backend sync of %s: %s", name, report.as_dict())
        await self.finish(job, SUCCEEDED, summary)

    async def finish(self, job: str, status: str, error: str, lease: bool = False) -> None:
        """Record the job's outcome (or, ``lease``, renew it), if it is still this worker's."""

        async def work(conn: AsyncConnection) -> int:
            now = self.clock()
            values: dict[str, Any] = {"status": status, "last_error": error[:255], "updated_at": now}
            if lease:
                values["lease_until"] = now + timedelta(seconds=self.settings.worker_lease)
            else:
                values.update(lease_until=None, finished_at=now)
            mine = (j.c.id == job, j.c.worker == self.token, j.c.status == RUNNING)
            return (await conn.execute(update(j).where(*mine).values(**values))).rowcount

        if await self.db.run_write(work) != 1:
            raise LostLease(job)
