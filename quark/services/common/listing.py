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

from sqlalchemy import Column, ColumnElement, Select, Table, and_, exists, false, or_, select, true

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
    """ORDER BY the requested keys (+ id as the tie-breaker) and apply the marker/limit."""
    sorts = [(columns[name], direction) for name, direction in query.sorts]
    if not any(col is table.c.id for col, _ in sorts):
        sorts.append((table.c.id, "asc"))
    if query.page_reverse:
        sorts = [(col, "asc" if d == "desc" else "desc") for col, d in sorts]
    if marker_row is not None:
        stmt = stmt.where(_after_marker(sorts, marker_row))
    stmt = stmt.order_by(*[col.desc() if d == "desc" else col.asc() for col, d in sorts])
    if query.limit:
        stmt = stmt.limit(query.limit)
    return stmt


def _after_marker(sorts: list[tuple[Column, str]], marker_row: Any) -> ColumnElement[bool]:
    """(k1 > m1) OR (k1 = m1 AND k2 > m2) OR ... — strictly after the marker."""
    alternatives = []
    for i, (col, direction) in enumerate(sorts):
        value = marker_row._mapping[col.name]
        equal_prefix = [sorts[j][0] == marker_row._mapping[sorts[j][0].name] for j in range(i)]
        beyond = col > value if direction == "asc" else col < value
        alternatives.append(and_(*equal_prefix, beyond))
    return or_(*alternatives) if alternatives else true()


async def marker_row(conn: Any, table: Table, marker: str | None) -> Any | None:
    if not marker:
        return None
    return (await conn.execute(select(table).where(table.c.id == marker))).first()
