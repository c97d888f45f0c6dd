"""The database-backed MAC allocator, on MAC address ranges.

Same shape as the IP allocator: reuse a MAC released more than
``reuse_after`` seconds ago, else take the range cursor
(``mac_address_ranges.next_address``), skipping MACs recorded ahead of it.
``mac_allocations.address`` is the primary key, so a MAC is never handed out
twice from the ranges. Ranges marked ``do_not_use`` are never drawn from.

MACs given explicitly by clients are recorded when they fall inside a range
(so the cursor skips them); uniqueness *per network* is enforced separately
by the ports table, as Neutron requires.
"""

from __future__ import annotations

from datetime import timedelta
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.ipam.ip_allocator import dialect_insert_ignore

r = models.mac_address_ranges
m = models.mac_allocations

MAX_CURSOR_COLLISIONS = 64


class MacAllocator:
    def __init__(self, reuse_after: int, clock) -> None:
        self.reuse_after = reuse_after
        self.clock = clock

    async def allocate(self, conn: AsyncConnection, *, avoid: set[int] | frozenset[int] = frozenset()) -> int | None:
        """A MAC from the ranges, or None when every usable range is exhausted.

        ``avoid``: MACs the caller found unusable (taken on its network); a
        reused one of them is put back, a cursor one stays recorded.
        """
        reused = await self._reuse(conn, avoid)
        if reused is not None:
            return reused
        return await self._from_cursor(conn, avoid)

    async def _reuse(self, conn: AsyncConnection, avoid) -> int | None:
        cutoff = self.clock() - timedelta(seconds=self.reuse_after)
        usable_ranges = select(r.c.id).where(r.c.do_not_use.is_(False))
        stmt = (
            select(m.c.address)
            .where(m.c.deallocated.is_(True), m.c.deallocated_at <= cutoff, m.c.range_id.in_(usable_ranges))
            .order_by(m.c.deallocated_at)
            .limit(1 + len(avoid))
        )
        if conn.dialect.name != "sqlite":
            stmt = stmt.with_for_update(skip_locked=True)
        for address in (await conn.execute(stmt)).scalars():
            if address in avoid:
                continue
            await conn.execute(
                update(m).where(m.c.address == address).values(deallocated=False, deallocated_at=None, allocated_at=self.clock())
            )
            return address
        return None

    async def _from_cursor(self, conn: AsyncConnection, avoid) -> int | None:
        while True:
            stmt = (
                select(r.c.id, r.c.next_address, r.c.last_address)
                .where(r.c.do_not_use.is_(False), r.c.next_address.is_not(None))
                .order_by(r.c.created_at, r.c.id)
                .limit(1)
                .with_for_update()
            )
            rng = (await conn.execute(stmt)).first()
            if rng is None:
                return None
            candidate = rng.next_address
            now = self.clock()
            for _ in range(MAX_CURSOR_COLLISIONS):
                if candidate > rng.last_address:
                    break
                result = await conn.execute(dialect_insert_ignore(
                    conn, m, address=candidate, range_id=rng.id, allocated_at=now, deallocated=False, deallocated_at=None))
                candidate += 1
                if result.rowcount == 1 and candidate - 1 not in avoid:
                    await self._set_cursor(conn, rng.id, candidate if candidate <= rng.last_address else None)
                    return candidate - 1
            await self._set_cursor(conn, rng.id, candidate if candidate <= rng.last_address else None)
            if candidate <= rng.last_address:
                continue  # a long run of recorded MACs: go on from the new cursor

    @staticmethod
    async def _set_cursor(conn: AsyncConnection, range_id: str, value: int | None) -> None:
        await conn.execute(update(r).where(r.c.id == range_id).values(next_address=value))

    async def record_explicit(self, conn: AsyncConnection, address: int) -> bool:
        """Record a client-chosen MAC in its range; True if this caller now holds it."""
        range_id = await conn.scalar(
            select(r.c.id).where(r.c.first_address <= address, r.c.last_address >= address).limit(1)
        )
        if range_id is None:
            return False
        inserted = await conn.execute(dialect_insert_ignore(
            conn, m, address=address, range_id=range_id, allocated_at=self.clock(), deallocated=False, deallocated_at=None))
        if inserted.rowcount == 1:
            return True
        claimed = await conn.execute(
            update(m).where(m.c.address == address, m.c.deallocated.is_(True))
            .values(deallocated=False, deallocated_at=None, allocated_at=self.clock())
        )
        return claimed.rowcount == 1

    async def release(self, conn: AsyncConnection, address: int) -> None:
        """Return a MAC to its range (quarantined). Releasing a free MAC is a no-op."""
        await conn.execute(
            update(m).where(m.c.address == address, m.c.deallocated.is_(False))
            .values(deallocated=True, deallocated_at=self.clock())
        )

