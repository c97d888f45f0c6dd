"""The documents hosts long-poll (docs/agent_api.md): a host's desired state
(its L2 agent: ports bound there and the networks they need, with VXLAN
peers) and its DHCP state (the networks its DHCP service serves).

Each builder loads each table once per document, never per port.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import names, owners
from quark.db import models
from quark.ipam import holders
from quark.services.dataplane.binding import BRIDGE, L2_AGENT

p = models.ports
n = models.networks
s = models.subnets
ag = models.agents


def _segment(net: Any) -> dict:
    return {
        "id": net.id,
        "network_type": net.network_type,
        "physical_network": net.physical_network,
        "segmentation_id": net.segmentation_id,
        "mtu": net.mtu,
        "bridge_name": names.bridge_name(net.id),
    }


async def _fixed_ips(conn: AsyncConnection, port_ids: list[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in await holders.held_by_ports(conn, port_ids):
        out[row.port_id].append({"subnet_id": row.subnet_id, "ip_address": row.address})
    return out


async def _tunnel_ips(conn: AsyncConnection, hosts: set[str]) -> dict[str, str]:
    if not hosts:
        return {}
    rows = await conn.execute(
        select(ag.c.host, ag.c.configurations).where(ag.c.agent_type == L2_AGENT, ag.c.host.in_(sorted(hosts)))
    )
    return {host: str(conf["tunnel_ip"]) for host, conf in rows if (conf or {}).get("tunnel_ip")}


async def desired_state(conn: AsyncConnection, host: str) -> tuple[list[dict], list[dict]]:
    """(ports, networks) of the host's desired state document."""
    rows = list(
        await conn.execute(
            select(p).where(p.c.binding_host_id == host, p.c.binding_vif_type == BRIDGE).order_by(p.c.id)
        )
    )
    fixed = await _fixed_ips(conn, [r.id for r in rows])
    net_ids = sorted({r.network_id for r in rows})
    nets = {r.id: r for r in await conn.execute(select(n).where(n.c.id.in_(net_ids)))} if net_ids else {}
    ports = [
        {
            "id": r.id,
            "mac_address": r.mac_address,
            "network_id": r.network_id,
            "admin_state_up": r.admin_state_up,
            "status": r.status,
            "device_owner": r.device_owner,
            "device_id": r.device_id,
            "device_name": names.tap_name(r.id),
            "vm_device_name": names.vm_name(r.id),
            "bridge_name": names.bridge_name(r.network_id),
            "mtu": nets[r.network_id].mtu,
            "fixed_ips": fixed.get(r.id, []),
        }
        for r in rows
    ]
    vxlan = [i for i in net_ids if nets[i].network_type == "vxlan"]
    others: dict[str, set[str]] = defaultdict(set)
    if vxlan:
        for net_id, other in await conn.execute(
            select(p.c.network_id, p.c.binding_host_id)
            .distinct()
            .where(
                p.c.network_id.in_(vxlan),
                p.c.binding_vif_type == BRIDGE,
                p.c.binding_host_id != host,
                p.c.binding_host_id != "",
            )
        ):
            others[net_id].add(other)
    tunnel = await _tunnel_ips(conn, set().union(*others.values()) if others else set())
    networks = [
        {**_segment(nets[i]), "peers": sorted({tunnel[h] for h in others.get(i, ()) if h in tunnel})} for i in net_ids
    ]
    return ports, networks


def dhcp_hostname(dns_name: str, address: str) -> str:
    return dns_name or "host-" + address.replace(".", "-").replace(":", "-")


async def dhcp_state(conn: AsyncConnection, host: str) -> list[dict]:
    """The networks of the host's DHCP state document."""
    dhcp_ports = {
        r.network_id: r
        for r in await conn.execute(
            select(p).where(p.c.device_owner == owners.DHCP, p.c.binding_host_id == host).order_by(p.c.id)
        )
    }
    net_ids = sorted(dhcp_ports)
    if not net_ids:
        return []
    nets = {r.id: r for r in await conn.execute(select(n).where(n.c.id.in_(net_ids)))}
    subnets: dict[str, list[Any]] = defaultdict(list)
    for row in await conn.execute(select(s).where(s.c.network_id.in_(net_ids)).order_by(s.c.created_at, s.c.id)):
        subnets[row.network_id].append(row)
    members = list(
        await conn.execute(
            select(p.c.id, p.c.network_id, p.c.mac_address, p.c.dns_name)
            .where(p.c.network_id.in_(net_ids))
            .order_by(p.c.id)
        )
    )
    fixed = await _fixed_ips(conn, [m.id for m in members])
    return [_dhcp_network(nets[net_id], dhcp_ports[net_id], subnets[net_id], members, fixed) for net_id in net_ids]


def _dhcp_network(
    net: Any, dhcp_port: Any, subnets: list[Any], members: list[Any], fixed: dict[str, list[dict]]
) -> dict:
    """One network of a DHCP state document: its DHCP port, subnets, and the
    hosts (port, MAC, address) it answers for on its DHCP subnets."""
    serving = {sub.id for sub in subnets if sub.enable_dhcp}
    hosts = [
        {
            "port_id": m.id,
            "mac_address": m.mac_address,
            "ip_address": ip["ip_address"],
            "subnet_id": ip["subnet_id"],
            "hostname": dhcp_hostname(m.dns_name, ip["ip_address"]),
        }
        for m in members
        if m.network_id == net.id and m.id != dhcp_port.id
        for ip in fixed.get(m.id, [])
        if ip["subnet_id"] in serving
    ]
    return {
        **_segment(net),
        "dhcp_port": {
            "id": dhcp_port.id,
            "mac_address": dhcp_port.mac_address,
            "device_name": names.tap_name(dhcp_port.id),
            "vm_device_name": names.vm_name(dhcp_port.id),
            "fixed_ips": fixed.get(dhcp_port.id, []),
        },
        "subnets": [_dhcp_subnet(sub) for sub in subnets],
        "hosts": hosts,
    }


def _dhcp_subnet(sub: Any) -> dict:
    return {
        "id": sub.id,
        "cidr": sub.cidr,
        "ip_version": sub.ip_version,
        "gateway_ip": sub.gateway_ip,
        "dns_nameservers": list(sub.dns_nameservers or []),
        "host_routes": list(sub.host_routes or []),
        "enable_dhcp": sub.enable_dhcp,
        "ipv6_address_mode": sub.ipv6_address_mode,
        "ipv6_ra_mode": sub.ipv6_ra_mode,
    }
