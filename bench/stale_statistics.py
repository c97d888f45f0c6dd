"""Single port creates before and after a bulk fill, with the planner statistics
the fill leaves behind.

PostgreSQL plans from table statistics that only ANALYZE refreshes; this
machine's server runs with autovacuum off (``SHOW autovacuum``), as a server
does where a table grows faster than autovacuum's pace. The other benchmarks
run ANALYZE after their fills (``harness.analyze``), which would hide a plan
that hangs on the statistics; this one does not. Four servers
(``quark serve --workers 2``), each on its own fresh database, with a
network of an IPv4 /16 and a stateful IPv6 /64 (as ``port_create.py``):

- **empty**: the reference, never filled;
- **stale**: filled; the server's statistics keeper off
  (``QUARK_DB_ANALYZE_INTERVAL=0``) and nothing analyzes the tables: the
  state the issue measured;
- **analyzed**: filled, keeper off, the script runs ANALYZE after the fill;
- **quark**: filled, as Quark runs by default: its keeper
  (``quark.db.statistics``) analyzes the tables it finds changed, nobody
  else does. Filled last, so it has the least time between its fill and the
  measurement.

``--warmup`` then ``--count`` single POSTs (one client) go to every server
while all are empty, then the three are filled with ``--fill`` ports in bulk
POSTs of 100, then ``--count`` single POSTs again. The single POSTs are
interleaved over the servers (one request to each in turn), so the load of
the machine hits them alike. The figure is each filled server's median over
the empty server's median **in the same phase** (1.0 when performance does
not depend on the fill or its statistics); the phase before the fill shows
that the servers start alike. A median compared across the two phases would
measure the shared machine's load as much as the fill. On MariaDB
(``--backend mariadb``) there is no keeper (InnoDB recalculates its
statistics itself), and ``stale`` and ``quark`` are the same.

    .venv/bin/python bench/stale_statistics.py                     # PostgreSQL, 20,000 ports
    .venv/bin/python bench/stale_statistics.py --fill 5000 --count 200
    .venv/bin/python bench/stale_statistics.py --backend mariadb

The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import port_create

NO_KEEPER = {"QUARK_DB_ANALYZE_INTERVAL": "0"}
VARIANTS = {
    # name: (server environment, filled, ANALYZE by the script after the fill)
    "empty": (NO_KEEPER, False, False),
    "stale": (NO_KEEPER, True, False),
    "analyzed": (NO_KEEPER, True, True),
    "quark": ({}, True, False),
}


def analyze(backend: str, database_url: str) -> None:
    if backend == "postgresql":
        harness.analyze(database_url)
    elif backend == "mariadb":
        name = database_url.rsplit("/", 1)[1].split("?")[0]
        subprocess.run(
            ["mysql", "-h", "127.0.0.1", "-uroot", name, "-e", "ANALYZE TABLE ports, ip_allocations"],
            check=True,
            capture_output=True,
        )


def ports_analyze_count(backend: str, database_url: str) -> int | None:
    """How many times the ports table was analyzed, by anyone (PostgreSQL only)."""
    if backend != "postgresql":
        return None
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    query = "SELECT analyze_count + autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'ports'"
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", query, name], capture_output=True, text=True
    )
    return int(out.stdout.strip() or 0)


async def interleaved_singles(targets: dict[str, tuple[str, str]], count: int) -> dict[str, list[float]]:
    """``count`` single-port POSTs per server, one to each server in turn; latencies in ms."""
    conns = {name: harness.HttpConnection(url) for name, (url, _) in targets.items()}
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    try:
        for _ in range(count):
            for name, (_, network_id) in targets.items():
                started = time.perf_counter()
                status, data = await conns[name].request("POST", "/v2.0/ports", {"port": {"network_id": network_id}})
                latencies[name].append((time.perf_counter() - started) * 1000)
                if status != 201:
                    raise RuntimeError(f"{name}: port create {status} {data[:300]!r}")
    finally:
        for conn in conns.values():
            conn.close()
    return latencies


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "mariadb"])
    parser.add_argument("--fill", type=int, default=20_000, help="ports bulk-created between the two measurements")
    parser.add_argument("--count", type=int, default=300, help="single POSTs per server per measurement")
    parser.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="untimed single POSTs per server first (the first ~200 of a new server are slower)",
    )
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        targets: dict[str, tuple[str, str]] = {}
        urls: dict[str, str] = {}
        for name, (env, _, _) in VARIANTS.items():
            db_url = stack.enter_context(harness.fresh_database(args.backend))
            url = stack.enter_context(harness.running_server(db_url, 2, env=env))
            network_id = asyncio.run(_setup(url))
            targets[name], urls[name] = (url, network_id), db_url
        asyncio.run(interleaved_singles(targets, args.warmup))
        before_load = load()
        before = asyncio.run(interleaved_singles(targets, args.count))
        for name, (_, filled, analyze_after) in VARIANTS.items():
            if not filled:
                continue
            url, network_id = targets[name]
            started = time.perf_counter()
            result = asyncio.run(port_create.run(url, 4, args.fill, 100, 0, network_id=network_id))
            if result["errors"]:
                raise RuntimeError(f"{name}: fill errors {result['errors'][:3]}")
            if analyze_after:
                analyze(args.backend, urls[name])
            print(f"{name}: filled {args.fill:,} ports in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        after_load = load()
        after = asyncio.run(interleaved_singles(targets, args.count))
        analyzed_counts = {name: ports_analyze_count(args.backend, urls[name]) for name in VARIANTS}

    print(
        f"backend: {args.backend}; single POSTs, 1 client, interleaved over the servers; {args.count} per server "
        f"before and after {args.fill:,} ports were bulk-created in all but 'empty'"
    )
    print(f"load average: phase before the fill {before_load}, phase after {after_load}")
    fields = []
    for phase, samples in (("before the fill", before), ("after the fill ", after)):
        reference = statistics.median(samples["empty"])
        for name in VARIANTS:
            median = statistics.median(samples[name])
            print(
                f"{phase}  {name:<9} median {median:6.2f} ms  p99 {harness.percentile(samples[name], 99):6.2f} ms"
                + ("" if name == "empty" else f"  / empty {median / reference:.2f}x")
            )
            if samples is after and name != "empty":
                fields.append(f"{name}_vs_empty={median / reference:.2f}")
    for name, count in analyzed_counts.items():
        if count is not None:
            print(f"{name}: ports table analyzed {count} times (pg_stat_user_tables)")
    print(f"machine: {harness.machine()}")
    print("RESULT " + " ".join(fields))


async def _setup(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await port_create.setup(client)


if __name__ == "__main__":
    main()
