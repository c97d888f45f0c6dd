"""The port-create workload of bench/port_create.py against Quark and a real
Neutron, in one run, on the same machine and the same database server.

Each port: a MAC, one IPv4 and one IPv6 address (a network with an IPv4 /16
and a stateful IPv6 /64), created without fixed_ips. Both services get the
same clients (one keep-alive connection each), single POSTs then bulk POSTs.

- Neutron: the stock peer of ../shared/peers/neutron (Neutron 29, ML2,
  noauth, uWSGI with 2 API workers) on MariaDB; started (fresh database
  ``neutron_vs``) and stopped by this script.
- Quark: ``quark serve --workers 2`` on a fresh database on the same MariaDB
  server (the like-for-like figure), and also on PostgreSQL (Quark's
  recommended database) unless ``--quark-backends mariadb``.

Neutron creates a few ports per second, so it gets fewer ports to create
(--neutron-count); rates are per second either way.

    .venv/bin/python bench/vs_neutron.py
    .venv/bin/python bench/vs_neutron.py --quark-backends mariadb --neutron-count 100 --quark-count 1000

Target (issue 3): Quark >= 20x Neutron's ports/s. The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import port_create

PEER = harness.ROOT.parent / "shared" / "peers" / "neutron"
NEUTRON_URL = "http://127.0.0.1:9797"


def start_neutron() -> None:
    env = {**os.environ, "NEUTRON_PEER_DB": "neutron_vs", "NEUTRON_DB_RESET": "1"}
    subprocess.run(["bash", str(PEER / "stop.sh")], check=False, capture_output=True)
    subprocess.run(["bash", str(PEER / "start.sh")], check=True, env=env)


def unlimited_neutron_quota() -> None:
    """Neutron's default quota is 500 ports per project (noauth: ``fake_project_id``);
    lift it, or the bulk phase runs into 409 OverQuota instead of measuring."""
    body = {"quota": {"port": -1, "network": -1, "subnet": -1, "security_group": -1}}
    r = httpx.put(f"{NEUTRON_URL}/v2.0/quotas/fake_project_id", json=body, timeout=60)
    r.raise_for_status()


def stop_neutron() -> None:
    subprocess.run(["bash", str(PEER / "stop.sh")], check=False)


def neutron_pids() -> list[int]:
    home = Path(os.environ.get("NEUTRON_PEER_HOME", Path.home() / ".cache" / "quark-peers" / "neutron"))
    try:
        master = int((home / "neutron.pid").read_text().strip())
    except (OSError, ValueError):
        return []
    return [master, *harness.children_of(master)]


def phases(args) -> list[tuple[str, int, int]]:
    out = []
    if "single" in args.phases:
        out.append(("single", 1, args.clients))
    if "bulk" in args.phases:
        out.append(("bulk", args.bulk, args.bulk_clients))
    return out


def measure(url: str, count: int, args, pids: list[int]) -> dict:
    results = {}
    for index, (name, bulk, clients) in enumerate(phases(args)):
        n = max(count, bulk) if bulk == 1 else max(count - count % bulk, bulk)
        before = harness.cpu_seconds(pids)
        result = asyncio.run(port_create.run(url, clients, n, bulk, args.warmup, index + 8))
        used = harness.cpu_seconds(pids) - before
        result["cpu_ms_per_port"] = used * 1000 / result["ports"] if result["ports"] and pids else None
        results[name] = result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quark-backends", default="mariadb,postgresql")
    parser.add_argument("--phases", default="single,bulk")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--bulk", type=int, default=100)
    parser.add_argument("--bulk-clients", type=int, default=4)
    parser.add_argument("--neutron-count", type=int, default=300, help="ports Neutron creates per phase")
    parser.add_argument("--quark-count", type=int, default=3000, help="ports Quark creates per phase")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    start_neutron()
    try:
        unlimited_neutron_quota()
        neutron = measure(NEUTRON_URL, args.neutron_count, args, neutron_pids())
    finally:
        stop_neutron()
    quark: dict[str, dict] = {}
    for backend in [b.strip() for b in args.quark_backends.split(",") if b.strip()]:
        info: dict = {}
        log = f"/tmp/quark-vs-neutron-{backend}-{int(time.time())}.log"
        with (
            harness.fresh_database(backend) as db_url,
            harness.running_server(db_url, 2, log_path=log, info=info) as url,
        ):
            quark[backend] = measure(url, args.quark_count, args, harness.children_of(info["pid"]))

    def line(label: str, name: str, result: dict) -> str:
        cpu = result.get("cpu_ms_per_port")
        return port_create.report(
            f"{label} {name}",
            {"single": args.clients, "bulk": args.bulk_clients}[name],
            args.bulk if name == "bulk" else 1,
            result,
        ) + (f" server_cpu_per_port={cpu:.2f}ms" if cpu else "")

    for label, results in [("neutron", neutron), *quark.items()]:
        for name, result in results.items():
            for sample in result["errors"][:3]:
                print(f"error ({label} {name}): {sample}", file=sys.stderr)
    for name in neutron:
        print(line("neutron (MariaDB, uWSGI 2 workers)", name, neutron[name]))
        for backend, results in quark.items():
            print(line(f"quark ({backend}, 2 workers)", name, results[name]))
    print(f"machine: {harness.machine()}")
    summary = []
    for name in neutron:
        n_rate = neutron[name]["rate"]
        for backend, results in quark.items():
            ratio = results[name]["rate"] / n_rate if n_rate else float("inf")
            print(
                f"{name}: quark/{backend} {results[name]['rate']:.1f} ports/s vs neutron {n_rate:.1f} ports/s "
                f"-> {ratio:.1f}x (target >= 20x)"
            )
            summary.append(f"{name}_{backend}_ratio={ratio:.1f}")
    errors = sum(len(r["errors"]) for r in neutron.values()) + sum(
        len(r["errors"]) for results in quark.values() for r in results.values()
    )
    print("RESULT " + " ".join(summary) + f" errors={errors}")


if __name__ == "__main__":
    main()
