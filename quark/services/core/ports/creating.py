"""A new port before it is written: its row, what it asks of the IP allocator
and of the security domain, and what it got.

A create (single or bulk) runs in one transaction: every port is planned
(checks, MAC, row values), the security domain decides the groups of all of
them (``PortsCreating``), a port given a ``binding:host_id`` is bound (the
binder sees the planned row), the port rows go in one statement, then the
addresses of all of them in one call to the IP allocator — last, so subnet
cursor locks are held only until the commit that follows. The response is
built from what was written, not read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.ipam.requests import AddressRequest, Allocation, FixedIp, Holder, Strategy
from quark.services.common import base
from quark.services.core import segment_hosts
from quark.services.core.ports import options
from quark.services.core.ports.mac_choice import ChosenMac, MacChoice
from quark.services.core.ports.views import fixed_ips_of, port_view
from quark.services.events import GroupChoice


@dataclass
class NewPort:
    row: dict
    network: Any
    addresses: AddressRequest
    group_choice: GroupChoice
    tags: list[str]
    allocations: list[Allocation] = field(default_factory=list)

    @property
    def groups(self) -> list[str]:
        return sorted(set(self.group_choice.groups))

    def view(self) -> dict:
        return port_view(SimpleNamespace(**self.row), fixed_ips_of(self.allocations), self.groups, sorted(self.tags))


async def plan_port(
    conn: AsyncConnection,
    ctx: Context,
    attrs: dict,
    network: Any,
    subnets: list[Any],
    *,
    mac_choice: MacChoice,
    max_address_pairs: int,
    ip_version: int | None = None,
) -> NewPort:
    """Check one port request and decide its row (MAC included); writes only the MAC."""
    # Who may set a MAC, addresses, pairs or port security here is the policy's
    # question (create_port:<attribute>, checked by the API layer before this).
    project_id = base.resolve_project(ctx, attrs)
    mac = await _mac_of(conn, attrs, network, mac_choice)
    fixed_requested = attrs.get("fixed_ips")
    # A routed network: the subnets of the host's segments, or none yet (deferred).
    host = attrs.get("binding:host_id") or ""
    subnets, deferred = await segment_hosts.port_subnets(conn, network.id, subnets, host, fixed_requested)
    if deferred:
        fixed_requested = []
    port_security = attrs.get("port_security_enabled", network.port_security_enabled)
    row = _row(attrs, network, project_id, mac.text, mac.owned, port_security, max_address_pairs)
    if deferred:
        row["ip_allocation"] = segment_hosts.DEFERRED
    holder = Holder(row["id"], project_id, mac.value, row["device_owner"])
    return NewPort(
        row=row,
        network=network,
        addresses=AddressRequest(
            holder=holder,
            network_id=network.id,
            subnets=subnets,
            fixed_ips=None if fixed_requested is None else tuple(FixedIp.of(e) for e in fixed_requested),
            strategy=Strategy(network.ipam_strategy or Strategy.NEUTRON),
            version=ip_version,
            admin=ctx.is_admin,
        ),
        group_choice=GroupChoice(
            project_id=project_id,
            device_owner=row["device_owner"],
            port_security=port_security,
            requested=list(attrs["security_groups"] or []) if "security_groups" in attrs else None,
            # read with the network (network_tree), for the port's own project only
            known_default=network.default_group_id if network.default_group_project == project_id else None,
        ),
        tags=base.validate_tags(attrs.get("tags") or []),
    )


async def _mac_of(conn: AsyncConnection, attrs: dict, network: Any, mac_choice: MacChoice) -> ChosenMac:
    if attrs.get("mac_address") is None:  # not given, or null: one from the ranges
        return await mac_choice.allocate(conn, network.id)
    return await mac_choice.explicit(conn, network.id, attrs["mac_address"])


def _row(
    attrs: dict,
    network: Any,
    project_id: str,
    mac_text: str,
    mac_owned: bool,
    port_security: bool,
    max_address_pairs: int,
) -> dict:
    now = utcnow()
    return {
        "id": attrs.get("id") or base.new_id(),  # an id given: an import (quark import neutron)
        "network_id": network.id,
        "project_id": project_id,
        "name": attrs.get("name", ""),
        "description": attrs.get("description", ""),
        "admin_state_up": attrs.get("admin_state_up", True),
        "status": "DOWN",
        "mac_address": mac_text,
        "mac_allocated": mac_owned,
        "device_id": attrs.get("device_id", ""),
        "device_owner": attrs.get("device_owner", ""),
        "port_security_enabled": port_security,
        "allowed_address_pairs": options.address_pairs(
            attrs.get("allowed_address_pairs") or [], mac_text, port_security, max_address_pairs
        ),
        "extra_dhcp_opts": options.merge_dhcp_opts([], attrs.get("extra_dhcp_opts") or []),
        "binding_host_id": attrs.get("binding:host_id") or "",
        "binding_vnic_type": attrs.get("binding:vnic_type", "normal"),
        "binding_profile": attrs.get("binding:profile") or {},
        "binding_vif_type": "unbound",
        "binding_vif_details": {},
        "dns_name": attrs.get("dns_name", ""),
        "ip_allocation": "none" if attrs.get("fixed_ips") == [] else "immediate",
        "created_at": now,
        "updated_at": now,
        "revision_number": 0,
    }


async def write_children(conn: AsyncConnection, ports: list[NewPort]) -> None:
    """The rows that hang on new ports: their security-group memberships and tags."""
    groups = [{"port_id": np.row["id"], "security_group_id": g} for np in ports for g in np.groups]
    if groups:
        await conn.execute(insert(models.port_security_groups), groups)
    tag_rows = [{"resource_id": np.row["id"], "tag": t} for np in ports for t in np.tags]
    if tag_rows:
        await conn.execute(insert(models.tags), tag_rows)
