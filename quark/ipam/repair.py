"""``quark ipam check``: verify allocations against ports and subnets.

A level-driven, idempotent check (the Kubernetes repair-controller idea):
it rebuilds what should hold from the ports and subnets and reports every
difference. ``fix=True`` repairs what can be repaired without guessing:

- usage counters (of subnets and of MAC ranges) that differ from the live
  allocations (rewritten);
- addresses and MACs held by ports that no longer exist (released), only
  when the allocation is older than ``grace`` so that an allocation whose
  transaction is still in flight is never touched.

- holder rows of shared addresses (``ip_address_ports``) whose address was
  released, or whose port no longer exists (removed; an address left with
  no holder is released, as a port delete would have done), again only
  past ``grace``.

Duplicates cannot exist (unique constraints); the check still looks for the
same address live twice in one network, which would mean overlapping subnets.
Shared addresses (see ``quark.ipam.holders``) must have ``port_id`` NULL and
their holders on the address's network; a violation is reported, not fixed.
Addresses outside their subnet's CIDR and addresses inside IP-policy
exclusions are reported, never changed (an admin may have asked for them).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, false, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.clock import utcnow
from quark.db import models
from quark.db.engine import Database
from quark.ipam import mac_usage, macs
from quark.ipam.ip_allocator import USAGE_SHARDS, IpAllocator
from quark.ipam.pools import excluded_set

a = models.ip_allocations
s = models.subnets
p = models.ports
u = models.ip_usage
m = models.mac_allocations
h = models.ip_address_ports


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    checked_allocations: int = 0
    checked_subnets: int = 0
    checked_holders: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems or len(self.fixed) >= len(self.problems)


async def check(db: Database, *, fix: bool = False, grace: timedelta = timedelta(minutes=5)) -> Report:
    report = Report()

    async def work(conn: AsyncConnection) -> None:
        await _check_counters(conn, report, fix)
        await _check_mac_counters(conn, report, fix)
        await _check_addresses(conn, report)
        await _check_leaks(conn, report, fix, utcnow() - grace)
        await _check_shared(conn, report, fix, utcnow() - grace)

    if fix:
        await db.run_write(work)
    else:
        async with db.read() as conn:
            await work(conn)
    return report


async def _check_counters(conn: AsyncConnection, report: Report, fix: bool) -> None:
    live: dict[str, int] = dict(
        (
            await conn.execute(
                select(a.c.subnet_id, func.count()).where(a.c.deallocated == false()).group_by(a.c.subnet_id)
            )
        ).all()
    )
    counted = dict((await conn.execute(select(u.c.subnet_id, func.sum(u.c.used)).group_by(u.c.subnet_id))).all())
    subnet_ids = (await conn.execute(select(s.c.id))).scalars().all()
    report.checked_subnets = len(subnet_ids)
    for subnet_id in subnet_ids:
        actual, recorded = int(live.get(subnet_id, 0)), counted.get(subnet_id)
        if recorded is not None and int(recorded) == actual:
            continue
        report.problems.append(f"subnet {subnet_id}: usage counter says {recorded}, {actual} addresses are held")
        if fix:
            await conn.execute(delete(u).where(u.c.subnet_id == subnet_id))
            await conn.execute(
                insert(u),
                [{"subnet_id": subnet_id, "shard": k, "used": actual if k == 0 else 0} for k in range(USAGE_SHARDS)],
            )
            report.fixed.append(f"subnet {subnet_id}: usage counter set to {actual}")


async def _check_mac_counters(conn: AsyncConnection, report: Report, fix: bool) -> None:
    live: dict[str, int] = dict(
        (
            await conn.execute(
                select(m.c.range_id, func.count()).where(m.c.deallocated == false()).group_by(m.c.range_id)
            )
        ).all()
    )
    counted = await mac_usage.used(conn)
    for range_id in (await conn.execute(select(models.mac_address_ranges.c.id))).scalars():
        actual, recorded = int(live.get(range_id, 0)), counted.get(range_id)
        if recorded == actual:
            continue
        report.problems.append(f"MAC range {range_id}: usage counter says {recorded}, {actual} MACs are held")
        if fix:
            await mac_usage.reset(conn, range_id, actual)
            report.fixed.append(f"MAC range {range_id}: usage counter set to {actual}")


async def _check_addresses(conn: AsyncConnection, report: Report) -> None:
    subnets = {row.id: row for row in await conn.execute(select(s))}
    seen: dict[tuple[str, str], str] = {}
    for row in await conn.execute(
        select(a.c.id, a.c.subnet_id, a.c.network_id, a.c.address, a.c.port_id).where(a.c.deallocated == false())
    ):
        report.checked_allocations += 1
        subnet = subnets.get(row.subnet_id)
        if subnet is None:
            report.problems.append(f"allocation {row.address} refers to missing subnet {row.subnet_id}")
            continue
        address = ipaddress.ip_address(row.address)
        if address not in ipaddress.ip_network(subnet.cidr):
            report.problems.append(f"{row.address} is outside its subnet {subnet.id} ({subnet.cidr})")
        elif int(address) in excluded_set(subnet):
            report.warnings.append(f"{row.address} (port {row.port_id}) lies in an IP-policy exclusion of {subnet.id}")
        key = (row.network_id, row.address)
        if key in seen:
            report.problems.append(f"{row.address} is held twice on network {row.network_id}")
        seen[key] = row.id


async def held_by_missing_ports(conn: AsyncConnection) -> list[Any]:
    """Live addresses whose port is gone (a leak: ``quark ipam check``; ``quark orphans``
    reports them too), by subnet and address."""
    stmt = (
        select(a.c.id, a.c.project_id, a.c.address, a.c.subnet_id, a.c.port_id, a.c.allocated_at)
        .outerjoin(p, p.c.id == a.c.port_id)
        .where(a.c.deallocated == false(), a.c.port_id.is_not(None), p.c.id.is_(None))
        .order_by(a.c.subnet_id, a.c.address)
    )
    return list((await conn.execute(stmt)).all())


async def _check_leaks(conn: AsyncConnection, report: Report, fix: bool, older_than) -> None:
    for row in await held_by_missing_ports(conn):
        report.problems.append(f"{row.address} in subnet {row.subnet_id} is held by missing port {row.port_id}")
        if fix and row.allocated_at <= older_than:
            await conn.execute(
                update(a).where(a.c.id == row.id).values(deallocated=True, deallocated_at=utcnow(), port_id=None)
            )
            await conn.execute(
                update(u).where(and_(u.c.subnet_id == row.subnet_id, u.c.shard == 0)).values(used=u.c.used - 1)
            )
            report.fixed.append(f"released {row.address} of missing port {row.port_id}")
    held_macs = set((await conn.execute(select(p.c.mac_address).where(p.c.mac_allocated == true()))).scalars())
    for address, allocated_at, range_id in await conn.execute(
        select(m.c.address, m.c.allocated_at, m.c.range_id).where(m.c.deallocated == false())
    ):
        text = macs.format_mac(address)
        if text in held_macs:
            continue
        report.warnings.append(f"MAC {text} is recorded as held but no port owns it")
        if fix and allocated_at <= older_than:
            await conn.execute(
                update(m).where(m.c.address == address).values(deallocated=True, deallocated_at=utcnow())
            )
            await mac_usage.add(conn, range_id, -1)
            report.fixed.append(f"released MAC {text}")


async def _check_shared(conn: AsyncConnection, report: Report, fix: bool, older_than) -> None:
    rows = (
        await conn.execute(
            select(
                h.c.allocation_id,
                h.c.port_id,
                h.c.created_at,
                a.c.address,
                a.c.network_id,
                a.c.deallocated,
                a.c.port_id.label("single_holder"),
                p.c.id.label("port_found"),
                p.c.network_id.label("port_network"),
            ).select_from(h.outerjoin(a, a.c.id == h.c.allocation_id).outerjoin(p, p.c.id == h.c.port_id))
        )
    ).all()
    orphaned: set[str] = set()
    for row in rows:
        report.checked_holders += 1
        if row.address is None or row.deallocated:
            report.problems.append(f"port {row.port_id} holds released address {row.allocation_id}")
            if fix and row.created_at <= older_than:
                await conn.execute(delete(h).where(h.c.allocation_id == row.allocation_id, h.c.port_id == row.port_id))
                report.fixed.append(f"removed holder {row.port_id} of released address {row.allocation_id}")
        elif row.port_found is None:
            report.problems.append(f"shared {row.address} is held by missing port {row.port_id}")
            if fix and row.created_at <= older_than:
                await conn.execute(delete(h).where(h.c.allocation_id == row.allocation_id, h.c.port_id == row.port_id))
                orphaned.add(row.allocation_id)
                report.fixed.append(f"removed missing port {row.port_id} from shared {row.address}")
        elif row.single_holder is not None:
            report.problems.append(f"{row.address} has a single holder {row.single_holder} and shared holders")
        elif row.port_network != row.network_id:
            report.problems.append(
                f"shared {row.address} of network {row.network_id} is held by port "
                f"{row.port_id} of network {row.port_network}"
            )
    if orphaned:
        still_held = set(
            (await conn.execute(select(h.c.allocation_id).where(h.c.allocation_id.in_(sorted(orphaned))))).scalars()
        )
        gone = sorted(orphaned - still_held)
        await IpAllocator(0, utcnow).release_allocations(conn, gone)
        report.fixed += [f"released shared address {allocation_id}, it has no holder left" for allocation_id in gone]
