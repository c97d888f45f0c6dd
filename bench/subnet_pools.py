"""Prefix allocation out of a subnet pool, first versus last, carving a pool until full.

One pool (``--pool``, default 10.0.0.0/12) is carved into /``--prefixlen``
(default 24: 4,096 of them; ``--pool 10.0.0.0/8`` gives Neutron's worst case,
65,536) until it is full. Every allocation is ``PrefixAllocator.allocate`` in
its own write transaction (``Database.run_write``: the pool's row locked, the
quota check, best fit over the free blocks): the allocator's whole cost, without
the subnet row and its events, which do not depend on the pool's fill. Then
the pool is full (the next asks get 409), one prefix in the middle is freed
and asked for again (it comes back), and ``--subnets`` whole subnet creates
(``SubnetService.create``: the allocation, the subnet row and its events, one
transaction, each on a network of its own) are timed on a second pool when it
is empty and when all but those are carved.

    .venv/bin/python bench/subnet_pools.py                             # SQLite, /12 into /24s
    .venv/bin/python bench/subnet_pools.py --backend postgresql --pool 10.0.0.0/8

The last lines are the figures: median and p99 of the first and the last
``--window`` allocations, their ratio (1.0: the cost does not grow with the fill).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import harness

from quark.api.app import prepare_database
from quark.config import Settings
from quark.context import Context
from quark.db import migrate
from quark.db.engine import Database
from quark.ipam.pool_errors import SubnetAllocationError
from quark.ipam.prefix_allocator import PrefixAllocator, PrefixRequest
from quark.services.common.quotas import RESOURCES
from quark.services.registry import build_services

ADMIN = Context.admin()


async def carve(db: Database, allocator: PrefixAllocator, pool_id: str, prefixlen: int, count: int) -> list[float]:
    """``count`` allocations, each in its own transaction; their latencies (ms)."""
    request = PrefixRequest(pool_id, "bench", "bench", True, 4, prefixlen)
    out = []
    for _ in range(count):
        started = time.perf_counter()
        await db.run_write(lambda conn: allocator.allocate(conn, request))
        out.append((time.perf_counter() - started) * 1000)
    return out


def figures(name: str, values: list[float]) -> str:
    return f"{name}_median_ms={statistics.median(values):.3f} {name}_p99_ms={harness.percentile(values, 99):.3f}"


async def run(args) -> list[str]:
    pool_net = ipaddress.ip_network(args.pool)
    total = 2 ** (args.prefixlen - pool_net.prefixlen)
    with harness.fresh_database(args.backend) as url:
        if args.backend == "sqlite":
            await asyncio.to_thread(migrate.upgrade, url)
        settings = Settings(database_url=url, **{f"quota_{name}": -1 for name in RESOURCES})
        db = Database(url, pool_size=4, max_overflow=4)
        services = build_services(db, settings)
        await prepare_database(db, settings)
        body = {"name": "bench", "prefixes": [args.pool], "min_prefixlen": pool_net.prefixlen, "max_prefixlen": 32}
        pool = await services.subnet_pools.create(ADMIN, {**body, "default_prefixlen": args.prefixlen})
        allocator = services.subnets.prefixes
        started = time.perf_counter()
        latencies = await carve(db, allocator, pool["id"], args.prefixlen, total)
        elapsed = time.perf_counter() - started
        try:
            await carve(db, allocator, pool["id"], args.prefixlen, 1)
            raise SystemExit("the pool should be full")
        except SubnetAllocationError:
            pass
        middle = pool_net.network_address + (total // 2) * 2 ** (32 - args.prefixlen)
        freed = ipaddress.ip_network(f"{middle}/{args.prefixlen}")
        await db.run_write(lambda conn: allocator.release(conn, pool["id"], freed))
        request = PrefixRequest(pool["id"], "bench", "bench", True, 4, args.prefixlen)
        _, again = await db.run_write(lambda conn: allocator.allocate(conn, request))
        assert again == freed, (again, freed)

        # Whole subnet creates on a second pool: empty, then all but the last few carved.
        small = await services.subnet_pools.create(
            ADMIN, {**body, "name": "bench-subnets", "prefixes": ["172.16.0.0/12"], "min_prefixlen": 12}
        )
        small_total = 2 ** (args.prefixlen - 12)
        # a network each (made beforehand, not timed): a network's own subnets are not what is measured
        networks = [(await services.networks.create(ADMIN, {"name": "bench"}))["id"] for _ in range(2 * args.subnets)]

        async def subnets(count: int) -> list[float]:
            out = []
            for _ in range(count):
                attrs = {"network_id": networks.pop(), "ip_version": 4, "subnetpool_id": small["id"]}
                attrs["prefixlen"] = args.prefixlen
                started = time.perf_counter()
                await services.subnets.create(ADMIN, attrs)
                out.append((time.perf_counter() - started) * 1000)
            return out

        first_subnets = await subnets(args.subnets)
        await carve(db, allocator, small["id"], args.prefixlen, small_total - 2 * args.subnets)
        last_subnets = await subnets(args.subnets)
        await db.dispose()
    window = min(args.window, total // 2)
    first, last = latencies[:window], latencies[-window:]
    ratio = statistics.median(last) / statistics.median(first)
    subnet_ratio = statistics.median(last_subnets) / statistics.median(first_subnets)
    return [
        f"backend: {args.backend}; pool {args.pool} carved into /{args.prefixlen}s until full: {total} allocations "
        f"in {elapsed:.1f} s, each PrefixAllocator.allocate in its own transaction; the freed {freed} came back",
        f"machine: {harness.machine()}",
        "RESULT "
        + " ".join(
            [
                f"allocations={total}",
                figures(f"first{window}", first),
                figures(f"last{window}", last),
                f"last_over_first={ratio:.2f}",
                figures("subnet_create_empty", first_subnets),
                figures("subnet_create_full", last_subnets),
                f"subnet_full_over_empty={subnet_ratio:.2f}",
            ]
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql", "mariadb"])
    parser.add_argument("--pool", default="10.0.0.0/12", help="the IPv4 pool carved (10.0.0.0/8: 65,536 /24s)")
    parser.add_argument("--prefixlen", type=int, default=24)
    parser.add_argument("--window", type=int, default=1000, help="allocations compared at each end")
    parser.add_argument("--subnets", type=int, default=100, help="whole subnet creates timed at each end")
    args = parser.parse_args()
    for line in asyncio.run(run(args)):
        print(line)


if __name__ == "__main__":
    main()
