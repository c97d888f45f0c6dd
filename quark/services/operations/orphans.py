"""The orphans report (``quark orphans``): rows whose holder is gone.

Each finding is a dict ``{kind, id, project_id, detail}``:

* ``port_on_dead_host``: a port bound to a host with no agent at all, or
  whose agents' newest report is older than ``dead_after`` (a host being
  rebooted is not an orphan; one dead for a day is);
* ``port_without_router`` / ``port_without_floatingip``: a router's or a
  floating IP's port whose ``device_id`` names no row of Quark's own table
  (compute instances are Nova's: not checked here);
* ``allocation_without_port``: a live address whose port row is gone;
* ``stale_external_allocation``: an address another system's IPAM driver
  (/v2.0/ipam) holds that is older than ``external_age`` — Quark cannot ask
  that system whether its holder still exists, so age is the hint.

Backend drift is the backend sync's comparison (quark.services.operations.drift).
Every query is one statement, indexed by the port's owner, host or id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import owners
from quark.db import l3_models, models
from quark.db.engine import Database
from quark.db.external_ipam_models import external_allocations as ext
from quark.ipam import repair

p = models.ports
a = models.agents
alloc = models.ip_allocations
fip = models.floatingips
r = l3_models.routers


@dataclass(frozen=True)
class OrphanLimits:
    now: datetime
    dead_after: timedelta  # an agent silent this long is gone
    external_age: timedelta  # an external allocation this old is suspect


def finding(kind: str, resource_id: str, project_id: str | None, detail: str) -> dict[str, Any]:
    return {"kind": kind, "id": resource_id, "project_id": project_id or "", "detail": detail}


async def ports_on_dead_hosts(conn: AsyncConnection, limits: OrphanLimits) -> list[dict[str, Any]]:
    last = select(a.c.host, func.max(a.c.heartbeat_timestamp).label("last")).group_by(a.c.host).subquery()
    cutoff = limits.now - limits.dead_after
    stmt = (
        select(p.c.id, p.c.project_id, p.c.binding_host_id, last.c.last)
        .outerjoin(last, last.c.host == p.c.binding_host_id)
        .where(p.c.binding_host_id != "", or_(last.c.host.is_(None), last.c.last < cutoff))
        .order_by(p.c.binding_host_id, p.c.id)
    )
    out = []
    for row in await conn.execute(stmt):
        why = "no agent on the host" if row.last is None else f"agents silent since {row.last:%Y-%m-%dT%H:%M:%SZ}"
        out.append(finding("port_on_dead_host", row.id, row.project_id, f"host {row.binding_host_id}: {why}"))
    return out


async def ports_without_device(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Router and floating-IP ports whose device row is gone."""
    out = []
    for kind, owned, table in (
        ("port_without_router", p.c.device_owner.in_(owners.ROUTER), r),
        ("port_without_floatingip", p.c.device_owner == owners.FLOATING_IP, fip),
    ):
        exists = select(table.c.id).where(table.c.id == p.c.device_id).exists()
        stmt = select(p.c.id, p.c.project_id, p.c.device_owner, p.c.device_id).where(
            owned, p.c.device_id != "", not_(exists)
        )
        for row in await conn.execute(stmt.order_by(p.c.id)):
            out.append(finding(kind, row.id, row.project_id, f"{row.device_owner} of missing {row.device_id}"))
    return out


async def allocations_without_port(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await repair.held_by_missing_ports(conn)  # the leaks `quark ipam check` finds
    return _addresses("allocation_without_port", rows, "held by missing port {row.port_id}")


async def stale_external_allocations(conn: AsyncConnection, limits: OrphanLimits) -> list[dict[str, Any]]:
    stmt = (
        select(ext.c.allocation_id, ext.c.address, ext.c.subnet_id, ext.c.holder, ext.c.created_at, alloc.c.project_id)
        .join(alloc, and_(alloc.c.id == ext.c.allocation_id, alloc.c.deallocated == false()))
        .where(ext.c.created_at < limits.now - limits.external_age)
        .order_by(ext.c.created_at)
    )
    rows = (await conn.execute(stmt)).all()
    return _addresses("stale_external_allocation", rows, "for holder {row.holder} since {row.created_at:%Y-%m-%d}")


def _addresses(kind: str, rows: Any, why: str) -> list[dict[str, Any]]:
    """A finding per row (an allocation id first, its project, address and subnet)."""
    return [
        finding(kind, row[0], row.project_id, f"{row.address} in subnet {row.subnet_id} " + why.format(row=row))
        for row in rows
    ]


async def report(db: Database, limits: OrphanLimits) -> list[dict[str, Any]]:
    """Every orphan the database alone can tell, in one read transaction."""
    async with db.read() as conn:
        return [
            *await ports_on_dead_hosts(conn, limits),
            *await ports_without_device(conn),
            *await allocations_without_port(conn),
            *await stale_external_allocations(conn, limits),
        ]
