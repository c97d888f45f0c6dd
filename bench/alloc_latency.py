"""Time to allocate one address through the service layer, by fill level.

One database holds an IPv4 /8 subnet per fill level (0, 1e3, 1e5, 1e6 used
addresses by default) and an IPv6 /64. Each subnet is pre-filled with bulk
writes straight into the tables (COPY on PostgreSQL, multi-row INSERTs on
MariaDB and SQLite) in the state the allocator itself would have left:
allocation rows for the first N pool addresses, one released address per 100
still in quarantine (so the reuse lookup has rows to skip), the subnet cursor
just past them and the usage counters equal to N. Then every sample is one
``IpAddressService.create`` (``POST /v2.0/ip_addresses`` without HTTP): its
own transaction with the network and subnet reads, the allocator (reuse
lookup, cursor or random draw, usage counter) and the response view.

    .venv/bin/python bench/alloc_latency.py                          # PostgreSQL, full sizes
    .venv/bin/python bench/alloc_latency.py --backend mariadb
    .venv/bin/python bench/alloc_latency.py --levels 0,1000 --samples 200 --v6-fill 1000   # quick
    .venv/bin/python bench/alloc_latency.py --explain                # + EXPLAIN of the hot queries

Target (issue 3): p99 <= 10 ms at every level, 1e6 within 1.2x of empty.
The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

from quark.api.app import prepare_database
from quark.config import Settings
from quark.context import Context
from quark.db import migrate, models
from quark.db.engine import Database
from quark.ipam import addressing, ip_allocator, mac_allocator
from quark.ipam.pools import pool_ranges
from quark.services.core import ports
from quark.services.registry import build_services

ADMIN = Context.admin()
PROJECT = "alloc-bench"
COLUMNS = [
    "id",
    "subnet_id",
    "network_id",
    "ip_version",
    "address",
    "address_key",
    "port_id",
    "project_id",
    "allocated_at",
    "deallocated",
    "deallocated_at",
]
CHUNK = 20_000


def parse_levels(text_value: str) -> list[int]:
    return [int(float(x)) for x in text_value.split(",") if x.strip()]


def allocation_rows(subnet, values, now: datetime, released_every: int, reuse_after: int):
    """Rows as the allocator writes them; every ``released_every``-th one released inside the quarantine."""
    version = subnet.ip_version
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    for i, value in enumerate(values):
        released = released_every and i % released_every == released_every - 1
        yield (
            str(uuid.uuid4()),
            subnet.id,
            subnet.network_id,
            version,
            str(make(value)),
            addressing.ip_key(value, version),
            None,
            None if released else PROJECT,
            now,
            bool(released),
            now - timedelta(seconds=random.randrange(max(1, reuse_after // 2))) if released else None,
        )


async def bulk_insert(db: Database, url: str, rows) -> None:
    """Load ``rows`` (tuples in COLUMNS order) as fast as the backend allows."""
    if db.dialect == "postgresql":
        import asyncpg

        dsn = url.replace("postgresql+asyncpg", "postgresql")
        conn = await asyncpg.connect(dsn)
        try:
            chunk: list[tuple] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= CHUNK * 5:
                    await conn.copy_records_to_table("ip_allocations", records=chunk, columns=COLUMNS)
                    chunk = []
            if chunk:
                await conn.copy_records_to_table("ip_allocations", records=chunk, columns=COLUMNS)
        finally:
            await conn.close()
        return
    chunk = []

    async def flush(batch):
        async with db.write() as conn:
            if db.dialect == "mysql":
                await conn.exec_driver_sql("SET unique_checks=0")
            await conn.execute(insert(models.ip_allocations), [dict(zip(COLUMNS, r)) for r in batch])

    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            await flush(chunk)
            chunk = []
    if chunk:
        await flush(chunk)


async def prefill(db: Database, url: str, subnet, count: int, reuse_after: int) -> float:
    """Give ``subnet`` ``count`` used addresses (plus 1% released in quarantine), consistently."""
    started = time.perf_counter()
    if count == 0:
        return 0.0
    pools = pool_ranges(subnet)
    now = datetime.utcnow().replace(microsecond=0)
    released_every = 100
    total = count + count // (released_every - 1)  # rows so that exactly `count` stay allocated
    if subnet.ip_version == 4:
        values = pools.members_from(pools.first_at_or_after(0), total)
        following = pools.first_at_or_after(values[-1] + 1)
        cursor = None if following is None else addressing.ip_key(following, 4)
    else:
        picked: set[int] = set()
        while len(picked) < total:
            picked.add(pools.nth(random.randrange(pools.size)))
        values = sorted(picked)
        cursor = subnet.next_ip_key  # unused for random ranges
    rows = list(allocation_rows(subnet, values, now, released_every, reuse_after))
    used = sum(1 for r in rows if not r[9])
    if db.dialect != "postgresql":
        rows.sort()  # primary-key (id) order: InnoDB appends instead of splitting pages at random
    await bulk_insert(db, url, iter(rows))
    u = models.ip_usage
    async with db.write() as conn:
        await conn.execute(update(models.subnets).where(models.subnets.c.id == subnet.id).values(next_ip_key=cursor))
        await conn.execute(update(u).where(u.c.subnet_id == subnet.id).values(used=0))
        await conn.execute(update(u).where(u.c.subnet_id == subnet.id, u.c.shard == 0).values(used=used))
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("ANALYZE ip_allocations")
    elif db.dialect == "mysql":
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE TABLE ip_allocations")
    return time.perf_counter() - started


async def make_subnet(services, name: str, version: int, cidr: str):
    net = await services.networks.create(ADMIN, {"name": name})
    sub = await services.subnets.create(ADMIN, {"network_id": net["id"], "ip_version": version, "cidr": cidr})
    async with services.db.read() as conn:
        return (await conn.execute(select(models.subnets).where(models.subnets.c.id == sub["id"]))).one()


async def prefill_macs(db: Database, url: str, count: int, reuse_after: int) -> float:
    """``count`` MACs handed out from the default range (1% released, in quarantine), cursor past them."""
    started = time.perf_counter()
    r, m = models.mac_address_ranges, models.mac_allocations
    async with db.read() as conn:
        rng = (await conn.execute(select(r).order_by(r.c.created_at).limit(1))).one()
    count = min(count, rng.last_address - rng.next_address + 1)
    now = datetime.utcnow().replace(microsecond=0)
    rows = [
        (
            rng.next_address + i,
            rng.id,
            now,
            i % 100 == 99,
            now - timedelta(seconds=random.randrange(max(1, reuse_after // 2))) if i % 100 == 99 else None,
        )
        for i in range(count)
    ]
    columns = ["address", "range_id", "allocated_at", "deallocated", "deallocated_at"]
    if db.dialect == "postgresql":
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.copy_records_to_table("mac_allocations", records=rows, columns=columns)
            await conn.execute("ANALYZE mac_allocations")
        finally:
            await conn.close()
    else:
        for i in range(0, len(rows), CHUNK):
            async with db.write() as conn:
                await conn.execute(insert(m), [dict(zip(columns, row)) for row in rows[i : i + CHUNK]])
        if db.dialect == "mysql":
            async with db.engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE TABLE mac_allocations")
    following = rng.next_address + count
    async with db.write() as conn:
        await conn.execute(
            update(r).where(r.c.id == rng.id).values(next_address=following if following <= rng.last_address else None)
        )
    return time.perf_counter() - started


async def explain(db: Database, subnet, v6_subnet) -> list[str]:
    """EXPLAIN of the allocators' hot statements against the fullest subnet
    (and the MAC allocations, pre-filled alike)."""
    a = models.ip_allocations
    pools = pool_ranges(subnet)
    cutoff = datetime.utcnow() - timedelta(seconds=7200)
    cursor_key = subnet.next_ip_key or "0a000002"
    lo, hi = pools.ranges()[0]
    async with db.read() as conn:
        range_id = await conn.scalar(mac_allocator._USABLE_RANGES)
    params = {
        "b_sid": subnet.id,
        "b_cutoff": cutoff,
        "b_lo0": addressing.ip_key(lo, 4),
        "b_hi0": addressing.ip_key(hi, 4),
    }
    stmts = {
        "ip reuse lookup": (ip_allocator._reuse_select(db.dialect, 1, 1), params),
        "ip quarantine end (reuse lookups skipped till then)": (
            ip_allocator._QUARANTINE_END,
            {"b_sid": subnet.id, "b_cutoff": cutoff},
        ),
        "ip cursor row": (ip_allocator._CURSOR_SELECT, {"b_sid": subnet.id}),
        "ip taken-between probe": (
            select(a.c.address_key).where(
                a.c.subnet_id == subnet.id, a.c.address_key.between(cursor_key, cursor_key[:-2] + "ff")
            ),
            {},
        ),
        "ip skip-taken probe": (
            select(a.c.address_key)
            .where(a.c.subnet_id == subnet.id, a.c.address_key >= cursor_key)
            .order_by(a.c.address_key)
            .limit(256),
            {},
        ),
        "ip specific claim": (
            update(a)
            .where(a.c.subnet_id == subnet.id, a.c.address_key == cursor_key, a.c.deallocated == True)  # noqa: E712
            .values(deallocated=False),
            {},
        ),
        "ip release by port": (select(a.c.subnet_id).where(a.c.port_id == "x", a.c.deallocated == False), {}),  # noqa: E712
        "ip v6 landed check": (select(a.c.id).where(a.c.id.in_(["x", "y"])), {}),
        "mac usable ranges": (mac_allocator._USABLE_RANGES, {}),
        "mac reuse lookup (per range)": (
            mac_allocator._reuse_select(db.dialect, 1),
            {"b_range": range_id, "b_cutoff": cutoff},
        ),
        "mac quarantine end (per range)": (mac_allocator._QUARANTINE_END, {"b_range": range_id, "b_cutoff": cutoff}),
        "port create: network, subnets, default group": (
            ports._NETWORK_TREE,
            {"b_id": subnet.network_id, "b_group_project": PROJECT},
        ),
    }
    lines = []
    async with db.write() as conn:
        for name, (stmt, bind) in stmts.items():
            prefix = "EXPLAIN " if db.dialect != "sqlite" else "EXPLAIN QUERY PLAN "
            rows = await _explain_raw(conn, prefix, stmt, bind)
            lines.append(f"-- {name}")
            lines += ["   " + r for r in rows]
        await conn.rollback()
    return lines


async def _explain_raw(conn, prefix: str, stmt, bind: dict) -> list[str]:
    """EXPLAIN a Core statement, its parameters rendered as literals."""
    if bind:
        stmt = stmt.params(**bind)
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    result = await conn.exec_driver_sql(
        (prefix + sql).replace("%", "%%") if conn.dialect.name == "mysql" else prefix + sql
    )
    cols = list(result.keys())
    rows = result.all()
    if conn.dialect.name == "mysql":
        return [" | ".join(f"{c}={v}" for c, v in zip(cols, row) if v is not None) for row in rows]
    return [" ".join(str(x) for x in row) for row in rows]


async def run(args) -> dict:
    with harness.fresh_database(args.backend) as url:
        if args.backend == "sqlite":
            await asyncio.to_thread(migrate.upgrade, url)  # it runs its own event loop
        settings = Settings(database_url=url)
        db = Database(url, pool_size=4, max_overflow=4)
        services = build_services(db, settings)
        await prepare_database(db, settings)  # as `quark serve` starts: MAC and segment ranges
        subnets = []
        for i, level in enumerate(args.levels):
            sub = await make_subnet(services, f"v4-{level}", 4, f"{10 + i}.0.0.0/8")
            fill = await prefill(db, url, sub, level, settings.ipam_reuse_after)
            print(f"prefilled IPv4 /8 with {level:>9,} used addresses in {fill:6.1f} s", file=sys.stderr)
            subnets.append((f"IPv4 /8  used {level:>9,}", level, sub))
        sub6 = await make_subnet(services, "v6", 6, "2001:db8:a110::/64")
        fill = await prefill(db, url, sub6, args.v6_fill, settings.ipam_reuse_after)
        print(f"prefilled IPv6 /64 with {args.v6_fill:>9,} used addresses in {fill:6.1f} s", file=sys.stderr)
        subnets.append((f"IPv6 /64 used {args.v6_fill:>9,}", None, sub6))
        # Interleaved: one allocation per subnet in turn, so that whatever else
        # the machine is doing hits every fill level alike.
        bodies = [{"network_id": sub.network_id, "subnet_id": sub.id, "project_id": PROJECT} for _, _, sub in subnets]
        for _ in range(args.warmup):
            for body in bodies:
                await services.ip_addresses.create(ADMIN, dict(body))
        results = [[label, level, []] for label, level, _ in subnets]
        gc.collect()
        for _ in range(args.samples):
            for body, result in zip(bodies, results):
                started = time.perf_counter()
                await services.ip_addresses.create(ADMIN, dict(body))
                result[2].append((time.perf_counter() - started) * 1000)
        explain_lines = []
        if args.explain:
            fill = await prefill_macs(db, url, args.mac_fill, settings.ipam_reuse_after)
            print(f"prefilled {args.mac_fill:,} MAC allocations in {fill:6.1f} s", file=sys.stderr)
            fullest = max((s for s in subnets if s[1] is not None), key=lambda s: s[1])[2]
            async with db.read() as conn:
                fresh = (await conn.execute(select(models.subnets).where(models.subnets.c.id == fullest.id))).one()
            explain_lines = await explain(db, fresh, sub6)
        await db.dispose()
    return {"results": results, "explain": explain_lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "mariadb", "sqlite"])
    parser.add_argument(
        "--levels",
        type=parse_levels,
        default=parse_levels("0,1e3,1e5,1e6"),
        help="used addresses per IPv4 /8 subnet, comma-separated (default 0,1e3,1e5,1e6)",
    )
    parser.add_argument(
        "--v6-fill", type=lambda v: int(float(v)), default=100_000, help="used addresses in the IPv6 /64 (default 1e5)"
    )
    parser.add_argument("--samples", type=int, default=1000, help="timed allocations per subnet")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print EXPLAIN of the hot queries at the fullest level (after pre-filling MACs too)",
    )
    parser.add_argument(
        "--mac-fill",
        type=lambda v: int(float(v)),
        default=1_000_000,
        help="MAC allocations pre-filled for --explain (default 1e6)",
    )
    args = parser.parse_args()
    out = asyncio.run(run(args))
    for line in out["explain"]:
        print(line)
    empty = None
    full = None
    print(
        f"backend: {args.backend}; one allocation = IpAddressService.create (own transaction), "
        f"{args.samples} samples per subnet"
    )
    for label, level, lat in out["results"]:
        med, p99 = statistics.median(lat), harness.percentile(lat, 99)
        if level == 0:
            empty = (med, p99)
        if level is not None and level == max(args.levels):
            full = (med, p99)
        print(f"{label}: median {med:.2f} ms  p99 {p99:.2f} ms  max {max(lat):.2f} ms")
    worst_p99 = max(harness.percentile(lat, 99) for _, _, lat in out["results"])
    if empty and full and max(args.levels) > 0:
        print(f"ratio {max(args.levels):.0e}/empty: median {full[0] / empty[0]:.2f}x  p99 {full[1] / empty[1]:.2f}x")
    print(f"machine: {harness.machine()}")
    print(
        f"RESULT worst_p99_ms={worst_p99:.2f} target_p99_ms=10"
        + (f" ratio_median={full[0] / empty[0]:.2f} target_ratio=1.2" if empty and full else "")
    )


if __name__ == "__main__":
    main()
