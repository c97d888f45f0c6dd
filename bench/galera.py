"""Port creates on a 3-node MariaDB Galera cluster: every node writing vs one writer.

Starts its own cluster (tests/galera.py: three mariadbd on this machine),
migrates it, and runs three `quark serve` processes (one worker each) in two
topologies on the same cluster:

- ``all``: server i is given the multi-host URL that starts with node i, so
  each node takes a third of the writes (certification conflicts between
  nodes are re-run inside Quark);
- ``one``: every server is given the same URL (node 0 first), so one node
  takes all writes and the others only replicate (the "one writer behind a
  proxy" topology; the URL's other hosts are the failover);
- ``apart``: as ``all``, but each server's clients create their ports on a
  network (and subnet) of their own: all nodes writing without a shared
  allocation cursor.

Each phase: --clients concurrent clients creating single ports for --seconds
on a fresh network. Figures printed last: ports/s, p99, transaction retries
(the servers' "transaction retry" log lines) and client-visible errors.

    .venv/bin/python bench/galera.py
    .venv/bin/python bench/galera.py --clients 32 --seconds 20 --max-attempts 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from quark.db import migrate  # noqa: E402
from tests.galera import galera_cluster  # noqa: E402
from tests.galera_load import Load, create_ports, setup_network  # noqa: E402
from tests.servers import quark_server  # noqa: E402


def run_phase(cluster, mode: str, args: argparse.Namespace, subnet: str) -> tuple[Load, int]:
    env = {"QUARK_DB_MAX_ATTEMPTS": str(args.max_attempts)}
    with ExitStack() as stack:
        servers = [
            stack.enter_context(quark_server(cluster.url(0 if mode == "one" else i), env=env))
            for i in range(len(cluster.nodes))
        ]
        urls = [server.url for server in servers]
        network_id: str | list[str] = setup_network(urls[0], subnet)
        if mode == "apart":
            prefix = subnet.split(".")[1]
            network_id = [network_id] + [setup_network(urls[0], f"10.{prefix}.{64 * i}.0/18") for i in (1, 2)]
        # a short warm-up (connections, caches), not counted
        asyncio.run(create_ports(urls, network_id, clients=args.clients, seconds=2))
        before = sum(server.log_text().count("transaction retry") for server in servers)
        load = asyncio.run(create_ports(urls, network_id, clients=args.clients, seconds=args.seconds))
        retries = sum(server.log_text().count("transaction retry") for server in servers) - before
    return load, retries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-attempts", type=int, default=20, help="db_max_attempts of the servers")
    args = parser.parse_args()
    results = {}
    with galera_cluster() as cluster:
        migrate.upgrade(cluster.url(0))
        for index, mode in enumerate(("one", "all", "apart")):
            subnet = f"10.{50 + index}.0.0/16" if mode != "apart" else f"10.{50 + index}.0.0/18"
            results[mode] = run_phase(cluster, mode, args, subnet)
    print(f"Galera, 3 nodes on one machine, 3 quark serve (1 worker each), {args.clients} clients, single POSTs")
    print(f"db_max_attempts={args.max_attempts}, {args.seconds:.0f} s per topology")
    for mode, label in (
        ("one", "one writer (all servers on node 0)"),
        ("all", "all nodes writing, one subnet"),
        ("apart", "all nodes writing, a subnet per node"),
    ):
        load, retries = results[mode]
        print(
            f"{label}: {load.rate:.0f} ports/s, p99 {load.p99() * 1000:.0f} ms, "
            f"{len(load.created)} ports, {retries} retries ({retries / max(1, len(load.created)):.2f}/port), "
            f"{len(load.errors)} errors"
        )


if __name__ == "__main__":
    main()
