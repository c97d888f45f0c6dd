"""The Neutron view of a port, and the related rows it is made from."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from quark.db import models
from quark.db.lookups import IDS, Lookup
from quark.ipam import addressing, holders
from quark.ipam.requests import Allocation
from quark.services.common import base

psg = models.port_security_groups

PORT_GROUPS = Lookup("port.groups", select(psg.c.port_id, psg.c.security_group_id).where(psg.c.port_id.in_(IDS)))

# (attribute, lookup): dns_assignment is made from the fixed IPs, so either
# attribute needs the addresses the ports hold (their own and shared ones).
RELATED = (
    *((attribute, held) for attribute in ("fixed_ips", "dns_assignment") for held in holders.HELD_BY_PORTS),
    ("security_groups", PORT_GROUPS),
    ("tags", base.TAGS),
)


def dns_assignment(dns_name: str, fixed_ips: list[dict]) -> list[dict]:
    out = []
    for ip in fixed_ips:
        hostname = dns_name or "host-" + ip["ip_address"].replace(".", "-").replace(":", "-")
        out.append({"hostname": hostname, "ip_address": ip["ip_address"], "fqdn": f"{hostname}.openstacklocal."})
    return out


def fixed_ips_of(allocations: Sequence[Allocation]) -> list[dict]:
    """The ``fixed_ips`` of a port just given ``allocations``: IPv4 first, then by address."""

    def order(allocation: Allocation) -> tuple:
        address = ipaddress.ip_address(allocation.address)
        key = addressing.ip_key(address, address.version)
        return address.version, key, allocation.subnet_id, allocation.address

    return [{"subnet_id": al.subnet_id, "ip_address": al.address} for al in sorted(allocations, key=order)]


def assemble(rows: Sequence[Any], found: dict[str, list[Any]]) -> list[dict]:
    """The views of port rows from what their related lookups found."""
    fixed: dict[str, list[dict]] = defaultdict(list)
    for held in found.get("held", ()):
        fixed[held.port_id].append({"subnet_id": held.subnet_id, "ip_address": held.address})
    groups: dict[str, list[str]] = defaultdict(list)
    for member in found.get("port.groups", ()):
        groups[member.port_id].append(member.security_group_id)
    tags = base.tags_by_resource(found)
    return [port_view(r, fixed.get(r.id, []), groups.get(r.id, []), tags.get(r.id, [])) for r in rows]


def port_view(row: Any, fixed_ips: list[dict], groups: list[str], tags: list[str]) -> dict:
    view = base.standard_view(row)
    view.update(
        {
            "name": row.name,
            "network_id": row.network_id,
            "admin_state_up": row.admin_state_up,
            "status": row.status,
            "mac_address": row.mac_address,
            "fixed_ips": fixed_ips,
            "device_id": row.device_id,
            "device_owner": row.device_owner,
            "security_groups": sorted(groups),
            "port_security_enabled": row.port_security_enabled,
            "allowed_address_pairs": list(row.allowed_address_pairs or []),
            "extra_dhcp_opts": list(row.extra_dhcp_opts or []),
            "ip_allocation": row.ip_allocation,
            "binding:host_id": row.binding_host_id,
            "binding:vnic_type": row.binding_vnic_type,
            "binding:profile": row.binding_profile or {},
            "binding:vif_type": row.binding_vif_type,
            "binding:vif_details": row.binding_vif_details or {},
            "dns_name": row.dns_name,
            "dns_assignment": dns_assignment(row.dns_name, fixed_ips),
            "qos_policy_id": None,
            "qos_network_policy_id": None,
            "resource_request": None,
            "data_plane_status": None,
            "tags": tags,
        }
    )
    return view
