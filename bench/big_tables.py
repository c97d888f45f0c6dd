"""Quark with big tables (issue 21, "Big tables" and "Known costs").

One PostgreSQL database grown in steps (default 10,000 → 100,000 →
1,000,000 ports, 10 ports per network, one IPv4 /24 subnet per network),
filled through Quark's own bulk creates (``POST /v2.0/networks``,
``/v2.0/subnets`` and ``/v2.0/ports`` with lists of up to ``--batch``
bodies, several loaders at once): every row the schema wants (IP
allocations, MACs, usage counters, quotas, security-group bindings) is
written by the code that writes it in production. At each size, against
``quark serve --workers 2``:

- p99 of ``GET /v2.0/ports?device_id=…``, ``?network_id=…``,
  ``?fixed_ips=ip_address=…``, ``?mac_address=…`` (random existing ports;
  target ≤ 20 ms);
- a paginated walk of all ports with ``limit=1000`` (ports/s; bounded to
  ``--walk-seconds``);
- Nova's network-info sequence (bench/nova_info.py, IPv4 only here: 6 GETs)
  p99 (target ≤ 50 ms);
- port create rate (single POSTs, 8 clients) against the empty database's;
- Rally's create-and-list-ports iteration: create a port, list the
  project's ports (all of them);
- RSS of each API worker, database size per port.

    .venv/bin/python bench/big_tables.py                          # 10k, 100k, 1M
    .venv/bin/python bench/big_tables.py --sizes 10000 100000

The last lines are the figures (one table row per size).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

PER_NETWORK = 10


def db_name(db_url: str) -> str:
    return db_url.rsplit("/", 1)[1].split("?")[0]


def psql(db_url: str, sql: str) -> str:
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db_name(db_url), "-Atc", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


class Loader:
    """Grows the database through Quark's bulk creates."""

    def __init__(self, url: str, batch: int, clients: int) -> None:
        self.url, self.batch, self.clients = url, batch, clients
        self.networks = 0
        self.ports = 0

    async def _post_all(self, path: str, key: str, bodies: list[dict]) -> list[dict]:
        chunks = [bodies[i : i + self.batch] for i in range(0, len(bodies), self.batch)]
        todo = iter(range(len(chunks)))
        made: list[list[dict]] = [[] for _ in chunks]

        async def worker() -> None:
            conn = harness.HttpConnection(self.url)
            try:
                for i in todo:
                    status, data = await conn.request("POST", path, {key: chunks[i]})
                    if status != 201:
                        raise RuntimeError(f"POST {path}: {status} {data[:300]!r}")
                    made[i] = orjson.loads(data)[key]
            finally:
                conn.close()

        await asyncio.gather(*[worker() for _ in range(self.clients)])
        return [row for chunk in made for row in chunk]

    async def grow_to(self, ports: int) -> float:
        start = time.perf_counter()
        while self.ports < ports:
            step = min(ports - self.ports, 50_000)
            nets = step // PER_NETWORK
            first = self.networks
            made = await self._post_all(
                "/v2.0/networks", "networks", [{"name": f"big-{first + i}"} for i in range(nets)]
            )
            subnets = [
                {
                    "network_id": n["id"],
                    "ip_version": 4,
                    "cidr": f"10.{((first + i) // 256) % 256}.{(first + i) % 256}.0/24",
                    "enable_dhcp": False,
                }
                for i, n in enumerate(made)
            ]
            await self._post_all("/v2.0/subnets", "subnets", subnets)
            bodies = [
                {
                    "network_id": n["id"],
                    "device_owner": "compute:nova",
                    "device_id": f"vm-{first + i}-{k}",
                    "name": f"p-{first + i}-{k}",
                }
                for i, n in enumerate(made)
                for k in range(PER_NETWORK)
            ]
            await self._post_all("/v2.0/ports", "ports", bodies)
            self.networks += nets
            self.ports += nets * PER_NETWORK
            print(f"  filled {self.ports} ports on {self.networks} networks", file=sys.stderr, flush=True)
        return time.perf_counter() - start


async def timed_gets(conn: harness.HttpConnection, paths: list[str]) -> list[float]:
    out = []
    for path in paths:
        start = time.perf_counter()
        status, data = await conn.request("GET", path)
        out.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {data[:300]!r}")
    return out


async def sample_ports(conn: harness.HttpConnection, count: int, total_networks: int) -> list[dict]:
    """Random existing ports (one per random network)."""
    picks = []
    for i in random.sample(range(total_networks), min(count, total_networks)):
        status, data = await conn.request("GET", f"/v2.0/ports?name=p-{i}-{random.randrange(PER_NETWORK)}")
        ports = orjson.loads(data)["ports"]
        if ports:
            picks.append(ports[0])
    return picks


