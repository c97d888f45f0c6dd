"""Migrations on every database, data-free: each step down to base and back up
to head works, and the schema they build is the one quark/db/models.py
declares (Alembic's autogenerate comparison finds no difference at all: no
dialect needs an exception). The comparison is shown able to see drift, so an
empty result cannot come from a comparison that looks at nothing.

Each test makes its own database: walking down to base would empty the
session's shared one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from quark.db import migrate, models
from tests.dbs import create_database, selected_backends


def _sync_url(url: str) -> str:
    return (
        url.replace("sqlite+aiosqlite", "sqlite")
        .replace("postgresql+asyncpg", "postgresql+psycopg2")
        .replace("mysql+asyncmy", "mysql+pymysql")
    )


@pytest.fixture(params=selected_backends())
def empty_url(request, tmp_path_factory) -> Iterator[str]:
    url, drop = create_database(request.param, tmp_path_factory)
    try:
        yield url
    finally:
        drop()


def _schema_diff(url: str, metadata: sa.MetaData) -> list:
    engine = sa.create_engine(_sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def _state(url: str) -> tuple[str | None, set[str]]:
    """(current revision, tables) of the database."""
    engine = sa.create_engine(_sync_url(url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision(), set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _columns(url: str) -> set[str]:
    """Every ``table.column`` of the database (a step may add columns only)."""
    engine = sa.create_engine(_sync_url(url))
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {f"{t}.{c['name']}" for t in inspector.get_table_names() for c in inspector.get_columns(t)}
    finally:
        engine.dispose()


def _revisions_base_to_head() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_every_step_down_to_base_and_up_again(empty_url):
    config = migrate.alembic_config(empty_url)
    revisions = _revisions_base_to_head()
    migrate.upgrade(empty_url)
    assert _state(empty_url) == (revisions[-1], set(models.Base.metadata.tables) | {"alembic_version"})

    tables_at: dict[str | None, set[str]] = {}
    columns_at: dict[str | None, set[str]] = {}
    for expected in [*reversed(revisions[:-1]), None]:
        command.downgrade(config, "-1")
        current, tables = _state(empty_url)
        assert current == expected
        tables_at[current] = tables
        columns_at[current] = _columns(empty_url)
    assert tables_at[None] == {"alembic_version"}  # base: every table of every revision is gone
    # Each step down removed something, a table or a column (a step that silently did nothing would show here).
    chain = [columns_at[rev] for rev in [*reversed(revisions[:-1]), None]]
    assert all(later < earlier for earlier, later in zip(chain, chain[1:]))

    for expected in revisions:
        command.upgrade(config, "+1")
        assert _state(empty_url)[0] == expected
    assert _schema_diff(empty_url, models.Base.metadata) == []  # the round trip rebuilt the same schema


def test_models_equal_what_the_migrations_build(empty_url):
    migrate.upgrade(empty_url)
    assert _schema_diff(empty_url, models.Base.metadata) == []


def _drifted_metadata() -> sa.MetaData:
    """The models with one change of each kind the comparison must catch."""
    drifted = sa.MetaData(naming_convention=models.NAMING)
    for table in models.Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["networks"].append_column(sa.Column("drift_extra", sa.Integer, nullable=True))
    drifted.tables["subnets"].c.cidr.type = sa.String(65)
    drifted.tables["ports"].c.name.nullable = True
    ports = drifted.tables["ports"]
    ports.indexes.discard(next(ix for ix in ports.indexes if ix.name == "ix_ports_device_id"))
    fk = next(iter(drifted.tables["ip_policy_targets"].foreign_key_constraints))
    fk.ondelete = "CASCADE"
    return drifted


def test_the_comparison_sees_drift(empty_url):
    migrate.upgrade(empty_url)
    diff = _schema_diff(empty_url, _drifted_metadata())
    flat = [d for entry in diff for d in (entry if isinstance(entry, list) else [entry])]
    kinds = {(d[0], d[2] if d[0].startswith("modify") else getattr(d[-1], "name", None)) for d in flat}
    assert ("add_column", "drift_extra") in kinds
    assert ("modify_type", "subnets") in kinds
    assert ("modify_nullable", "ports") in kinds
    assert ("remove_index", "ix_ports_device_id") in kinds
    assert ("add_fk", "fk_ip_policy_targets_policy_id_ip_policies") in kinds  # ondelete differs: drop + add
