"""Running an operator command against the services (docs/operator_cli.md).

Operator commands run on a controller with the database URL of the
configuration and call the services layer as an admin, as ``quark ipam check``
does: the same rules, transactions and events as the API, without HTTP or a
token, and no SQL here. A refused operation (a service's ``QuarkError``) is
one line and exit 1, as the API's error message, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import typer

from quark.config import Settings
from quark.context import Context

T = TypeVar("T")

ADMIN = Context.admin()


@dataclass(frozen=True)
class Opener:
    """The CLI's settings loader and schema check (quark.cli.main), given to each command group."""

    load: Callable[..., Settings]
    require: Callable[[str], str]

    def settings(self, config: str | None, database_url: str | None, data_dir: str | None) -> tuple[Settings, str]:
        settings = self.load(config, database_url=database_url, data_dir=data_dir)
        return settings, self.require(settings.effective_database_url)

    def run(
        self,
        config: str | None,
        database_url: str | None,
        data_dir: str | None,
        work: Callable[..., Awaitable[T]],
    ) -> T:
        """``work(services)`` over the configured database; its errors as one line."""
        settings, url = self.settings(config, database_url, data_dir)
        return run_with_services(settings, url, work)


def run_with_services(settings: Settings, url: str, work: Callable[..., Awaitable[T]]) -> T:
    from quark.errors import QuarkError

    try:
        return asyncio.run(_with_services(settings, url, work))
    except QuarkError as exc:
        typer.echo(f"quark: {exc.type_name}: {exc.msg}", err=True)
        raise typer.Exit(1) from None


async def _with_services(settings: Settings, url: str, work: Callable[..., Awaitable[T]]) -> T:
    from quark.db.engine import Database
    from quark.services.registry import build_services

    db = Database(url, pool_size=2, max_overflow=2)
    try:
        return await work(build_services(db, settings))
    finally:
        await db.dispose()
