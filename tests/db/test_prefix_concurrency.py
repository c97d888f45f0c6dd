"""The prefix allocator under concurrency, on every database: many transactions
ask one pool at once (``PrefixAllocator.allocate``, each in its own
``run_write``). The pool's row lock makes them take turns: no two prefixes
overlap, a pool with room for N hands out exactly N (the others get 409
SubnetAllocationError), the free blocks afterwards are exactly what is left,
and a per-project ``default_quota`` is never exceeded."""

from __future__ import annotations

import asyncio
import ipaddress

from sqlalchemy import insert, select

from quark.clock import utcnow
from quark.config import Settings
from quark.context import Context
from quark.db import models, pool_models
from quark.db.engine import Database
from quark.ipam import prefixes as px
from quark.ipam.pool_errors import SubnetAllocationError, SubnetPoolQuotaExceeded
from quark.ipam.prefix_allocator import PrefixAllocator, PrefixRequest
from quark.services.addressing.address_scopes import AddressScopeService
from quark.services.addressing.subnet_pools import SubnetPoolService

ADMIN = Context.admin()
TASKS = 24


async def _race(db: Database, request: PrefixRequest, count: int) -> tuple[list, list[Exception]]:
    allocator = PrefixAllocator()
    start = asyncio.Event()

    async def one():
        await start.wait()
        return await db.run_write(lambda conn: allocator.allocate(conn, request))

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    granted = [net for result in results if not isinstance(result, BaseException) for net in [result[1]]]
    refused = [result for result in results if isinstance(result, BaseException)]
    return granted, refused


async def _scenario(url: str) -> None:
    db = Database(url, pool_size=8, max_overflow=8)
    settings = Settings(database_url=url)
    pools = SubnetPoolService(db, settings, AddressScopeService(db, settings))
    try:
        # 12 /28s of room (a /25 and a /26, not adjacent), 24 asking at once
        pool = await pools.create(
            ADMIN, {"name": "race", "prefixes": ["10.90.0.0/25", "10.90.1.0/26"], "default_prefixlen": 28}
        )
        request = PrefixRequest(pool["id"], "race", "race", True, 4, 28)
        granted, refused = await _race(db, request, TASKS)
        assert len(granted) == 12 and len(refused) == TASKS - 12, refused
        assert all(isinstance(e, SubnetAllocationError) for e in refused), refused
        for i, a in enumerate(granted):
            assert any(a.subnet_of(ipaddress.ip_network(p)) for p in pool["prefixes"])
            assert not any(a.overlaps(b) for b in granted[i + 1 :]), a
        fb = pool_models.subnetpool_free_blocks
        async with db.read() as conn:
            free = (await conn.execute(select(fb.c.prefixlen).where(fb.c.subnetpool_id == pool["id"]))).all()
        assert free == []  # 192 addresses = 12 /28s: nothing left, nothing lost

        # a per-project quota of 3 /28s (48 addresses), 10 asking at once
        quota = await pools.create(
            ADMIN, {"name": "quota", "prefixes": ["10.91.0.0/24"], "default_prefixlen": 28, "default_quota": 48}
        )
        request = PrefixRequest(quota["id"], "race", "race", True, 4, 28)
        # the quota counts the project's subnets: record each grant as one, as a subnet create would
        granted, refused = await _race_with_subnets(db, request, 10)
        assert len(granted) == 3 and all(isinstance(e, SubnetPoolQuotaExceeded) for e in refused), refused
    finally:
        await db.dispose()


async def _race_with_subnets(db: Database, request: PrefixRequest, count: int) -> tuple[list, list[Exception]]:
    """As ``_race``, each grant written as a subnet row of the project in the same transaction."""
    allocator = PrefixAllocator()
    async with db.write() as conn:
        network_id = f"net-{request.pool_id[:8]}"
        now = utcnow()
        await conn.execute(
            insert(models.networks).values(
                id=network_id, project_id="race", name="race", mtu=1500, created_at=now, updated_at=now
            )
        )
    start = asyncio.Event()

    async def one(index: int):
        await start.wait()

        async def work(conn):
            pool, net = await allocator.allocate(conn, request)
            now = utcnow()
            await conn.execute(
                insert(models.subnets).values(
                    id=f"{request.pool_id[:20]}-{index}",
                    network_id=network_id,
                    project_id=request.project_id,
                    ip_version=4,
                    cidr=str(net),
                    subnetpool_id=pool.id,
                    created_at=now,
                    updated_at=now,
                )
            )
            return net

        return await db.run_write(work)

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    granted = [r for r in results if not isinstance(r, BaseException)]
    assert sum(px.quota_units(n.prefixlen, 4) for n in granted) <= 48
    return granted, [r for r in results if isinstance(r, BaseException)]


def test_concurrent_allocations_never_overlap_and_fill_exactly(database_url) -> None:
    asyncio.run(_scenario(database_url))
