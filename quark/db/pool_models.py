"""The tables of subnet pools and address scopes (Neutron's ``subnetpools``,
``subnetpool_prefixes``, ``address_scopes``) and Quark's free-block table of
each pool.

``subnetpool_free_blocks`` holds the free part of a pool as maximal aligned
blocks (a buddy system): a block ``(prefixlen, start_key)`` is free and its
buddy is not wholly free. Allocating a /N takes the smallest free block that
holds one (best fit), splitting it; freeing puts the prefix back and merges it
with its buddy while the buddy is free. Every step is an indexed lookup, so
an allocation costs the same in an empty pool as in a nearly full one
(quark.ipam.prefix_allocator, docs/subnet_pools.md). ``start_key`` is
``quark.ipam.addressing.ip_key`` (fixed-width hex: string order is address order).
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of
from quark.db.models import StandardAttributes


class AddressScope(StandardAttributes, Base):
    __tablename__ = "address_scopes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    ip_version: Mapped[int] = mapped_column(Integer)


class SubnetPool(StandardAttributes, Base):
    __tablename__ = "subnetpools"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    ip_version: Mapped[int] = mapped_column(Integer)
    default_prefixlen: Mapped[int] = mapped_column(Integer)
    min_prefixlen: Mapped[int] = mapped_column(Integer)
    max_prefixlen: Mapped[int] = mapped_column(Integer)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Per project: addresses (IPv4) or /64s (IPv6) it may hold in the pool; NULL: no limit.
    default_quota: Mapped[int | None] = mapped_column(Integer)
    address_scope_id: Mapped[str | None] = mapped_column(ForeignKey("address_scopes.id"), index=True)


class SubnetPoolPrefix(Base):
    """One prefix of a pool, as stored (merged: no two overlap or are buddies)."""

    __tablename__ = "subnetpool_prefixes"

    subnetpool_id: Mapped[str] = mapped_column(ForeignKey("subnetpools.id", ondelete="CASCADE"), primary_key=True)
    cidr: Mapped[str] = mapped_column(String(64), primary_key=True)


class SubnetPoolFreeBlock(Base):
    """A free aligned block of a pool (see the module's docstring)."""

    __tablename__ = "subnetpool_free_blocks"
    __table_args__ = (Index("ix_subnetpool_free_blocks_pool_start", "subnetpool_id", "start_key"),)

    subnetpool_id: Mapped[str] = mapped_column(ForeignKey("subnetpools.id", ondelete="CASCADE"), primary_key=True)
    prefixlen: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_key: Mapped[str] = mapped_column(String(32), primary_key=True)


address_scopes = table_of(AddressScope)
subnetpools = table_of(SubnetPool)
subnetpool_prefixes = table_of(SubnetPoolPrefix)
subnetpool_free_blocks = table_of(SubnetPoolFreeBlock)
