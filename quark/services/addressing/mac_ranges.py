"""MAC address ranges (Quark extension, admin only)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, false, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.db.dialect import insert_ignore
from quark.ipam import mac_usage, macs
from quark.services.common import base
from quark.services.common.base import ResourceService
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery

r = models.mac_address_ranges
m = models.mac_allocations

# The range every fresh deployment starts with; a fixed id so that several
# workers starting at once create it only once.
DEFAULT_RANGE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "quark:default-mac-range"))


class MacRangeService(ResourceService):
    table = r
    not_found = errors.MacAddressRangeNotFound
    not_found_key = "mac_address_range_id"
    columns = {
        "id": r.c.id,
        "cidr": r.c.cidr,
        "do_not_use": r.c.do_not_use,
        "created_at": r.c.created_at,
        "first_address": r.c.first_address,
        "last_address": r.c.last_address,
    }

    def __init__(self, db, settings, mac_allocator) -> None:
        super().__init__(db, settings)
        self.macs = mac_allocator

    def visible(self, ctx: Context):
        return None

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> list[dict]:
        ids = [row.id for row in rows]
        used: dict[str, int] = {}
        if ids and query.wants("allocated"):
            used = await mac_usage.used(conn, ids)  # the counter, not a count of the rows
        return [
            {
                "id": row.id,
                "cidr": row.cidr or macs.mac_range_cidr(row.first_address, row.last_address),
                "first_address": macs.format_mac(row.first_address),
                "last_address": macs.format_mac(row.last_address),
                "do_not_use": row.do_not_use,
                "size": macs.range_size(row.first_address, row.last_address),
                "allocated": used.get(row.id, 0),
                "created_at": base.format_time(row.created_at),
            }
            for row in rows
        ]

    async def create(self, ctx: Context, attrs: dict) -> dict:
        first, last = macs.parse_mac_range(attrs.get("cidr"), attrs.get("first_address"), attrs.get("last_address"))

        async def work(conn: AsyncConnection) -> dict:
            other = (
                await conn.execute(
                    select(r.c.id, r.c.first_address, r.c.last_address)
                    .where(r.c.first_address <= last, r.c.last_address >= first)
                    .limit(1)
                )
            ).first()
            if other is not None:
                raise errors.MacAddressRangeOverlap(
                    cidr=attrs.get("cidr") or f"{macs.format_mac(first)}-{macs.format_mac(last)}", other=other.id
                )
            range_id = base.new_id()
            await conn.execute(
                insert(r).values(
                    id=range_id,
                    cidr=macs.mac_range_cidr(first, last),
                    first_address=first,
                    last_address=last,
                    next_address=first,
                    do_not_use=attrs.get("do_not_use", False),
                    created_at=utcnow(),
                )
            )
            await self.macs.record_held(conn, range_id, first, last)
            return await self.render_one(conn, ctx, range_id)

        return await self.db.run_write(answered(ctx, work))

    async def update(self, ctx: Context, range_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            await self.get_row(conn, ctx, range_id, for_update=True)
            if "do_not_use" in attrs:
                await conn.execute(update(r).where(r.c.id == range_id).values(do_not_use=attrs["do_not_use"]))
                self.macs.forget_blocks()
            return await self.render_one(conn, ctx, range_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, range_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            await self.get_row(conn, ctx, range_id, for_update=True)
            if await conn.scalar(select(exists().where(m.c.range_id == range_id, m.c.deallocated == false()))):
                raise errors.MacAddressRangeInUse(mac_address_range_id=range_id)
            await conn.execute(delete(m).where(m.c.range_id == range_id))
            await mac_usage.drop(conn, range_id)
            await conn.execute(delete(r).where(r.c.id == range_id))
            self.macs.forget_blocks()

        await self.db.run_write(work)


async def ensure_default_range(db, cidr: str) -> None:
    """Give a fresh deployment a MAC range so ports work with no set-up."""
    if not cidr:
        return
    first, last = macs.parse_mac_range(cidr)

    async def work(conn: AsyncConnection) -> None:
        if await conn.scalar(select(exists().where(r.c.id.is_not(None)))):
            return
        await conn.execute(
            insert_ignore(
                conn,
                r,
                id=DEFAULT_RANGE_ID,
                cidr=macs.mac_range_cidr(first, last),
                first_address=first,
                last_address=last,
                next_address=first,
                do_not_use=False,
                created_at=utcnow(),
            )
        )
        await mac_usage.create_if_missing(conn, DEFAULT_RANGE_ID)

    await db.run_write(work)
