"""Options several ``quark`` commands share."""

from __future__ import annotations

from typing import Annotated

import typer

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="TOML config file.")]
DbUrlOpt = Annotated[
    str | None, typer.Option("--database-url", help="SQLAlchemy URL (default: SQLite in the data dir).")
]
DataDirOpt = Annotated[str | None, typer.Option("--data-dir", help="Directory of the embedded SQLite database.")]
