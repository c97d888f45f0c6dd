"""Segment allocation ranges (Quark extension, admin only): the VLAN ids (per
physical network) and VXLAN VNIs that networks get their segment from.

Ranges of one type and physical network never overlap (409), except that
any range may overlap a default one (one the ``segment_ranges`` setting made),
as in Neutron. A range that
still has ids held by networks cannot be deleted (409); its released ids go
with it. The bounds are fixed once created (to grow, add an adjacent range),
so the cursor of a range only ever moves forward. See docs/segments.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.db.dialect import insert_ignore
from quark.ipam import segments
from quark.ipam.segments import RangeSpec, SegmentAllocator
from quark.services.common import base
from quark.services.common.base import ResourceService
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery

r = models.segment_ranges


def _spec(row: Any) -> RangeSpec:
    return RangeSpec(row.network_type, row.physical_network, row.minimum, row.maximum)


def _new_range(spec: RangeSpec) -> dict[str, Any]:
    """The columns of a new range of ``spec``: its bounds, the next id its lowest."""
    return {
        "network_type": spec.network_type,
        "physical_network": spec.physical_network,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "next_id": spec.minimum,
    }


class SegmentRangeService(ResourceService):
    table = r
    not_found: ClassVar[type[errors.NotFound]] = errors.SegmentAllocationRangeNotFound
    not_found_key = "range_id"
    columns = {
        "id": r.c.id,
        "name": r.c.name,
        "network_type": r.c.network_type,
        "physical_network": r.c.physical_network,
        "minimum": r.c.minimum,
        "maximum": r.c.maximum,
        "created_at": r.c.created_at,
    }
    overlap_error: type[errors.QuarkError] = errors.SegmentAllocationRangeOverlap

    def __init__(self, db, settings, allocator: SegmentAllocator) -> None:
        super().__init__(db, settings)
        self.segments = allocator

    def visible(self, ctx: Context):
        return None  # no owner: who may see them is the policy's decision (quark.policy)

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> list[dict]:
        out = []
        for row in rows:
            spec = _spec(row)
            held = await SegmentAllocator.count_held(conn, spec) if query.wants("allocated") else 0
            out.append(
                {
                    "id": row.id,
                    "name": row.name,
                    "network_type": row.network_type,
                    "physical_network": row.physical_network or None,
                    "minimum": row.minimum,
                    "maximum": row.maximum,
                    "size": row.maximum - row.minimum + 1,
                    "allocated": held,
                    "created_at": base.format_time(row.created_at),
                }
            )
        return out

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        specs = [
            segments.validate_range(
                attrs["network_type"], attrs.get("physical_network"), attrs["minimum"], attrs["maximum"]
            )
            for attrs in items
        ]

        async def work(conn: AsyncConnection) -> list[dict]:
            ids = []
            for attrs, spec in zip(items, specs):
                ids.append(await self.insert_range(conn, spec, attrs))
            return await self.render_ids(conn, ctx, ids)

        return await self.db.run_write(answered(ctx, work))

    async def insert_range(
        self, conn: AsyncConnection, spec: RangeSpec, attrs: dict, project_id: str | None = None
    ) -> str:
        """A new range (not a default one) after the overlap check; its id."""
        await self.check_overlap(conn, spec)
        return await base.insert_new(
            conn,
            r,
            attrs,
            **_new_range(spec),
            project_id=project_id,
            shared=project_id is None,
            is_default=False,
        )

    async def check_overlap(self, conn: AsyncConnection, spec: RangeSpec, range_id: str | None = None) -> None:
        """No two ranges of one type (and physical network) overlap, except that
        any may overlap a default one (as Neutron's); raises ``overlap_error``."""
        # Two admins creating overlapping ranges at the same instant on a server
        # database could both pass this check; ids would still never be held
        # twice (the allocation primary key decides), cursors would only skip.
        stmt = select(r.c.id).where(
            r.c.network_type == spec.network_type,
            r.c.physical_network == spec.physical_network,
            r.c.minimum <= spec.maximum,
            r.c.maximum >= spec.minimum,
            r.c.is_default.is_(False),
        )
        if range_id is not None:
            stmt = stmt.where(r.c.id != range_id)
        others = list((await conn.scalars(stmt.order_by(r.c.id))).all())
        if others:
            if self.overlap_error is errors.SegmentAllocationRangeOverlap:
                raise errors.SegmentAllocationRangeOverlap(range=spec.label(), other=others[0])
            raise self.overlap_error(range_id=", ".join(others))

    async def update(self, ctx: Context, range_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            await self.get_row(conn, ctx, range_id, for_update=True)
            if "name" in attrs:
                await self.bump_revision(conn, range_id, name=attrs["name"])
            return await self.render_one(conn, ctx, range_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, range_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, range_id, for_update=True)
            spec = _spec(row)
            held = await SegmentAllocator.held_in(conn, spec)
            if held is not None:
                raise errors.SegmentAllocationRangeInUse(
                    range_id=range_id, segmentation_id=held.segmentation_id, network_id=held.network_id
                )
            await self.remove(conn, range_id, spec)

        await self.db.run_write(work)

    @staticmethod
    async def remove(conn: AsyncConnection, range_id: str, spec: RangeSpec) -> None:
        """Delete a range, its tags and the released ids no other range holds."""
        await base.write_tags(conn, range_id, [])
        await conn.execute(delete(r).where(r.c.id == range_id))
        await SegmentAllocator.forget_released(conn, spec)


def seed_range_id(spec: RangeSpec) -> str:
    """A fixed id per seeded range, so workers starting together create it once."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"quark:segment-range:{spec.label()}"))


async def ensure_seed_ranges(db, text: str) -> None:
    """Create the ``segment_ranges`` setting's ranges on a database that has none."""
    specs = segments.parse_range_specs(text)
    if not specs:
        return
    for i, a in enumerate(specs):
        for b in specs[i + 1 :]:
            if segments.overlaps(a, b):
                raise ValueError(f"segment_ranges: {a.label()} overlaps {b.label()}")

    async def work(conn: AsyncConnection) -> None:
        if await conn.scalar(select(exists().where(r.c.id.is_not(None)))):
            return
        now = utcnow()
        for spec in specs:
            await conn.execute(
                insert_ignore(
                    conn,
                    r,
                    id=seed_range_id(spec),
                    name="default",
                    **_new_range(spec),
                    shared=True,
                    is_default=True,
                    description="",
                    created_at=now,
                    updated_at=now,
                    revision_number=0,
                )
            )

    await db.run_write(work)
