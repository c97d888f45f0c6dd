"""Migration 0027 (MAC range usage) on every database: every range made before
it gets its 16 counter shards, their sum the number of its live MAC
allocations (released ones are not counted; a range with none counts 0)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from sqlalchemy import func, insert, select

from quark.db import migrate, models
from quark.db.engine import Database
from quark.db.mac_usage_model import mac_range_usage
from tests.dbs import create_database, selected_backends

AT = datetime(2026, 1, 1)
BASE = 0x02AB00000000
# live and released allocations per range
RANGES = [(3, 2), (0, 4), (0, 0)]


async def _seed(url: str) -> list[str]:
    db = Database(url)
    ids = []
    try:
        async with db.write() as conn:
            for n, (live, released) in enumerate(RANGES):
                range_id = str(uuid.uuid4())
                ids.append(range_id)
                first = BASE + (n << 16)
                await conn.execute(
                    insert(models.mac_address_ranges).values(
                        id=range_id, cidr=None, first_address=first, last_address=first + 0xFFFF,
                        next_address=first + live + released, do_not_use=False, created_at=AT,
                    )
                )  # fmt: skip
                for i in range(live + released):
                    await conn.execute(
                        insert(models.mac_allocations).values(
                            address=first + i, range_id=range_id, allocated_at=AT,
                            deallocated=i >= live, deallocated_at=AT if i >= live else None,
                        )
                    )  # fmt: skip
    finally:
        await db.dispose()
    return ids


async def _read(url: str) -> dict[str, tuple[int, int]]:
    db = Database(url)
    u = mac_range_usage
    try:
        async with db.read() as conn:
            stmt = select(u.c.range_id, func.count(), func.sum(u.c.used)).group_by(u.c.range_id)
            return {row[0]: (int(row[1]), int(row[2])) for row in await conn.execute(stmt)}
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", selected_backends())
def test_migration_0027_counts_every_range_s_live_macs(backend, tmp_path_factory):
    url, drop = create_database(backend, tmp_path_factory)
    try:
        migrate.upgrade(url, "0023_host_changes")
        ids = asyncio.run(_seed(url))
        migrate.upgrade(url, "0027_mac_range_usage")
        assert asyncio.run(_read(url)) == {range_id: (16, live) for range_id, (live, _released) in zip(ids, RANGES)}
    finally:
        drop()
