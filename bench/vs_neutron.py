"""The port-create workload of bench/port_create.py against Quark and a real
Neutron, in one run, on the same machine and the same database server.

Each port: a MAC, one IPv4 and one IPv6 address (a network with an IPv4 /16
and a stateful IPv6 /64), created without fixed_ips. Every service gets the
same requests: ``--requests`` single POSTs from ``--clients`` clients, then
``--bulk-requests`` POSTs of ``--bulk`` ports from ``--bulk-clients``
clients (one keep-alive connection each), after ``--warmup`` untimed
requests of the same shape per client.

- Neutron: the stock peer of ../shared/peers/neutron (Neutron 29, ML2,
  noauth, uWSGI with 2 API workers) on MariaDB; started (fresh database
  ``neutron_vs``) and stopped by this script.
- Quark: ``quark serve --workers 2`` on a fresh database on the same MariaDB
  server (the like-for-like figure), and on PostgreSQL (Quark's recommended
  database) unless ``--quark-backends mariadb``.

All servers are up together; each phase is cut into ``--rounds`` rounds and
every round sends its share of the requests to each service in turn, so
whatever else the machine does hits every service alike (Neutron's phase
takes minutes, Quark's seconds: run one after the other, they would meet
different loads). A service's rate is its ports over the sum of its rounds'
wall times; its server CPU is counted over its rounds only.

    .venv/bin/python bench/vs_neutron.py
    .venv/bin/python bench/vs_neutron.py --quark-backends mariadb --requests 64 --bulk-requests 8   # quick

Target (issue 3): Quark >= 20x Neutron's ports/s. The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import port_create

PEER = harness.neutron_peer_kit()
NEUTRON_URL = "http://127.0.0.1:9797"


@contextmanager
def running_neutron() -> Iterator[str]:
    env = {**os.environ, "NEUTRON_PEER_DB": "neutron_vs", "NEUTRON_DB_RESET": "1"}
    subprocess.run(["bash", str(PEER / "stop.sh")], check=False, capture_output=True)
    subprocess.run(["bash", str(PEER / "start.sh")], check=True, env=env)
    try:
        unlimited_neutron_quota()
        yield NEUTRON_URL
    finally:
        subprocess.run(["bash", str(PEER / "stop.sh")], check=False)


def unlimited_neutron_quota() -> None:
    """Neutron's default quota is 500 ports per project (noauth: ``fake_project_id``);
    lift it, or the bulk phase runs into 409 OverQuota instead of measuring."""
    body = {"quota": {"port": -1, "network": -1, "subnet": -1, "security_group": -1}}
    r = httpx.put(f"{NEUTRON_URL}/v2.0/quotas/fake_project_id", json=body, timeout=60)
    r.raise_for_status()


def neutron_pids() -> list[int]:
    home = Path(os.environ.get("NEUTRON_PEER_HOME", Path.home() / ".cache" / "quark-peers" / "neutron"))
    try:
        master = int((home / "neutron.pid").read_text().strip())
    except (OSError, ValueError):
        return []
    return [master, *harness.children_of(master)]


@dataclass
class Side:
    """One service under test and what its rounds measured."""

    label: str
    url: str
    pids: list[int]
    network_id: str = ""
    conns: list[harness.HttpConnection] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    ports: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ports / self.wall if self.wall else 0.0


def body(network_id: str, bulk: int) -> dict:
    if bulk == 1:
        return {"port": {"network_id": network_id}}
    return {"ports": [{"network_id": network_id} for _ in range(bulk)]}


async def send(side: Side, conn: harness.HttpConnection, bulk: int, timed: bool) -> None:
    started = time.perf_counter()
    try:
        status, data = await conn.request("POST", "/v2.0/ports", body(side.network_id, bulk))
    except (OSError, asyncio.IncompleteReadError) as exc:
        side.errors.append(f"transport: {exc!r}")
        return
    if timed:
        side.latencies.append((time.perf_counter() - started) * 1000)
    if status != 201:
        side.errors.append(f"{status} {data[:200]!r}")
        return
    doc = orjson.loads(data)
    ports = doc["ports"] if bulk > 1 else [doc["port"]]
    if any(len(p["fixed_ips"]) != 2 for p in ports):
        side.errors.append("port without one IPv4 and one IPv6 address")
    elif timed:
        side.ports += len(ports)


async def burst(side: Side, requests: int, bulk: int, timed: bool = True) -> None:
    """``requests`` POSTs over the side's connections, each sending its next as soon as the last is answered."""
    queue = list(range(requests))

    async def client(conn: harness.HttpConnection) -> None:
        while queue:
            queue.pop()
            await send(side, conn, bulk, timed)

    cpu_before = harness.cpu_seconds(side.pids)
    started = time.perf_counter()
    await asyncio.gather(*[client(conn) for conn in side.conns])
    if timed:
        side.wall += time.perf_counter() - started
        side.cpu += harness.cpu_seconds(side.pids) - cpu_before


