"""``quark mac-ranges``: the MAC address ranges ports' MACs come from (admin only in the API)."""

from __future__ import annotations

from typing import Annotated

import typer

from quark.cli import crud
from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.cli.output import Format, FormatOpt
from quark.cli.runtime import Opener

COLUMNS = ("id", "cidr", "first_address", "last_address", "size", "allocated", "do_not_use")


def register(app: typer.Typer, opener: Opener) -> None:
    sub = crud.group(app, "mac-ranges", "MAC address ranges (list, show, create, delete).")
    crud.add_reads(sub, opener, lambda s: s.mac_ranges, COLUMNS, "MAC address ranges")
    crud.add_delete(sub, opener, lambda s: s.mac_ranges, "MAC address range")

    @sub.command("create")
    def create(
        cidr: Annotated[str | None, typer.Option("--cidr", help="e.g. AA:BB:CC:00:00:00/24.")] = None,
        first: Annotated[str | None, typer.Option("--first", help="First MAC (with --last).")] = None,
        last: Annotated[str | None, typer.Option("--last", help="Last MAC (with --first).")] = None,
        do_not_use: Annotated[bool, typer.Option("--do-not-use", help="Keep it out of allocation.")] = False,
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Add a range (by --cidr, or --first and --last); refused if it overlaps another."""
        attrs = {"cidr": cidr, "first_address": first, "last_address": last, "do_not_use": do_not_use}
        attrs = {k: v for k, v in attrs.items() if v is not None}
        crud.create_one(opener, lambda s: s.mac_ranges, attrs, (config, database_url, data_dir), fmt)
