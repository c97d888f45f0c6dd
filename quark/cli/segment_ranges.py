"""``quark segment-ranges``: the VLAN ids and VNIs networks get their segments from."""

from __future__ import annotations

from typing import Annotated

import typer

from quark.cli import crud
from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.cli.output import Format, FormatOpt
from quark.cli.runtime import Opener

COLUMNS = ("id", "name", "network_type", "physical_network", "minimum", "maximum", "size", "allocated")


def register(app: typer.Typer, opener: Opener) -> None:
    sub = crud.group(app, "segment-ranges", "Segment allocation ranges (list, show, create, delete).")
    crud.add_reads(sub, opener, lambda s: s.segment_ranges, COLUMNS, "Segment ranges")
    crud.add_delete(sub, opener, lambda s: s.segment_ranges, "segment range")

    @sub.command("create")
    def create(
        network_type: Annotated[str, typer.Option("--network-type", help="vlan, vxlan, geneve, gre.")],
        minimum: Annotated[int, typer.Option("--minimum")],
        maximum: Annotated[int, typer.Option("--maximum")],
        physical_network: Annotated[str | None, typer.Option("--physical-network", help="For vlan.")] = None,
        name: Annotated[str, typer.Option("--name")] = "",
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Add a range; refused if it overlaps another of its type and physical network."""
        attrs = {"name": name, "network_type": network_type, "minimum": minimum, "maximum": maximum}
        if physical_network:
            attrs["physical_network"] = physical_network
        crud.create_one(opener, lambda s: s.segment_ranges, attrs, (config, database_url, data_dir), fmt)