async def walk(conn: harness.HttpConnection, limit_seconds: float) -> tuple[int, float, bool]:
    """All ports, 1,000 a page, following the next links: (ports, seconds, complete)."""
    path = "/v2.0/ports?limit=1000"
    seen, start = 0, time.perf_counter()
    while True:
        status, data = await conn.request("GET", path)
        body = orjson.loads(data)
        seen += len(body["ports"])
        nxt = [link["href"] for link in body.get("ports_links", []) if link["rel"] == "next"]
        if not nxt or not body["ports"]:
            return seen, time.perf_counter() - start, True
        if time.perf_counter() - start > limit_seconds:
            return seen, time.perf_counter() - start, False
        path = nxt[0][nxt[0].index("/v2.0") :]


async def create_rate(url: str, network_ids: list[str], count: int, clients: int = 8) -> float:
    conns = [harness.HttpConnection(url) for _ in range(clients)]
    todo = iter(range(count))

    async def worker(conn: harness.HttpConnection) -> None:
        for i in todo:
            status, data = await conn.request(
                "POST", "/v2.0/ports", {"port": {"network_id": network_ids[i % len(network_ids)]}}
            )
            if status != 201:
                raise RuntimeError(f"POST port: {status} {data[:300]!r}")

    start = time.perf_counter()
    await asyncio.gather(*[worker(c) for c in conns])
    elapsed = time.perf_counter() - start
    for conn in conns:
        conn.close()
    return count / elapsed


async def rally(conn: harness.HttpConnection, network_id: str, iterations: int) -> list[float]:
    """Rally's NeutronNetworks.create_and_list_ports: create a port, list the project's ports."""
    out = []
    for _ in range(iterations):
        start = time.perf_counter()
        status, _ = await conn.request("POST", "/v2.0/ports", {"port": {"network_id": network_id}})
        assert status == 201
        status, _ = await conn.request("GET", "/v2.0/ports")
        assert status == 200
        out.append(time.perf_counter() - start)
    return out


def nova_paths(port: dict) -> list[str]:
    """Nova's _build_network_info_model GETs for one port (IPv4 only: one floating
    IP query, one DHCP-port query)."""
    ip = port["fixed_ips"][0]
    net = port["network_id"]
    return [
        f"/v2.0/ports?tenant_id={port['project_id']}&device_id={port['device_id']}",
        f"/v2.0/networks?id={net}",
        f"/v2.0/floatingips?fixed_ip_address={ip['ip_address']}&port_id={port['id']}",
        f"/v2.0/subnets?id={ip['subnet_id']}",
        f"/v2.0/ports?network_id={net}&device_owner=network:dhcp",
        f"/v2.0/networks/{net}?fields=provider:physical_network&fields=provider:network_type",
    ]


async def measure(url: str, db_url: str, pid: int, loader: Loader, args: argparse.Namespace, empty_rate: float) -> dict:
    conn = harness.HttpConnection(url)
    out: dict = {"ports": loader.ports}
    picks = await sample_ports(conn, args.samples, loader.networks)
    filters = {
        "device_id": [f"/v2.0/ports?device_id={p['device_id']}" for p in picks],
        "network_id": [f"/v2.0/ports?network_id={p['network_id']}" for p in picks],
        "fixed_ips": [f"/v2.0/ports?fixed_ips=ip_address%3D{p['fixed_ips'][0]['ip_address']}" for p in picks],
        "mac_address": [f"/v2.0/ports?mac_address={p['mac_address']}" for p in picks],
    }
    for name, paths in filters.items():
        await timed_gets(conn, paths[:5])  # warm
        out[name] = harness.percentile(await timed_gets(conn, paths), 99)
    totals = []
    for p in picks:
        totals.append(sum(await timed_gets(conn, nova_paths(p))))
    out["nova_p99"] = harness.percentile(totals, 99)
    seen, seconds, complete = await walk(conn, args.walk_seconds)
    out["walk"] = (seen / seconds, seen, complete)
    out["create"] = await create_rate(url, [p["network_id"] for p in picks], args.creates)
    out["create_vs_empty"] = out["create"] / empty_rate
    out["rally"] = await rally(conn, picks[0]["network_id"], args.rally)
    conn.close()
    workers = psutil.Process(pid).children(recursive=True)
    out["worker_rss"] = [w.memory_info().rss / 2**20 for w in workers]
    size = int(psql(db_url, "SELECT pg_database_size(current_database())"))
    count = int(psql(db_url, "SELECT count(*) FROM ports"))
    out["db_bytes_per_port"] = size / count
    out["db_mib"] = size / 2**20
    return out


