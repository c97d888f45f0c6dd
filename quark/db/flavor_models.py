"""Neutron's service flavors and service profiles, and which profiles each
flavor has (``flavors``; docs/flavors.md). Admin-managed, owned by no project."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of


class Flavor(Base):
    __tablename__ = "flavors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(1024), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    service_type: Mapped[str] = mapped_column(String(36))


class ServiceProfile(Base):
    __tablename__ = "service_profiles"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    description: Mapped[str] = mapped_column(String(1024), default="")
    driver: Mapped[str] = mapped_column(String(1024), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    metainfo: Mapped[str] = mapped_column(String(4096), default="")


class FlavorServiceProfileBinding(Base):
    """A service profile of a flavor (a profile bound to a flavor is in use)."""

    __tablename__ = "flavor_service_profile_bindings"

    flavor_id: Mapped[str] = mapped_column(ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True)
    service_profile_id: Mapped[str] = mapped_column(
        ForeignKey("service_profiles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


flavors = table_of(Flavor)
service_profiles = table_of(ServiceProfile)
flavor_service_profile_bindings = table_of(FlavorServiceProfileBinding)
