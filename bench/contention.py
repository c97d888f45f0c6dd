"""Many clients, several server processes, one subnet: allocation under contention.

64 clients (one keep-alive connection each) create 20,000 ports against
``quark serve --workers 4`` on a fresh database; every port takes its MAC
and one address of the same IPv4 /16 (so every request contends for that
subnet's cursor and for the MAC ranges). With ``--kind ip_addresses`` the
clients POST /v2.0/ip_addresses instead (an address for a device, no port).

Checked at the end, from the responses and from the database:
duplicates (an address or MAC handed to two requests; must be 0),
client-visible errors (any non-201; must be 0), internal retries (the
server logs one "transaction retry" line per re-run transaction; must be
<= 1% of allocations) and allocations per second.

    .venv/bin/python bench/contention.py --backend postgresql
    .venv/bin/python bench/contention.py --backend mariadb
    .venv/bin/python bench/contention.py --count 2000 --clients 16     # quick

The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness


def sync_url(url: str) -> str:
    return url.replace("postgresql+asyncpg", "postgresql+psycopg2").replace("mysql+asyncmy", "mysql+pymysql")


async def hammer(url: str, clients: int, count: int, kind: str) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=120) as admin:
        net = (await admin.post("/v2.0/networks", json={"network": {"name": "contention"}})).json()["network"]
        subnet = (
            await admin.post(
                "/v2.0/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.77.0.0/16"}}
            )
        ).json()["subnet"]
    conns = [harness.HttpConnection(url) for _ in range(clients)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    addresses: list[str] = []
    macs: list[str] = []
    errors: collections.Counter = collections.Counter()
    samples: list[str] = []
    latencies: list[float] = []
    if kind == "ports":
        path, body = "/v2.0/ports", {"port": {"network_id": net["id"]}}
    else:
        path, body = "/v2.0/ip_addresses", {"ip_address": {"network_id": net["id"], "version": 4}}

    async def client(conn: harness.HttpConnection) -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            try:
                status, data = await conn.request("POST", path, body)
            except (OSError, asyncio.IncompleteReadError) as exc:
                errors["transport"] += 1
                samples.append(repr(exc))
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 201:
                errors[str(status)] += 1
                samples.append(f"{status} {data[:300]!r}")
                continue
            doc = orjson.loads(data)
            if kind == "ports":
                port = doc["port"]
                macs.append(port["mac_address"])
                addresses.extend(ip["ip_address"] for ip in port["fixed_ips"])
            else:
                addresses.append(doc["ip_address"]["ip_address"])

    started = time.perf_counter()
    await asyncio.gather(*[client(conn) for conn in conns])
    wall = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return {
        "subnet_id": subnet["id"],
        "addresses": addresses,
        "macs": macs,
        "errors": errors,
        "samples": samples,
        "wall": wall,
        "latencies": latencies,
    }


def database_check(db_url: str, subnet_id: str) -> dict:
    """What the database holds for the subnet: live rows, duplicate addresses, counter."""
    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            live = conn.execute(
                text("SELECT COUNT(*) FROM ip_allocations WHERE subnet_id = :s AND deallocated = :f"),
                {"s": subnet_id, "f": False},
            ).scalar_one()
            dup = conn.execute(
                text(
                    "SELECT COUNT(*) FROM (SELECT address FROM ip_allocations WHERE subnet_id = :s "
                    "AND deallocated = :f GROUP BY address HAVING COUNT(*) > 1) d"
                ),
                {"s": subnet_id, "f": False},
            ).scalar_one()
            used = conn.execute(
                text("SELECT COALESCE(SUM(used), 0) FROM ip_usage WHERE subnet_id = :s"), {"s": subnet_id}
            ).scalar_one()
            mac_dup = conn.execute(
                text("SELECT COUNT(*) FROM (SELECT mac_address FROM ports GROUP BY mac_address HAVING COUNT(*) > 1) d")
            ).scalar_one()
    finally:
        engine.dispose()
    return {"live": live, "dup": dup, "used": int(used), "mac_dup": mac_dup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "mariadb"])
    parser.add_argument("--workers", type=int, default=4, help="server processes")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--count", type=int, default=20000, help="allocations (requests)")
    parser.add_argument("--kind", default="ports", choices=["ports", "ip_addresses"])
    parser.add_argument(
        "--no-batching",
        action="store_true",
        help="one transaction per request (QUARK_PORT_CREATE_BATCH=0): every request contends alone",
    )
    args = parser.parse_args()

    log = tempfile.NamedTemporaryFile(prefix="quark-contention-", suffix=".log", delete=False).name
    info: dict = {}
    with (
        harness.fresh_database(args.backend) as db_url,
        harness.running_server(
            db_url,
            args.workers,
            log_path=log,
            info=info,
            env={"QUARK_PORT_CREATE_BATCH": "0"} if args.no_batching else None,
        ) as url,
    ):
        pids = harness.children_of(info["pid"])
        cpu_before = harness.cpu_seconds(pids)
        result = asyncio.run(hammer(url, args.clients, args.count, args.kind))
        server_cpu = harness.cpu_seconds(pids) - cpu_before
        db = database_check(db_url, result["subnet_id"])
    retries = harness.retries_in(log)
    tracebacks = harness.server_errors_in(log)
    ok = len(result["addresses"])
    duplicates = (
        (ok - len(set(result["addresses"])))
        + (len(result["macs"]) - len(set(result["macs"])))
        + db["dup"]
        + db["mac_dup"]
    )
    client_errors = sum(result["errors"].values())
    for sample in result["samples"][:5]:
        print("error:", sample, file=sys.stderr)
    lat = result["latencies"]
    print(f"server: {args.backend}, quark serve --workers {args.workers} (log {log}); tracebacks={tracebacks}")
    print(f"database: live allocations={db['live']} usage counter={db['used']} (responses: {ok})")
    print(f"machine: {harness.machine()}")
    print(
        f"clients={args.clients} requests={args.count} kind={args.kind}"
        f"{' no-batching' if args.no_batching else ''} wall={result['wall']:.2f}s "
        f"per-request median={statistics.median(lat) if lat else float('nan'):.1f}ms "
        f"p99={harness.percentile(lat, 99):.1f}ms server_cpu_per_alloc={server_cpu * 1000 / max(ok, 1):.2f}ms"
    )
    print(f"duplicates={duplicates} client_errors={client_errors} {dict(result['errors']) or ''}")
    print(f"internal retries={retries} ({100 * retries / max(args.count, 1):.2f}% of allocations, target <= 1%)")
    consistent = db["live"] == ok and db["used"] == ok
    print(
        f"RESULT allocations_per_s={ok / result['wall']:.1f} duplicates={duplicates} client_errors={client_errors} "
        f"retries_pct={100 * retries / max(args.count, 1):.2f} db_consistent={consistent}"
    )


if __name__ == "__main__":
    main()
