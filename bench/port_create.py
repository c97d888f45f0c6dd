"""Port creation throughput through HTTP: single POSTs and bulk POSTs.

Each port gets a MAC, one IPv4 and one IPv6 address (a network with an IPv4
/16 and a stateful IPv6 /64). Runs against a server it starts itself on a
fresh database (default: PostgreSQL, ``quark serve --workers 2``), or
against --url. By default two phases on the same server: single-port POSTs
with --clients concurrent clients, then bulk POSTs of --bulk ports.

    .venv/bin/python bench/port_create.py                          # 16 clients single, then bulk of 100
    .venv/bin/python bench/port_create.py --clients 1 --mode single --count 500
    .venv/bin/python bench/port_create.py --mode bulk --bulk 100 --bulk-count 10000
    .venv/bin/python bench/port_create.py --backend mariadb
    .venv/bin/python bench/port_create.py --dhcp-agent     # a live DHCP agent serves the networks
    .venv/bin/python bench/port_create.py --member         # as a project member (policy reads the network)
    .venv/bin/python bench/port_create.py --quota-port 1000000   # with the quota check on every create
    .venv/bin/python bench/port_create.py --network-plugin fault  # every port create writes an outbox job

The server it starts has unlimited quotas (bench/harness.py) unless
--quota-port sets a finite port limit; a server given with --url must let
the admin's project have as many ports as the run creates.

With --dhcp-agent a DHCP agent reports in before the subnets are made, so
each network gets a DHCP port on its host and every port create also bumps
that host's DHCP generation (what a deployment with DHCP pays).

Targets (issue 3, 2 cores): >= 300 ports/s single POSTs with 16 clients,
>= 1,500 ports/s in bulk, no error responses. The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

DHCP_HOST = "bench-dhcp-host"
# The networks' backend driver (--network-plugin; None: the server's default, agent: no jobs).
NETWORK_PLUGIN: str | None = None


async def report_dhcp_agent(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v2.0/agents/report",
        json={"agent": {"host": DHCP_HOST, "agent_type": "DHCP agent", "binary": "quark-dhcp", "configurations": {}}},
    )
    r.raise_for_status()


async def setup(client: httpx.AsyncClient, index: int = 0, dhcp_agent: bool = False) -> str:
    if dhcp_agent:
        await report_dhcp_agent(client)
    body = {"name": f"bench-{index}"} | ({"network_plugin": NETWORK_PLUGIN} if NETWORK_PLUGIN else {})
    net = (await client.post("/v2.0/networks", json={"network": body})).json()["network"]
    for body in (
        {"ip_version": 4, "cidr": f"10.{128 + index}.0.0/16"},
        {"ip_version": 6, "cidr": f"2001:db8:{0xB00 + index:x}::/64"},
    ):
        r = await client.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], **body}})
        r.raise_for_status()
    return net["id"]


async def run(
    url: str,
    clients: int,
    count: int,
    bulk: int,
    warmup: int,
    network_index: int = 0,
    headers: dict | None = None,
    network_id: str | None = None,
    dhcp_agent: bool = False,
) -> dict:
    """Create ``count`` ports with ``clients`` concurrent clients (one keep-alive
    connection each), ``bulk`` per POST."""
    if network_id is None:
        async with httpx.AsyncClient(base_url=url, timeout=300, headers=headers or {}) as client:
            network_id = await setup(client, network_index, dhcp_agent)
    conns = [harness.HttpConnection(url, headers) for _ in range(clients)]
    for _ in range(warmup):
        status, data = await conns[0].request("POST", "/v2.0/ports", {"port": {"network_id": network_id}})
        if status != 201:
            raise RuntimeError(f"warm-up port create: {status} {data[:300]!r}")
    requests = count // bulk
    latencies: list[float] = []
    errors: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(conn: harness.HttpConnection) -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if bulk == 1:
                body = {"port": {"network_id": network_id}}
            else:
                body = {"ports": [{"network_id": network_id} for _ in range(bulk)]}
            start = time.perf_counter()
            try:
                status, data = await conn.request("POST", "/v2.0/ports", body)
            except (OSError, asyncio.IncompleteReadError) as exc:
                errors.append(f"transport: {exc!r}")
                continue
            latencies.append((time.perf_counter() - start) * 1000)
            if status != 201:
                errors.append(f"{status} {data[:200]!r}")
            else:
                doc = orjson.loads(data)
                ports = doc["ports"] if bulk > 1 else [doc["port"]]
                if any(len(p["fixed_ips"]) != 2 for p in ports):
                    errors.append("port without one IPv4 and one IPv6 address")

    started = time.perf_counter()
    await asyncio.gather(*[worker(conn) for conn in conns])
    wall = time.perf_counter() - started
    for conn in conns:
        conn.close()
    created = (requests - len(errors)) * bulk
    return {
        "ports": created,
        "wall": wall,
        "latencies": latencies,
        "errors": errors,
        "rate": created / wall if wall else 0.0,
    }


def report(name: str, clients: int, bulk: int, result: dict) -> str:
    lat = result["latencies"]
    med = statistics.median(lat) if lat else float("nan")
    return (
        f"{name}: clients={clients} ports_per_post={bulk} ports={result['ports']} wall={result['wall']:.2f}s "
        f"ports/s={result['rate']:.1f} per-request median={med:.1f}ms p99={harness.percentile(lat, 99):.1f}ms "
        f"errors={len(result['errors'])}"
        + (
            f" server_cpu_per_port={result['server_cpu_ms_per_port']:.2f}ms"
            if result.get("server_cpu_ms_per_port")
            else ""
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "mariadb", "sqlite"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", default="both", choices=["single", "bulk", "both"])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients, single POSTs")
    parser.add_argument("--count", type=int, default=3000, help="ports to create with single POSTs")
    parser.add_argument("--bulk", type=int, default=100, help="ports per bulk POST")
    parser.add_argument("--bulk-clients", type=int, default=4, help="concurrent clients, bulk POSTs")
    parser.add_argument("--bulk-count", type=int, default=10000, help="ports to create with bulk POSTs")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--member",
        action="store_true",
        help="create as a project member (noauth headers) on its own network, not as the admin: "
        "the policy then reads the network's owner",
    )
    parser.add_argument(
        "--dhcp-agent", action="store_true", help="a live DHCP agent serves the networks (DHCP port, generation bumps)"
    )
    parser.add_argument(
        "--quota-port",
        type=int,
        default=-1,
        help="the server's default port quota (default -1: unlimited, no quota check); a large finite "
        "value measures the enforcement (lock row and count) on every create",
    )
    parser.add_argument(
        "--network-plugin",
        help="the networks' backend driver (admin only): fault writes an outbox job with every port create "
        "(no worker runs), agent writes none (docs/drivers.md)",
    )
    args = parser.parse_args()
    global NETWORK_PLUGIN
    NETWORK_PLUGIN = args.network_plugin

    phases = []
    headers = {"X-Project-Id": "bench-member", "X-Roles": "member"} if args.member else None
    if args.mode in ("single", "both"):
        phases.append(("single", args.clients, args.count, 1))
    if args.mode in ("bulk", "both"):
        phases.append(("bulk", args.bulk_clients, args.bulk_count, args.bulk))

    def run_all(url: str, server_pid: int | None = None) -> list[tuple]:
        out = []
        for i, (name, clients, count, bulk) in enumerate(phases):
            pids = harness.children_of(server_pid) if server_pid else []
            before = harness.cpu_seconds(pids)
            result = asyncio.run(
                run(url, clients, count, bulk, args.warmup, i, headers=headers, dhcp_agent=args.dhcp_agent)
            )
            result["server_cpu_ms_per_port"] = (
                (harness.cpu_seconds(pids) - before) * 1000 / result["ports"] if pids and result["ports"] else None
            )
            out.append((name, clients, bulk, result))
        return out

    retries = server_errors = None
    if args.url:
        results = run_all(args.url)
        where = args.url
    else:
        log = tempfile.NamedTemporaryFile(prefix="quark-port-create-", suffix=".log", delete=False).name
        info: dict = {}
        with (
            harness.fresh_database(args.backend) as db_url,
            harness.running_server(
                db_url, args.workers, env={"QUARK_QUOTA_PORT": str(args.quota_port)}, log_path=log, info=info
            ) as url,
        ):
            results = run_all(url, info["pid"])
        retries, server_errors = harness.retries_in(log), harness.server_errors_in(log)
        where = f"{args.backend}, quark serve --workers {args.workers}, quota_port {args.quota_port} (log {log})"
    for _, _, _, result in results:
        for sample in result["errors"][:5]:
            print("error:", sample, file=sys.stderr)
    print(f"server: {where}" + (" (a DHCP agent serves the networks)" if args.dhcp_agent else ""))
    if args.network_plugin:
        print(f"server: networks of driver {args.network_plugin}")
    if retries is not None:
        print(f"server: transaction retries={retries} tracebacks={server_errors}")
    print(f"machine: {harness.machine()}")
    for name, clients, bulk, result in results:
        print(report(name, clients, bulk, result))
    print(
        "RESULT "
        + " ".join(f"{name}_ports_per_s={r['rate']:.1f} {name}_errors={len(r['errors'])}" for name, _, _, r in results)
    )


if __name__ == "__main__":
    main()
