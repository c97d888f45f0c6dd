"""Statements whose SQL differs by database dialect."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Boolean, ColumnElement, CompoundSelect, Select, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal


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


class InSubquery(ColumnElement[bool]):
    """``column IN (subquery)``; on PostgreSQL ``column = ANY(ARRAY(subquery))``.

    PostgreSQL plans a plain IN as a semi-join that reads the whole outer table
    (a hash of the subquery's rows, a sequential scan of every row), or, under
    an OR, a filter per row; ``= ANY(ARRAY(...))`` runs the subquery once and
    finds the outer rows by index: the cost follows the rows the subquery
    names, not the table's size (RBAC visibility, docs/rbac.md).
    """

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True
    # Both parts are in the statement cache key (their bound values are parameters).
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("subquery", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement, subquery: Select | CompoundSelect) -> None:
        self.column = column
        self.subquery = subquery


@compiles(InSubquery)
def _in_subquery(element: InSubquery, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IN ({compiler.process(element.subquery, asfrom=False, **kw)})"


@compiles(InSubquery, "postgresql")
def _any_array(element: InSubquery, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY(ARRAY({compiler.process(element.subquery, asfrom=False, **kw)}))"
