"""``/v2.0/jobs``: the backend jobs, read-only (docs/jobs.md).

A job is visible to its project (the project of the resource it is for) and
to admins. ``progress`` is a percentage: of a bulk job, the share of its
sub-jobs finished; of one job, 0 until it finished, 100 then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from quark import errors
from quark.context import Context
from quark.db.jobs_model import BULK, FAILED, SUCCEEDED, jobs
from quark.db.lookups import IDS, Lookup
from quark.services.common.base import Found, ResourceService, Views, format_time
from quark.services.common.listing import ListQuery

j = jobs

SUB_JOBS = Lookup("sub_jobs", select(j.c.parent_id, j.c.id).where(j.c.parent_id.in_(IDS)), order=("id",))


def progress(row: Any) -> int:
    if row.operation == BULK:
        return (100 * row.done) // max(1, row.total)
    return 100 if row.status in (SUCCEEDED, FAILED) else 0


class JobService(ResourceService):
    table = j
    not_found = errors.JobNotFound
    not_found_key = "id"
    columns = {
        "id": j.c.id,
        "project_id": j.c.project_id,
        "tenant_id": j.c.project_id,
        "status": j.c.status,
        "resource_type": j.c.resource_type,
        "resource_id": j.c.resource_id,
        "operation": j.c.operation,
        "driver": j.c.driver,
        "revision": j.c.revision,
        "attempts": j.c.attempts,
        "parent_id": j.c.parent_id,
        "created_at": j.c.created_at,
        "updated_at": j.c.updated_at,
        "started_at": j.c.started_at,
        "finished_at": j.c.finished_at,
    }
    related = (("sub_jobs", SUB_JOBS),)

    def assemble(self, rows: Sequence[Any], found: Found, query: ListQuery) -> Views:
        children: dict[str, list[str]] = defaultdict(list)
        for row in found.get("sub_jobs", ()):
            children[row.parent_id].append(row.id)
        return [self.view(row, children.get(row.id, [])) for row in rows]

    @staticmethod
    def view(row: Any, sub_jobs: list[str]) -> dict:
        return {
            "id": row.id,
            "project_id": row.project_id,
            "tenant_id": row.project_id,
            "status": row.status,
            "progress": progress(row),
            "resource_type": row.resource_type,
            "resource_id": row.resource_id or None,
            "operation": row.operation,
            "driver": row.driver or None,
            "revision": row.revision,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "parent_id": row.parent_id,
            "sub_jobs": sub_jobs,
            "superseded_by": row.superseded_by,
            "created_at": format_time(row.created_at),
            "updated_at": format_time(row.updated_at),
            "started_at": format_time(row.started_at),
            "finished_at": format_time(row.finished_at),
        }

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        raise errors.MethodNotAllowed()  # made by the writes they follow

    async def update(self, ctx: Context, job_id: str, attrs: dict, if_match: int | None = None) -> dict:
        raise errors.MethodNotAllowed()

    async def delete(self, ctx: Context, job_id: str, if_match: int | None = None) -> None:
        raise errors.MethodNotAllowed()
