"""Neutron's default security-group rules: the templates of the rules a new
security group gets (quark.services.security.templates)."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, StandardAttributes, table_of


class DefaultSecurityGroupRule(StandardAttributes, Base):
    """A template of the rules new security groups get (Neutron's
    ``security-groups-default-rules``): ``remote_group_id`` may be ``PARENT``,
    the group being made; ``used_in_default_sg`` / ``used_in_non_default_sg``
    say which groups get it."""

    __tablename__ = "default_security_group_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8))
    protocol: Mapped[str | None] = mapped_column(String(40))
    port_range_min: Mapped[int | None] = mapped_column(Integer)
    port_range_max: Mapped[int | None] = mapped_column(Integer)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64))
    remote_group_id: Mapped[str | None] = mapped_column(String(36))
    remote_address_group_id: Mapped[str | None] = mapped_column(String(36))
    used_in_default_sg: Mapped[bool] = mapped_column(Boolean, default=True)
    used_in_non_default_sg: Mapped[bool] = mapped_column(Boolean, default=True)


default_security_group_rules = table_of(DefaultSecurityGroupRule)
