"""Throwaway databases for tests: SQLite files, and databases created on the
local PostgreSQL and MariaDB servers (127.0.0.1), migrated to head.

QUARK_TEST_BACKENDS narrows the backends; a server that does not answer is
a skip, or a failure when CI=true.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from quark.db import migrate

ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")


def selected_backends() -> list[str]:
    wanted = os.environ.get("QUARK_TEST_BACKENDS")
    return [b.strip() for b in wanted.split(",") if b.strip()] if wanted else list(ALL_BACKENDS)


def _server_admin(backend: str):
    if backend == "postgresql":
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=5)
        conn.autocommit = True
        return conn
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=5, autocommit=True)


def create_database(backend: str, tmp_path_factory) -> tuple[str, Callable[[], None]]:
    """(url, drop) of a new empty database on ``backend``."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("quark-db") / "quark.db"
        return f"sqlite+aiosqlite:///{path}", lambda: None
    name = f"quark_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = _server_admin(backend)
    except Exception as exc:  # noqa: BLE001 - any connection failure
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{backend} server not reachable in CI: {exc}")
        pytest.skip(f"{backend} server not reachable: {exc}")
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    if backend == "postgresql":
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        drop_sql = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    else:
        url = f"mysql+asyncmy://root@127.0.0.1:3306/{name}?charset=utf8mb4"
        drop_sql = f"DROP DATABASE IF EXISTS {name}"

    def drop() -> None:
        with admin.cursor() as cur:
            cur.execute(drop_sql)
        admin.close()

    return url, drop


async def prepare(db, settings=None) -> None:
    """Prepare ``db`` as `quark serve` does on start (quark.api.app.prepare_database):
    check it is at the migrations' head and seed the default MAC range and the
    segment ranges of ``settings`` (defaults: Settings()).

    A test that builds services itself calls this first: network creates need
    a segment range (NoNetworkAvailable without one) and port creates a MAC
    range, and on a database shared by a session no earlier test may be
    relied on to have seeded them. Seeding is a no-op once ranges exist.
    """
    from quark.api.app import prepare_database
    from quark.config import Settings

    await prepare_database(db, settings or Settings())


@contextmanager
def migrated_database(backend: str, tmp_path_factory) -> Iterator[str]:
    """The URL of a new database on ``backend`` migrated to head, dropped after."""
    url, drop = create_database(backend, tmp_path_factory)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop()


def row_counts(url: str, *tables: str) -> dict[str, int]:
    """Rows in each table, read with a synchronous driver (for all-or-nothing checks)."""
    import sqlalchemy as sa

    sync_url = (
        url.replace("sqlite+aiosqlite", "sqlite")
        .replace("postgresql+asyncpg", "postgresql+psycopg2")
        .replace("mysql+asyncmy", "mysql+pymysql")
    )
    engine = sa.create_engine(sync_url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in tables}
    finally:
        engine.dispose()
