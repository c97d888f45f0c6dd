"""The tables behind the agents' generations (``quark.services.dataplane.hoststate``,
docs/agent_api.md "Generations"): an insert-only log of changes per host, and
the bases the periodic fold moves them into.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of


class HostGeneration(Base):
    """Per-host bases of the agents' generations: the changes already folded
    out of ``host_changes`` (a host's generation is its base plus its rows
    there, ``quark.services.dataplane.hoststate``). Written only by the
    periodic fold, never by the changes themselves."""

    __tablename__ = "host_generations"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    dhcp_generation: Mapped[int] = mapped_column(BigInteger, default=0)


class HostChange(Base):
    """One row per change to what a host's desired state (``dhcp`` false) or
    DHCP state (``dhcp`` true) shows, inserted in the change's transaction:
    insert-only, so concurrent changes for one host never wait on each other."""

    __tablename__ = "host_changes"
    __table_args__ = (Index("ix_host_changes_host", "host", "dhcp"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(255))
    dhcp: Mapped[bool] = mapped_column(Boolean)


host_generations = table_of(HostGeneration)
host_changes = table_of(HostChange)