async def run_phase(sides: list[Side], index: int, clients: int, requests: int, bulk: int, args) -> None:
    """One phase on every side: a new network each, the warm-up, then the rounds, interleaved."""
    for side in sides:
        async with httpx.AsyncClient(base_url=side.url, timeout=300) as client:
            side.network_id = await port_create.setup(client, index)
        side.conns = [harness.HttpConnection(side.url) for _ in range(clients)]
        await burst(side, args.warmup * clients, bulk, timed=False)
    shares = [requests // args.rounds + (1 if r < requests % args.rounds else 0) for r in range(args.rounds)]
    for share in shares:
        for side in sides:
            await burst(side, share, bulk)
    for side in sides:
        for conn in side.conns:
            conn.close()


def report_line(name: str, clients: int, bulk: int, side: Side) -> str:
    lat = side.latencies
    cpu = f" server_cpu_per_port={side.cpu * 1000 / side.ports:.2f}ms" if side.ports and side.pids else ""
    return (
        f"{side.label} {name}: clients={clients} ports_per_post={bulk} requests={len(lat)} ports={side.ports} "
        f"wall={side.wall:.2f}s ports/s={side.rate:.1f} per-request median={harness.percentile(lat, 50):.1f}ms "
        f"p99={harness.percentile(lat, 99):.1f}ms errors={len(side.errors)}{cpu}"
    )


def start_servers(stack: ExitStack, backends: list[str], logs: dict[str, str]) -> list[tuple[str, str, list[int]]]:
    """Neutron and a Quark per backend, all up until ``stack`` closes: (label, url, server pids)."""
    servers = [("neutron (MariaDB, uWSGI 2 workers)", stack.enter_context(running_neutron()), neutron_pids())]
    for backend in backends:
        info: dict = {}
        logs[backend] = f"/tmp/quark-vs-neutron-{backend}-{int(time.time())}.log"
        db_url = stack.enter_context(harness.fresh_database(backend))
        url = stack.enter_context(harness.running_server(db_url, 2, log_path=logs[backend], info=info))
        servers.append((f"quark ({backend}, 2 workers)", url, harness.children_of(info["pid"])))
    return servers


def print_results(phases: list[tuple], backends: list[str], results: dict[str, list[Side]], logs: dict) -> None:
    for sides in results.values():
        for side in sides:
            for sample in side.errors[:3]:
                print(f"error ({side.label}): {sample}", file=sys.stderr)
    for name, clients, _, bulk in phases:
        for side in results[name]:
            print(report_line(name, clients, bulk, side))
    for backend in backends:
        print(f"quark ({backend}): transaction retries={harness.retries_in(logs[backend])}")
    print(f"machine: {harness.machine()}")
    summary = []
    for name, *_ in phases:
        neutron, *quarks = results[name]
        for backend, side in zip(backends, quarks):
            ratio = side.rate / neutron.rate if neutron.rate else float("inf")
            print(
                f"{name}: quark/{backend} {side.rate:.1f} ports/s vs neutron {neutron.rate:.1f} ports/s "
                f"-> {ratio:.1f}x (target >= 20x)"
            )
            summary.append(f"{name}_{backend}_ratio={ratio:.1f}")
    errors = sum(len(side.errors) for sides in results.values() for side in sides)
    print("RESULT " + " ".join(summary) + f" errors={errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quark-backends", default="mariadb,postgresql")
    parser.add_argument("--phases", default="single,bulk")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients, single POSTs")
    parser.add_argument("--requests", type=int, default=480, help="single POSTs per service")
    parser.add_argument("--bulk", type=int, default=100, help="ports per bulk POST")
    parser.add_argument("--bulk-clients", type=int, default=4)
    parser.add_argument("--bulk-requests", type=int, default=16, help="bulk POSTs per service")
    parser.add_argument("--warmup", type=int, default=1, help="untimed requests per client before each phase")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per phase, each service in turn")
    args = parser.parse_args()

    phases = []
    if "single" in args.phases:
        phases.append(("single", args.clients, args.requests, 1))
    if "bulk" in args.phases:
        phases.append(("bulk", args.bulk_clients, args.bulk_requests, args.bulk))
    backends = [b.strip() for b in args.quark_backends.split(",") if b.strip()]
    results: dict[str, list[Side]] = {}
    logs: dict[str, str] = {}
    with ExitStack() as stack:
        servers = start_servers(stack, backends, logs)
        for index, (name, clients, requests, bulk) in enumerate(phases):
            sides = [Side(label, url, pids) for label, url, pids in servers]
            asyncio.run(run_phase(sides, index + 8, clients, requests, bulk, args))
            results[name] = sides
            print(f"{name} phase done, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
    print_results(phases, backends, results, logs)


if __name__ == "__main__":
    main()
