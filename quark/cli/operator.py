"""The operator commands (docs/operator_cli.md): one module per command group,
registered on ``quark`` by one call from quark.cli.main."""

from __future__ import annotations

from collections.abc import Callable

import typer

from quark.cli import availability, ip_policies, jobs, mac_ranges, orphans, purge, segment_ranges
from quark.cli.runtime import Opener
from quark.config import Settings


def register(app: typer.Typer, load: Callable[..., Settings], require: Callable[[str], str]) -> None:
    opener = Opener(load, require)
    for module in (mac_ranges, ip_policies, segment_ranges, availability, jobs, orphans, purge):
        module.register(app, opener)
