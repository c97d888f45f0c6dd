"""Port creation throughput through HTTP.

Each port gets a MAC, one IPv4 and one IPv6 address (a network with an IPv4
/16 and a stateful IPv6 /64). Runs against a server it starts itself on a
fresh database (default: PostgreSQL, 2 workers), or against --url.

    .venv/bin/python bench/port_create.py --clients 16 --count 2000
    .venv/bin/python bench/port_create.py --clients 4 --bulk 100 --count 5000
    .venv/bin/python bench/port_create.py --backend mariadb --clients 16

The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


async def setup(client: httpx.AsyncClient) -> str:
    net = (await client.post("/v2.0/networks", json={"network": {"name": "bench"}})).json()["network"]
    for body in ({"ip_version": 4, "cidr": "10.128.0.0/16"}, {"ip_version": 6, "cidr": "2001:db8:b::/64"}):
        r = await client.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], **body}})
        r.raise_for_status()
    return net["id"]


async def run(url: str, clients: int, count: int, bulk: int, warmup: int) -> dict:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        network_id = await setup(client)
        for _ in range(warmup):
            (await client.post("/v2.0/ports", json={"port": {"network_id": network_id}})).raise_for_status()
        requests = count // bulk
        latencies: list[float] = []
        errors: list[str] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(requests):
            queue.put_nowait(i)

        async def worker() -> None:
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
                response = await client.post("/v2.0/ports", json=body)
                latencies.append((time.perf_counter() - start) * 1000)
                if response.status_code != 201:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                else:
                    ports = response.json()["ports"] if bulk > 1 else [response.json()["port"]]
                    if any(len(p["fixed_ips"]) != 2 for p in ports):
                        errors.append("port without one IPv4 and one IPv6 address")

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(clients)])
        wall = time.perf_counter() - started
        created = (requests - len(errors)) * bulk
        return {"ports": created, "wall": wall, "latencies": latencies, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "mariadb", "sqlite"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--count", type=int, default=2000, help="ports to create")
    parser.add_argument("--bulk", type=int, default=1, help="ports per POST")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    if args.url:
        result = asyncio.run(run(args.url, args.clients, args.count, args.bulk, args.warmup))
        where = args.url
    else:
        with harness.fresh_database(args.backend) as db_url, harness.running_server(db_url, args.workers) as url:
            result = asyncio.run(run(url, args.clients, args.count, args.bulk, args.warmup))
        where = f"{args.backend}, quark serve --workers {args.workers}"
    for sample in result["errors"][:5]:
        print("error:", sample, file=sys.stderr)
    rate = result["ports"] / result["wall"]
    print(f"machine: {harness.machine()}")
    print(f"server: {where}")
    print(f"clients={args.clients} bulk={args.bulk} ports={result['ports']} wall={result['wall']:.2f}s "
          f"errors={len(result['errors'])}")
    print(f"per request: {harness.summary(result['latencies'])}")
    print(f"RESULT ports_per_s={rate:.1f} errors={len(result['errors'])}")


if __name__ == "__main__":
    main()
