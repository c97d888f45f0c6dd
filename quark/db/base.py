"""The declarative base every table of Quark's schema is declared on, and the
naming convention that makes every index and constraint name explicit (so the
Alembic migrations are the same on SQLite, PostgreSQL and MariaDB).

Apart from ``models`` so that a table may live in a module of its own
(``idempotency_model``) without a cycle through ``models``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class StandardAttributes:
    """Neutron's standard attributes, kept on each resource row."""

    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)


def table_of(model: type[Base]) -> Table:
    """The model's table typed as a ``Table`` (``insert``/``update`` refuse a FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
