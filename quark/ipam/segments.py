"""Segment ids (VLAN ids, VXLAN VNIs) of networks, from segment allocation ranges.

Pure part: what a range may be (``validate_range``) and the ``segment_ranges``
setting (``parse_range_specs``).

DB part, ``SegmentAllocator`` — the same guarantees as the IP allocator, at
constant cost per call:

1. **Reuse** the id released longest ago among the ranges' released ids
   (``segment_allocations`` rows with ``allocated`` false; ``FOR UPDATE SKIP
   LOCKED``, so concurrent allocators take different ones).
2. Otherwise take the **cursor** of the first matching range that has not
   been walked (``segment_ranges.next_id``, row locked until the caller's
   transaction ends) and move it on by one.

Both steps run twice, as Neutron's range semantics: first over the ranges of
the network's project (``shared`` false), then over the shared ones. An id of
a project's range is never handed to another project's network: the reuse of
a shared range skips released ids inside a project's range, and its cursor
jumps over such a range in one step.

An id is held by inserting its ``segment_allocations`` row, whose primary key
(network_type, physical_network, segmentation_id) makes a second holder
impossible whatever the cursors do; a cursor id that already has a row (an
explicit provider id) is skipped. ``networks.segment_key`` is unique as well.
Nothing is pre-created per id and nothing loads the set of used ids.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.db import models
from quark.db.dialect import insert_ignore

r = models.segment_ranges
sa_ = models.segment_allocations

RANGE_TYPES = ("vlan", "vxlan")
# Rounds of reuse + cursor before a 503 while released ids are still visible.
REUSE_ATTEMPTS = 50
# Inclusive bounds of the ids each type may use.
ID_LIMITS = {"vlan": (1, 4094), "vxlan": (1, 2**24 - 1)}


@dataclass(frozen=True)
class RangeSpec:
    network_type: str
    physical_network: str  # "" for vxlan
    minimum: int
    maximum: int

    def label(self) -> str:
        physnet = f"{self.physical_network}:" if self.physical_network else ""
        return f"{self.network_type}:{physnet}{self.minimum}:{self.maximum}"


def validate_range(network_type: str, physical_network: str | None, minimum: int, maximum: int) -> RangeSpec:
    """A checked range. Raises InvalidInput (400) with the reason."""

    def bad(reason: str) -> None:
        raise errors.InvalidInput(error_message=reason)

    if network_type not in RANGE_TYPES:
        bad(f"network_type must be one of {', '.join(RANGE_TYPES)}")
    if network_type == "vlan" and not physical_network:
        bad("physical_network is required for a vlan range")
    if network_type == "vxlan" and physical_network:
        bad("physical_network is not allowed for a vxlan range")
    low, high = ID_LIMITS[network_type]
    for name, value in (("minimum", minimum), ("maximum", maximum)):
        if not low <= value <= high:
            bad(f"{name} {value} is outside the {network_type} ids {low} to {high}")
    if minimum > maximum:
        bad(f"minimum {minimum} is greater than maximum {maximum}")
    return RangeSpec(network_type, physical_network or "", minimum, maximum)


def parse_range_specs(text: str) -> list[RangeSpec]:
    """``"vxlan:1:65535,vlan:physnet1:100:199"`` → ranges. Raises ValueError."""
    specs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        parts = item.split(":")
        try:
            if len(parts) == 3:
                spec = validate_range(parts[0], None, int(parts[1]), int(parts[2]))
            elif len(parts) == 4:
                spec = validate_range(parts[0], parts[1], int(parts[2]), int(parts[3]))
            else:
                raise ValueError("expected TYPE[:PHYSNET]:MIN:MAX")
        except (ValueError, errors.InvalidInput) as exc:
            raise ValueError(f"bad segment range {item!r}: {exc}") from None
        specs.append(spec)
    return specs


def overlaps(a: RangeSpec, b: RangeSpec) -> bool:
    return (
        a.network_type == b.network_type
        and a.physical_network == b.physical_network
        and a.minimum <= b.maximum
        and b.minimum <= a.maximum
    )


@dataclass(frozen=True)
class Draw:
    """Where one allocation may take an id from: the ranges of ``project_id``
    (not shared), or the shared ranges (``project_id`` None)."""

    network_type: str
    physnet: str | None
    project_id: str | None

    def ranges(self):
        if self.project_id is None:
            return r.c.shared.is_(True)
        return and_(r.c.shared.is_(False), r.c.project_id == self.project_id)


def _covered(*where):
    """The allocation row's id lies inside a range (matching ``where``)."""
    return exists().where(
        r.c.network_type == sa_.c.network_type,
        r.c.physical_network == sa_.c.physical_network,
        r.c.minimum <= sa_.c.segmentation_id,
        r.c.maximum >= sa_.c.segmentation_id,
        *where,
    )


