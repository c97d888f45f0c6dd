"""Port creates on DHCP networks with 0, 1 and 3 DHCP agents (issue 21, "No hot rows").

Every port create on a network a DHCP agent serves tells that agent (its
``dhcp_state`` long-poll wakes up). If that costs an update of one row per
host, all creates on the networks of one agent serialise on that row at
commit; this measures whether they do. Each case runs on a fresh database
and a fresh ``quark serve --workers 2`` and does the same work: --networks
networks (an IPv4 /16 each) made after the agents reported in (so the
scheduler spreads them over the agents), then --count single-port POSTs by
--clients concurrent clients, round-robin over the networks. The agents
heartbeat and long-poll their ``dhcp_state`` during the run, as real ones do.

While the creates run, the database's sessions waiting on a lock are
sampled every 50 ms (PostgreSQL ``pg_stat_activity``, MariaDB
``information_schema.innodb_trx``): "lock waits" is the mean number of
sessions found waiting, the maximum, and the share of samples with any.

    .venv/bin/python bench/hot_row.py                     # PostgreSQL, agents 0 1 3
    .venv/bin/python bench/hot_row.py --db mariadb
    .venv/bin/python bench/hot_row.py --agents 1 --count 4000

The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

LOCK_WAITS = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
    "mariadb": "SELECT count(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'",
}


async def report_agents(client: httpx.AsyncClient, hosts: list[str]) -> None:
    for host in hosts:
        r = await client.post(
            "/v2.0/agents/report",
            json={"agent": {"host": host, "agent_type": "DHCP agent", "binary": "quark-dhcp", "configurations": {}}},
        )
        r.raise_for_status()


async def heartbeat(url: str, hosts: list[str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while True:
            await asyncio.sleep(5)
            await report_agents(client, hosts)


async def watch(url: str, host: str, wakes: list[int]) -> None:
    """The agent's long-poll of its DHCP state; counts the documents it got."""
    since = None
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while True:
            params = {} if since is None else {"since": since, "wait": 30}
            r = await client.get(f"/v2.0/hosts/{host}/dhcp_state", params=params)
            r.raise_for_status()
            since = r.json()["generation"]
            wakes.append(since)


async def lock_sampler(db_url: str, samples: list[int]) -> None:
    """Sessions waiting on a lock, every 50 ms, over a connection of its own."""
    if db_url.startswith("postgresql"):
        import asyncpg

        conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg", "postgresql"))
        query, close = (lambda: conn.fetchval(LOCK_WAITS["postgresql"])), conn.close
    else:
        import asyncmy

        name = db_url.rsplit("/", 1)[1].split("?")[0]
        conn = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", database=name)

        async def query() -> int:
            async with conn.cursor() as cur:
                await cur.execute(LOCK_WAITS["mariadb"])
                return (await cur.fetchone())[0]

        async def close() -> None:
            conn.close()

    try:
        while True:
            samples.append(int(await query()))
            await asyncio.sleep(0.05)
    finally:
        await close()


async def setup(url: str, hosts: list[str], networks: int) -> tuple[list[str], dict[str, int]]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await report_agents(client, hosts)
        ids = []
        for i in range(networks):
            net = (await client.post("/v2.0/networks", json={"network": {"name": f"hot-{i}"}})).json()["network"]
            body = {"network_id": net["id"], "ip_version": 4, "cidr": f"10.{100 + i}.0.0/16"}
            (await client.post("/v2.0/subnets", json={"subnet": body})).raise_for_status()
            ids.append(net["id"])
        served = {}
        for host in hosts:
            doc = (await client.get(f"/v2.0/hosts/{host}/dhcp_state")).json()
            served[host] = len(doc["networks"])
    return ids, served


