"""The routers' tables (Neutron's router, its extra routes) and the floating
IPs' port forwardings.

Kept apart from ``models.py`` (one module per area once that one is full);
``quark.db`` imports this module so ``Base.metadata`` always holds them.

A router's ports are ordinary ports: its interfaces have ``device_owner``
``network:router_interface`` and ``device_id`` the router's id (the ports'
``device_id`` index finds them), its gateway port is ``gw_port_id``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
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
    # True: an admin took the router off its L3 agent (DELETE /v2.0/agents/{id}/l3-routers/{router_id});
    # the automatic scheduler leaves it unhosted until the router next changes or an admin adds it
    # to an agent (as Neutron's). NULL or False: scheduled automatically.
    l3_unhosted: Mapped[bool | None] = mapped_column(Boolean)
    # router_availability_zone: the zones asked for (NULL: none), L3 agents' zones.
    availability_zone_hints: Mapped[list[Any] | None] = mapped_column(JSON)
    # Neutron's l3-ha and dvr flags (admin only). An HA router is scheduled on
    # several L3 hosts (router_ha_hosts), l3_host being the active one; a
    # distributed one is realised centrally like any other (docs/routers.md).
    ha: Mapped[bool] = mapped_column(Boolean, default=False)
    distributed: Mapped[bool] = mapped_column(Boolean, default=False)
    # l3-flavors: the flavor the router was made with (NULL: none); a flavor in use cannot go.
    flavor_id: Mapped[str | None] = mapped_column(ForeignKey("flavors.id"), index=True)


class RouterRoute(Base):
    """One extra route of a router (Neutron's ``routes`` attribute)."""

    __tablename__ = "router_routes"

    router_id: Mapped[str] = mapped_column(ForeignKey("routers.id", ondelete="CASCADE"), primary_key=True)
    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    nexthop: Mapped[str] = mapped_column(String(64), primary_key=True)


class RouterHaHost(Base):
    """One L3 host an HA router is scheduled on: ``routers.l3_host`` is the
    active one (the database decides, from the agents' heartbeats), the
    others are standbys. ``reported_state``: the ha_state the host's agent
    last reported (``active`` / ``standby``), NULL before its first report."""

    __tablename__ = "router_ha_hosts"

    router_id: Mapped[str] = mapped_column(ForeignKey("routers.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    reported_state: Mapped[str | None] = mapped_column(String(16))


class PortForwarding(StandardAttributes, Base):
    """One port forwarding of a floating IP (Neutron's ``floating-ip-port-forwarding``):
    ``protocol`` traffic to the floating address's external ports goes to
    ``internal_ip_address`` (a fixed IPv4 address of ``internal_port_id``) at the
    internal ports. A single port is a range of one (start == end), as Neutron
    stores it. The floating IP's ``router_id`` is the router that realises them."""

    __tablename__ = "port_forwardings"
    __table_args__ = (
        # As Neutron's: one forwarding per external port range of a floating IP and protocol,
        # and one per internal socket range.
        UniqueConstraint(
            "floatingip_id",
            "protocol",
            "external_port_start",
            "external_port_end",
            name="uq_port_forwardings_floatingip_external",
        ),
        UniqueConstraint(
            "protocol",
            "internal_port_id",
            "internal_ip_address",
            "internal_port_start",
            "internal_port_end",
            name="uq_port_forwardings_internal",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    floatingip_id: Mapped[str] = mapped_column(ForeignKey("floatingips.id", ondelete="CASCADE"), index=True)
    internal_port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(40))
    internal_ip_address: Mapped[str] = mapped_column(String(64))
    internal_port_start: Mapped[int] = mapped_column(Integer)
    internal_port_end: Mapped[int] = mapped_column(Integer)
    external_port_start: Mapped[int] = mapped_column(Integer)
    external_port_end: Mapped[int] = mapped_column(Integer)


routers = table_of(Router)
router_routes = table_of(RouterRoute)
router_ha_hosts = table_of(RouterHaHost)
port_forwardings = table_of(PortForwarding)


class AutoAllocatedTopology(Base):
    """A project's auto-allocated topology (``GET /v2.0/auto-allocated-topology/{project_id}``):
    the network and router made for it, one per project."""

    __tablename__ = "auto_allocated_topologies"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    router_id: Mapped[str | None] = mapped_column(ForeignKey("routers.id", ondelete="SET NULL"), index=True)


auto_allocated_topologies = table_of(AutoAllocatedTopology)