def row(r: dict) -> str:
    rally = r["rally"]
    walk_rate, walked, complete = r["walk"]
    return (
        f"| {r['ports']:,} | {r['device_id']:.1f} | {r['network_id']:.1f} | {r['fixed_ips']:.1f} | "
        f"{r['mac_address']:.1f} | {walk_rate:,.0f}{'' if complete else f' ({walked:,} walked)'} | "
        f"{r['nova_p99']:.1f} | {r['create']:.0f} ({100 * r['create_vs_empty']:.0f}%) | "
        f"{sum(rally) / len(rally):.2f} | {'/'.join(f'{m:.0f}' for m in r['worker_rss'])} | "
        f"{r['db_bytes_per_port']:,.0f} ({r['db_mib']:,.0f} MiB) |"
    )


HEADER = (
    "| ports | device_id p99 ms | network_id p99 ms | fixed_ips p99 ms | mac_address p99 ms | walk ports/s | "
    "Nova sequence p99 ms | creates/s (vs empty) | Rally create+list s | worker RSS MiB | DB bytes/port |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


async def run(url: str, db_url: str, pid: int, args: argparse.Namespace) -> tuple[float, list[dict]]:
    loader = Loader(url, args.batch, args.loaders)
    conn = harness.HttpConnection(url)
    status, data = await conn.request("POST", "/v2.0/networks", {"network": {"name": "empty-rate"}})
    net = orjson.loads(data)["network"]["id"]
    status, data = await conn.request(
        "POST", "/v2.0/subnets", {"subnet": {"network_id": net, "ip_version": 4, "cidr": "172.16.0.0/16"}}
    )
    conn.close()
    await create_rate(url, [net], 50)  # warm
    empty = await create_rate(url, [net], args.creates)
    print(f"  empty database: {empty:.0f} creates/s", file=sys.stderr, flush=True)
    results = []
    for size in args.sizes:
        fill = await loader.grow_to(size)
        harness.analyze(db_url)
        r = await measure(url, db_url, pid, loader, args, empty)
        r["fill_s"] = fill
        print("  " + row(r), file=sys.stderr, flush=True)
        results.append(r)
    return empty, results


def plot(results: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = [r["ports"] for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for key in ("device_id", "network_id", "fixed_ips", "mac_address", "nova_p99"):
        axes[0].plot(sizes, [r[key] for r in results], marker="o", label=key)
    axes[0].set(xscale="log", xlabel="ports", ylabel="p99 ms", title="lookups p99")
    axes[0].legend(fontsize=7)
    axes[1].plot(sizes, [sum(r["rally"]) / len(r["rally"]) for r in results], marker="o")
    axes[1].set(xscale="log", yscale="log", xlabel="ports", ylabel="s", title="Rally create+list per iteration")
    axes[2].plot(sizes, [max(r["worker_rss"]) for r in results], marker="o", label="max worker RSS MiB")
    axes[2].plot(sizes, [r["db_bytes_per_port"] / 10 for r in results], marker="o", label="DB bytes/port ÷ 10")
    axes[2].set(xscale="log", xlabel="ports", title="known costs")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=500, help="bodies per bulk POST")
    parser.add_argument("--loaders", type=int, default=3, help="concurrent bulk POSTs")
    parser.add_argument("--samples", type=int, default=200, help="random ports looked up per filter")
    parser.add_argument("--walk-seconds", type=float, default=120.0)
    parser.add_argument("--creates", type=int, default=400)
    parser.add_argument("--rally", type=int, default=3, help="create-and-list iterations")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    info: dict = {}
    with (
        harness.fresh_database("postgresql") as db_url,
        harness.running_server(db_url, 2, info=info) as url,
    ):
        empty, results = asyncio.run(run(url, db_url, info["pid"], args))
    if args.json:
        Path(args.json).write_text(json.dumps({"empty": empty, "results": results}, indent=1))
    png = Path(__file__).with_name("big_tables.png")
    drew = plot(results, png) if len(results) > 1 else False
    print(f"server: postgresql, quark serve --workers 2; tracebacks={harness.server_errors_in(info['log'])}")
    print(f"machine: {harness.machine()}")
    print(
        f"empty database: {empty:.0f} port creates/s; fill times: "
        + ", ".join(f"{r['ports']:,}: {r['fill_s']:.0f}s" for r in results)
    )
    print(f"plot: {png if drew else 'not drawn (matplotlib missing or one size)'}")
    print(HEADER)
    for r in results:
        print(row(r))


if __name__ == "__main__":
    main()
