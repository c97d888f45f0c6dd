"""Several small SELECTs in one round trip.

A view of a batch of ports needs, besides the port rows, their addresses,
security groups and tags; Nova's instance info needs networks, subnets,
DHCP servers, floating IPs and security groups with their rules. Each is a
small indexed SELECT, and on these hot paths the fixed cost of a statement
(building it, executing it through SQLAlchemy and the driver, one network
round trip, reading its result) is most of the time spent, not the work
the database does. ``fetch`` runs any number of them as ONE statement:

    SELECT 0 AS k, a.x AS c0, a.y AS c1, NULL AS c2  FROM a WHERE ...
    UNION ALL
    SELECT 1 AS k, NULL,      NULL,      b.z        FROM b WHERE ...

Each lookup fills its own columns and leaves NULL in everyone else's, so no
result column ever mixes two types (a portable UNION on PostgreSQL, MariaDB
and SQLite alike), and ``k`` says whose row it is. On PostgreSQL the NULLs
are typed (CAST), because it resolves a UNION's column types pair by pair
from the left, and two untyped NULLs would make a ``text`` column first.

Lookups are built once, at import, with named bind parameters; the union of
a given set of lookups is then built once per process, and SQLAlchemy
compiles it once (its cache key is memoized on the statement object): a
call costs the parameters and the rows, not the statement.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, cast, literal_column, null, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.types import TypeEngine

# The usual key of a view's lookups: the ids of the rows being shown.
IDS: BindParameter[Any] = bindparam("ids", expanding=True)
# Ids per statement (``fetch_by_ids``): every lookup repeats the list, and a
# statement may carry at most 32,766 bind parameters on SQLite (each
# repetition counts) and 32,767 on PostgreSQL; a list of all ports can be
# far longer than that.
MAX_IDS = 2000


@dataclass(frozen=True, eq=False)  # compared by identity: they are module-level constants
class Lookup:
    """One SELECT a view needs. ``name`` is where ``fetch`` puts its rows
    (lookups of one name, with the same columns, are concatenated);
    ``order`` the attributes its rows are sorted by (a UNION keeps no order)."""

    name: str
    stmt: Select[Any]
    order: tuple[str, ...] = ()
    record: type[Any] = field(init=False, repr=False)  # a namedtuple of the columns

    def __post_init__(self) -> None:
        columns = list(self.stmt.selected_columns)
        for column in columns:
            if isinstance(column.type, NullType):
                raise TypeError(f"lookup {self.name!r}: column {column.key!r} needs a type (a typed literal)")
        fields = [column.key for column in columns if column.key is not None]
        if len(fields) != len(columns):
            raise TypeError(f"lookup {self.name!r}: every column needs a name (a label)")
        object.__setattr__(self, "record", namedtuple(f"{self.name.replace('.', '_')}_row", fields))


class _Union:
    """The single statement of one set of lookups, and how to split its rows."""

    def __init__(self, lookups: Sequence[Lookup], dialect: str) -> None:
        columns = [(i, column) for i, lookup in enumerate(lookups) for column in lookup.stmt.selected_columns]
        branches = []
        self.slices: list[tuple[int, int]] = []
        start = 1  # column 0 is k
        for i, lookup in enumerate(lookups):
            width = len(lookup.stmt.selected_columns)
            out: list[ColumnElement[Any]] = [literal_column(str(i)).label("k")]
            for j, (owner, column) in enumerate(columns):
                value = column if owner == i else _typed_null(column.type, dialect)
                out.append(value.label(f"c{j}"))
            branches.append(lookup.stmt.with_only_columns(*out, maintain_column_froms=True))
            self.slices.append((start, start + width))
            start += width
        self.stmt = union_all(*branches)


def _typed_null(type_: TypeEngine[Any], dialect: str) -> ColumnElement[Any]:
    return cast(null(), type_) if dialect == "postgresql" else type_coerce(null(), type_)


_unions: dict[tuple[str, tuple[Lookup, ...]], _Union] = {}


def _union_of(lookups: tuple[Lookup, ...], dialect: str) -> _Union:
    key = (dialect, lookups)
    union = _unions.get(key)
    if union is None:
        # A handful of distinct sets per process (which attributes a view
        # wants), so the cache stays small without eviction.
        union = _unions[key] = _Union(lookups, dialect)
    return union


async def fetch(conn: AsyncConnection, lookups: Sequence[Lookup], params: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Rows of every lookup (by name, sorted by its ``order``) in one statement.

    ``params`` binds the lookups' named parameters (expanding IN lists are
    Python lists); every lookup's name is in the result, with [] if no row.
    """
    unique = tuple(dict.fromkeys(lookups))
    found: dict[str, list[Any]] = {lookup.name: [] for lookup in unique}
    if len(unique) == 1:
        lookup = unique[0]
        found[lookup.name] = [lookup.record._make(row) for row in await conn.execute(lookup.stmt, params)]
    elif unique:
        union = _union_of(unique, conn.dialect.name)
        makers = [(found[lookup.name], lookup.record._make, lo, hi) for lookup, (lo, hi) in zip(unique, union.slices)]
        for row in await conn.execute(union.stmt, params):
            rows, make, lo, hi = makers[row[0]]
            rows.append(make(row[lo:hi]))
    orders = {lookup.name: lookup.order for lookup in unique if lookup.order}
    for name, order in orders.items():
        found[name].sort(key=attrgetter(*order))
    return found


async def fetch_by_ids(
    conn: AsyncConnection, lookups: Sequence[Lookup], ids: Sequence[str], params: Mapping[str, Any] | None = None
) -> dict[str, list[Any]]:
    """``fetch`` keyed by ``ids`` (bound as ``ids``), for a batch of any size:
    one statement per ``MAX_IDS`` ids. A row belongs to one id's chunk, so
    each id's rows keep their order."""
    found: dict[str, list[Any]] = {lookup.name: [] for lookup in lookups}
    for start in range(0, len(ids), MAX_IDS):
        chunk = await fetch(conn, lookups, {**(params or {}), "ids": list(ids[start : start + MAX_IDS])})
        for name, rows in chunk.items():
            found[name] += rows
    return found
