"""The tables of address groups (Neutron's ``address_groups`` and
``address_associations``): a named set of CIDRs that security-group rules
name as ``remote_address_group_id``.

Addresses are stored normalised to their network (``10.0.0.5/24`` is
``10.0.0.0/24``), as Neutron stores them; the primary key keeps each once.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of
from quark.db.models import StandardAttributes


class AddressGroup(StandardAttributes, Base):
    __tablename__ = "address_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)


class AddressGroupAddress(Base):
    """One CIDR of a group."""

    __tablename__ = "address_group_addresses"

    address_group_id: Mapped[str] = mapped_column(ForeignKey("address_groups.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)


address_groups = table_of(AddressGroup)
address_group_addresses = table_of(AddressGroupAddress)
