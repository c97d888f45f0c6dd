"""Address-space utilization for the dashboard (docs/dashboard.md): per subnet
counts, subnet pools' use, and a subnet's heat map down to the address.

Nothing here counts a subnet's allocations to learn how full it is:

* ``used`` is the sum of the subnet's ``ip_usage`` shards (the counter the
  allocator keeps; what network-ip-availabilities answers), O(1) per subnet;
* ``allocatable`` (availability's ``total_ips``), ``in_pools`` and
  ``policy_reserved`` are range arithmetic on the subnet row
  (``allocation_pools`` and the IP policies' ``excluded_ranges``);
* ``quarantined`` has no counter: it is an index-range count over
  ``ix_ip_allocations_reuse`` (subnet, released, released since the reuse
  cutoff), stopped at ``QUARANTINE_CAP`` rows so one subnet's answer is bounded.

Who may see which counts: the caller must see the subnet (the dashboard asks
only for subnets the subnet service listed for it); the counts are shown to
admins and to the subnet's own project (network-ip-availabilities, Neutron's
view of the same numbers, is admin-only: a shared network's use by other
projects stays hidden from its members).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import Clock, utcnow
from quark.context import Context
from quark.db import models
from quark.db import pool_models as pm
from quark.db.engine import Database
from quark.ipam.addressing import parse_cidr
from quark.ipam.pools import excluded_set, pool_ranges
from quark.services.addressing.heatmap import Grid, build_grid, in_pools

s = models.subnets
u = models.ip_usage
a = models.ip_allocations

# A subnet's quarantined addresses are counted up to this many ("10000+").
QUARANTINE_CAP = 10_000


@dataclass(frozen=True)
class SubnetUse:
    subnet_id: str
    size: int  # addresses in the CIDR
    in_pools: int  # addresses in the allocation pools
    policy_reserved: int  # pool addresses IP policies keep from automatic allocation
    allocatable: int  # in_pools - policy_reserved: availability's total_ips
    used: int  # held addresses: availability's used_ips
    quarantined: int  # released, not yet reusable (at most QUARANTINE_CAP)
    quarantine_capped: bool

    @property
    def free(self) -> int:
        return max(0, self.allocatable - self.used - self.quarantined)

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.allocatable if self.allocatable else 0.0


@dataclass(frozen=True)
class PoolUse:
    subnetpool_id: str
    size: int  # addresses in the pool's prefixes
    free: int  # addresses in its free blocks

    @property
    def used(self) -> int:
        return self.size - self.free

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.size if self.size else 0.0


def may_count(ctx: Context, row: Any) -> bool:
    """Admins see every subnet's counts; members those of their own project's subnets."""
    return ctx.is_admin or row.project_id == ctx.project_id


class UtilizationService:
    def __init__(self, db: Database, settings: Any, clock: Clock = utcnow) -> None:
        self.db = db
        self.reuse_after = settings.ipam_reuse_after
        self.clock = clock

    def cutoff(self):
        """Addresses released after this are still quarantined."""
        return self.clock() - timedelta(seconds=self.reuse_after)

    async def subnets(self, ctx: Context, subnet_ids: list[str]) -> dict[str, SubnetUse]:
        """The counts of those of ``subnet_ids`` the caller may count (a page of them)."""
        if not subnet_ids:
            return {}
        used = select(u.c.subnet_id, func.sum(u.c.used).label("used")).group_by(u.c.subnet_id).subquery()
        stmt = (
            select(s, func.coalesce(used.c.used, 0).label("used"))
            .outerjoin(used, used.c.subnet_id == s.c.id)
            .where(s.c.id.in_(subnet_ids))
        )
        out: dict[str, SubnetUse] = {}
        async with self.db.read(lag_ok=True) as conn:
            for row in (await conn.execute(stmt)).all():
                if may_count(ctx, row):
                    quarantined = await self._quarantined(conn, row.id)
                    out[row.id] = subnet_use(row, int(row.used), quarantined)
        return out

    async def _quarantined(self, conn: AsyncConnection, subnet_id: str) -> int:
        capped = (
            select(a.c.id)
            .where(a.c.subnet_id == subnet_id, a.c.deallocated == true(), a.c.deallocated_at > self.cutoff())
            .limit(QUARANTINE_CAP + 1)
            .subquery()
        )
        return int((await conn.execute(select(func.count()).select_from(capped))).scalar_one())

    async def subnet_row(self, ctx: Context, subnet_id: str) -> Any:
        """The subnet row, if the caller may count it (else 404, as a missing one)."""
        async with self.db.read(lag_ok=True) as conn:
            row = (await conn.execute(select(s).where(s.c.id == subnet_id))).first()
        if row is None or not may_count(ctx, row):
            raise errors.SubnetNotFound(subnet_id=subnet_id)
        return row

    async def heatmap(self, ctx: Context, subnet_id: str, prefix: str | None) -> Grid:
        """The grid of ``prefix`` (the whole subnet when None) of a subnet the caller may count."""
        row = await self.subnet_row(ctx, subnet_id)
        async with self.db.read(lag_ok=True) as conn:
            used = (
                await conn.execute(select(func.coalesce(func.sum(u.c.used), 0)).where(u.c.subnet_id == subnet_id))
            ).scalar_one()
            return await build_grid(conn, row, prefix, self.cutoff(), int(used))

    async def pools(self, ctx: Context, pool_ids: list[str]) -> dict[str, PoolUse]:
        """Each subnet pool's size and free addresses (its prefixes and free blocks:
        a handful of rows per pool, never its subnets)."""
        if not pool_ids:
            return {}
        async with self.db.read(lag_ok=True) as conn:
            prefixes = (
                await conn.execute(
                    select(pm.subnetpool_prefixes).where(pm.subnetpool_prefixes.c.subnetpool_id.in_(pool_ids))
                )
            ).all()
            blocks = (
                await conn.execute(
                    select(pm.subnetpool_free_blocks).where(pm.subnetpool_free_blocks.c.subnetpool_id.in_(pool_ids))
                )
            ).all()
        size: dict[str, int] = dict.fromkeys(pool_ids, 0)
        free: dict[str, int] = dict.fromkeys(pool_ids, 0)
        bits: dict[str, int] = {}
        for row in prefixes:
            net = parse_cidr(row.cidr)
            size[row.subnetpool_id] += net.num_addresses
            bits[row.subnetpool_id] = net.max_prefixlen
        for row in blocks:
            free[row.subnetpool_id] += 1 << (bits.get(row.subnetpool_id, 32) - row.prefixlen)
        return {i: PoolUse(i, size[i], min(free[i], size[i])) for i in pool_ids}


def subnet_use(row: Any, used: int, quarantined: int) -> SubnetUse:
    pools = in_pools(row)
    allocatable = pool_ranges(row).size
    return SubnetUse(
        subnet_id=row.id,
        size=parse_cidr(row.cidr).num_addresses,
        in_pools=pools.size,
        policy_reserved=pools.intersect(excluded_set(row)).size,
        allocatable=allocatable,
        used=used,
        quarantined=min(quarantined, QUARANTINE_CAP),
        quarantine_capped=quarantined > QUARANTINE_CAP,
    )
