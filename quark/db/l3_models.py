"""The routers' tables (Neutron's router, its extra routes).

Kept apart from ``models.py`` (one module per area once that one is full);
``quark.db`` imports this module so ``Base.metadata`` always holds them.

A router's ports are ordinary ports: its interfaces have ``device_owner``
``network:router_interface`` and ``device_id`` the router's id (the ports'
``device_id`` index finds them), its gateway port is ``gw_port_id``.
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of
from quark.db.models import StandardAttributes


class Router(StandardAttributes, Base):
    __tablename__ = "routers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    # The gateway port on the external network (device_owner network:router_gateway), if any.
    gw_port_id: Mapped[str | None] = mapped_column(ForeignKey("ports.id"), unique=True)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    # The L3 host realising the router (quark.services.dataplane.l3_scheduling), None: not scheduled.
    l3_host: Mapped[str | None] = mapped_column(String(255), index=True)


class RouterRoute(Base):
    """One extra route of a router (Neutron's ``routes`` attribute)."""

    __tablename__ = "router_routes"

    router_id: Mapped[str] = mapped_column(ForeignKey("routers.id", ondelete="CASCADE"), primary_key=True)
    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    nexthop: Mapped[str] = mapped_column(String(64), primary_key=True)


routers = table_of(Router)
router_routes = table_of(RouterRoute)
