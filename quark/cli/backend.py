"""``quark backend sync``: the drift between the database and each backend (docs/drivers.md#sync)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.config import Settings

DRIFT_EXIT = 1


def register(app: typer.Typer, load: Callable[..., Settings], require: Callable[[str], str]) -> None:
    """Add ``quark backend`` to ``app``; ``load`` and ``require`` are the CLI's settings and schema checks."""
    backend_app = typer.Typer(
        help="Backend drivers: drift between the database and the backends.", no_args_is_help=True
    )
    app.add_typer(backend_app, name="backend")

    @backend_app.command()
    def sync(
        config: ConfigOpt = None,
        database_url: DbUrlOpt = None,
        data_dir: DataDirOpt = None,
        driver: Annotated[
            str | None, typer.Option("--driver", help="Only this driver (default: every one in use).")
        ] = None,
        repair: Annotated[bool, typer.Option("--repair", help="Repair the drift found.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    ) -> None:
        """Compare each backend with the database (missing, extra, stale per resource type);
        exit 1 while drift remains (after the repair, with --repair)."""
        settings = load(config, database_url=database_url, data_dir=data_dir)
        url = require(settings.effective_database_url)
        try:
            result = asyncio.run(_sync(settings, url, driver, repair))
        except LookupError as exc:
            typer.echo(f"quark: no such driver: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(json.dumps(result, indent=2) if as_json else _text(result))
        if result["drift"]:
            raise typer.Exit(DRIFT_EXIT)


async def _sync(settings: Settings, url: str, only: str | None, repair: bool) -> dict[str, Any]:
    from quark.db.engine import Database
    from quark.services.operations.drift import sync_drivers
    from quark.services.registry import build_services

    db = Database(url, pool_size=2, max_overflow=2)
    try:
        return await sync_drivers(build_services(db, settings), only, repair)
    finally:
        await db.dispose()


def _text(result: dict[str, Any]) -> str:
    lines: list[str] = []
    if not result["drivers"]:
        lines.append("no driver in use needs backend work: nothing to sync")
    for name, entry in result["drivers"].items():
        lines.append(f"driver {name}: {'DRIFT' if entry['drift'] else 'in sync'}")
        for kind, r in entry["kinds"].items():
            counts = ", ".join(f"{len(r[k])} {k}" for k in ("missing", "extra", "stale", "pending"))
            repaired = f", {r['repaired']} repaired" if r["repaired"] else ""
            lines.append(f"  {kind}: {r['checked']} checked, {counts}{repaired}")
            lines.extend(f"    {k} {i}" for k in ("missing", "extra", "stale", "pending") for i in r[k])
        if "remaining" in entry:
            left = [
                f"{kind} {k} {i}"
                for kind, r in entry["remaining"]["kinds"].items()
                for k in ("missing", "extra", "stale")
                for i in r[k]
            ]
            lines.append("  after the repair: " + ("no drift" if not left else f"{len(left)} left"))
            lines.extend(f"    {x}" for x in left)
    return "\n".join(lines)
