"""List queries: filters, tag filters, sorting and keyset pagination in SQL.

The API layer parses the query string into a ``ListQuery`` (plain data);
this module turns it into WHERE / ORDER BY clauses over a resource table.
Nothing is filtered in Python: every filter is a column comparison or an
EXISTS over an indexed table, and pagination is keyset-based (the marker's
sort values), so a page costs the same wherever it is in the collection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, Table, and_, case, exists, false, literal, or_, true

from quark.db import models


@dataclass
class ListQuery:
    # attribute name -> list of converted values (ORed); different keys ANDed
    filters: dict[str, list[Any]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    tags_any: list[str] = field(default_factory=list)
    not_tags: list[str] = field(default_factory=list)
    not_tags_any: list[str] = field(default_factory=list)
    changed_since: datetime | None = None
    # (attribute name, "asc" | "desc")
    sorts: list[tuple[str, str]] = field(default_factory=list)
    limit: int = 0
    marker: str | None = None
    page_reverse: bool = False
    fields: list[str] = field(default_factory=list)
    # Resource-specific filters the generic code does not know (port fixed_ips).
    extra: dict[str, Any] = field(default_factory=dict)
    # Attributes an internal caller does not need (views nested in another response).
    skip: frozenset[str] = frozenset()

    def wants(self, attribute: str) -> bool:
        """Whether the response needs this attribute (so loaders can skip queries)."""
        return (not self.fields or attribute in self.fields) and attribute not in self.skip


def tag_clauses(id_column: Column, query: ListQuery) -> list[ColumnElement[bool]]:
    tags = models.tags

    def has(tag: str) -> ColumnElement[bool]:
        return exists().where(tags.c.resource_id == id_column, tags.c.tag == tag)

    def has_any(values: list[str]) -> ColumnElement[bool]:
        return exists().where(tags.c.resource_id == id_column, tags.c.tag.in_(values))

    clauses: list[ColumnElement[bool]] = []
    if query.tags:
        clauses.append(and_(*[has(t) for t in query.tags]))
    if query.tags_any:
        clauses.append(has_any(query.tags_any))
    if query.not_tags:
        clauses.append(~and_(*[has(t) for t in query.not_tags]))
    if query.not_tags_any:
        clauses.append(~has_any(query.not_tags_any))
    return clauses


def filter_clauses(columns: dict[str, Column], query: ListQuery) -> list[ColumnElement[bool]]:
    """Plain attribute filters: ``column IN (values)``; unknown attributes ignored."""
    clauses: list[ColumnElement[bool]] = []
    for name, values in query.filters.items():
        column = columns.get(name)
        if column is None:
            continue
        if not values:
            clauses.append(false())
        elif len(values) == 1:
            clauses.append(column.is_(None) if values[0] is None else column == values[0])
        else:
            clauses.append(column.in_(values))
    return clauses


def order_and_page(
    stmt: Select,
    table: Table,
    columns: dict[str, Column],
    query: ListQuery,
    marker_row: Any | None,
) -> Select:
    """ORDER BY the requested keys (+ id as the tie-breaker) and apply the marker/limit.

    NULLs come first ascending (last descending) on every database, so a page
    boundary on a NULL value means the same everywhere."""
    sorts = [(columns[name], direction) for name, direction in query.sorts]
    if not any(col is table.c.id for col, _ in sorts):
        sorts.append((table.c.id, "asc"))
    if query.page_reverse:
        sorts = [(col, "asc" if d == "desc" else "desc") for col, d in sorts]
    if marker_row is not None:
        stmt = stmt.where(_after_marker(sorts, marker_row))
    stmt = stmt.order_by(*[term for col, direction in sorts for term in _order_terms(col, direction)])
    if query.limit:
        stmt = stmt.limit(query.limit)
    return stmt


def _order_terms(col: Column, direction: str) -> list[Any]:
    # A nullable key sorts on "is it set" first: NULLs first ascending, as MariaDB and SQLite do.
    terms: list[Any] = [case((col.is_(None), 0), else_=1), col] if col.nullable else [col]
    return [term.desc() if direction == "desc" else term.asc() for term in terms]


def _after_marker(sorts: list[tuple[Column, str]], marker_row: Any) -> ColumnElement[bool]:
    """(k1 > m1) OR (k1 = m1 AND k2 > m2) OR ... — strictly after the marker."""
    alternatives = []
    for i, (col, direction) in enumerate(sorts):
        equal_prefix = [_equal(sorts[j][0], marker_row._mapping[sorts[j][0].name]) for j in range(i)]
        alternatives.append(and_(*equal_prefix, _beyond(col, direction, marker_row._mapping[col.name])))
    return or_(*alternatives) if alternatives else true()


def _equal(col: Column, value: Any) -> ColumnElement[bool]:
    return col.is_(None) if value is None else col == literal(value, col.type)


def _beyond(col: Column, direction: str, value: Any) -> ColumnElement[bool]:
    """Rows strictly after ``value`` on one key, in the order of ``_order_terms``.
    (Values are bound with the column's type: True/False/None are no operands of < and >.)"""
    if value is None:
        return col.is_not(None) if direction == "asc" else false()
    bound = literal(value, col.type)
    if direction == "asc":
        return col > bound
    return or_(col < bound, col.is_(None)) if col.nullable else col < bound
