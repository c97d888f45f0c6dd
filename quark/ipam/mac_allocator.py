"""The database-backed MAC allocator, on MAC address ranges.

1. **Reuse** a MAC released more than ``reuse_after`` seconds ago, oldest
   first (``FOR UPDATE SKIP LOCKED``).
2. Otherwise take the next MAC of this process's **block**: a run of
   ``BLOCK_SIZE`` never-used MACs claimed from a range's cursor
   (``mac_address_ranges.next_address``) in a short transaction of its own,
   so no request holds the range row while it works — the range row would
   otherwise serialise every port create of the whole deployment. MACs of a
   block that a process never hands out (it stopped) are simply skipped: a
   range holds millions.

``mac_allocations.address`` is the primary key, so a MAC is never handed out
twice from the ranges whatever happens to blocks. Ranges marked
``do_not_use`` are never drawn from; a process that had claimed a block of
such a range before the flag was set may still hand out what is left of it
(at most ``BLOCK_SIZE`` MACs), unless it is the process that set the flag.

MACs given explicitly by clients are recorded when they fall inside a range
(so nothing hands them out again); uniqueness *per network* is enforced by
the ports table, as Neutron requires.
"""

from __future__ import annotations

import functools
from collections import deque
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.ipam.ip_allocator import dialect_insert_ignore

r = models.mac_address_ranges
m = models.mac_allocations

BLOCK_SIZE = 64
MAX_SKIPS = 256


@functools.lru_cache(maxsize=32)
def _reuse_select(dialect: str, limit: int):
    usable_ranges = select(r.c.id).where(r.c.do_not_use.is_(False))
    stmt = (
        select(m.c.address)
        .where(m.c.deallocated.is_(True), m.c.deallocated_at <= bindparam("b_cutoff"), m.c.range_id.in_(usable_ranges))
        .order_by(m.c.deallocated_at)
        .limit(limit)
    )
    return stmt if dialect == "sqlite" else stmt.with_for_update(skip_locked=True)


class MacAllocator:
    def __init__(self, reuse_after: int, clock, db=None) -> None:
        self.reuse_after = reuse_after
        self.clock = clock
        # Without a database handle (or on SQLite, whose writers are
        # serialised anyway) blocks are claimed inside the caller's transaction.
        self.db = db
        self._block: deque[tuple[str, int]] = deque()

    async def allocate(
        self, conn: AsyncConnection, *, avoid: set[int] | frozenset[int] = frozenset()
    ) -> tuple[int, bool] | None:
        """(MAC, reused) from the ranges, or None when every usable range is exhausted.

        ``reused`` is False for a MAC never handed out before: no port can
        hold it (explicit MACs inside ranges are recorded), so callers need
        not check it against their network. ``avoid``: MACs the caller found
        unusable (taken on its network).
        """
        reused = await self._reuse(conn, avoid)
        if reused is not None:
            return reused, True
        for _ in range(MAX_SKIPS):
            if not self._block and not await self._claim_block(conn):
                return None
            range_id, address = self._block.popleft()
            result = await conn.execute(dialect_insert_ignore(conn, m), {
                "address": address, "range_id": range_id, "allocated_at": self.clock(), "deallocated": False,
                "deallocated_at": None})
            if result.rowcount == 1 and address not in avoid:
                return address, False
        return None

    async def _reuse(self, conn: AsyncConnection, avoid) -> int | None:
        cutoff = self.clock() - timedelta(seconds=self.reuse_after)
        stmt = _reuse_select(conn.dialect.name, 1 + len(avoid))
        for address in (await conn.execute(stmt, {"b_cutoff": cutoff})).scalars():
            if address in avoid:
                continue
            await conn.execute(
                update(m).where(m.c.address == address).values(deallocated=False, deallocated_at=None, allocated_at=self.clock())
            )
            return address
        return None

    async def _claim_block(self, conn: AsyncConnection) -> bool:
        if self.db is None or conn.dialect.name == "sqlite":
            return await self._claim_in(conn, 1)
        async with self.db.write() as own:
            return await self._claim_in(own, BLOCK_SIZE)

    async def _claim_in(self, conn: AsyncConnection, size: int) -> bool:
        """Move a range cursor forward by up to ``size`` and keep those MACs."""
        rng = (await conn.execute(
            select(r.c.id, r.c.next_address, r.c.last_address)
            .where(r.c.do_not_use.is_(False), r.c.next_address.is_not(None))
            .order_by(r.c.created_at, r.c.id)
            .limit(1)
            .with_for_update()
        )).first()
        if rng is None:
            return False
        end = min(rng.next_address + size - 1, rng.last_address)
        following = end + 1 if end < rng.last_address else None
        await conn.execute(update(r).where(r.c.id == rng.id).values(next_address=following))
        self._block.extend((rng.id, address) for address in range(rng.next_address, end + 1))
        return True

    def forget_blocks(self) -> None:
        """Drop claimed MACs (after ranges change); they are skipped, never reused."""
        self._block.clear()

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
