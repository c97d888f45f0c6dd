"""Who holds an address: the single holder, or the holders of a shared one.

An allocation (``ip_allocations`` row) is held in one of three shapes:

    port_id set, no ip_address_ports rows  -> "fixed", held by that port
    port_id NULL, no ip_address_ports rows -> "fixed", held by no port
                                              (reserved through /ip_addresses)
    port_id NULL, >= 1 ip_address_ports    -> "shared", held by those ports

A shared address lives while some port holds it: when the last holder goes
(port delete, or a port update that drops it from fixed_ips) it is released
to the allocator, quarantined like any other. Detaching locks the allocation
rows first, so two transactions removing the last two holders cannot both
believe the other one still holds the address.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.db.lookups import IDS, Lookup, fetch_by_ids
from quark.ipam.ip_allocator import IpAllocator

a = models.ip_allocations
h = models.ip_address_ports

# The live addresses of a page of ports (bind parameter ``ids``), single-holder
# and shared alike: one indexed lookup on ip_allocations.port_id, one on
# ip_address_ports.port_id. Port views fetch them with their other lookups
# in one round trip (quark.db.lookups); rows sorted IPv4 first, then by address.
_ORDER = ("ip_version", "address_key")
HELD_BY_PORTS = (
    Lookup(
        "held",
        select(a.c.port_id, a.c.subnet_id, a.c.address, a.c.ip_version, a.c.address_key).where(
            a.c.port_id.in_(IDS), a.c.deallocated == false()
        ),
        order=_ORDER,
    ),
    Lookup(
        "held",
        select(h.c.port_id, a.c.subnet_id, a.c.address, a.c.ip_version, a.c.address_key)
        .select_from(h.join(a, a.c.id == h.c.allocation_id))
        .where(h.c.port_id.in_(IDS)),
        order=_ORDER,
    ),
)


async def held_by_ports(conn: AsyncConnection, port_ids: Sequence[str]) -> list[Any]:
    """(port_id, subnet_id, address, ip_version, address_key) of every live address of the ports, sorted."""
    return (await fetch_by_ids(conn, HELD_BY_PORTS, port_ids))["held"]


async def shared_held_by(conn: AsyncConnection, port_id: str) -> list[Any]:
    """(allocation_id, subnet_id, address, service) of the shared addresses a port holds."""
    return list(
        await conn.execute(
            select(h.c.allocation_id, a.c.subnet_id, a.c.address, h.c.service)
            .select_from(h.join(a, a.c.id == h.c.allocation_id))
            .where(h.c.port_id == port_id)
        )
    )


async def holders_of(conn: AsyncConnection, allocation_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """allocation id -> [(port_id, service)] of its shared holders, oldest first."""
    out: dict[str, list[tuple[str, str]]] = {}
    if allocation_ids:
        for allocation_id, port_id, service in await conn.execute(
            select(h.c.allocation_id, h.c.port_id, h.c.service)
            .where(h.c.allocation_id.in_(list(allocation_ids)))
            .order_by(h.c.allocation_id, h.c.created_at, h.c.port_id)
        ):
            out.setdefault(allocation_id, []).append((port_id, service))
    return out


async def lock_allocations(conn: AsyncConnection, allocation_ids: Sequence[str]) -> None:
    """Row-lock allocations (in id order, so concurrent lockers cannot deadlock)."""
    if allocation_ids:
        await conn.execute(
            select(a.c.id).where(a.c.id.in_(sorted(set(allocation_ids)))).order_by(a.c.id).with_for_update()
        )


async def detach(
    conn: AsyncConnection, ips: IpAllocator, port_id: str, allocation_ids: Sequence[str] | None = None
) -> list[str]:
    """Remove ``port_id`` from shared addresses (all it holds, or those listed).

    Addresses left without a holder are released. Returns their ids.
    Detaching from an address the port does not hold is a no-op.
    """
    if allocation_ids is None:
        return await detach_ports(conn, ips, [port_id])
    if not allocation_ids:
        return []
    await lock_allocations(conn, allocation_ids)
    await conn.execute(delete(h).where(h.c.port_id == port_id, h.c.allocation_id.in_(list(allocation_ids))))
    return await _release_unheld(conn, ips, allocation_ids)


async def detach_ports(conn: AsyncConnection, ips: IpAllocator, port_ids: Sequence[str]) -> list[str]:
    """Remove several ports (about to be deleted) from every shared address they hold.

    Must run before the ports' rows are deleted (``ip_address_ports.port_id``
    references them). Addresses left without a holder are released; returns their ids.
    """
    if not port_ids:
        return []
    allocation_ids = (
        (await conn.execute(select(h.c.allocation_id).where(h.c.port_id.in_(list(port_ids))).distinct()))
        .scalars()
        .all()
    )
    if not allocation_ids:
        return []
    await lock_allocations(conn, allocation_ids)
    await conn.execute(delete(h).where(h.c.port_id.in_(list(port_ids))))
    return await _release_unheld(conn, ips, allocation_ids)


async def _release_unheld(conn: AsyncConnection, ips: IpAllocator, allocation_ids: Sequence[str]) -> list[str]:
    still_held = set(
        (
            await conn.execute(select(h.c.allocation_id).where(h.c.allocation_id.in_(list(allocation_ids))).distinct())
        ).scalars()
    )
    orphaned = sorted(set(allocation_ids) - still_held)
    await ips.release_allocations(conn, orphaned)
    return orphaned


async def addresses_per_port(conn: AsyncConnection, port_ids: Sequence[str]) -> dict[str, int]:
    """How many live addresses each port holds, single-holder and shared together."""
    counts: dict[str, int] = {pid: 0 for pid in port_ids}
    if port_ids:
        for port_id, n in await conn.execute(
            select(a.c.port_id, func.count())
            .where(a.c.port_id.in_(list(port_ids)), a.c.deallocated == false())
            .group_by(a.c.port_id)
        ):
            counts[port_id] += n
        for port_id, n in await conn.execute(
            select(h.c.port_id, func.count()).where(h.c.port_id.in_(list(port_ids))).group_by(h.c.port_id)
        ):
            counts[port_id] += n
    return counts


async def shared_count(conn: AsyncConnection, network_id: str, project_id: str) -> int:
    """Shared addresses a project has on a network."""
    return int(
        await conn.scalar(
            select(func.count(func.distinct(h.c.allocation_id)))
            .select_from(h.join(a, a.c.id == h.c.allocation_id))
            .where(a.c.network_id == network_id, a.c.project_id == project_id)
        )
        or 0
    )
