"""Schema migrations: upgrade to head, and check that a database is current."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from quark.db import failover
from quark.db.engine import Database, is_outage

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    """The database is not at the migrations' head."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", make_url(url).render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:  # only a broken installation has no migration scripts
        raise RuntimeError(f"no migration scripts in {MIGRATIONS}")
    return head


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` (blocking; run it outside an event loop).

    A multi-host URL (quark.db.failover) is migrated through its first host
    that accepts a connection.
    """
    if make_url(failover.first_url(url)).get_backend_name() == "sqlite":
        Database(url)  # creates the data directory
    hosts = failover.split_hosts(url)
    for index, host in enumerate(hosts):
        try:
            command.upgrade(alembic_config(host), revision)
            return
        except Exception as exc:
            if index == len(hosts) - 1 or not is_outage(exc):
                raise


async def current_revision(db: Database) -> str | None:
    async with db.read() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def _stored_revision(sync) -> str | None:
    if not sa.inspect(sync).has_table("alembic_version"):
        return None
    return sync.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


async def stored_revision(db: Database) -> str | None:
    """``current_revision`` without Alembic's log lines on every call (for the readiness probe)."""
    async with db.read() as conn:
        return await conn.run_sync(_stored_revision)


async def check_current(db: Database) -> None:
    current, head = await current_revision(db), head_revision()
    if current != head:
        state = "not migrated" if current is None else f"at revision {current}"
        raise SchemaOutOfDate(
            f"The database {db.url.render_as_string(hide_password=True)} is {state}; "
            f"this Quark needs revision {head}. Run `quark db upgrade` first."
        )
