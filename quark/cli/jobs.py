"""``quark jobs``: the backend drivers' outbox jobs (docs/jobs.md). Read-only,
as ``/v2.0/jobs``: a failed job is retried by the periodic sync, not by hand."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from quark.cli import crud
from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.cli.output import Format, FormatOpt, emit_list
from quark.cli.runtime import ADMIN, Opener
from quark.services.common.listing import ListQuery

COLUMNS = ("id", "status", "operation", "resource_type", "resource_id", "driver", "attempts", "last_error")


def register(app: typer.Typer, opener: Opener) -> None:
    sub = crud.group(app, "jobs", "Backend jobs of the outbox (list, show).")
    crud.add_show(sub, opener, lambda s: s.jobs)

    @sub.command("list")
    def list_(
        status: Annotated[
            list[str] | None, typer.Option("--status", help="queued, running, succeeded, failed.")
        ] = None,
        operation: Annotated[
            list[str] | None, typer.Option("--operation", help="create, update, delete, bulk, sync.")
        ] = None,
        project: Annotated[list[str] | None, typer.Option("--project")] = None,
        resource: Annotated[list[str] | None, typer.Option("--resource-id")] = None,
        limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first (0: all).")] = 100,
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """The newest jobs first, filtered."""
        wanted = {"status": status, "operation": operation, "project_id": project, "resource_id": resource}
        filters: dict[str, list[Any]] = {k: v for k, v in wanted.items() if v}
        query = ListQuery(filters=filters, sorts=[("created_at", "desc"), ("id", "desc")], limit=limit)
        rows = opener.run(config, database_url, data_dir, lambda s: s.jobs.list(ADMIN, query))
        emit_list(rows, COLUMNS, fmt, "Jobs")
