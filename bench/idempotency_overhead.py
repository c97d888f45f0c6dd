"""What an Idempotency-Key costs a port create: single POSTs with and without
the header, in one run, on PostgreSQL.

One `quark serve --workers 2` on a fresh PostgreSQL database; ``--clients``
concurrent clients (one keep-alive connection each, bench/harness.py's
client) create ``--count`` ports per run, the two modes alternating
``--repeats`` times on one network. With the header, every request carries a
fresh key: its claim is one more short transaction (select + insert) and its
answer one more UPDATE in the create's transaction.

    .venv/bin/python bench/idempotency_overhead.py
    .venv/bin/python bench/idempotency_overhead.py --count 3000 --repeats 3

The last lines are the figures (ports/s, p50 and p99 latency per mode).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import port_create


async def run(url: str, network_id: str, clients: int, count: int, keyed: bool) -> dict:
    conns = [harness.HttpConnection(url) for _ in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    left = [count]

    async def worker(conn: harness.HttpConnection) -> None:
        while left[0] > 0:
            left[0] -= 1
            headers = {"Idempotency-Key": f'"{uuid.uuid4()}"'} if keyed else None
            start = time.perf_counter()
            status, data = await conn.request("POST", "/v2.0/ports", {"port": {"network_id": network_id}}, headers)
            latencies.append((time.perf_counter() - start) * 1000)
            if status != 201:
                errors.append(f"{status} {data[:200]!r}")

    started = time.perf_counter()
    await asyncio.gather(*[worker(conn) for conn in conns])
    wall = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return {"latencies": latencies, "errors": errors, "rate": (count - len(errors)) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--count", type=int, default=2000, help="ports per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode (alternating)")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    print(harness.machine(), flush=True)
    results: dict[str, list[dict]] = {"without key": [], "with key": []}
    with harness.fresh_database("postgresql") as database_url:
        with harness.running_server(database_url, args.workers) as url:

            async def setup() -> str:
                async with httpx.AsyncClient(base_url=url, timeout=300) as client:
                    return await port_create.setup(client, 0, False)

            network_id = asyncio.run(setup())
            for keyed in (False, True):  # warm both paths (and the key table's pages)
                asyncio.run(run(url, network_id, args.clients, args.warmup, keyed))
            load0 = os.getloadavg()[0]
            for repeat in range(args.repeats):
                for label, keyed in (("without key", False), ("with key", True)):
                    result = asyncio.run(run(url, network_id, args.clients, args.count, keyed))
                    results[label].append(result)
                    print(
                        f"{label} #{repeat + 1}: {result['rate']:.1f} ports/s, {harness.summary(result['latencies'])}",
                        flush=True,
                    )
            load1 = os.getloadavg()[0]
    print(f"\nload average {load0:.1f} -> {load1:.1f}")
    for label, runs in results.items():
        every = [ms for r in runs for ms in r["latencies"]]
        rates = ", ".join(f"{r['rate']:.1f}" for r in runs)
        errors = sum(len(r["errors"]) for r in runs)
        print(
            f"port create {label:<11}: {rates} ports/s; p50 {harness.percentile(every, 50):.1f} ms, "
            f"p99 {harness.percentile(every, 99):.1f} ms ({args.clients} clients, {len(every)} POSTs, {errors} errors)"
        )


if __name__ == "__main__":
    main()
