"""The database-backed MAC allocator, on MAC address ranges.

1. **Reuse** a MAC released more than ``reuse_after`` seconds ago, oldest
   first (``FOR UPDATE SKIP LOCKED``).
2. Otherwise take the next MAC **reserved** for the request: before its
   transaction opens, a request takes the MACs it may need (``reserve``)
   out of this process's **block**, a run of never-used MACs claimed from a
   range's cursor (``mac_address_ranges.next_address``) in a short
   transaction of its own. No port-create transaction ever waits on the
   range row, holds a second connection or claims a block: under many
   concurrent clients the range row would otherwise serialise (and, with a
   pool of connections held by waiting transactions, stall) every port
   create of the whole deployment. A caller that reserved nothing (or too
   little) claims inside its own transaction, one block. MACs a process
   never hands out (it stopped, or a request failed after reserving) are
   given back to its block or simply skipped: a range holds millions.

``mac_allocations.address`` is the primary key, so a MAC is never handed out
twice from the ranges whatever happens to blocks. Ranges marked
``do_not_use`` are never drawn from; a process that had claimed a block of
such a range before the flag was set may still hand out what is left of it
(at most ``BLOCK_SIZE`` MACs), unless it is the process that set the flag.

MACs given explicitly by clients are recorded when they fall inside a range
(so nothing hands them out again); uniqueness *per network* is enforced by
the ports table, as Neutron requires.

Every write that makes a ``mac_allocations`` row live or released also moves
its range's usage counter (``quark.ipam.mac_usage``) in the same transaction,
so the counter is the number of live rows without counting them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import bindparam, false, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.db.dialect import insert_ignore
from quark.ipam import mac_usage, macs
from quark.ipam.ip_allocator import next_reuse_lookup

r = models.mac_address_ranges
m = models.mac_allocations
p = models.ports

BLOCK_SIZE = 256
MAX_SKIPS = 256


# Per range, so each lookup walks ix_mac_allocations_reuse (range_id,
# deallocated, deallocated_at) in order and stops at ``limit`` rows, however
# many released MACs there are (an IN over ranges would sort them all).
_USABLE_RANGES = select(r.c.id).where(r.c.do_not_use == false()).order_by(r.c.created_at, r.c.id)
_OLDEST_RELEASE = select(func.min(m.c.deallocated_at)).where(
    m.c.range_id == bindparam("b_range"), m.c.deallocated == true()
)


@functools.lru_cache(maxsize=32)
def _reuse_select(dialect: str, limit: int):
    stmt = (
        select(m.c.address, m.c.deallocated_at, m.c.range_id)
        .where(
            m.c.range_id == bindparam("b_range"), m.c.deallocated == true(), m.c.deallocated_at <= bindparam("b_cutoff")
        )
        .order_by(m.c.deallocated_at)
        .limit(limit)
    )
    return stmt if dialect == "sqlite" else stmt.with_for_update(skip_locked=True)


class Reservation:
    """MACs taken out of a process's block for one request (see ``MacAllocator.reserve``)."""

    __slots__ = ("items", "used")

    def __init__(self, items: list[tuple[str, int]]) -> None:
        self.items = items
        self.used = 0

    def rewind(self) -> None:
        """A new attempt of the request's transaction: the previous one was rolled back."""
        self.used = 0

    def next(self) -> tuple[str, int] | None:
        if self.used >= len(self.items):
            return None
        self.used += 1
        return self.items[self.used - 1]


_RESERVATION: contextvars.ContextVar[Reservation | None] = contextvars.ContextVar("mac_reservation", default=None)


