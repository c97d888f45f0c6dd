"""``quark ip-availability``: used and total addresses per network and subnet,
with a utilization bar per subnet (Neutron's network-ip-availabilities)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress_bar import ProgressBar
from rich.table import Table

from quark.cli import crud
from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.cli.output import Format, FormatOpt, emit_list, emit_one, print_renderable
from quark.cli.runtime import ADMIN, Opener
from quark.services.common.listing import ListQuery

BAR_WIDTH = 30


def percent(used: int, total: int) -> float:
    return 100.0 * used / total if total else 0.0


def utilization_table(networks: list[dict[str, Any]]) -> Table:
    """A row per subnet: its network, CIDR, used/total, a bar and the percentage."""
    table = Table(title="IP availability")
    for column in ("network", "subnet", "cidr", "used", "total", "utilization", "%"):
        table.add_column(column, no_wrap=column != "network")
    for net in networks:
        for sub in net["subnet_ip_availability"]:
            used, total = sub["used_ips"], sub["total_ips"]
            # a bar's total is a float: IPv6 totals beyond 2**53 are clamped, the shown numbers are exact
            bar = ProgressBar(total=float(max(total, 1)), completed=float(min(used, total)), width=BAR_WIDTH)
            table.add_row(
                f"{net['network_name'] or ''} {net['network_id']}".strip(),
                sub["subnet_id"],
                sub["cidr"],
                str(used),
                str(total),
                bar,
                f"{percent(used, total):.1f}",
            )
    return table


def register(app: typer.Typer, opener: Opener) -> None:
    sub = crud.group(app, "ip-availability", "Used and total addresses per network and subnet.")

    @sub.command("list")
    def list_(
        project: Annotated[str | None, typer.Option("--project", help="Only this project's networks.")] = None,
        ip_version: Annotated[int | None, typer.Option("--ip-version", help="4 or 6.")] = None,
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Every network's subnets with utilization bars (table), or Neutron's views (json/yaml)."""
        filters: dict[str, list[Any]] = {}
        if project:
            filters["project_id"] = [project]
        if ip_version:
            filters["ip_version"] = [ip_version]
        rows = opener.run(
            config, database_url, data_dir, lambda s: s.availability.list(ADMIN, ListQuery(filters=filters))
        )
        if fmt is Format.table:
            print_renderable(utilization_table(rows))
        else:
            emit_list(rows, (), fmt)

    @sub.command("show")
    def show(
        network_id: crud.IdArg,
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """One network's subnets with utilization bars."""
        view = opener.run(config, database_url, data_dir, lambda s: s.availability.get(ADMIN, network_id))
        if fmt is Format.table:
            print_renderable(utilization_table([view]))
        else:
            emit_one(view, fmt)
