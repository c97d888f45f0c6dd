"""The ``routers`` of a host's desired state (docs/l3.md): what its L3
agent realises for each router scheduled to it (``routers.l3_host``), and
the HA routers it stands by for (``ha_state`` ``standby``: a namespace only).

Each router: its ports bound to the host (interfaces and gateway, with the
prefix length of every address, the bridge and MTU of their network), SNAT,
the gateway's next hop (its subnet's ``gateway_ip``), extra routes and the
floating IPs it translates (floating address <-> fixed address) and the
port forwardings of floating IPs through it. Each table is read once per
document, never per router.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import names, owners
from quark.db import l3_models, models
from quark.services.dataplane import l3_ha
from quark.services.dataplane.binding import BRIDGE

r = l3_models.routers
rr = l3_models.router_routes
p = models.ports
n = models.networks
s = models.subnets
a = models.ip_allocations
f = models.floatingips
pf = l3_models.port_forwardings
rh = l3_models.router_ha_hosts


async def _addresses(conn: AsyncConnection, port_ids: list[str]) -> dict[str, list[dict]]:
    """Every live address of the ports, with its subnet's prefix length and gateway."""
    out: dict[str, list[dict]] = defaultdict(list)
    if not port_ids:
        return out
    rows = await conn.execute(
        select(a.c.port_id, a.c.subnet_id, a.c.address, s.c.cidr, s.c.gateway_ip)
        .select_from(a.join(s, s.c.id == a.c.subnet_id))
        .where(a.c.port_id.in_(port_ids), a.c.deallocated.is_(False))
        .order_by(a.c.port_id, a.c.subnet_id, a.c.address)
    )
    for row in rows:
        out[row.port_id].append(
            {
                "subnet_id": row.subnet_id,
                "ip_address": row.address,
                "prefixlen": ipaddress.ip_network(row.cidr, strict=False).prefixlen,
                "cidr": row.cidr,
                "gateway_ip": row.gateway_ip,
            }
        )
    return out


def _port(row: Any, net: Any, fixed: list[dict], gateway: bool) -> dict:
    return {
        "id": row.id,
        "kind": "gateway" if gateway else "interface",
        "mac_address": row.mac_address,
        "network_id": row.network_id,
        "admin_state_up": row.admin_state_up,
        "device_name": names.tap_name(row.id),
        "vm_device_name": names.vm_name(row.id),
        "bridge_name": names.bridge_name(row.network_id),
        "mtu": net.mtu,
        "fixed_ips": [{k: ip[k] for k in ("subnet_id", "ip_address", "prefixlen", "cidr")} for ip in fixed],
    }


def _gateway(port: dict | None, fixed: list[dict]) -> dict | None:
    if port is None:
        return None
    v4 = [ip for ip in fixed if ipaddress.ip_address(ip["ip_address"]).version == 4]
    return {
        "port_id": port["id"],
        "addresses": [ip["ip_address"] for ip in v4],
        "next_hop": next((ip["gateway_ip"] for ip in v4 if ip["gateway_ip"]), None),
    }


async def _routes(conn: AsyncConnection, ids: list[str]) -> dict[str, list[dict]]:
    routes: dict[str, list[dict]] = defaultdict(list)
    for row in await conn.execute(select(rr).where(rr.c.router_id.in_(ids)).order_by(rr.c.destination, rr.c.nexthop)):
        routes[row.router_id].append({"destination": row.destination, "nexthop": row.nexthop})
    return routes


async def _floating_ips(conn: AsyncConnection, ids: list[str]) -> dict[str, list[dict]]:
    """The associated floating IPs of the routers, by router."""
    fips: dict[str, list[dict]] = defaultdict(list)
    for row in await conn.execute(
        select(f).where(f.c.router_id.in_(ids), f.c.fixed_ip_address.is_not(None)).order_by(f.c.floating_ip_address)
    ):
        fips[row.router_id].append(
            {
                "id": row.id,
                "status": row.status,
                "floating_ip_address": row.floating_ip_address,
                "fixed_ip_address": row.fixed_ip_address,
                "port_id": row.port_id,
            }
        )
    return fips


