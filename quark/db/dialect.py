"""Statements whose SQL differs by database dialect."""

from __future__ import annotations

import functools

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignore(conn: AsyncConnection, table: Table, **values):
    """INSERT that silently does nothing on a unique-key collision.

    Without ``values`` the statement takes its parameters at execution (one
    dict, or a list for executemany) and is built once per dialect and table.
    """
    if not values:
        return _insert_ignore(conn.dialect.name, table)
    return _build_insert_ignore(conn.dialect.name, table, values)


@functools.lru_cache(maxsize=64)
def _insert_ignore(dialect: str, table: Table):
    return _build_insert_ignore(dialect, table, {})


def _build_insert_ignore(dialect: str, table: Table, values: dict):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg_stmt = pg_insert(table)
        return (pg_stmt.values(**values) if values else pg_stmt).on_conflict_do_nothing()
    stmt = insert(table)
    if values:
        stmt = stmt.values(**values)
    return stmt.prefix_with("IGNORE" if dialect == "mysql" else "OR IGNORE")
