"""``quark import neutron``: a Neutron deployment's resources into Quark's
database, with a progress bar (docs/import_neutron.md).

The reading is the sources' (``neutron_sources``), the writing the import
service's (``quark.services.imports.neutron``); this module picks the
source, shows the progress and the report."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from quark.cli.options import ConfigOpt, DataDirOpt
from quark.config import Settings
from quark.services.imports.records import KINDS

if TYPE_CHECKING:  # the services are imported when the command runs, not by every `quark` command
    from quark.services.imports.neutron import Report
    from quark.services.imports.source import NeutronSource

CONFLICT_EXIT = 1
INTERRUPTED_EXIT = 4


def register(app: typer.Typer, load: Callable[..., Settings], require: Callable[[str], str]) -> None:
    """Add ``quark import`` to ``app``; ``load`` and ``require`` are the CLI's settings and schema checks."""
    import_app = typer.Typer(help="Import another deployment's resources into Quark.", no_args_is_help=True)
    app.add_typer(import_app, name="import")

    @import_app.command()
    def neutron(
        url: Annotated[str | None, typer.Option("--url", help="Neutron's API endpoint (admin).")] = None,
        database_url: Annotated[
            str | None, typer.Option("--database-url", help="Neutron's database (its \\[database] connection URL).")
        ] = None,
        token: Annotated[
            str | None, typer.Option("--token", envvar="OS_TOKEN", help="Keystone token for --url.")
        ] = None,
        header: Annotated[
            list[str] | None,
            typer.Option("--header", help="'Name: value' sent with every --url request (repeatable)."),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Report what would be created; write nothing.")
        ] = False,
        limit: Annotated[
            int | None, typer.Option("--limit", help="Stop after this many creates (a rerun goes on).")
        ] = None,
        page_size: Annotated[int, typer.Option("--page-size", help="Records read and written at once.")] = 500,
        as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
        config: ConfigOpt = None,
        quark_database_url: Annotated[
            str | None, typer.Option("--quark-database-url", help="Quark's database (default: the configured one).")
        ] = None,
        data_dir: DataDirOpt = None,
    ) -> None:
        """Read a Neutron deployment (its API or its database) and create its networks, subnets,
        security groups and rules, routers, ports, router interfaces and floating IPs in Quark,
        under their ids and addresses. Exit 1 when conflicts were found, 4 when --limit stopped it."""
        if (url is None) == (database_url is None):
            typer.echo("quark: give exactly one of --url and --database-url", err=True)
            raise typer.Exit(2)
        settings = load(config, database_url=quark_database_url, data_dir=data_dir)
        quark_url = require(settings.effective_database_url)
        source = _source(url, database_url, token, page_size, _headers(header or []))
        console = Console(stderr=True)
        report = asyncio.run(_import(settings, quark_url, source, dry_run, limit, console))
        if as_json:
            typer.echo(json.dumps(report.as_dict(), indent=2))
        else:
            _print(console, report)
        if report.interrupted:
            raise typer.Exit(INTERRUPTED_EXIT)
        if report.conflicts:
            raise typer.Exit(CONFLICT_EXIT)


def _headers(given: list[str]) -> dict[str, str]:
    out = {}
    for item in given:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            typer.echo(f"quark: --header {item!r}: expected 'Name: value'", err=True)
            raise typer.Exit(2)
        out[name.strip()] = value.strip()
    return out


def _source(
    url: str | None, database_url: str | None, token: str | None, page_size: int, headers: dict[str, str]
) -> NeutronSource:
    if database_url is not None:
        from quark.cli.neutron_sources.db import DatabaseSource

        return DatabaseSource(database_url, page_size=page_size)
    from quark.cli.neutron_sources.api import ApiSource

    assert url is not None
    return ApiSource(url, token=token or os.environ.get("OS_TOKEN"), page_size=page_size, headers=headers)


def import_settings(settings: Settings) -> Settings:
    """The import is not refused by the default quotas (a project's own limits,
    set through /v2.0/quotas, still hold): Neutron already let those resources be."""
    unlimited: dict = {f.name: -1 for f in dataclasses.fields(settings) if f.name.startswith("quota_")}
    return dataclasses.replace(settings, **unlimited)


async def _import(
    settings: Settings, url: str, source: NeutronSource, dry_run: bool, limit: int | None, console: Console
) -> Report:
    from quark.db.engine import Database
    from quark.services.imports.neutron import NeutronImport
    from quark.services.registry import build_services

    db = Database(url, pool_size=2, max_overflow=2)
    try:
        settings = import_settings(settings)
        if not dry_run:  # as `quark serve` does on start: the default MAC and segment ranges of a new database
            from quark.api.app import prepare_database

            await prepare_database(db, settings)
        services = build_services(db, settings)
        totals = {kind: await source.count(kind) for kind in KINDS}
        columns = (
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} /s"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            tasks = {kind: bar.add_task(kind, total=totals[kind] or 0, rate="") for kind in KINDS}

            def advance(kind: str, n: int) -> None:
                bar.advance(tasks[kind], n)
                task = bar.tasks[tasks[kind]]
                rate = task.completed / task.elapsed if task.elapsed else 0.0  # since the kind's start
                bar.update(tasks[kind], rate=f"{rate:,.0f}")

            return await NeutronImport(services, dry_run=dry_run, limit=limit, progress=advance).run(source)
    finally:
        await source.close()
        await db.dispose()


def _print(console: Console, report: Report) -> None:
    from rich.table import Table

    outcomes = ("would create", "skipped", "conflict") if report.dry_run else ("created", "skipped", "conflict")
    table = Table(title="dry run: nothing written" if report.dry_run else "import")
    table.add_column("kind")
    for outcome in outcomes:
        table.add_column(outcome, justify="right")
    for kind in KINDS:
        table.add_row(kind, *(str(report.counts[kind][o]) for o in outcomes))
    out = Console()
    out.print(table)
    for c in report.conflicts:
        out.print(f"conflict: {c.kind} {c.id}: {c.reason}", markup=False, highlight=False)
    if report.interrupted:
        out.print("stopped at --limit: run the same command again to go on")
