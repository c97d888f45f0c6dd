"""Neutron's network segment ranges (``network-segment-range``, admin only):
the same rows as Quark's segment allocation ranges (``segment_ranges``),
through Neutron's API.

As Neutron: a range is ``shared`` (any project's networks) or one project's
(``shared`` false: that project's networks take ids from it before the
shared ranges; no other project's network ever gets one of its ids); the
``default`` ranges (made from the ``segment_ranges`` setting) are read-only;
a non-default range may overlap a default one, not another non-default one
(409); bounds may change (PUT ``minimum`` / ``maximum``) as long as every id
held by a network stays inside (409); a range holding ids of networks cannot
be deleted (409). ``used`` maps each held id to its network's project,
``available`` lists the ids not held. See docs/network_segment_ranges.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.context import Context
from quark.db import models
from quark.db.lookups import IDS, Lookup, fetch_by_ids
from quark.ipam import segments
from quark.ipam.segment_errors import (
    NetworkSegmentRangeDefaultReadOnly,
    NetworkSegmentRangeNetTypeNotSupported,
    NetworkSegmentRangeNotFound,
    NetworkSegmentRangeOverlaps,
    NetworkSegmentRangeReferencedByProject,
)
from quark.ipam.segments import RangeSpec, SegmentAllocator
from quark.services.common import base
from quark.services.common.base import standard_columns
from quark.services.common.listing import ListQuery
from quark.services.core.segment_ranges import SegmentRangeService

r = models.segment_ranges
sa_ = models.segment_allocations
n = models.networks

# The held ids of the ranges shown, with the project of each id's network
# (plain WHERE joins: the lookups of one view are sent as one UNION).
USED = Lookup(
    "used",
    select(
        r.c.id.label("resource_id"),
        sa_.c.segmentation_id.label("segmentation_id"),
        n.c.project_id.label("project_id"),
    ).where(
        r.c.id.in_(IDS),
        sa_.c.network_type == r.c.network_type,
        sa_.c.physical_network == r.c.physical_network,
        sa_.c.segmentation_id >= r.c.minimum,
        sa_.c.segmentation_id <= r.c.maximum,
        sa_.c.allocated.is_(True),
        n.c.id == sa_.c.network_id,
    ),
    order=("segmentation_id",),
)


def _available(minimum: int, maximum: int, used: Sequence[int]) -> Iterator[int]:
    """The ids of [minimum, maximum] not in ``used`` (sorted), in order."""
    start = minimum
    for held in used:
        yield from range(start, held)
        start = held + 1
    yield from range(start, maximum + 1)


def _spec(row: Any) -> RangeSpec:
    return RangeSpec(row.network_type, row.physical_network, row.minimum, row.maximum)


class NetworkSegmentRangeService(SegmentRangeService):
    not_found = NetworkSegmentRangeNotFound
    not_found_key = "range_id"
    columns = {
        **standard_columns(r),
        "project_id": r.c.project_id,
        "tenant_id": r.c.project_id,
        "network_type": r.c.network_type,
        "physical_network": r.c.physical_network,
        "minimum": r.c.minimum,
        "maximum": r.c.maximum,
        "default": r.c.is_default,
        "shared": r.c.shared,
    }
    related = (("used", USED), ("available", USED), ("tags", base.TAGS))
    overlap_error = NetworkSegmentRangeOverlaps

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> base.Views:
        found = await fetch_by_ids(conn, self.lookups(query), [row.id for row in rows])
        return self.assemble(rows, found, query)

    def assemble(self, rows: Sequence[Any], found: base.Found, query: ListQuery) -> base.Views:
        tags = base.tags_by_resource(found)
        used: dict[str, dict[int, str]] = defaultdict(dict)
        for held in found.get("used", ()):
            used[held.resource_id][held.segmentation_id] = held.project_id
        out = []
        for row in rows:
            view = base.standard_view(row)
            mine = used.get(row.id, {})
            view.update(
                {
                    "name": row.name,
                    "default": row.is_default,
                    "shared": row.shared,
                    "network_type": row.network_type,
                    "physical_network": row.physical_network or None,
                    "minimum": row.minimum,
                    "maximum": row.maximum,
                    "used": {str(seg): project for seg, project in mine.items()},
                    "available": list(_available(row.minimum, row.maximum, sorted(mine)))
                    if query.wants("available")
                    else [],
                    "tags": tags.get(row.id, []),
                }
            )
            out.append(view)
        return out

    @staticmethod
    def checked(network_type: str, physical_network: str | None, minimum: int, maximum: int) -> RangeSpec:
        if network_type not in segments.RANGE_TYPES:
            raise NetworkSegmentRangeNetTypeNotSupported(type=network_type)
        # Neutron keeps no physical network on a tunnel range, whatever was sent.
        physnet = physical_network if network_type == "vlan" else None
        return segments.validate_range(network_type, physnet, minimum, maximum)

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        return await base.ResourceService.create_bulk(self, ctx, items)

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        spec = self.checked(attrs["network_type"], attrs.get("physical_network"), attrs["minimum"], attrs["maximum"])
        project_id = base.resolve_project(ctx, attrs)
        shared = attrs.get("shared", True)
        return await self.insert_range(conn, spec, attrs, None if shared else project_id)

    async def update(self, ctx: Context, range_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.writable_row(conn, ctx, range_id, if_match)
            if row.is_default:
                raise NetworkSegmentRangeDefaultReadOnly(range_id=range_id)
            changes = {k: attrs[k] for k in ("name", "description") if k in attrs}
            old = _spec(row)
            new = self.checked(
                row.network_type,
                row.physical_network,
                attrs.get("minimum", row.minimum),
                attrs.get("maximum", row.maximum),
            )
            if (new.minimum, new.maximum) != (old.minimum, old.maximum):
                low, high = await SegmentAllocator.held_bounds(conn, old)
                if low is not None and high is not None and (low < new.minimum or high > new.maximum):
                    raise NetworkSegmentRangeReferencedByProject(range_id=range_id)
                await self.check_overlap(conn, new, range_id)
                changes.update(
                    minimum=new.minimum, maximum=new.maximum, next_id=segments.moved_cursor(row.next_id, old, new)
                )
            await self.bump_revision(conn, range_id, **changes)
            await SegmentAllocator.forget_released(conn, old)
            return await self.render_one(conn, ctx, range_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, range_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.writable_row(conn, ctx, range_id, if_match)
            if row.is_default:
                raise NetworkSegmentRangeDefaultReadOnly(range_id=range_id)
            if await SegmentAllocator.held_in(conn, _spec(row)) is not None:
                raise NetworkSegmentRangeReferencedByProject(range_id=range_id)
            await self.remove(conn, range_id, _spec(row))

        await self.db.run_write(work)
