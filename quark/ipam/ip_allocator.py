"""The database-backed IP allocator.

It runs inside the caller's transaction and never loads the set of used
addresses. Uniqueness is the database's job (``uq_ip_allocations_subnet_address``);
the allocator only proposes candidates:

1. **Reuse**: the oldest address released more than ``reuse_after`` seconds
   ago and still inside the pools (index ``ix_ip_allocations_reuse``;
   ``FOR UPDATE SKIP LOCKED`` so concurrent allocators take different rows).
2. **Cursor**: ``subnets.next_ip_key`` names the next never-used candidate.
   The subnet row is locked, the candidate inserted with an
   insert-or-ignore; an address somebody requested explicitly ahead of the
   cursor is skipped (one probe of the index skips a whole run of them).
3. **Random** for huge IPv6 ranges (more than 2**32 addresses): a uniform
   draw from the pools, insert-or-ignore, a bounded number of draws — it
   cannot loop forever, and with such a range collisions are negligible.

Releasing keeps the row (``deallocated``), which quarantines the address
and keeps it out of the cursor's way.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.db import models
from quark.ipam import addressing
from quark.ipam.addressing import RangeSet

a = models.ip_allocations
s = models.subnets

RANDOM_THRESHOLD = 2**32
RANDOM_ATTEMPTS = 16
# Consecutive insert collisions before the cursor switches to probing the index.
COLLISIONS_BEFORE_PROBE = 2
PROBE_BATCH = 256


@functools.lru_cache(maxsize=4096)
def _pool_ranges(cidr: str, pools: tuple[tuple[str, str], ...]) -> RangeSet:
    return RangeSet((int(ipaddress.ip_address(start)), int(ipaddress.ip_address(end))) for start, end in pools)


def pool_ranges(subnet: Any) -> RangeSet:
    """The addresses of a subnet the allocator may hand out automatically."""
    return _pool_ranges(subnet.cidr, tuple(tuple(p) for p in subnet.allocation_pools or ()))


@dataclass(frozen=True)
class Allocation:
    subnet_id: str
    address: str


def dialect_insert_ignore(conn: AsyncConnection, table, **values):
    """INSERT that silently does nothing on a unique-key collision."""
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(**values).on_conflict_do_nothing()
    if name == "mysql":
        return insert(table).values(**values).prefix_with("IGNORE")
    return insert(table).values(**values).prefix_with("OR IGNORE")


class IpAllocator:
    def __init__(self, reuse_after: int, clock) -> None:
        self.reuse_after = reuse_after
        self.clock = clock

    # --- the three ways to get an address ---------------------------------------

    async def allocate_specific(
        self, conn: AsyncConnection, subnet: Any, address: addressing.IPAddress, port_id: str | None, project_id: str
    ) -> Allocation:
        """Exactly ``address`` (even inside the quarantine, as in Neutron).

        Raises IpAddressAlreadyAllocated if it is held.
        """
        key = addressing.ip_key(address, subnet.ip_version)
        now = self.clock()
        inserted = await conn.execute(dialect_insert_ignore(conn, a, **self._row(subnet, address, key, port_id, project_id, now)))
        if inserted.rowcount == 1:
            return Allocation(subnet.id, str(address))
        # The row exists: take it over only if it was released.
        claimed = await conn.execute(
            update(a)
            .where(a.c.subnet_id == subnet.id, a.c.address_key == key, a.c.deallocated.is_(True))
            .values(deallocated=False, deallocated_at=None, port_id=port_id, project_id=project_id, allocated_at=now)
        )
        if claimed.rowcount == 1:
            return Allocation(subnet.id, str(address))
        raise errors.IpAddressAlreadyAllocated(ip=str(address), subnet_id=subnet.id)

    async def allocate_any(self, conn: AsyncConnection, subnet: Any, port_id: str | None, project_id: str) -> Allocation | None:
        """Any free pool address of ``subnet``, or None when it has none."""
        pools = pool_ranges(subnet)
        if not pools:
            return None
        reused = await self._reuse(conn, subnet, pools, port_id, project_id)
        if reused is not None:
            return reused
        if pools.size > RANDOM_THRESHOLD:
            return await self._random(conn, subnet, pools, port_id, project_id)
        return await self._from_cursor(conn, subnet, pools, port_id, project_id)

    async def _reuse(self, conn, subnet, pools: RangeSet, port_id, project_id) -> Allocation | None:
        cutoff = self.clock() - timedelta(seconds=self.reuse_after)
        in_pools = or_(*[
            a.c.address_key.between(addressing.ip_key(lo, subnet.ip_version), addressing.ip_key(hi, subnet.ip_version))
            for lo, hi in pools.ranges()
        ])
        stmt = (
            select(a.c.id, a.c.address)
            .where(a.c.subnet_id == subnet.id, a.c.deallocated.is_(True), a.c.deallocated_at <= cutoff, in_pools)
            .order_by(a.c.deallocated_at)
            .limit(1)
        )
        if conn.dialect.name != "sqlite":
            stmt = stmt.with_for_update(skip_locked=True)
        row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        await conn.execute(
            update(a).where(a.c.id == row.id).values(
                deallocated=False, deallocated_at=None, port_id=port_id, project_id=project_id, allocated_at=self.clock()
            )
        )
        return Allocation(subnet.id, row.address)

    async def _from_cursor(self, conn, subnet, pools: RangeSet, port_id, project_id) -> Allocation | None:
        version = subnet.ip_version
        cursor_key = await conn.scalar(select(s.c.next_ip_key).where(s.c.id == subnet.id).with_for_update())
        if cursor_key is None:
            return None
        candidate = pools.first_at_or_after(int(cursor_key, 16))
        collisions = 0
        now = self.clock()
        while candidate is not None:
            address = ipaddress.ip_address(candidate) if version == 4 else ipaddress.IPv6Address(candidate)
            key = addressing.ip_key(candidate, version)
            result = await conn.execute(dialect_insert_ignore(conn, a, **self._row(subnet, address, key, port_id, project_id, now)))
            if result.rowcount == 1:
                following = pools.first_at_or_after(candidate + 1)
                await self._set_cursor(conn, subnet.id, following, version)
                return Allocation(subnet.id, str(address))
            collisions += 1
            if collisions >= COLLISIONS_BEFORE_PROBE:
                candidate = await self._skip_taken(conn, subnet, pools, candidate)
            else:
                candidate = pools.first_at_or_after(candidate + 1)
        await self._set_cursor(conn, subnet.id, None, version)
        return None

    async def _skip_taken(self, conn, subnet, pools: RangeSet, candidate: int) -> int | None:
        """First pool address >= candidate that has no row, probing the index in batches."""
        version = subnet.ip_version
        while candidate is not None:
            taken = (await conn.execute(
                select(a.c.address_key)
                .where(a.c.subnet_id == subnet.id, a.c.address_key >= addressing.ip_key(candidate, version))
                .order_by(a.c.address_key)
                .limit(PROBE_BATCH)
            )).scalars().all()
            for key in taken:
                value = int(key, 16)
                if value > candidate:
                    return candidate  # a gap before the next taken address
                if value == candidate:
                    candidate = pools.first_at_or_after(candidate + 1)
                    if candidate is None:
                        return None
            if len(taken) < PROBE_BATCH:
                return candidate
        return None

    async def _random(self, conn, subnet, pools: RangeSet, port_id, project_id) -> Allocation | None:
        now = self.clock()
        for _ in range(RANDOM_ATTEMPTS):
            candidate = pools.nth(random.randrange(pools.size))
            address = ipaddress.IPv6Address(candidate) if subnet.ip_version == 6 else ipaddress.IPv4Address(candidate)
            key = addressing.ip_key(candidate, subnet.ip_version)
            result = await conn.execute(dialect_insert_ignore(conn, a, **self._row(subnet, address, key, port_id, project_id, now)))
            if result.rowcount == 1:
                return Allocation(subnet.id, str(address))
        return None

    # --- release -------------------------------------------------------------------

    async def release_port(self, conn: AsyncConnection, port_id: str, *, only: list[tuple[str, str]] | None = None,
                           delete_rows: bool = False) -> None:
        """Release a port's addresses (all, or the (subnet_id, address) pairs in ``only``).

        Releasing an address the port does not hold is a no-op.
        """
        where = [a.c.port_id == port_id, a.c.deallocated.is_(False)]
        if only is not None:
            if not only:
                return
            where.append(or_(*[and_(a.c.subnet_id == sid, a.c.address == addr) for sid, addr in only]))
        if delete_rows:
            await conn.execute(delete(a).where(*where))
        else:
            await conn.execute(update(a).where(*where).values(
                deallocated=True, deallocated_at=self.clock(), port_id=None))

    # --- cursor maintenance --------------------------------------------------------

    @staticmethod
    async def _set_cursor(conn, subnet_id: str, value: int | None, version: int) -> None:
        key = None if value is None else addressing.ip_key(value, version)
        await conn.execute(update(s).where(s.c.id == subnet_id).values(next_ip_key=key))

    @staticmethod
    def initial_cursor(pools: RangeSet, version: int) -> str | None:
        first = pools.first_at_or_after(0)
        return None if first is None else addressing.ip_key(first, version)

    @staticmethod
    def cursor_after_pool_change(old: RangeSet, new: RangeSet, cursor_key: str | None, version: int) -> str | None:
        """Where the cursor must stand after the pools change.

        Addresses added below the cursor (or anywhere, once it has run out)
        were never handed out, so the cursor goes back to the first of them;
        the walk forward skips what is taken through the index.
        """
        added = new.subtract(old)
        first_added = added.first_at_or_after(0)
        if cursor_key is None:
            return None if first_added is None else addressing.ip_key(first_added, version)
        cursor = int(cursor_key, 16)
        if first_added is not None and first_added < cursor:
            cursor = first_added
        following = new.first_at_or_after(cursor)
        return None if following is None else addressing.ip_key(following, version)

    @staticmethod
    def _row(subnet, address, key: str, port_id, project_id, now: datetime) -> dict:
        return {
            "id": str(uuid.uuid4()), "subnet_id": subnet.id, "network_id": subnet.network_id,
            "ip_version": subnet.ip_version, "address": str(address), "address_key": key, "port_id": port_id,
            "project_id": project_id, "allocated_at": now, "deallocated": False, "deallocated_at": None,
        }
