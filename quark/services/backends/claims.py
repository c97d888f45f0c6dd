"""Claiming jobs: which jobs are due, in each resource's order, and leasing them.

A job is due when it is queued and its ``next_attempt_at`` has come, or when
it runs under a lease that expired (its worker died). It may be taken only
when no earlier job of its resource is unfinished: a resource's jobs run one
after the other, in ``seq`` order, so a delete never overtakes its create.
An update followed by a newer update or a delete of its resource is not run:
it is *superseded* (succeeded, ``superseded_by`` the next job), so a burst of
updates reaches the driver once, at the newest revision.

PostgreSQL and MariaDB take the rows ``FOR UPDATE SKIP LOCKED`` (workers
claim side by side, never the same row); SQLite runs one write transaction
at a time (BEGIN IMMEDIATE), which serialises the claims.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db.jobs_model import BULK, QUEUED, RUNNING, SUCCEEDED, SYNC, jobs

j = jobs
earlier = jobs.alias("earlier")
later = jobs.alias("later")


def due(now: datetime, batch: int) -> Any:
    """The SELECT of jobs a worker may take now, oldest first."""
    ready = or_(
        and_(j.c.status == QUEUED, j.c.next_attempt_at <= now),
        and_(j.c.status == RUNNING, j.c.lease_until < now),
    )
    blocked = exists().where(
        earlier.c.resource_id == j.c.resource_id,
        earlier.c.seq < j.c.seq,
        earlier.c.status.in_((QUEUED, RUNNING)),
        earlier.c.operation.not_in((BULK, SYNC)),
    )
    return select(j).where(j.c.operation.not_in((BULK, SYNC)), ready, ~blocked).order_by(j.c.seq).limit(batch)


async def claim(conn: AsyncConnection, now: datetime, batch: int, lease: float, token: str) -> list[Any]:
    """Lease up to ``batch`` due jobs to ``token``; the superseded updates among
    them are finished here instead. The jobs to run, as their rows before."""
    stmt = due(now, batch)
    if conn.dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = (await conn.execute(stmt)).all()
    run: list[Any] = []
    for row in rows:
        newer = None
        if row.operation == "update":
            newer = await conn.scalar(
                select(later.c.id)
                .where(
                    later.c.resource_id == row.resource_id,
                    later.c.seq > row.seq,
                    later.c.operation.in_(("update", "delete")),
                )
                .order_by(later.c.seq)
                .limit(1)
            )
        if newer is not None:
            await conn.execute(
                update(j)
                .where(j.c.seq == row.seq)
                .values(status=SUCCEEDED, superseded_by=newer, finished_at=now, updated_at=now, lease_until=None)
            )
            await count_in_parent(conn, row.parent_id, failed=False, now=now)
        else:
            run.append(row)
    if run:
        await conn.execute(
            update(j)
            .where(j.c.seq.in_([r.seq for r in run]))
            .values(
                status=RUNNING,
                attempts=j.c.attempts + 1,
                lease_until=now + timedelta(seconds=lease),
                worker=token,
                started_at=now,
                updated_at=now,
            )
        )
    return run


async def count_in_parent(conn: AsyncConnection, parent_id: str | None, *, failed: bool, now: datetime) -> None:
    """A sub-job finished: its bulk job counts it, and finishes with the last one
    (failed if any of its sub-jobs failed)."""
    if parent_id is None:
        return
    await conn.execute(
        update(j)
        .where(j.c.id == parent_id)
        .values(done=j.c.done + 1, failed=j.c.failed + (1 if failed else 0), status=RUNNING, updated_at=now)
    )
    await conn.execute(
        update(j)
        .where(j.c.id == parent_id, j.c.done >= j.c.total, j.c.failed > 0)
        .values(status="failed", finished_at=now)
    )
    await conn.execute(
        update(j)
        .where(j.c.id == parent_id, j.c.done >= j.c.total, j.c.failed == 0)
        .values(status=SUCCEEDED, finished_at=now)
    )
