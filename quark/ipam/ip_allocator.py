"""The database-backed IP allocator.

``IpAllocator.allocate`` answers typed requests whole (``quark.ipam.requests``;
the rules are in ``quark.ipam.decision``); the methods below it take the
addresses of one subnet. It runs inside the caller's transaction and never
loads the set of used addresses. Uniqueness is the database's job (``uq_ip_allocations_subnet_address``);
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
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, false, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, metrics
from quark.db import models
from quark.db.dialect import insert_ignore
from quark.ipam import addressing, decision
from quark.ipam.addressing import RangeSet
from quark.ipam.pools import pool_ranges
from quark.ipam.requests import AddressRequest, Allocation

a = models.ip_allocations
s = models.subnets
u = models.ip_usage

RANDOM_THRESHOLD = 2**32
RANDOM_ATTEMPTS = 16
PROBE_BATCH = 256


USAGE_SHARDS = 16


# Hot statements, built once: SQLAlchemy then reuses their compiled form and
# memoised cache key instead of rebuilding both on every allocation.
_CURSOR_SELECT = select(s.c.next_ip_key).where(s.c.id == bindparam("b_sid")).with_for_update(key_share=True)
_CURSOR_UPDATE = update(s).where(s.c.id == bindparam("b_sid")).values(next_ip_key=bindparam("b_key"))
_USAGE_ADD = (
    update(u)
    .where(u.c.subnet_id == bindparam("b_sid"), u.c.shard == bindparam("b_shard"))
    .values(used=u.c.used + bindparam("b_delta"))
)
_REUSE_UPDATE = (
    update(a)
    .where(a.c.id == bindparam("b_id"))
    .values(
        deallocated=False,
        deallocated_at=None,
        port_id=bindparam("b_port"),
        project_id=bindparam("b_project"),
        allocated_at=bindparam("b_now"),
    )
)


def _in_pools(ranges: int) -> ColumnElement[bool]:
    """An address inside one of ``ranges`` pool ranges (bound as b_lo<i>/b_hi<i>)."""
    return or_(*[a.c.address_key.between(bindparam(f"b_lo{i}"), bindparam(f"b_hi{i}")) for i in range(ranges)])


@functools.lru_cache(maxsize=256)
def _reuse_select(dialect: str, ranges: int | None, limit: int):
    """The subnet's oldest released addresses out of quarantine, not locked by
    others: inside ``ranges`` pool ranges (bound as b_lo<i>/b_hi<i>), or, with
    ``ranges`` None, anywhere (the caller checks the pools on the rows).

    The lookup runs without the pool condition first (``IpAllocator._reusable``):
    on address_key, PostgreSQL multiplies its selectivity by the subnet's (one
    condition in fact), estimates a row or two for any subnet its statistics
    call small, and reads that whole subnet through
    uq_ip_allocations_subnet_address and a sort (1.7 ms for 2,100 rows, more
    with every address). Without it the conditions are the prefix of
    ix_ip_allocations_reuse and its order the one asked: the scan stops at the
    first rows (0.06 ms whatever the subnet).
    """
    conditions = [a.c.subnet_id == bindparam("b_sid"), a.c.deallocated == true()]
    conditions.append(a.c.deallocated_at <= bindparam("b_cutoff"))
    if ranges is not None:
        conditions.append(_in_pools(ranges))
    stmt = select(a.c.id, a.c.address, a.c.address_key).where(*conditions).order_by(a.c.deallocated_at).limit(limit)
    return stmt if dialect == "sqlite" else stmt.with_for_update(skip_locked=True)


@functools.lru_cache(maxsize=256)
def _oldest_release_select(ranges: int):
    """When the oldest release inside the pools happened, locked or not."""
    return select(func.min(a.c.deallocated_at)).where(
        a.c.subnet_id == bindparam("b_sid"), a.c.deallocated == true(), _in_pools(ranges)
    )


def next_reuse_lookup(oldest: datetime | None, cutoff: datetime, now: datetime, reuse_after: int) -> datetime | None:
    """When a reuse lookup that came up short should run again, given the
    oldest release (``oldest``) among what it looked for: when that release
    leaves quarantine; at once (None) if it already has -- the lookup did not
    get it because another transaction holds it, which may still roll back."""
    if oldest is None:
        return now + timedelta(seconds=reuse_after)
    if oldest <= cutoff:
        return None
    return oldest + timedelta(seconds=reuse_after)


class IpAllocator:
    def __init__(self, reuse_after: int, clock) -> None:
        self.reuse_after = reuse_after
        self.clock = clock
        # subnet id -> a time before which none of its released addresses can
        # leave the quarantine: the reuse lookup is skipped until then (see _reuse).
        self._no_reuse_before: dict[str, datetime] = {}

    async def allocate(self, conn: AsyncConnection, requests: Sequence[AddressRequest]) -> list[list[Allocation]]:
        """The addresses of every request, granted whole (see ``quark.ipam.decision.allocate``)."""
        started = time.perf_counter()
        try:
            return await decision.allocate(self, conn, requests)
        finally:
            metrics.IP_ALLOCATION_DURATION.observe(time.perf_counter() - started)

    # --- the three ways to get an address ---------------------------------------

    async def allocate_specific(
        self, conn: AsyncConnection, subnet: Any, address: addressing.IPAddress, port_id: str | None, project_id: str
    ) -> Allocation:
        """Exactly ``address`` (even inside the quarantine, as in Neutron).

        Raises IpAddressAlreadyAllocated if it is held.
        """
        key = addressing.ip_key(address, subnet.ip_version)
        now = self.clock()
        row = self._row(subnet, int(address), (port_id, project_id), now)
        inserted = await conn.execute(insert_ignore(conn, a), row)
        if inserted.rowcount == 1:
            await self.count(conn, subnet.id, 1)
            return Allocation(subnet.id, str(address), port_id, row["id"])
        # The row exists: take it over only if it was released.
        claimed = await conn.execute(
            update(a)
            .where(a.c.subnet_id == subnet.id, a.c.address_key == key, a.c.deallocated == true())
            .values(deallocated=False, deallocated_at=None, port_id=port_id, project_id=project_id, allocated_at=now)
        )
        if claimed.rowcount == 1:
            await self.count(conn, subnet.id, 1)
            return Allocation(subnet.id, str(address), port_id)
        raise errors.IpAddressAlreadyAllocated(ip=str(address), subnet_id=subnet.id)

    async def allocate_any(
        self, conn: AsyncConnection, subnet: Any, port_id: str | None, project_id: str
    ) -> Allocation | None:
        """Any free pool address of ``subnet``, or None when it has none."""
        got = await self.allocate_many(conn, subnet, [(port_id, project_id)])
        return got[0] if got else None

    async def allocate_many(
        self,
        conn: AsyncConnection,
        subnet: Any,
        owners: Sequence[tuple[str | None, str]],
        usage: dict[str, int] | None = None,
    ) -> list[Allocation]:
        """One free pool address for each (port_id, project_id) owner, in order.

        Returns fewer than asked (possibly none) when the subnet runs out; the
        caller decides whether that is an error or a reason to try another
        subnet. A whole batch costs a handful of statements, not one per address.
        With ``usage`` the counter change is added there (per subnet id) for the
        caller to write with ``add_usage`` before it commits, in one statement.
        """
        pools = pool_ranges(subnet)
        if not pools or not owners:
            return []
        out = await self._reuse(conn, subnet, pools, owners)
        rest = owners[len(out) :]
        if rest:
            if pools.size > RANDOM_THRESHOLD:
                out += await self._random(conn, subnet, pools, rest)
            else:
                out += await self._from_cursor(conn, subnet, pools, rest)
        if out:
            if usage is not None:
                usage[subnet.id] = usage.get(subnet.id, 0) + len(out)
            else:
                await self.count(conn, subnet.id, len(out))
        return out

    @staticmethod
    async def add_usage(conn: AsyncConnection, usage: dict[str, int]) -> None:
        """Write counter changes of several subnets in one statement (a random shard each)."""
        changes = {sid: delta for sid, delta in usage.items() if delta}
        if not changes:
            return
        if len(changes) == 1:
            ((sid, delta),) = changes.items()
            await IpAllocator.count(conn, sid, delta)
            return
        ordered = sorted(changes)  # one lock order for every transaction
        await conn.execute(
            update(u)
            .where(or_(*[and_(u.c.subnet_id == sid, u.c.shard == random.randrange(USAGE_SHARDS)) for sid in ordered]))
            .values(used=u.c.used + case(changes, value=u.c.subnet_id, else_=0))
        )

    @staticmethod
    async def count(conn: AsyncConnection, subnet_id: str, delta: int) -> None:
        """Add ``delta`` to the subnet's use, on a random shard of its counter."""
        await conn.execute(
            _USAGE_ADD, {"b_sid": subnet_id, "b_shard": random.randrange(USAGE_SHARDS), "b_delta": delta}
        )

    @staticmethod
    async def create_counters(conn: AsyncConnection, subnet_id: str) -> None:
        await conn.execute(insert(u), [{"subnet_id": subnet_id, "shard": k, "used": 0} for k in range(USAGE_SHARDS)])

    async def _reuse(self, conn, subnet, pools: RangeSet, owners) -> list[Allocation]:
        """Addresses released longer than ``reuse_after`` ago, oldest first.

        When the lookup finds fewer than asked, the end of the shortest
        quarantine still running in the subnet is noted, and until then the
        lookup is skipped (nothing can have become reusable: an address released
        later, by any process, leaves quarantine later still). This keeps the
        common case — nothing to reuse — at no statement at all. A released
        address already out of quarantine that the lookup did not get (another
        transaction holds it, SKIP LOCKED, and may roll back) leaves the next
        lookup free to run.
        """
        now = self.clock()
        not_before = self._no_reuse_before.get(subnet.id)
        if not_before is not None and now < not_before:
            return []
        version = subnet.ip_version
        cutoff = now - timedelta(seconds=self.reuse_after)
        params: dict[str, Any] = {"b_sid": subnet.id, "b_cutoff": cutoff}
        ranges = pools.ranges()
        for i, (lo, hi) in enumerate(ranges):
            params[f"b_lo{i}"] = addressing.ip_key(lo, version)
            params[f"b_hi{i}"] = addressing.ip_key(hi, version)
        rows = await self._reusable(conn, pools, len(owners), params)
        if len(rows) < len(owners) and self.reuse_after > 0:
            oldest = await conn.scalar(_oldest_release_select(len(ranges)), params)
            not_before = next_reuse_lookup(oldest, cutoff, now, self.reuse_after)
            if not_before is None:
                self._no_reuse_before.pop(subnet.id, None)
            else:
                self._no_reuse_before[subnet.id] = not_before
        if not rows:
            return []
        await conn.execute(
            _REUSE_UPDATE,
            [
                {"b_id": row.id, "b_port": port, "b_project": project, "b_now": now}
                for row, (port, project) in zip(rows, owners)
            ],
        )
        return [Allocation(subnet.id, row.address, port, row.id) for row, (port, _) in zip(rows, owners)]

    @staticmethod
    async def _reusable(conn, pools: RangeSet, wanted: int, params: dict[str, Any]) -> list[Any]:
        """Up to ``wanted`` released rows out of quarantine and inside ``pools``, oldest first, locked.

        One statement without the pool condition (see ``_reuse_select``); a second
        one with it only when the first read rows outside the pools (released
        addresses a pool change left out: they come first in its order).
        """
        dialect = conn.dialect.name
        rows = (await conn.execute(_reuse_select(dialect, None, wanted), params)).all()
        inside = [row for row in rows if int(row.address_key, 16) in pools]
        if len(inside) == len(rows) or len(rows) < wanted:
            return inside
        return list((await conn.execute(_reuse_select(dialect, len(pools.ranges()), wanted), params)).all())

    async def _from_cursor(self, conn, subnet, pools: RangeSet, owners) -> list[Allocation]:
        """Never-used addresses from the subnet's cursor (the subnet row is locked till commit)."""
        # FOR NO KEY UPDATE on PostgreSQL: other transactions' foreign-key checks
        # on the subnet row (KEY SHARE) need not wait for the cursor holder.
        cursor_key = await conn.scalar(_CURSOR_SELECT, {"b_sid": subnet.id})
        if cursor_key is None:
            return []
        position: int | None = int(cursor_key, 16)
        out: list[Allocation] = []
        now = self.clock()
        while len(out) < len(owners) and position is not None:
            pending = owners[len(out) :]
            candidates = pools.members_from(position, len(pending))
            if not candidates:
                position = None
                break
            if len(candidates) == 1:
                row = self._row(subnet, candidates[0], pending[0], now)
                if (await conn.execute(insert_ignore(conn, a), row)).rowcount == 1:
                    out.append(Allocation(subnet.id, row["address"], row["port_id"], row["id"]))
                    position = candidates[0] + 1
                else:  # someone asked for it explicitly: skip the whole taken run at once
                    position = await self._skip_taken(conn, subnet, pools, candidates[0])
                continue
            taken = await self._taken_between(conn, subnet, candidates[0], candidates[-1])
            free = [c for c in candidates if c not in taken]
            rows = [self._row(subnet, c, owner, now) for c, owner in zip(free, pending)]
            if rows:
                try:
                    await conn.execute(insert(a), rows)
                except IntegrityError:
                    # An explicit request raced into the probed window: run the transaction again.
                    raise errors.RetryRequest() from None
                out += [Allocation(subnet.id, r["address"], r["port_id"], r["id"]) for r in rows]
            position = candidates[-1] + 1
        following = None if position is None else pools.first_at_or_after(position)
        await self._set_cursor(conn, subnet.id, following, subnet.ip_version)
        return out

    async def _taken_between(self, conn, subnet, first: int, last: int) -> set[int]:
        version = subnet.ip_version
        keys = (
            await conn.execute(
                select(a.c.address_key).where(
                    a.c.subnet_id == subnet.id,
                    a.c.address_key.between(addressing.ip_key(first, version), addressing.ip_key(last, version)),
                )
            )
        ).scalars()
        return {int(k, 16) for k in keys}

    async def _skip_taken(self, conn, subnet, pools: RangeSet, candidate: int) -> int | None:
        """First pool address >= candidate that has no row, probing the index in batches."""
        version = subnet.ip_version
        current: int | None = candidate
        while current is not None:
            taken = (
                (
                    await conn.execute(
                        select(a.c.address_key)
                        .where(a.c.subnet_id == subnet.id, a.c.address_key >= addressing.ip_key(current, version))
                        .order_by(a.c.address_key)
                        .limit(PROBE_BATCH)
                    )
                )
                .scalars()
                .all()
            )
            for key in taken:
                value = int(key, 16)
                if value < current:
                    continue  # taken, but outside the pools: already skipped
                if value > current:
                    return current  # a gap before the next taken address
                current = pools.first_at_or_after(current + 1)
                if current is None:
                    return None
            if len(taken) < PROBE_BATCH:
                return current
        return None

    async def _random(self, conn, subnet, pools: RangeSet, owners) -> list[Allocation]:
        """Uniform draws for huge ranges: a bounded number of rounds, never an endless search."""
        out: list[Allocation] = []
        now = self.clock()
        for _ in range(RANDOM_ATTEMPTS):
            pending = owners[len(out) :]
            if not pending:
                break
            rows = [self._row(subnet, pools.nth(random.randrange(pools.size)), owner, now) for owner in pending]
            if len(rows) == 1:
                if (await conn.execute(insert_ignore(conn, a), rows[0])).rowcount == 1:
                    out.append(Allocation(subnet.id, rows[0]["address"], rows[0]["port_id"], rows[0]["id"]))
                continue
            await conn.execute(insert_ignore(conn, a), rows)
            landed = set((await conn.execute(select(a.c.id).where(a.c.id.in_([r["id"] for r in rows])))).scalars())
            out += [Allocation(subnet.id, r["address"], r["port_id"], r["id"]) for r in rows if r["id"] in landed]
        return out

    # --- release -------------------------------------------------------------------

    async def release_port(
        self,
        conn: AsyncConnection,
        port_id: str,
        *,
        only: list[tuple[str, str]] | None = None,
        delete_rows: bool = False,
    ) -> None:
        """Release a port's addresses (all, or the (subnet_id, address) pairs in ``only``).

        Released rows stay, quarantined (``delete_rows`` drops them instead, for
        subnets about to be deleted). Releasing an address the port does not
        hold is a no-op.
        """
        where = [a.c.port_id == port_id, a.c.deallocated == false()]
        if only is not None:
            if not only:
                return
            where.append(or_(*[and_(a.c.subnet_id == sid, a.c.address == addr) for sid, addr in only]))
        if delete_rows:
            await conn.execute(delete(a).where(*where))
            return
        await self._release_where(conn, where)

    async def release_allocations(self, conn: AsyncConnection, allocation_ids: Sequence[str]) -> None:
        """Release addresses by allocation id, whoever holds them (quarantined, like a port's).

        The caller removes shared holders first (``quark.ipam.holders``).
        Releasing an id that is already released or unknown is a no-op.
        """
        if not allocation_ids:
            return
        where = [a.c.id.in_(list(allocation_ids)), a.c.deallocated == false()]
        await self._release_where(conn, where)

    async def _release_where(self, conn: AsyncConnection, where: list) -> None:
        """Mark the held allocations matching ``where`` released (quarantined
        from now) and take them off their subnets' usage counters."""
        held = (await conn.execute(select(a.c.subnet_id).where(*where))).scalars().all()
        if not held:
            return
        await conn.execute(update(a).where(*where).values(deallocated=True, deallocated_at=self.clock(), port_id=None))
        per_subnet: dict[str, int] = {}
        for subnet_id in held:
            per_subnet[subnet_id] = per_subnet.get(subnet_id, 0) + 1
        for subnet_id, n in sorted(per_subnet.items()):
            await self.count(conn, subnet_id, -n)

    # --- cursor maintenance --------------------------------------------------------

    @staticmethod
    async def _set_cursor(conn, subnet_id: str, value: int | None, version: int) -> None:
        key = None if value is None else addressing.ip_key(value, version)
        await conn.execute(_CURSOR_UPDATE, {"b_sid": subnet_id, "b_key": key})

    @staticmethod
    def _row(subnet, value: int, owner: tuple[str | None, str], now: datetime) -> dict:
        version = subnet.ip_version
        address = ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)
        return {
            "id": str(uuid.uuid4()),
            "subnet_id": subnet.id,
            "network_id": subnet.network_id,
            "ip_version": version,
            "address": str(address),
            "address_key": addressing.ip_key(value, version),
            "port_id": owner[0],
            "project_id": owner[1],
            "allocated_at": now,
            "deallocated": False,
            "deallocated_at": None,
        }