class MacAllocator:
    def __init__(self, reuse_after: int, clock, db=None) -> None:
        self.reuse_after = reuse_after
        self.clock = clock
        # Without a database handle blocks are claimed inside the caller's transaction.
        self.db = db
        self._block: deque[tuple[str, int]] = deque()
        self._claiming = asyncio.Lock()  # one claim at a time per process (efficiency, not correctness)
        self._generation = 0  # bumped by forget_blocks: reservations made before are not given back
        self.blocks_claimed = 0
        self._no_reuse_before: datetime | None = None  # see _reuse

    @contextlib.asynccontextmanager
    async def reserve(self, count: int) -> AsyncIterator[Reservation]:
        """MACs for a request that will create up to ``count`` ports, taken before
        its transaction opens; what it does not use goes back to the block.

        A request that fails gives all of them back: its transaction, and the
        allocation rows of the MACs it took, were rolled back. (Should one have
        been written after all, the primary key skips it when it comes again.)
        """
        reservation = Reservation(await self.take(count) if count > 0 else [])
        generation = self._generation
        token = _RESERVATION.set(reservation)
        unused = reservation.items
        try:
            yield reservation
            unused = reservation.items[reservation.used :]
        finally:
            _RESERVATION.reset(token)
            if generation == self._generation:
                self._block.extendleft(reversed(unused))

    async def take(self, count: int) -> list[tuple[str, int]]:
        """Up to ``count`` never-used MACs of this process, claiming blocks in their own transactions."""
        if len(self._block) < count and self.db is not None:
            async with self._claiming:
                while len(self._block) < count:
                    claimed = await self.db.run_write(lambda conn: self._claim_in(conn, max(BLOCK_SIZE, count)))
                    if not claimed:
                        break
                    self._block.extend(claimed)  # only once the cursor move is committed
        return [self._block.popleft() for _ in range(min(count, len(self._block)))]

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
        reservation = _RESERVATION.get()
        for _ in range(MAX_SKIPS):
            got = reservation.next() if reservation is not None else None
            if got is None:
                if not self._block:
                    claimed = await self._claim_in(conn, BLOCK_SIZE)
                    if not claimed:
                        return None
                    # Claimed in the caller's transaction: should it roll back, another
                    # process may claim these too; the primary key still hands each out once.
                    self._block.extend(claimed)
                got = self._block.popleft()
            range_id, address = got
            result = await conn.execute(
                insert_ignore(conn, m),
                {
                    "address": address,
                    "range_id": range_id,
                    "allocated_at": self.clock(),
                    "deallocated": False,
                    "deallocated_at": None,
                },
            )
            if result.rowcount != 1:
                continue
            await mac_usage.add(conn, range_id, 1)  # live, even if avoided (the caller skips it)
            if address not in avoid:
                return address, False
        return None

    async def _reuse(self, conn: AsyncConnection, avoid) -> int | None:
        """A released MAC out of quarantine, oldest first; the lookup is skipped
        while no quarantine can have ended (as for IP addresses: ip_allocator._reuse)."""
        now = self.clock()
        if self._no_reuse_before is not None and now < self._no_reuse_before:
            return None
        cutoff = now - timedelta(seconds=self.reuse_after)
        ranges = (await conn.execute(_USABLE_RANGES)).scalars().all()
        stmt = _reuse_select(conn.dialect.name, 1 + len(avoid))
        found: list[tuple] = []
        for range_id in ranges:
            found += (await conn.execute(stmt, {"b_range": range_id, "b_cutoff": cutoff})).all()
        if not found and self.reuse_after > 0:
            oldest = [await conn.scalar(_OLDEST_RELEASE, {"b_range": range_id}) for range_id in ranges]
            earliest = min((o for o in oldest if o is not None), default=None)
            self._no_reuse_before = next_reuse_lookup(earliest, cutoff, now, self.reuse_after)
        for address, _, range_id in sorted(found, key=lambda row: row[1]):
            if address in avoid:
                continue
            await conn.execute(
                update(m)
                .where(m.c.address == address)
                .values(deallocated=False, deallocated_at=None, allocated_at=self.clock())
            )
            await mac_usage.add(conn, range_id, 1)
            return address
        return None

    async def _claim_in(self, conn: AsyncConnection, size: int) -> list[tuple[str, int]]:
        """Move a range cursor forward by up to ``size``; the MACs passed over (none when all are used)."""
        rng = (
            await conn.execute(
                select(r.c.id, r.c.next_address, r.c.last_address)
                .where(r.c.do_not_use == false(), r.c.next_address.is_not(None))
                .order_by(r.c.created_at, r.c.id)
                .limit(1)
                .with_for_update()
            )
        ).first()
        if rng is None:
            return []
        end = min(rng.next_address + size - 1, rng.last_address)
        following = end + 1 if end < rng.last_address else None
        await conn.execute(update(r).where(r.c.id == rng.id).values(next_address=following))
        self.blocks_claimed += 1
        return [(rng.id, address) for address in range(rng.next_address, end + 1)]

    def forget_blocks(self) -> None:
        """Drop claimed MACs (after ranges change); they are skipped, never reused.

        The reuse lookup runs again at once too: a range made usable again may
        hold MACs whose quarantine ended while it was not looked at."""
        self._block.clear()
        self._generation += 1
        self._no_reuse_before = None

    async def record_held(self, conn: AsyncConnection, range_id: str, first: int, last: int) -> None:
        """A new range covers MACs that ports already hold (given explicitly while
        no range covered them): record them as allocated, so the range never
        hands them out as never-used, and let one port of each release it.
        The range's usage counter starts at their number."""
        held = (
            await conn.execute(
                select(p.c.mac_address, func.min(p.c.id).label("port_id"))
                .where(p.c.mac_address.between(macs.format_mac(first), macs.format_mac(last)))
                .group_by(p.c.mac_address)
            )
        ).all()
        if not held:
            await mac_usage.create(conn, range_id)
            return
        now = self.clock()
        await conn.execute(
            insert_ignore(conn, m),
            [
                {
                    "address": macs.parse_mac(row.mac_address),
                    "range_id": range_id,
                    "allocated_at": now,
                    "deallocated": False,
                    "deallocated_at": None,
                }
                for row in held
            ],
        )
        await conn.execute(update(p).where(p.c.id.in_([row.port_id for row in held])).values(mac_allocated=True))
        # Counted, not taken from rowcount (unreliable for an executemany): the range is new,
        # so its rows are exactly the ones just recorded.
        recorded = await conn.scalar(select(func.count()).select_from(m).where(m.c.range_id == range_id))
        await mac_usage.create(conn, range_id, int(recorded or 0))

    async def record_explicit(self, conn: AsyncConnection, address: int) -> bool:
        """Record a client-chosen MAC in its range; True if this caller now holds it."""
        range_id = await conn.scalar(
            select(r.c.id).where(r.c.first_address <= address, r.c.last_address >= address).limit(1)
        )
        if range_id is None:
            return False
        inserted = await conn.execute(
            insert_ignore(
                conn,
                m,
                address=address,
                range_id=range_id,
                allocated_at=self.clock(),
                deallocated=False,
                deallocated_at=None,
            )
        )
        if inserted.rowcount != 1:
            inserted = await conn.execute(
                update(m)
                .where(m.c.address == address, m.c.deallocated == true())
                .values(deallocated=False, deallocated_at=None, allocated_at=self.clock())
            )
        if inserted.rowcount != 1:
            return False
        await mac_usage.add(conn, range_id, 1)  # ranges never overlap: the row's range is this one
        return True

    async def release(self, conn: AsyncConnection, address: int) -> None:
        """Return a MAC to its range (quarantined). Releasing a free MAC is a no-op."""
        released = await conn.execute(
            update(m)
            .where(m.c.address == address, m.c.deallocated == false())
            .values(deallocated=True, deallocated_at=self.clock())
        )
        if released.rowcount == 1:
            range_of = select(m.c.range_id).where(m.c.address == address).scalar_subquery()
            await mac_usage.add_to_range_of(conn, range_of, -1)