async def _port_forwardings(conn: AsyncConnection, ids: list[str]) -> dict[str, list[dict]]:
    """The port forwardings of floating IPs through the routers, by router."""
    out: dict[str, list[dict]] = defaultdict(list)
    rows = await conn.execute(
        select(pf, f.c.router_id, f.c.floating_ip_address, f.c.status.label("floatingip_status"))
        .select_from(pf.join(f, f.c.id == pf.c.floatingip_id))
        .where(f.c.router_id.in_(ids))
        .order_by(f.c.floating_ip_address, pf.c.protocol, pf.c.external_port_start, pf.c.id)
    )
    for row in rows:
        out[row.router_id].append(
            {
                "id": row.id,
                "floatingip_id": row.floatingip_id,
                "floating_ip_address": row.floating_ip_address,
                "floatingip_status": row.floatingip_status,
                "protocol": row.protocol,
                "external_port_start": row.external_port_start,
                "external_port_end": row.external_port_end,
                "internal_ip_address": row.internal_ip_address,
                "internal_port_start": row.internal_port_start,
                "internal_port_end": row.internal_port_end,
            }
        )
    return out


def _standby(router: Any, reported: str | None) -> dict:
    """An HA router this host stands by for: its namespace only (no ports,
    addresses, routes nor NAT: those are on the active host)."""
    return {
        "id": router.id,
        "admin_state_up": router.admin_state_up,
        "status": router.status,
        "enable_snat": router.enable_snat,
        "ha": True,
        "ha_state": l3_ha.STANDBY,
        "reported_ha_state": reported,
        "ports": [],
        "gateway": None,
        "routes": [],
        "floating_ips": [],
        "port_forwardings": [],
    }


async def _reported(conn: AsyncConnection, host: str) -> dict[str, str | None]:
    """router id -> the ha_state this host last reported, for its HA routers."""
    stmt = select(rh.c.router_id, rh.c.reported_state).where(rh.c.host == host)
    return {row.router_id: row.reported_state for row in await conn.execute(stmt)}


async def routers(conn: AsyncConnection, host: str) -> list[dict]:
    """The routers of the host's desired state document: those active on it,
    and the HA routers it stands by for."""
    reported = await _reported(conn, host)
    standby_ids = sorted(reported)
    hosted = or_(r.c.l3_host == host, r.c.id.in_(standby_ids)) if standby_ids else r.c.l3_host == host
    every = list(await conn.execute(select(r).where(hosted).order_by(r.c.id)))
    rows = [row for row in every if row.l3_host == host]
    standbys = [_standby(row, reported.get(row.id)) for row in every if row.l3_host != host]
    active = await _active(conn, host, rows, reported) if rows else []
    return sorted([*active, *standbys], key=lambda entry: entry["id"])


async def _active(conn: AsyncConnection, host: str, rows: list[Any], reported: dict[str, str | None]) -> list[dict]:
    """The entries of the routers active on the host: everything to realise."""
    ids = [row.id for row in rows]
    ports = list(
        await conn.execute(
            select(p)
            .where(
                p.c.device_id.in_(ids),
                p.c.device_owner.in_(owners.ROUTER),
                p.c.binding_host_id == host,
                p.c.binding_vif_type == BRIDGE,
            )
            .order_by(p.c.id)
        )
    )
    fixed = await _addresses(conn, [port.id for port in ports])
    net_ids = sorted({port.network_id for port in ports})
    nets = {row.id: row for row in await conn.execute(select(n).where(n.c.id.in_(net_ids)))} if net_ids else {}
    routes = await _routes(conn, ids)
    fips = await _floating_ips(conn, ids)
    forwardings = await _port_forwardings(conn, ids)
    out = []
    for router in rows:
        mine = [port for port in ports if port.device_id == router.id]
        views = [_port(port, nets[port.network_id], fixed[port.id], port.id == router.gw_port_id) for port in mine]
        gateway = next((v for v in views if v["id"] == router.gw_port_id), None)
        out.append(
            {
                "id": router.id,
                "admin_state_up": router.admin_state_up,
                "status": router.status,
                "enable_snat": router.enable_snat,
                "ha": router.ha,
                "ha_state": l3_ha.ACTIVE,
                "reported_ha_state": reported.get(router.id),
                "ports": views,
                "gateway": _gateway(gateway, fixed[gateway["id"]] if gateway else []),
                "routes": routes.get(router.id, []),
                "floating_ips": fips.get(router.id, []),
                "port_forwardings": forwardings.get(router.id, []),
            }
        )
    return out
