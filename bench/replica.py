"""Port lists with and without a PostgreSQL read replica (issue 21).

Starts its own PostgreSQL primary and streaming standby (tests/pg_replica.py:
Debian's binaries, on free ports, removed after), migrates the primary, fills
one network with --ports ports and runs `quark serve` (--workers) three ways:

- ``primary``: no replica; --clients clients list the network's ports
  (``?network_id=…&limit=100``) for --seconds;
- ``replica``: the same lists with ``database_replica_url`` set;
- ``create+list``: with the replica, each client creates a port then lists
  its project's ports (Rally's create-and-list-ports): read-your-writes
  sends the list after each create to the primary until the replica has
  replayed it.

Figures printed last: requests/s, p50/p99, the transactions each server ran
(``pg_stat_database``: xact_commit + xact_rollback of Quark's database) and
where the lag-tolerant reads ran (``quark_db_lag_tolerant_reads_total``). Both
servers share this machine's cores: the replica moves the reads' work off the
primary, it adds no CPU here.

    .venv/bin/python bench/replica.py
    .venv/bin/python bench/replica.py --clients 16 --seconds 15 --ports 2000 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quark.db import migrate  # noqa: E402
from tests.pg_replica import ReplicaPair, Server, pg_replica  # noqa: E402
from tests.servers import RunningServer, quark_server  # noqa: E402


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    transactions: dict[str, int] = field(default_factory=dict)
    reads: dict[str, float] = field(default_factory=dict)

    def row(self) -> str:
        done = len(self.latencies)
        ordered = sorted(self.latencies) or [0.0]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        reads = ", ".join(f"{k} {int(v)}" for k, v in sorted(self.reads.items())) or "-"
        return (
            f"{self.name:12} {done / self.seconds:8.1f} req/s  p50 {statistics.median(ordered) * 1000:6.1f} ms  "
            f"p99 {p99 * 1000:6.1f} ms  errors {self.errors}  transactions primary {self.transactions['primary']} "
            f"replica {self.transactions['replica']}  lag-tolerant reads: {reads}"
        )


def transactions(server: Server, database: str) -> int:
    rows = server.query(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", params=(database,)
    )
    return int(rows[0][0])


def lagging_reads(server: RunningServer) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith("quark_db_lag_tolerant_reads_total{"):
            target = line.split('target="', 1)[1].split('"', 1)[0]
            out[target] = out.get(target, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def fill(url: str, ports: int) -> str:
    """A network with a /16 and ``ports`` ports (bulk creates of 500); its id."""
    with httpx.Client(base_url=url, timeout=120) as client:
        net = client.post("/v2.0/networks", json={"network": {"name": "bench-replica"}}).json()["network"]
        subnet = {"network_id": net["id"], "ip_version": 4, "cidr": "10.70.0.0/16"}
        client.post("/v2.0/subnets", json={"subnet": subnet}).raise_for_status()
        for start in range(0, ports, 500):
            batch = [{"network_id": net["id"]} for _ in range(min(500, ports - start))]
            client.post("/v2.0/ports", json={"ports": batch}).raise_for_status()
        return net["id"]


async def list_ports(url: str, network_id: str, phase: Phase, until: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            response = await client.get("/v2.0/ports", params={"network_id": network_id, "limit": 100})
            if response.status_code == 200:
                phase.latencies.append(time.monotonic() - started)
            else:
                phase.errors += 1


async def create_and_list(url: str, network_id: str, phase: Phase, until: float) -> None:
    project = f"bench-{uuid.uuid4().hex[:8]}"
    headers = {"X-Project-Id": project, "X-Roles": "member"}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
        net = (await client.post("/v2.0/networks", json={"network": {"name": project}})).json()["network"]
        subnet = {"network_id": net["id"], "ip_version": 4, "cidr": "10.80.0.0/16"}
        (await client.post("/v2.0/subnets", json={"subnet": subnet})).raise_for_status()
        while time.monotonic() < until:
            started = time.monotonic()
            created = await client.post("/v2.0/ports", json={"port": {"network_id": net["id"]}})
            listed = await client.get("/v2.0/ports", params={"limit": 100})
            if created.status_code == 201 and listed.status_code == 200:
                phase.latencies.append(time.monotonic() - started)
            else:
                phase.errors += 1


def run(pair: ReplicaPair, name: str, args: argparse.Namespace, network_id: str, replica: bool) -> Phase:
    env = {"QUARK_DATABASE_REPLICA_URL": pair.url(pair.standby)} if replica else {}
    env["QUARK_PAGINATION_MAX_LIMIT"] = "0"
    env["QUARK_QUOTA_PORT"] = "-1"
    phase = Phase(name)
    work = create_and_list if name == "create+list" else list_ports
    with quark_server(pair.url(pair.primary), workers=args.workers, env=env) as server:

        async def clients(seconds: float, into: Phase) -> None:
            until = time.monotonic() + seconds
            await asyncio.gather(*(work(server.url, network_id, into, until) for _ in range(args.clients)))

        asyncio.run(clients(2.0, Phase("warm-up")))
        time.sleep(1.0)  # the probes have seen the replica caught up after the warm-up's writes
        before = {s.name: transactions(s, pair.database) for s in (pair.primary, pair.standby)}
        reads_before = lagging_reads(server)
        started = time.monotonic()
        asyncio.run(clients(args.seconds, phase))
        phase.seconds = time.monotonic() - started
        after = {s.name: transactions(s, pair.database) for s in (pair.primary, pair.standby)}
        phase.transactions = {"primary": after["primary"] - before["primary"]}
        phase.transactions["replica"] = after["standby"] - before["standby"]
        reads_after = lagging_reads(server)
        phase.reads = {k: v - reads_before.get(k, 0.0) for k, v in reads_after.items()}
    return phase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--ports", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with pg_replica() as pair:
        pair.primary.query(f"CREATE DATABASE {pair.database}")
        migrate.upgrade(pair.url(pair.primary))
        with quark_server(pair.url(pair.primary), env={"QUARK_QUOTA_PORT": "-1"}) as loader:
            network_id = fill(loader.url, args.ports)
        pair.wait_replayed()
        pair.primary.query("VACUUM ANALYZE", pair.database)
        pair.wait_replayed()
        phases = [
            run(pair, "primary", args, network_id, replica=False),
            run(pair, "replica", args, network_id, replica=True),
            run(pair, "create+list", args, network_id, replica=True),
        ]
    print(f"\n{args.clients} clients, {args.workers} workers, {args.seconds:.0f} s a phase, {args.ports} ports listed")
    for phase in phases:
        print(phase.row())


if __name__ == "__main__":
    main()
