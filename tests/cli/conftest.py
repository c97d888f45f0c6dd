"""Operator CLI tests: ``quark`` commands through typer's CliRunner against a
real database (SQLite, PostgreSQL, MariaDB; tests/dbs.py).

The tests are synchronous: each command runs its own event loop
(``asyncio.run``), as it does from a shell. A world is set up through the
services (tests/services/conftest.py's ``Env``) in a loop of its own, its
engine disposed before the command runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from quark.cli.main import app
from quark.config import Settings
from tests.dbs import migrated_database, selected_backends
from tests.services.conftest import Env


@pytest.fixture(scope="session", params=selected_backends())
def cli_database_url(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        yield url


class World:
    """Set-up and reads through the services, and ``quark`` runs, over one database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def do(self, work: Callable[[Env], Awaitable[Any]], *, prepare: bool = False) -> Any:
        async def go() -> Any:
            env = Env(self.url, Settings())
            try:
                if prepare:
                    await env.prepare()
                return await work(env)
            finally:
                await env.db.dispose()

        return asyncio.run(go())

    def quark(self, *args: str, input: str | None = None) -> Any:
        result = CliRunner().invoke(app, [*args, "--database-url", self.url], input=input)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        return result

    def parsed(self, *args: str, fmt: str) -> Any:
        """The command's stdout in ``fmt`` (json or yaml), parsed; exit 0 or 1 (orphans found)."""
        result = self.quark(*args, "-f", fmt)
        assert result.exit_code in (0, 1), result.output
        return json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)


@pytest.fixture
def world(cli_database_url) -> World:
    w = World(cli_database_url)
    w.do(lambda env: asyncio.sleep(0), prepare=True)  # emptied and seeded, as a fresh deployment
    return w
