"""The table of addresses an external system's IPAM driver holds in Quark
(``external_allocations``; docs/neutron_ipam_driver.md).

Each row names the holder the external system keys its requests by (a
Neutron port id) for one live ``ip_allocations`` row, which has no Quark
port. ``request_key`` makes an allocation idempotent: ``any`` for "any free
address of the subnet", else the address asked for; the unique constraint
then keeps one allocation per holder, subnet and request even when the same
request arrives twice at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of


class ExternalAllocation(Base):
    __tablename__ = "external_allocations"
    __table_args__ = (
        UniqueConstraint("subnet_id", "holder", "request_key", name="uq_external_allocations_request"),
        Index("ix_external_allocations_address", "subnet_id", "address"),
        Index("ix_external_allocations_holder", "holder"),
    )

    allocation_id: Mapped[str] = mapped_column(ForeignKey("ip_allocations.id", ondelete="CASCADE"), primary_key=True)
    subnet_id: Mapped[str] = mapped_column(String(36))
    address: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str] = mapped_column(String(255))
    request_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


external_allocations = table_of(ExternalAllocation)
