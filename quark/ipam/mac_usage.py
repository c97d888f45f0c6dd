"""The per-range MAC usage counter (``mac_range_usage``): its shards, written in
the transaction of every allocation and release (``quark.ipam.mac_allocator``),
read by the range views. Sharded like ``ip_usage``: every port create of a
deployment draws from the same (default) range, and one counter row would
serialise them all, which the allocator's blocks exist to avoid."""

from __future__ import annotations

import random
from collections.abc import Sequence

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import ScalarSelect

from quark.db.dialect import insert_ignore
from quark.db.mac_usage_model import mac_range_usage as mu
from quark.ipam.ip_allocator import USAGE_SHARDS

_ADD = (
    update(mu)
    .where(mu.c.range_id == bindparam("b_range"), mu.c.shard == bindparam("b_shard"))
    .values(used=mu.c.used + bindparam("b_delta"))
)


async def add(conn: AsyncConnection, range_id: str, delta: int) -> None:
    """Add ``delta`` to the range's use, on a random shard."""
    await conn.execute(_ADD, {"b_range": range_id, "b_shard": random.randrange(USAGE_SHARDS), "b_delta": delta})


async def add_to_range_of(conn: AsyncConnection, range_of: ScalarSelect, delta: int) -> None:
    """Add ``delta`` to the use of the range ``range_of`` (a scalar subquery) names, on a
    random shard: one statement where a SELECT of the range and an UPDATE would be two
    (a port delete's release is on the hot path, tests/services/test_statement_counts.py)."""
    stmt = update(mu).where(mu.c.range_id == range_of, mu.c.shard == random.randrange(USAGE_SHARDS))
    await conn.execute(stmt.values(used=mu.c.used + delta))


def _shards(range_id: str, used: int) -> list[dict]:
    return [{"range_id": range_id, "shard": k, "used": used if k == 0 else 0} for k in range(USAGE_SHARDS)]


async def create(conn: AsyncConnection, range_id: str, used: int = 0) -> None:
    """The counter of a new range, starting at ``used``."""
    await conn.execute(insert(mu), _shards(range_id, used))


async def create_if_missing(conn: AsyncConnection, range_id: str) -> None:
    """The counter of a range several processes may create at once (the default range)."""
    await conn.execute(insert_ignore(conn, mu), _shards(range_id, 0))


async def reset(conn: AsyncConnection, range_id: str, used: int) -> None:
    """Set the range's use (a repair): shard 0 holds it, the others nothing."""
    await drop(conn, range_id)
    await create(conn, range_id, used)


async def drop(conn: AsyncConnection, range_id: str) -> None:
    await conn.execute(delete(mu).where(mu.c.range_id == range_id))


async def used(conn: AsyncConnection, range_ids: Sequence[str] | None = None) -> dict[str, int]:
    """range id -> MACs in use (every range when ``range_ids`` is None)."""
    stmt = select(mu.c.range_id, func.sum(mu.c.used)).group_by(mu.c.range_id)
    if range_ids is not None:
        stmt = stmt.where(mu.c.range_id.in_(range_ids))
    return {range_id: int(total) for range_id, total in (await conn.execute(stmt)).all()}
