"""``quark orphans``: ports on hosts or devices that no longer exist, addresses
without a holder, and drift from each backend (quark.services.operations)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.cli.output import Format, FormatOpt, emit_list
from quark.cli.runtime import Opener

COLUMNS = ("kind", "id", "project_id", "detail")
FOUND_EXIT = 1


async def _report(services: Any, dead_after: float, external_days: float, drift: bool) -> list[dict[str, Any]]:
    from quark.clock import utcnow
    from quark.services.operations import drift as backend_drift
    from quark.services.operations import orphans

    limits = orphans.OrphanLimits(utcnow(), timedelta(hours=dead_after), timedelta(days=external_days))
    found = await orphans.report(services.db, limits)
    if drift:
        found += backend_drift.drift_findings(await backend_drift.sync_drivers(services, None, repair=False))
    return found


def register(app: typer.Typer, opener: Opener) -> None:
    @app.command()
    def orphans(
        dead_after: Annotated[
            float, typer.Option("--dead-after", help="Hours without an agent report before a host counts as gone.")
        ] = 24.0,
        external_days: Annotated[
            float, typer.Option("--external-days", help="Age in days of a suspect /v2.0/ipam allocation.")
        ] = 30.0,
        drift: Annotated[
            bool, typer.Option("--drift/--no-drift", help="Compare every backend in use (quark backend sync).")
        ] = True,
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Report orphans (nothing is changed); exit 1 when there are any."""
        found = opener.run(config, database_url, data_dir, lambda s: _report(s, dead_after, external_days, drift))
        emit_list(found, COLUMNS, fmt, f"Orphans ({len(found)})")
        if found:
            raise typer.Exit(FOUND_EXIT)
