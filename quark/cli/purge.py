"""``quark purge --project P``: delete everything a project owns, in dependency
order, through the services (quark.services.operations.purge)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.cli.output import Format, FormatOpt, emit_list, progress
from quark.cli.runtime import ADMIN, Opener

COLUMNS = ("kind", "id", "name")
DONE_COLUMNS = ("kind", "id", "name", "outcome", "error")
FAILED_EXIT = 1


def register(app: typer.Typer, opener: Opener) -> None:
    @app.command()
    def purge(
        project: Annotated[str, typer.Option("--project", help="The project whose resources go.")],
        dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted; change nothing.")] = False,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Delete every resource of --project (floating IPs, router interfaces, routers, ports,
        subnets, RBAC policies, networks, security groups, address groups, subnet pools,
        address scopes, quotas); exit 1 if any could not be deleted."""
        from quark.services.operations import purge as purging

        async def work(services: Any) -> list[dict[str, Any]]:
            steps = await purging.plan(services, ADMIN, project)
            if dry_run or not steps:
                return [step.view() for step in steps]
            if not yes:
                # Asked inside the run: the plan is shown from the same snapshot it deletes.
                emit_list([step.view() for step in steps], COLUMNS, Format.table, f"To delete ({len(steps)})")
                typer.confirm(f"Delete these {len(steps)} resources of project {project}?", abort=True)
            with progress(f"purging {project}", len(steps)) as advance:
                await purging.execute(steps, advance)
            return [step.view() for step in steps]

        done = opener.run(config, database_url, data_dir, work)
        if dry_run or not done:
            emit_list(done, COLUMNS, fmt, f"Would delete ({len(done)})")
            return
        emit_list(done, DONE_COLUMNS, fmt, f"Purged project {project}")
        if any(step["outcome"] == purging.FAILED for step in done):
            raise typer.Exit(FAILED_EXIT)
