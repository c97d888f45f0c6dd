"""Time to allocate one address through the service layer, by fill level and layout.

One database holds an IPv4 /8 subnet per fill level (0, 1e3, 1e5, 1e6 used
addresses by default) and an IPv6 /64, per layout. Each subnet is pre-filled
with bulk writes straight into the tables (COPY on PostgreSQL, multi-row
INSERTs on MariaDB and SQLite) in a state the allocator itself could have
left, in one of two layouts (``--layout``):

- **best**: allocation rows for the first N pool addresses, one released
  address per 100 still in quarantine (so the reuse lookup has rows to skip),
  the subnet cursor just past them: every allocation takes the cursor path,
  the reuse lookup is skipped (nothing can have left the quarantine).
- **fragmented**: the subnet has been used and released at random for a long
  time: its pool (cut to fit) has been walked to the end (a wrapped cursor,
  NULL), and besides the N used addresses 10% as many again (``--released``;
  at least twice what the run takes), scattered at random over the pool,
  were released long ago — past their quarantine, in random order — and 1%
  are still in quarantine. Every allocation is a **reuse**: the reuse lookup
  (oldest released first, ``ip_allocator._reuse_select``) and the claim of
  the row. The IPv6 /64 gets the same mix over random addresses (its new
  addresses are random draws, not a cursor; reuse still comes first).
  The script checks afterwards that no fragmented IPv4 subnet got a new row,
  i.e. that every sample was a reuse, and prints the median of the last
  tenth of a subnet's samples over that of the first tenth (a cost that
  grows with the reuses taken, e.g. dead index entries, would show there).

Then every sample is one ``IpAddressService.create`` (``POST
/v2.0/ip_addresses`` without HTTP): its own transaction with the network and
subnet reads, the allocator and the response view. Samples are interleaved
over every subnet of every layout, so whatever else the machine does hits
them alike. After the fill the script runs ANALYZE as autovacuum would have
(``--no-analyze``: not, to see the plans of statistics that predate the fill).

    .venv/bin/python bench/alloc_latency.py                          # PostgreSQL, full sizes, both layouts
    .venv/bin/python bench/alloc_latency.py --backend mariadb
    .venv/bin/python bench/alloc_latency.py --levels 0,1000 --samples 200 --v6-fill 1000   # quick
    .venv/bin/python bench/alloc_latency.py --layout fragmented --no-analyze
    .venv/bin/python bench/alloc_latency.py --explain                # + EXPLAIN of the hot queries

Target (issue 3): p99 <= 10 ms at every level, 1e6 within 1.2x of empty
(issue 14: in both layouts). The last lines are the figures.
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

from sqlalchemy import func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

from quark.api.app import prepare_database
from quark.config import Settings
from quark.context import Context
from quark.db import migrate, models
from quark.db.engine import Database
from quark.ipam import addressing, ip_allocator, mac_allocator
from quark.ipam.pools import pool_ranges
from quark.services.common.quotas import RESOURCES
from quark.services.core.ports import network_tree
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


LIVE, REUSABLE, QUARANTINED = "live", "reusable", "quarantined"


def allocation_rows(subnet, values, states, now: datetime, reuse_after: int):
    """Rows as the allocator writes them: live, released past the quarantine
    (in random order of release), or released inside it."""
    version = subnet.ip_version
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    for value, state in zip(values, states):
        if state == LIVE:
            released_at = None
        elif state == REUSABLE:
            released_at = now - timedelta(seconds=reuse_after + 60 + random.randrange(30 * 86400))
        else:
            released_at = now - timedelta(seconds=random.randrange(max(1, reuse_after // 2)))
        yield (
            str(uuid.uuid4()),
            subnet.id,
            subnet.network_id,
            version,
            str(make(value)),
            addressing.ip_key(value, version),
            None,
            PROJECT if state == LIVE else None,
            now,
            state != LIVE,
            released_at,
        )


def best_states(used: int, released_every: int = 100) -> list[str]:
    """``used`` live rows, one quarantined release per ``released_every`` rows (in a regular pattern)."""
    total = used + used // (released_every - 1)
    return [QUARANTINED if i % released_every == released_every - 1 else LIVE for i in range(total)]


def fragmented_states(used: int, reusable: int) -> list[str]:
    """``used`` live rows, ``reusable`` releases past the quarantine and 1% of
    ``used`` still inside it, shuffled over the addresses."""
    states = [LIVE] * used + [REUSABLE] * reusable + [QUARANTINED] * (used // 100)
    random.shuffle(states)
    return states


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


async def prefill(db: Database, url: str, subnet, states: list[str], reuse_after: int, analyze: bool) -> float:
    """Give ``subnet`` one allocation row per entry of ``states``, from its first
    pool address on (IPv4) or at random (IPv6); cursor and counters to match:
    just past the rows, or NULL when they reach the end of the pools."""
    started = time.perf_counter()
    if not states:
        return 0.0
    pools = pool_ranges(subnet)
    now = datetime.utcnow().replace(microsecond=0)
    total = len(states)
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
    rows = list(allocation_rows(subnet, values, states, now, reuse_after))
    used = states.count(LIVE)
    if db.dialect != "postgresql":
        rows.sort()  # primary-key (id) order: InnoDB appends instead of splitting pages at random
    await bulk_insert(db, url, iter(rows))
    u = models.ip_usage
    async with db.write() as conn:
        await conn.execute(update(models.subnets).where(models.subnets.c.id == subnet.id).values(next_ip_key=cursor))
        await conn.execute(update(u).where(u.c.subnet_id == subnet.id).values(used=0))
        await conn.execute(update(u).where(u.c.subnet_id == subnet.id, u.c.shard == 0).values(used=used))
    if analyze:
        await analyze_allocations(db)
    return time.perf_counter() - started


async def analyze_allocations(db: Database) -> None:
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("ANALYZE ip_allocations")
    elif db.dialect == "mysql":
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE TABLE ip_allocations")


def first_pool_address(cidr: str) -> ipaddress.IPv4Address:
    return ipaddress.ip_network(cidr)[2]  # after the network address and the gateway


async def make_subnet(services, name: str, version: int, cidr: str, pool_size: int | None = None):
    """A network with one subnet; ``pool_size``: its pool cut to that many addresses (IPv4)."""
    net = await services.networks.create(ADMIN, {"name": name})
    attrs = {"network_id": net["id"], "ip_version": version, "cidr": cidr}
    if pool_size:
        start = first_pool_address(cidr)
        attrs["allocation_pools"] = [{"start": str(start), "end": str(start + pool_size - 1)}]
    sub = await services.subnets.create(ADMIN, attrs)
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
        "ip reuse lookup": (ip_allocator._reuse_select(db.dialect, None, 1), params),
        "ip reuse lookup with the pool condition (when the first read rows outside the pools)": (
            ip_allocator._reuse_select(db.dialect, 1, 1),
            params,
        ),
        "ip oldest release (reuse lookups skipped till it leaves quarantine)": (
            ip_allocator._oldest_release_select(1),
            params,
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
        "mac oldest release (per range)": (mac_allocator._OLDEST_RELEASE, {"b_range": range_id}),
        "port create: network, subnets, default group": (
            network_tree._NETWORK_TREE,
            {"b_id": subnet.network_id, "b_group_project": PROJECT},
        ),
    }
    lines = []
    async with db.write() as conn:
        for name, (stmt, bind) in stmts.items():
            prefix = {"postgresql": "EXPLAIN (ANALYZE, BUFFERS) ", "sqlite": "EXPLAIN QUERY PLAN "}.get(
                db.dialect, "EXPLAIN "
            )
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


async def fill_subnets(services, db: Database, url: str, args, reuse_after: int) -> list[dict]:
    """The subnets under test, filled: one dict per subnet (layout, label, level, row, rows before the run)."""
    out = []
    needed = 2 * (args.samples + args.warmup)  # reusable addresses a fragmented subnet must have
    for index, layout in enumerate(args.layouts):
        for i, level in enumerate(args.levels):
            cidr = f"{10 + i + 20 * index}.0.0.0/8"
            if layout == "best":
                states = best_states(level)
                sub = await make_subnet(services, f"{layout}-v4-{level}", 4, cidr)
            else:
                states = fragmented_states(level, max(needed, int(level * args.released)))
                sub = await make_subnet(services, f"{layout}-v4-{level}", 4, cidr, pool_size=len(states))
            took = await prefill(db, url, sub, states, reuse_after, analyze=False)
            print(f"{layout}: prefilled IPv4 /8 with {level:>9,} used addresses in {took:6.1f} s", file=sys.stderr)
            out.append({"layout": layout, "label": f"IPv4 /8  used {level:>9,}", "level": level, "subnet": sub})
        v6 = best_states(args.v6_fill) if layout == "best" else fragmented_states(args.v6_fill, needed)
        sub6 = await make_subnet(services, f"{layout}-v6", 6, f"2001:db8:a11{index}::/64")
        took = await prefill(db, url, sub6, v6, reuse_after, analyze=False)
        print(f"{layout}: prefilled IPv6 /64 with {args.v6_fill:>9,} used addresses in {took:6.1f} s", file=sys.stderr)
        out.append({"layout": layout, "label": f"IPv6 /64 used {args.v6_fill:>9,}", "level": None, "subnet": sub6})
    if args.analyze:
        await analyze_allocations(db)
    for entry in out:
        entry["rows_before"] = await allocation_rows_of(db, entry["subnet"].id)
    return out


async def allocation_rows_of(db: Database, subnet_id: str) -> int:
    a = models.ip_allocations
    async with db.read() as conn:
        return await conn.scalar(select(func.count()).select_from(a).where(a.c.subnet_id == subnet_id))


async def run(args) -> dict:
    with harness.fresh_database(args.backend) as url:
        if args.backend == "sqlite":
            await asyncio.to_thread(migrate.upgrade, url)  # it runs its own event loop
        # Unlimited quotas, as every benchmark server (bench/harness.py): the fill is one project.
        settings = Settings(database_url=url, **{f"quota_{name}": -1 for name in RESOURCES})
        db = Database(url, pool_size=4, max_overflow=4)
        services = build_services(db, settings)
        await prepare_database(db, settings)  # as `quark serve` starts: MAC and segment ranges
        subnets = await fill_subnets(services, db, url, args, settings.ipam_reuse_after)
        # Interleaved: one allocation per subnet in turn, so that whatever else
        # the machine is doing hits every fill level and layout alike.
        bodies = [
            {"network_id": e["subnet"].network_id, "subnet_id": e["subnet"].id, "project_id": PROJECT} for e in subnets
        ]
        for _ in range(args.warmup):
            for body in bodies:
                await services.ip_addresses.create(ADMIN, dict(body))
        for entry in subnets:
            entry["latencies"] = []
        gc.collect()
        for _ in range(args.samples):
            for body, entry in zip(bodies, subnets):
                started = time.perf_counter()
                await services.ip_addresses.create(ADMIN, dict(body))
                entry["latencies"].append((time.perf_counter() - started) * 1000)
        for entry in subnets:
            entry["new_rows"] = await allocation_rows_of(db, entry["subnet"].id) - entry["rows_before"]
        explain_lines = []
        if args.explain:
            fill = await prefill_macs(db, url, args.mac_fill, settings.ipam_reuse_after)
            print(f"prefilled {args.mac_fill:,} MAC allocations in {fill:6.1f} s", file=sys.stderr)
            for layout in args.layouts:
                ipv4 = [e for e in subnets if e["layout"] == layout and e["level"] is not None]
                fullest = max(ipv4, key=lambda e: e["level"])["subnet"]
                async with db.read() as conn:
                    fresh = (await conn.execute(select(models.subnets).where(models.subnets.c.id == fullest.id))).one()
                explain_lines.append(f"==== {layout} layout, the fullest IPv4 subnet")
                explain_lines += await explain(db, fresh, None)
        await db.dispose()
    return {"subnets": subnets, "explain": explain_lines}


def report(args, subnets: list[dict]) -> list[str]:
    """The figures per layout; the RESULT fields."""
    fields = []
    top = max(args.levels)
    for layout in args.layouts:
        rows = [e for e in subnets if e["layout"] == layout]
        print(f"-- layout {layout}")
        by_level = {}
        for e in rows:
            lat = e["latencies"]
            med, p99 = statistics.median(lat), harness.percentile(lat, 99)
            if e["level"] is not None:
                by_level[e["level"]] = (med, p99)
            tenth = max(1, len(lat) // 10)
            drift = statistics.median(lat[-tenth:]) / statistics.median(lat[:tenth])
            print(
                f"{layout:<10} {e['label']}: median {med:.2f} ms  p99 {p99:.2f} ms  max {max(lat):.2f} ms  "
                f"last/first tenth {drift:.2f}x  new rows {e['new_rows']}"
            )
        worst = max(harness.percentile(e["latencies"], 99) for e in rows)
        fields.append(f"{layout}_worst_p99_ms={worst:.2f}")
        if 0 in by_level and top > 0:
            (m0, p0), (m1, p1) = by_level[0], by_level[top]
            print(f"{layout}: ratio {top:.0e}/empty: median {m1 / m0:.2f}x  p99 {p1 / p0:.2f}x")
            fields.append(f"{layout}_ratio_median={m1 / m0:.2f}")
        if layout == "fragmented":
            grown = [e["label"] for e in rows if e["subnet"].ip_version == 4 and e["new_rows"]]
            print("fragmented: every IPv4 allocation was a reuse" if not grown else f"NOT ALL REUSES: {grown}")
            fields.append(f"fragmented_all_reuse={'yes' if not grown else 'no'}")
    return fields


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
        "--layout",
        dest="layouts",
        default="best,fragmented",
        type=lambda v: [x.strip() for x in v.split(",") if x.strip()],
        help="best, fragmented or both (default best,fragmented: every subnet of both in one database)",
    )
    parser.add_argument(
        "--released",
        type=float,
        default=0.1,
        help="fragmented layout: addresses released past their quarantine, as a share of the used ones (default 0.1)",
    )
    parser.add_argument(
        "--v6-fill", type=lambda v: int(float(v)), default=100_000, help="used addresses in the IPv6 /64 (default 1e5)"
    )
    parser.add_argument("--samples", type=int, default=1000, help="timed allocations per subnet")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="no ANALYZE after the fill (statistics of the empty tables, as with autovacuum off or behind)",
    )
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
    if not set(args.layouts) <= {"best", "fragmented"}:
        parser.error("--layout: best, fragmented or best,fragmented")
    out = asyncio.run(run(args))
    for line in out["explain"]:
        print(line)
    print(
        f"backend: {args.backend}; one allocation = IpAddressService.create (own transaction), "
        f"{args.samples} samples per subnet, interleaved; statistics "
        + ("analyzed after the fill" if args.analyze else "NOT analyzed after the fill")
    )
    fields = report(args, out["subnets"])
    print(f"machine: {harness.machine()}")
    print("RESULT " + " ".join(fields) + " target_p99_ms=10 target_ratio=1.2")


if __name__ == "__main__":
    main()
