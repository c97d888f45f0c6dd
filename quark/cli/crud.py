"""The list / show / delete commands every operator resource group shares.

A group names its service (a ``Services`` attribute) and its table columns;
the commands call the service as an admin (quark.cli.runtime) and print
with ``-f table|json|yaml`` (quark.cli.output).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.cli.output import Format, FormatOpt, emit_list, emit_one
from quark.cli.runtime import ADMIN, Opener
from quark.services.common.listing import ListQuery

ServiceOf = Callable[[Any], Any]  # Services -> the resource's service
IdArg = Annotated[str, typer.Argument(help="The resource's id.")]


def group(app: typer.Typer, name: str, help_text: str) -> typer.Typer:
    sub = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub


def add_reads(
    sub: typer.Typer,
    opener: Opener,
    service_of: ServiceOf,
    columns: Sequence[str],
    title: str,
) -> None:
    """``list`` (every row, no filter) and ``show ID`` of the service's resource."""
    add_show(sub, opener, service_of)

    @sub.command("list")
    def list_(
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """List them all (admin view)."""
        rows = opener.run(config, database_url, data_dir, lambda s: service_of(s).list(ADMIN, ListQuery()))
        emit_list(rows, columns, fmt, title)


def add_show(sub: typer.Typer, opener: Opener, service_of: ServiceOf) -> None:
    @sub.command("show")
    def show(
        resource_id: IdArg,
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Show one."""
        emit_one(opener.run(config, database_url, data_dir, lambda s: service_of(s).get(ADMIN, resource_id)), fmt)


def add_delete(sub: typer.Typer, opener: Opener, service_of: ServiceOf, noun: str) -> None:
    @sub.command("delete")
    def delete(
        resource_id: IdArg, config: ConfigOpt = None, database_url: DbUrlOpt = None, data_dir: DataDirOpt = None
    ) -> None:
        """Delete one (refused, exit 1, while it is in use)."""
        opener.run(config, database_url, data_dir, lambda s: service_of(s).delete(ADMIN, resource_id))
        typer.echo(f"deleted {noun} {resource_id}")


def create_one(
    opener: Opener,
    service_of: ServiceOf,
    attrs: dict[str, Any],
    opts: tuple[str | None, str | None, str | None],
    fmt: Format,
) -> None:
    """Create one through the service and show it; ``opts`` is (config, database_url, data_dir)."""
    config, database_url, data_dir = opts
    emit_one(opener.run(config, database_url, data_dir, lambda s: service_of(s).create(ADMIN, attrs)), fmt)
