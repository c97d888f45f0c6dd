"""Neutron's segments (``/v2.0/segments``, alias ``segment``; admin only by
Neutron's policy): every segment of every network, over the same rows and
the same id allocation as the networks' own segments (docs/segments.md).

A network's first segment (``segment_index`` 0) is made with the network
and mirrored on its row; it goes with the network and cannot be deleted alone
(409 ``SegmentInUse``: the network's provider attributes and its ports'
bindings are that segment). Extra segments (a multi-segment, routed network)
are created here: their ids come from the segment allocation ranges as a
network's do (or an explicit id, held so no range hands it out), their
``segment_key`` is unique with every other segment's, and one used by
subnets cannot be deleted (409 ``SegmentInUse``). ``name`` and
``description`` change with PUT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db import models, segment_models
from quark.ipam.segment_errors import SegmentInUse, SegmentNotFound
from quark.ipam.segments import SegmentAllocator
from quark.services.common import base
from quark.services.common.base import ResourceService, check_revision, write_tags
from quark.services.common.listing import ListQuery
from quark.services.core import segment_hosts, segment_rules

seg = segment_models.network_segments
n = models.networks


class SegmentService(ResourceService):
    table = seg
    not_found = SegmentNotFound
    not_found_key = "segment_id"
    columns = {
        "id": seg.c.id,
        "network_id": seg.c.network_id,
        "name": seg.c.name,
        "description": seg.c.description,
        "network_type": seg.c.network_type,
        "physical_network": seg.c.physical_network,
        "segmentation_id": seg.c.segmentation_id,
        "revision_number": seg.c.revision_number,
        "created_at": seg.c.created_at,
        "updated_at": seg.c.updated_at,
    }
    related = (("tags", base.TAGS),)

    def __init__(self, db, settings, allocator: SegmentAllocator) -> None:
        super().__init__(db, settings)
        self.segments = allocator

    def visible(self, ctx: Context):
        return None  # no owner: who may see them is the policy's decision (admins, as Neutron)

    async def authorize_write(self, conn: AsyncConnection, ctx: Context, row: Any) -> None:
        return None  # the policy's decision as well

    def assemble(self, rows: Sequence[Any], found: base.Found, query: ListQuery) -> base.Views:
        tags = base.tags_by_resource(found)
        return [
            {
                "id": row.id,
                "network_id": row.network_id,
                "name": row.name,
                "description": row.description,
                "network_type": row.network_type,
                "physical_network": row.physical_network,
                "segmentation_id": row.segmentation_id,
                "created_at": base.format_time(row.created_at),
                "updated_at": base.format_time(row.updated_at),
                "revision_number": row.revision_number,
                "tags": tags.get(row.id, []),
            }
            for row in rows
        ]

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        network_id = attrs["network_id"]
        network = (await conn.execute(select(n).where(n.c.id == network_id).with_for_update())).first()
        if network is None:
            raise errors.NetworkNotFound(net_id=network_id)
        last = await conn.scalar(select(func.max(seg.c.segment_index)).where(seg.c.network_id == network_id))
        index = 0 if last is None else last + 1
        return await segment_rules.add_segment(conn, self.segments, network, index, attrs)

    async def update(self, ctx: Context, segment_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.writable_row(conn, ctx, segment_id, if_match)
            changes = {k: attrs[k] for k in ("name", "description") if k in attrs and attrs[k] != getattr(row, k)}
            if changes:
                await self.bump_revision(conn, segment_id, **changes)
            return await self.render_one(conn, ctx, segment_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, segment_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, segment_id, for_update=True)
            check_revision(row, if_match)
            await self._check_unused(conn, row)
            await write_tags(conn, segment_id, [])
            await segment_hosts.unmap_segments(conn, [segment_id])
            await conn.execute(seg.delete().where(seg.c.id == segment_id))
            await segment_rules.release(conn, self.segments, row)

        await self.db.run_write(work)

    @staticmethod
    async def _check_unused(conn: AsyncConnection, row: Any) -> None:
        """Neutron's SegmentInUse: subnets on it; and Quark's first segment, which is the network's."""
        if row.segment_index == 0:
            reason = f"it is the first segment of network {row.network_id}, which goes with the network"
            raise SegmentInUse(segment_id=row.id, reason=reason)
        s = models.subnets
        subnet_ids = (await conn.execute(select(s.c.id).where(s.c.segment_id == row.id).order_by(s.c.id))).scalars()
        listed = ", ".join(subnet_ids)
        if listed:
            raise SegmentInUse(segment_id=row.id, reason=f"The segment is still associated with subnet(s) {listed}")
