"""The database-backed prefix allocator of subnet pools.

A subnet created from a pool asks here, inside its own transaction:
``PrefixAllocator.allocate`` locks the pool's row (``SELECT ... FOR UPDATE``;
SQLite's writes are serialised by ``BEGIN IMMEDIATE``), so two allocations
from one pool never run at once and never overlap, checks the pool's prefix
bounds and the project's ``default_quota``, and takes the prefix from the
pool's free blocks (``subnetpool_free_blocks``) with the moves of
``quark.ipam.prefixes``: best fit, a bounded number of indexed statements
whatever the pool's fill. A deleted subnet's prefix goes back with
``release``, merged with its free buddies. docs/subnet_pools.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.db import models, pool_models
from quark.ipam import prefixes as px
from quark.ipam.addressing import IPNetwork, ip_key
from quark.ipam.pool_errors import (
    MaxPrefixSubnetAllocationError,
    MinPrefixSubnetAllocationError,
    SubnetAllocationError,
    SubnetPoolNotFound,
    SubnetPoolQuotaExceeded,
)
from quark.ipam.prefixes import Block

sp = pool_models.subnetpools
fb = pool_models.subnetpool_free_blocks
s = models.subnets


class SqlBlocks:
    """A pool's free blocks in ``subnetpool_free_blocks`` (a ``prefixes.BlockStore``)."""

    def __init__(self, conn: AsyncConnection, pool_id: str, version: int) -> None:
        self.conn = conn
        self.pool_id = pool_id
        self.version = version

    def _key(self, start: int) -> str:
        return ip_key(start, self.version)

    def _row(self, block: Block) -> dict[str, Any]:
        return {"subnetpool_id": self.pool_id, "prefixlen": block.prefixlen, "start_key": self._key(block.start)}

    def _is(self, block: Block) -> Any:
        return and_(
            fb.c.subnetpool_id == self.pool_id,
            fb.c.prefixlen == block.prefixlen,
            fb.c.start_key == self._key(block.start),
        )

    async def best(self, prefixlen: int) -> Block | None:
        # Two probes of the primary key (pool, prefixlen, start): the largest fitting
        # level, then its lowest block (one ORDER BY of mixed directions would not use it).
        mine = fb.c.subnetpool_id == self.pool_id
        level = await self.conn.scalar(select(func.max(fb.c.prefixlen)).where(mine, fb.c.prefixlen <= prefixlen))
        if level is None:
            return None
        start = await self.conn.scalar(
            select(fb.c.start_key).where(mine, fb.c.prefixlen == level).order_by(fb.c.start_key).limit(1)
        )
        return Block(int(level), int(str(start), 16))

    async def containing(self, start: int) -> Block | None:
        row = (
            await self.conn.execute(
                select(fb.c.prefixlen, fb.c.start_key)
                .where(fb.c.subnetpool_id == self.pool_id, fb.c.start_key <= self._key(start))
                .order_by(fb.c.start_key.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else Block(row.prefixlen, int(row.start_key, 16))

    async def between(self, low: int, high: int) -> list[Block]:
        rows = await self.conn.execute(
            select(fb.c.prefixlen, fb.c.start_key).where(
                fb.c.subnetpool_id == self.pool_id, fb.c.start_key.between(self._key(low), self._key(high))
            )
        )
        return [Block(r.prefixlen, int(r.start_key, 16)) for r in rows]

    async def has(self, block: Block) -> bool:
        return (await self.conn.scalar(select(fb.c.prefixlen).where(self._is(block)))) is not None

    async def remove(self, block: Block) -> None:
        await self.conn.execute(delete(fb).where(self._is(block)))

    async def add(self, blocks: Sequence[Block]) -> None:
        if blocks:
            await self.conn.execute(insert(fb), [self._row(b) for b in blocks])


@dataclass(frozen=True)
class PrefixRequest:
    """A subnet's ask of a pool: a size (``prefixlen``, or the pool's default) or a ``cidr``."""

    pool_id: str
    project_id: str  # the subnet's project: its quota in the pool
    caller_project: str
    is_admin: bool
    ip_version: int | None = None
    prefixlen: int | None = None
    cidr: IPNetwork | None = None
    # The pool is shared with the caller's project by an RBAC policy (the service looked).
    granted: bool = False


async def lock_pool(conn: AsyncConnection, pool_id: str) -> Any:
    """The pool's row, locked until the transaction ends (None: no such pool)."""
    return (await conn.execute(select(sp).where(sp.c.id == pool_id).with_for_update())).first()


def check_bounds(pool: Any, prefixlen: int) -> None:
    if prefixlen > pool.max_prefixlen:
        raise MaxPrefixSubnetAllocationError(prefixlen=prefixlen, max_prefixlen=pool.max_prefixlen)
    if prefixlen < pool.min_prefixlen:
        raise MinPrefixSubnetAllocationError(prefixlen=prefixlen, min_prefixlen=pool.min_prefixlen)


async def check_quota(conn: AsyncConnection, pool: Any, project_id: str, prefixlen: int) -> None:
    """Neutron's per-project pool quota: the units of the project's prefixes in the
    pool plus the new one within ``default_quota`` (0 or none: no limit). Exact: the
    pool's row is locked, so no other allocation from it is counted meanwhile."""
    if not pool.default_quota:
        return
    cidrs = await conn.scalars(select(s.c.cidr).where(s.c.subnetpool_id == pool.id, s.c.project_id == project_id))
    used = sum(px.quota_units(int(cidr.rsplit("/", 1)[1]), pool.ip_version) for cidr in cidrs)
    if used + px.quota_units(prefixlen, pool.ip_version) > pool.default_quota:
        raise SubnetPoolQuotaExceeded()


class PrefixAllocator:
    async def allocate(self, conn: AsyncConnection, request: PrefixRequest) -> tuple[Any, IPNetwork]:
        """The pool's row and the prefix granted (inside the caller's transaction)."""
        pool = await lock_pool(conn, request.pool_id)
        usable = request.is_admin or request.granted or pool is not None and pool.project_id == request.caller_project
        if pool is None or not usable:
            raise SubnetPoolNotFound(subnetpool_id=request.pool_id)
        version = pool.ip_version
        if request.ip_version is not None and request.ip_version != version:
            raise errors.BadRequest(
                resource="subnets",
                msg=f"Cannot allocate IPv{request.ip_version} subnet from IPv{version} subnet pool",
            )
        prefixlen = request.cidr.prefixlen if request.cidr is not None else request.prefixlen
        if prefixlen is None:
            prefixlen = pool.default_prefixlen
        check_bounds(pool, prefixlen)
        await check_quota(conn, pool, request.project_id, prefixlen)
        store = SqlBlocks(conn, pool.id, version)
        if request.cidr is not None:
            if request.cidr.version != version or not await px.allocate_specific(
                store, px.block_of(request.cidr), version
            ):
                raise SubnetAllocationError(
                    reason="Cannot allocate requested subnet from the available set of prefixes"
                )
            return pool, request.cidr
        got = await px.allocate_any(store, prefixlen, version)
        if got is None:
            raise SubnetAllocationError(reason=f"Insufficient prefix space to allocate subnet size /{prefixlen}")
        return pool, px.network_of(got, version)

    async def release(self, conn: AsyncConnection, pool_id: str, cidr: IPNetwork) -> None:
        """A deleted subnet's prefix back to its pool (if the pool still has it)."""
        pool = await lock_pool(conn, pool_id)
        if pool is None:
            return
        prefixes = await pool_prefixes(conn, pool_id)
        if px.covers(prefixes, cidr):
            await px.release(SqlBlocks(conn, pool_id, pool.ip_version), px.block_of(cidr), pool.ip_version)


async def pool_prefixes(conn: AsyncConnection, pool_id: str) -> list[IPNetwork]:
    pp = pool_models.subnetpool_prefixes
    cidrs = await conn.scalars(select(pp.c.cidr).where(pp.c.subnetpool_id == pool_id))
    return px.merge(px.parse_prefix(c) for c in cidrs)
