"""The conflicts a create would meet, found by reading Quark's database
(a dry run writes nothing, so it cannot let the services refuse): an
address held by another holder, a MAC another port of the network has, a
subnet overlapping another subnet of its network."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.ipam import addressing
from quark.services.core.subnets import overlapping
from quark.services.imports.records import is_router_interface

ips = models.ip_allocations
p = models.ports


async def conflicts(conn: AsyncConnection, kind: str, record: dict) -> list[str]:
    """Why creating ``record`` (absent from Quark) would fail; empty when it would not."""
    if kind == "ports":
        return await _port(conn, record)
    if kind == "subnets":
        return await _subnet(conn, record)
    if kind == "floatingips" and record.get("floating_ip_address"):
        holder = await _holder(conn, record["floating_network_id"], record["floating_ip_address"])
        return [] if holder is None else [f"address {record['floating_ip_address']} is held by {holder}"]
    return []


async def _holder(conn: AsyncConnection, network_id: str, address: str, subnet_id: str | None = None) -> Any:
    stmt = select(ips.c.port_id, ips.c.project_id).where(
        ips.c.network_id == network_id,
        ips.c.address == addressing.canonical_ip(address),
        ips.c.deallocated.is_(False),
    )
    if subnet_id:
        stmt = stmt.where(ips.c.subnet_id == subnet_id)
    row = (await conn.execute(stmt.limit(1))).first()
    if row is None:
        return None
    return f"port {row.port_id}" if row.port_id else f"project {row.project_id}"


async def _port(conn: AsyncConnection, record: dict) -> list[str]:
    found = []
    for ip in record.get("fixed_ips") or []:
        holder = await _holder(conn, record["network_id"], ip["ip_address"], ip["subnet_id"])
        if holder is not None:
            found.append(f"address {ip['ip_address']} is held by {holder}")
    mac = (record.get("mac_address") or "").lower()
    other = await conn.scalar(select(p.c.id).where(p.c.network_id == record["network_id"], p.c.mac_address == mac))
    if other is not None:
        found.append(f"MAC {mac} is port {other}'s on network {record['network_id']}")
    if is_router_interface(record) and not record.get("fixed_ips"):
        found.append("a router interface port without a fixed IP")
    return found


async def _subnet(conn: AsyncConnection, record: dict) -> list[str]:
    mine = addressing.parse_cidr(record["cidr"])
    return [
        f"{record['cidr']} overlaps subnet {other_id} ({cidr})"
        for other_id, cidr in await overlapping(conn, record["network_id"], mine)
    ]