def _in_some_range(network_type: str, physnet: str, seg_id: int):
    return exists().where(
        r.c.network_type == network_type, r.c.physical_network == physnet, r.c.minimum <= seg_id, r.c.maximum >= seg_id
    )


class SegmentAllocator:
    def __init__(self, clock) -> None:
        self.clock = clock

    async def allocate(
        self, conn: AsyncConnection, network_type: str, physnet: str | None, network_id: str, project_id: str = ""
    ) -> tuple[str, int]:
        """(physical_network, segmentation_id) for ``network_id`` of ``project_id``:
        from the project's own ranges first, then the shared ones; ``physnet``
        None means any range of the type. Raises NoNetworkAvailable (503)."""
        for owner in (project_id, None):
            if owner == "":
                continue
            held = await self._allocate_from(conn, Draw(network_type, physnet, owner), network_id)
            if held is not None:
                return held
        raise errors.NoNetworkAvailable()

    async def _allocate_from(self, conn: AsyncConnection, draw: Draw, network_id: str) -> tuple[str, int] | None:
        for attempt in range(REUSE_ATTEMPTS):
            held = await self._reuse(conn, draw, network_id)
            if held is not None:
                return held
            held = await self._from_cursor(conn, draw, network_id)
            if held is not None:
                return held
            # Every range is walked. SKIP LOCKED may have passed over released
            # ids that concurrent allocators were only looking at (InnoDB locks
            # the rows a locking read scans); while some are visible, look again.
            if not await conn.scalar(select(exists().where(*self._released(draw)))):
                break
            await asyncio.sleep(0.002 * (attempt + 1))
        return None

    async def _from_cursor(self, conn: AsyncConnection, draw: Draw, network_id: str) -> tuple[str, int] | None:
        while True:
            stmt = (
                select(r.c.id, r.c.physical_network, r.c.next_id, r.c.maximum)
                .where(r.c.network_type == draw.network_type, r.c.next_id.is_not(None), draw.ranges())
                .order_by(r.c.physical_network, r.c.minimum)
                .limit(1)
                .with_for_update()
            )
            if draw.physnet is not None:
                stmt = stmt.where(r.c.physical_network == draw.physnet)
            rng = (await conn.execute(stmt)).first()
            if rng is None:
                return None
            candidate = rng.next_id
            if draw.project_id is None:
                # A shared range never hands out ids of a project's range: jump over it.
                private = await self._private_range_at(conn, draw.network_type, rng.physical_network, candidate)
                if private is not None:
                    after = private + 1
                    nxt = after if after <= rng.maximum else None
                    await conn.execute(update(r).where(r.c.id == rng.id).values(next_id=nxt))
                    continue
            following = candidate + 1 if candidate < rng.maximum else None
            await conn.execute(update(r).where(r.c.id == rng.id).values(next_id=following))
            if await self._take(conn, draw.network_type, rng.physical_network, candidate, network_id):
                return rng.physical_network, candidate
            # Held already (an explicit provider id ahead of the cursor): next one.

    @staticmethod
    async def _private_range_at(conn: AsyncConnection, network_type: str, physnet: str, seg_id: int) -> int | None:
        """The highest maximum of the project ranges holding ``seg_id`` (None: none)."""
        return await conn.scalar(
            select(func.max(r.c.maximum)).where(
                r.c.network_type == network_type,
                r.c.physical_network == physnet,
                r.c.shared.is_(False),
                r.c.minimum <= seg_id,
                r.c.maximum >= seg_id,
            )
        )

    @staticmethod
    def _released(draw: Draw) -> list:
        # "= false", not "IS false": MySQL/MariaDB then use ix_segment_allocations_reuse.
        clauses = [
            sa_.c.network_type == draw.network_type,
            sa_.c.allocated == False,  # noqa: E712
            _covered(draw.ranges()),
        ]
        if draw.project_id is None:
            clauses.append(~_covered(r.c.shared.is_(False)))
        if draw.physnet is not None:
            clauses.append(sa_.c.physical_network == draw.physnet)
        return clauses

    async def _reuse(self, conn: AsyncConnection, draw: Draw, network_id: str) -> tuple[str, int] | None:
        stmt = (
            select(sa_.c.physical_network, sa_.c.segmentation_id)
            .where(*self._released(draw))
            .order_by(sa_.c.released_at)
            .limit(1)
        )
        if conn.dialect.name != "sqlite":
            stmt = stmt.with_for_update(skip_locked=True)
        row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        await conn.execute(
            update(sa_)
            .where(
                sa_.c.network_type == draw.network_type,
                sa_.c.physical_network == row.physical_network,
                sa_.c.segmentation_id == row.segmentation_id,
            )
            .values(allocated=True, released_at=None, network_id=network_id)
        )
        return row.physical_network, row.segmentation_id

    async def _take(self, conn: AsyncConnection, network_type: str, physnet: str, seg_id: int, network_id: str) -> bool:
        """Hold one id: a new row, or a released one claimed back. False if held."""
        inserted = await conn.execute(
            insert_ignore(
                conn,
                sa_,
                network_type=network_type,
                physical_network=physnet,
                segmentation_id=seg_id,
                network_id=network_id,
                allocated=True,
                released_at=None,
            )
        )
        if inserted.rowcount == 1:
            return True
        claimed = await conn.execute(
            update(sa_)
            .where(
                sa_.c.network_type == network_type,
                sa_.c.physical_network == physnet,
                sa_.c.segmentation_id == seg_id,
                sa_.c.allocated.is_(False),
            )
            .values(allocated=True, released_at=None, network_id=network_id)
        )
        return claimed.rowcount == 1

    async def allocate_specific(
        self, conn: AsyncConnection, network_type: str, physnet: str | None, seg_id: int, network_id: str
    ) -> None:
        """Hold an explicitly requested id, inside a range or not.
        Raises SegmentationIdInUse (409) when a network holds it."""
        if not await self._take(conn, network_type, physnet or "", seg_id, network_id):
            physnet_part = physnet or ""
            raise errors.SegmentationIdInUse(
                network_type=network_type, segment=f"{network_type}:{physnet_part}:{seg_id}"
            )

    async def release(self, conn: AsyncConnection, network_type: str, physnet: str | None, seg_id: int) -> None:
        """Give an id back: reusable if inside a range, forgotten otherwise.
        Releasing an id nobody holds is a no-op."""
        physnet = physnet or ""
        key = and_(
            sa_.c.network_type == network_type, sa_.c.physical_network == physnet, sa_.c.segmentation_id == seg_id
        )
        if await conn.scalar(select(_in_some_range(network_type, physnet, seg_id))):
            await conn.execute(
                update(sa_)
                .where(key, sa_.c.allocated.is_(True))
                .values(allocated=False, released_at=self.clock(), network_id=None)
            )
        else:
            await conn.execute(delete(sa_).where(key))

    @staticmethod
    async def held_in(conn: AsyncConnection, spec: RangeSpec):
        """One allocation row held inside ``spec`` (or None)."""
        return (
            await conn.execute(
                select(sa_.c.segmentation_id, sa_.c.network_id)
                .where(
                    sa_.c.network_type == spec.network_type,
                    sa_.c.physical_network == spec.physical_network,
                    sa_.c.segmentation_id.between(spec.minimum, spec.maximum),
                    sa_.c.allocated.is_(True),
                )
                .limit(1)
            )
        ).first()

    @staticmethod
    async def count_held(conn: AsyncConnection, spec: RangeSpec) -> int:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(sa_)
                .where(
                    sa_.c.network_type == spec.network_type,
                    sa_.c.physical_network == spec.physical_network,
                    sa_.c.segmentation_id.between(spec.minimum, spec.maximum),
                    sa_.c.allocated.is_(True),
                )
            )
            or 0
        )

    @staticmethod
    async def forget_released(conn: AsyncConnection, spec: RangeSpec) -> None:
        """Drop the released ids of ``spec`` that no range holds any more (a range
        deleted or shrunk: call after the change); ids of other ranges stay reusable."""
        await conn.execute(
            delete(sa_).where(
                sa_.c.network_type == spec.network_type,
                sa_.c.physical_network == spec.physical_network,
                sa_.c.segmentation_id.between(spec.minimum, spec.maximum),
                sa_.c.allocated.is_(False),
                ~_covered(),
            )
        )

    @staticmethod
    async def held_bounds(conn: AsyncConnection, spec: RangeSpec) -> tuple[int | None, int | None]:
        """The lowest and highest ids held inside ``spec`` (None, None: none)."""
        row = (
            await conn.execute(
                select(func.min(sa_.c.segmentation_id), func.max(sa_.c.segmentation_id)).where(
                    sa_.c.network_type == spec.network_type,
                    sa_.c.physical_network == spec.physical_network,
                    sa_.c.segmentation_id.between(spec.minimum, spec.maximum),
                    sa_.c.allocated.is_(True),
                )
            )
        ).one()
        return row[0], row[1]


def moved_cursor(next_id: int | None, old: RangeSpec, new: RangeSpec) -> int | None:
    """A range's cursor once its bounds change from ``old`` to ``new``.

    Ids added below the old minimum are reached by walking again from the new
    minimum (ids held on the way are skipped, as explicit provider ids are);
    ids added above a walked range resume after the old maximum; a cursor
    outside the new bounds is brought inside them (or ends the walk).
    """
    cursor = next_id
    if new.minimum < old.minimum:
        cursor = new.minimum
    elif cursor is None and new.maximum > old.maximum:
        cursor = old.maximum + 1
    if cursor is not None and cursor < new.minimum:
        cursor = new.minimum
    if cursor is not None and cursor > new.maximum:
        cursor = None
    return cursor
