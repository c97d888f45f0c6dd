"""How operator commands print: ``-f table|json|yaml`` for every listing, and
progress bars for long operations.

Tables and bars are Rich's; JSON and YAML are the services' views unchanged,
so a script reads the same attributes the API returns. Progress goes to
stderr, so ``-f json`` output on stdout stays parseable while a bar runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table


class Format(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)]


def _console() -> Console:
    # Wide enough for UUIDs in CliRunner and pipes (no terminal to measure there).
    return Console(width=200, soft_wrap=False) if not Console().is_terminal else Console()


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def _dump(data: Any, fmt: Format) -> None:
    if fmt is Format.json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        typer.echo(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=True), nl=False)


def emit_list(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: Format, title: str = "") -> None:
    """``rows`` as a table of ``columns``, or every attribute of each as JSON / YAML."""
    if fmt is not Format.table:
        _dump(list(rows), fmt)
        return
    table = Table(title=title or None)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    _console().print(table)


def emit_one(view: dict[str, Any], fmt: Format) -> None:
    """One resource: a Field / Value table, or the view as JSON / YAML."""
    if fmt is not Format.table:
        _dump(view, fmt)
        return
    table = Table(show_header=True)
    table.add_column("Field")
    table.add_column("Value", overflow="fold")
    for key in sorted(view):
        table.add_row(key, _cell(view[key]))
    _console().print(table)


def print_renderable(renderable: Any) -> None:
    _console().print(renderable)


@contextmanager
def progress(description: str, total: int) -> Iterator[Any]:
    """A bar with counts, rate and elapsed time on stderr; yields ``advance(n=1)``."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task(description, total=total, rate="")

        def advance(n: int = 1) -> None:
            bar.advance(task, n)
            t = bar.tasks[task]
            if t.elapsed:
                bar.update(task, rate=f"{t.completed / t.elapsed:.1f}/s")

        yield advance
