"""``quark ip-policies``: addresses kept out of allocation in subnets or networks."""

from __future__ import annotations

from typing import Annotated

import typer

from quark.cli import crud
from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.cli.output import Format, FormatOpt
from quark.cli.runtime import Opener

COLUMNS = ("id", "name", "project_id", "exclude", "subnet_ids", "network_ids")


def register(app: typer.Typer, opener: Opener) -> None:
    sub = crud.group(app, "ip-policies", "IP policies: excluded addresses (list, show, create, delete).")
    crud.add_reads(sub, opener, lambda s: s.ip_policies, COLUMNS, "IP policies")
    crud.add_delete(sub, opener, lambda s: s.ip_policies, "IP policy")

    @sub.command("create")
    def create(
        exclude: Annotated[list[str], typer.Option("--exclude", help="A CIDR to exclude (repeatable).")],
        subnet: Annotated[list[str] | None, typer.Option("--subnet", help="Target subnet id (repeatable).")] = None,
        network: Annotated[list[str] | None, typer.Option("--network", help="Target network id (repeatable).")] = None,
        name: Annotated[str, typer.Option("--name")] = "",
        project: Annotated[str | None, typer.Option("--project", help="Owner (default: the targets' admin).")] = None,
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Create a policy over --subnet ids or --network ids (one kind)."""
        attrs: dict = {"name": name, "exclude": exclude}
        if subnet:
            attrs["subnet_ids"] = subnet
        if network:
            attrs["network_ids"] = network
        if project:
            attrs["project_id"] = project
        crud.create_one(opener, lambda s: s.ip_policies, attrs, (config, database_url, data_dir), fmt)