async def create_ports(url: str, network_ids: list[str], clients: int, count: int) -> dict:
    conns = [harness.HttpConnection(url) for _ in range(clients)]
    todo = iter(range(count))
    latencies: list[float] = []
    errors: list[str] = []

    async def worker(conn: harness.HttpConnection) -> None:
        for i in todo:
            body = {"port": {"network_id": network_ids[i % len(network_ids)]}}
            start = time.perf_counter()
            status, data = await conn.request("POST", "/v2.0/ports", body)
            latencies.append((time.perf_counter() - start) * 1000)
            if status != 201:
                errors.append(f"{status} {data[:200]!r}")

    started = time.perf_counter()
    await asyncio.gather(*[worker(c) for c in conns])
    wall = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return {"wall": wall, "latencies": latencies, "errors": errors, "rate": (count - len(errors)) / wall}


async def case(url: str, db_url: str, agents: int, args: argparse.Namespace) -> dict:
    hosts = [f"hot-dhcp-{i}" for i in range(agents)]
    network_ids, served = await setup(url, hosts, args.networks)
    await create_ports(url, network_ids, args.clients, args.warmup)  # warm the workers' caches
    wakes: dict[str, list[int]] = {h: [] for h in hosts}
    samples: list[int] = []
    background = [asyncio.create_task(heartbeat(url, hosts))]
    background += [asyncio.create_task(watch(url, h, wakes[h])) for h in hosts]
    background.append(asyncio.create_task(lock_sampler(db_url, samples)))
    await asyncio.sleep(0.5)  # the watchers hold their first long-poll
    try:
        result = await create_ports(url, network_ids, args.clients, args.count)
        await asyncio.sleep(0.5)  # the last wake-ups
    finally:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    result |= {"served": served, "wakes": {h: len(w) - 1 for h, w in wakes.items()}, "samples": samples}
    return result


def line(agents: int, r: dict) -> str:
    lat, samples = r["latencies"], r["samples"] or [0]
    waiting = sum(1 for s in samples if s) / len(samples)
    spread = "/".join(str(n) for n in r["served"].values()) or "-"
    wakes = "/".join(str(n) for n in r["wakes"].values()) or "-"
    return (
        f"agents={agents}: ports/s={r['rate']:.1f} median={statistics.median(lat):.1f}ms "
        f"p99={harness.percentile(lat, 99):.1f}ms errors={len(r['errors'])} networks_per_agent={spread} "
        f"agent_wakeups={wakes} lock_waits mean={statistics.mean(samples):.2f} max={max(samples)} "
        f"any={100 * waiting:.0f}% of {len(samples)} samples"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="postgresql", choices=["postgresql", "mariadb"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--agents", type=int, nargs="+", default=[0, 1, 3], help="DHCP agents per case")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--count", type=int, default=3000, help="ports created per case")
    parser.add_argument("--networks", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    results = []
    for agents in args.agents:
        log = tempfile.NamedTemporaryFile(prefix="quark-hot-row-", suffix=".log", delete=False).name
        with (
            harness.fresh_database(args.db) as db_url,
            harness.running_server(db_url, args.workers, log_path=log) as url,
        ):
            result = asyncio.run(case(url, db_url, agents, args))
        result |= {"retries": harness.retries_in(log), "tracebacks": harness.server_errors_in(log)}
        for sample in result["errors"][:5]:
            print("error:", sample, file=sys.stderr)
        results.append((agents, result))

    print(
        f"server: {args.db}, quark serve --workers {args.workers}; {args.count} single-port POSTs per case "
        f"by {args.clients} clients over {args.networks} DHCP networks (IPv4 /16 each)"
    )
    print(f"machine: {harness.machine()}")
    for agents, r in results:
        print(f"server (agents={agents}): transaction retries={r['retries']} tracebacks={r['tracebacks']}")
    for agents, r in results:
        print(line(agents, r))
    print("RESULT " + " ".join(f"agents{a}_ports_per_s={r['rate']:.1f}" for a, r in results))


if __name__ == "__main__":
    main()
