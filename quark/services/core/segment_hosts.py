"""Routed networks: which hosts reach which segment, and the subnets a port's
addresses come from once its host is known (docs/segments.md).

The mappings (``segment_host_mappings``, as Neutron's) are derived, never
set through the API: a host reaches a segment when one of its agents reports
the segment's ``physical_network`` in its ``bridge_mappings`` (or
``interface_mappings`` / ``device_mappings``, as Neutron reads them). They
change when an agent report changes those (the dataplane's agent changes call
``map_host``) and when a segment is made (``map_segment``) or goes
(``unmap_segments``). Segments without a physical network (VXLAN, Geneve) are
mapped to no host, as in Neutron.

Placement follows Neutron's IPAM (``ipam_backend_mixin._ipam_get_subnets``):
on a network whose subnets sit on segments, a port created without a host and
without ``fixed_ips`` gets no address yet (``ip_allocation: deferred``); given
a host, its addresses come from the subnets of the segments that host reaches
(409 ``HostNotConnectedToAnySegment`` when it reaches none).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models, segment_models
from quark.db.dialect import insert_ignore
from quark.ipam.segment_errors import FixedIpsSubnetsNotOnSameSegment, HostNotConnectedToAnySegment

seg = segment_models.network_segments
shm = segment_models.segment_host_mappings

# The keys of an agent's ``configurations`` whose keys are physical networks.
PHYSNET_KEYS = ("bridge_mappings", "interface_mappings", "device_mappings")

DEFERRED = "deferred"
IMMEDIATE = "immediate"
NONE = "none"


def physnets_of(configurations: Any) -> frozenset[str]:
    """The physical networks an agent reports it is plugged into."""
    if not isinstance(configurations, dict):
        return frozenset()
    found: set[str] = set()
    for key in PHYSNET_KEYS:
        mappings = configurations.get(key)
        if isinstance(mappings, dict):
            found.update(str(name) for name in mappings)
    return frozenset(found)


async def map_host(conn: AsyncConnection, host: str, physnets: Iterable[str]) -> None:
    """Make the host's mappings those of its physical networks now (Neutron's
    ``update_segment_host_mapping``): new ones added, stale ones removed."""
    wanted = sorted(set(physnets))
    current: set[str] = set()
    if wanted:
        stmt = select(seg.c.id).where(seg.c.physical_network.in_(wanted))
        current = set((await conn.execute(stmt)).scalars())
    previous = set((await conn.execute(select(shm.c.segment_id).where(shm.c.host == host))).scalars())
    stale = sorted(previous - current)
    if stale:
        await conn.execute(delete(shm).where(shm.c.host == host, shm.c.segment_id.in_(stale)))
    added = sorted(current - previous)
    if added:
        await conn.execute(insert_ignore(conn, shm), [{"segment_id": segment_id, "host": host} for segment_id in added])


async def map_segment(conn: AsyncConnection, segment_id: str, physnet: str | None) -> None:
    """A new segment: the hosts whose agents report its physical network reach it.

    The agents' rows are read with a shared lock: a report (which locks its
    agent's row first, then maps its host) either waits for this segment's
    transaction and then sees the segment, or is seen here with its new
    mappings; neither side misses the other. Only segments of a physical
    network (flat, VLAN) take it: project VXLAN networks never wait on reports."""
    if not physnet:
        return
    ag = models.agents
    stmt = select(ag.c.host, ag.c.configurations).order_by(ag.c.id).with_for_update(read=True)
    agents = (await conn.execute(stmt)).all()
    hosts = sorted({agent.host for agent in agents if physnet in physnets_of(agent.configurations)})
    if hosts:
        await conn.execute(insert_ignore(conn, shm), [{"segment_id": segment_id, "host": host} for host in hosts])


async def unmap_segments(conn: AsyncConnection, segment_ids: Sequence[str]) -> None:
    """Segments about to go: their mappings go first."""
    if segment_ids:
        await conn.execute(delete(shm).where(shm.c.segment_id.in_(list(segment_ids))))


def is_routed(subnets: Sequence[Any]) -> bool:
    """Whether the network's subnets sit on segments (all do, or none: segment_rules)."""
    return any(sub.segment_id is not None for sub in subnets)


async def reached(conn: AsyncConnection, subnets: Sequence[Any], host: str) -> list[Any]:
    """The subnets of a routed network whose segments ``host`` reaches (maybe none)."""
    segment_ids = sorted({sub.segment_id for sub in subnets if sub.segment_id is not None})
    stmt = select(shm.c.segment_id).where(shm.c.host == host, shm.c.segment_id.in_(segment_ids))
    mapped = set((await conn.execute(stmt)).scalars())
    return [sub for sub in subnets if sub.segment_id in mapped]


async def reachable(conn: AsyncConnection, network_id: str, subnets: Sequence[Any], host: str) -> list[Any]:
    """The subnets of a routed network that ``host`` reaches (409 when none)."""
    found = await reached(conn, subnets, host)
    if not found:
        raise HostNotConnectedToAnySegment(host=host, network_id=network_id)
    return found


async def port_subnets(
    conn: AsyncConnection, network_id: str, subnets: list[Any], host: str, fixed_ips: list[dict] | None
) -> tuple[list[Any], bool]:
    """The subnets a new port's addresses may come from, and whether its
    allocation is deferred (a routed network, no host, no ``fixed_ips``)."""
    if not is_routed(subnets) or fixed_ips == []:
        return subnets, False
    if host:
        return await reachable(conn, network_id, subnets, host), False
    if fixed_ips is None:
        return [], True
    return same_segment(subnets, fixed_ips), False


def same_segment(subnets: list[Any], fixed_ips: list[dict]) -> list[Any]:
    """No host yet, addresses asked for: the subnets of the one segment the
    entries name (Neutron's ``_query_filter_by_fixed_ips_segment``); entries
    on two segments are 400 ``FixedIpsSubnetsNotOnSameSegment``."""
    by_id = {sub.id: sub for sub in subnets}
    named = {by_id[e["subnet_id"]].segment_id for e in fixed_ips if e.get("subnet_id") in by_id}
    if len(named) > 1:
        raise FixedIpsSubnetsNotOnSameSegment()
    if not named:
        return subnets  # entries by address only: any subnet; the allocator finds its own
    return [sub for sub in subnets if sub.segment_id in named]
