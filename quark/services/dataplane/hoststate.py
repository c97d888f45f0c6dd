"""What each host's agents must realise, and the per-host generations that
tell them it changed (docs/agent_api.md).

``host_generations`` holds two counters per host: ``generation`` (the L2
agent's desired state) and ``dhcp_generation`` (the DHCP service's state).
Every change to what those documents show bumps the counter **in the same
transaction** as the change, through the ``notify_*`` functions here, which
the services call; a long-poll then only has to read one row.

Which hosts a change concerns:

- a port's own host (before and after a bind/unbind), when it is bound to a
  bridge;
- on a VXLAN network, every host with ports on it when a host joins or
  leaves the network (their ``peers`` change);
- the DHCP host of the network (``dhcp_generation``) for any port or subnet
  change of the network.

Body builders load each table once per document, never per port.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import names, owners
from quark.db import models
from quark.db.dialect import insert_ignore
from quark.ipam import holders
from quark.services.dataplane.binding import BRIDGE, L2_AGENT

hg = models.host_generations
p = models.ports
n = models.networks
s = models.subnets
ag = models.agents


# --- generations -------------------------------------------------------------------


async def bump(conn: AsyncConnection, hosts: Iterable[str], *, dhcp: bool = False) -> None:
    """Add one to the (DHCP) generation of each host, creating missing rows.

    UPDATE first and INSERT only for hosts without a row: an INSERT IGNORE
    that meets an existing row would take a shared lock that two bumpers
    then both try to upgrade (a deadlock on InnoDB).
    """
    wanted = sorted({h for h in hosts if h})
    if not wanted:
        return
    column = hg.c.dhcp_generation if dhcp else hg.c.generation
    stmt = update(hg).where(hg.c.host.in_(wanted)).values({column: column + 1})
    result = await conn.execute(stmt)
    if result.rowcount == len(wanted):
        return
    present = set((await conn.execute(select(hg.c.host).where(hg.c.host.in_(wanted)))).scalars())
    missing = [h for h in wanted if h not in present]
    if missing:
        await conn.execute(
            insert_ignore(conn, hg), [{"host": h, "generation": 0, "dhcp_generation": 0} for h in missing]
        )
        await conn.execute(update(hg).where(hg.c.host.in_(missing)).values({column: column + 1}))


async def generation(conn: AsyncConnection, host: str, *, dhcp: bool = False) -> int:
    column = hg.c.dhcp_generation if dhcp else hg.c.generation
    value = await conn.scalar(select(column).where(hg.c.host == host))
    return int(value or 0)


# --- who a change concerns ------------------------------------------------------------


async def l2_hosts(conn: AsyncConnection, network_id: str) -> set[str]:
    """Hosts with ports of the network bound to a bridge."""
    return set(
        (
            await conn.execute(
                select(p.c.binding_host_id)
                .distinct()
                .where(p.c.network_id == network_id, p.c.binding_vif_type == BRIDGE, p.c.binding_host_id != "")
            )
        ).scalars()
    )


async def dhcp_hosts(conn: AsyncConnection, network_id: str) -> set[str]:
    """Hosts whose DHCP service serves the network."""
    return set(
        (
            await conn.execute(
                select(p.c.binding_host_id)
                .distinct()
                .where(p.c.network_id == network_id, p.c.device_owner == owners.DHCP, p.c.binding_host_id != "")
            )
        ).scalars()
    )


def bridge_host(host: str | None, vif_type: str | None) -> str:
    """The host a port is realised on, or "" when it is not bound to a bridge."""
    return (host or "") if vif_type == BRIDGE else ""


async def notify_ports(
    conn: AsyncConnection, network: Any, changes: Iterable[tuple[str, str, str]], *, dhcp: bool = True
) -> None:
    """Ports of ``network`` changed: ``changes`` holds (port_id, host before,
    host after), each host being ``bridge_host`` of the port ("" if none).

    Call after the port rows are written (or, for a delete, before or after:
    the port itself is never counted)."""
    changes = list(changes)
    touched: set[str] = set()
    moved: set[tuple[str, str]] = set()  # (host, port_id) of hosts a port joined or left
    for port_id, before, after in changes:
        touched.update(h for h in (before, after) if h)
        if before != after:
            moved.update((h, port_id) for h in (before, after) if h)
    if moved and network.network_type == "vxlan":
        movers = {port_id for _, port_id in moved}
        for host in {h for h, _ in moved}:
            others = await conn.scalar(
                select(
                    exists().where(
                        p.c.network_id == network.id,
                        p.c.binding_host_id == host,
                        p.c.binding_vif_type == BRIDGE,
                        p.c.id.not_in(movers),
                    )
                )
            )
            if not others:  # the host joined or left the network: everyone's peers change
                touched |= await l2_hosts(conn, network.id)
                break
    await bump(conn, touched)
    if dhcp and changes:
        await bump(conn, await dhcp_hosts(conn, network.id), dhcp=True)


async def notify_network(conn: AsyncConnection, network_id: str) -> None:
    """Something every host of the network shows changed (MTU, subnets)."""
    await bump(conn, await l2_hosts(conn, network_id))
    await bump(conn, await dhcp_hosts(conn, network_id), dhcp=True)


async def notify_tunnel_peers(conn: AsyncConnection, host: str) -> None:
    """The tunnel address of ``host`` changed: the hosts sharing a VXLAN network with it."""
    shared = (
        select(p.c.network_id)
        .distinct()
        .select_from(p.join(n, n.c.id == p.c.network_id))
        .where(p.c.binding_host_id == host, p.c.binding_vif_type == BRIDGE, n.c.network_type == "vxlan")
    )
    peers = set(
        (
            await conn.execute(
                select(p.c.binding_host_id)
                .distinct()
                .where(
                    p.c.network_id.in_(shared),
                    p.c.binding_vif_type == BRIDGE,
                    p.c.binding_host_id != host,
                    p.c.binding_host_id != "",
                )
            )
        ).scalars()
    )
    await bump(conn, peers)


# --- documents -------------------------------------------------------------------------


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
    return {host: (conf or {}).get("tunnel_ip") for host, conf in rows if (conf or {}).get("tunnel_ip")}


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
    out = []
    for net_id in net_ids:
        dhcp_port = dhcp_ports[net_id]
        serving = {sub.id for sub in subnets[net_id] if sub.enable_dhcp}
        hosts = [
            {
                "port_id": m.id,
                "mac_address": m.mac_address,
                "ip_address": ip["ip_address"],
                "subnet_id": ip["subnet_id"],
                "hostname": dhcp_hostname(m.dns_name, ip["ip_address"]),
            }
            for m in members
            if m.network_id == net_id and m.id != dhcp_port.id
            for ip in fixed.get(m.id, [])
            if ip["subnet_id"] in serving
        ]
        out.append(
            {
                **_segment(nets[net_id]),
                "dhcp_port": {
                    "id": dhcp_port.id,
                    "mac_address": dhcp_port.mac_address,
                    "device_name": names.tap_name(dhcp_port.id),
                    "vm_device_name": names.vm_name(dhcp_port.id),
                    "fixed_ips": fixed.get(dhcp_port.id, []),
                },
                "subnets": [
                    {
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
                    for sub in subnets[net_id]
                ],
                "hosts": hosts,
            }
        )
    return out
