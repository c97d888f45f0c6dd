"""Nova's network-info refresh of one instance: Quark vs Neutron, one run.

Fills each service with the same data through its API (default: 1,000
networks, each with an IPv4 /24 and an IPv6 /64 subnet and a DHCP port,
10,000 ports in all), gives one instance one dual-stack port, then replays
the exact GET sequence Nova's ``_build_network_info_model`` makes for it
(field-notes §1.7) many times:

    1  GET /v2.0/ports?tenant_id=T&device_id=D              list_ports(device_id, tenant_id)
    2  GET /v2.0/networks?id=N                              list_networks(id=[...])
    3  GET /v2.0/floatingips?fixed_ip_address=A4&port_id=P  per fixed IP
    4  GET /v2.0/floatingips?fixed_ip_address=A6&port_id=P
    5  GET /v2.0/subnets?id=S4&id=S6                        list_subnets(id=[...])
    6  GET /v2.0/ports?network_id=N&device_owner=network:dhcp   per subnet (DHCP server)
    7  GET /v2.0/ports?network_id=N&device_owner=network:dhcp
    8  GET /v2.0/networks/N?fields=provider:physical_network&fields=provider:network_type

and, on Quark, the same data in one request: ``GET /v2.0/instances/D``.

Quark runs with ``quark serve --workers 2`` on a database it creates on
MariaDB (the same database server as Neutron's: the like-for-like figure)
and on PostgreSQL (``--quark-backends``); Neutron is the stock peer from
../shared/peers/neutron (MariaDB), started and stopped by this script
(``--no-neutron`` skips it). Nobody runs ANALYZE after the fill: Quark's
server keeps its PostgreSQL statistics fresh itself (quark.db.statistics),
InnoDB does so for MariaDB. All services are filled first, then the
refreshes are interleaved: each round makes one refresh (and on Quark one
``instances`` request) on every service in turn, so the machine's load hits
them alike.

    .venv/bin/python bench/nova_info.py
    .venv/bin/python bench/nova_info.py --networks 200 --ports 2000 --rounds 100 --no-neutron
    .venv/bin/python bench/nova_info.py --quark-backends postgresql --no-neutron   # issue 4's figure

The last lines are the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

PEER = harness.neutron_peer_kit()
NEUTRON_URL = "http://127.0.0.1:9797"
PROJECT = "nova-bench-project"
HEADERS = {"Content-Type": "application/json"}


def post(client: httpx.Client, path: str, body: dict) -> dict:
    r = client.post(path, json=body)
    if r.status_code != 201:
        raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:500]}")
    return r.json()


def populate(client: httpx.Client, networks: int, ports: int, batch: int) -> dict:
    """Networks with dual-stack subnets and a DHCP port each, ``ports`` ports
    spread over them, and the instance under test; returns its identifiers."""
    net_ids: list[str] = []
    for start in range(0, networks, batch):
        chunk = [{"name": f"nova-bench-{i}", "tenant_id": PROJECT} for i in range(start, min(networks, start + batch))]
        net_ids += [n["id"] for n in post(client, "/v2.0/networks", {"networks": chunk})["networks"]]
    subnets: dict[str, list[str]] = {}
    for start in range(0, len(net_ids), batch // 2 or 1):
        chunk = []
        for i, net_id in enumerate(net_ids[start : start + (batch // 2 or 1)], start):
            chunk.append(
                {"network_id": net_id, "ip_version": 4, "cidr": f"10.{i // 256}.{i % 256}.0/24", "tenant_id": PROJECT}
            )
            chunk.append({"network_id": net_id, "ip_version": 6, "cidr": f"2001:db8:{i:x}::/64", "tenant_id": PROJECT})
        for sub in post(client, "/v2.0/subnets", {"subnets": chunk})["subnets"]:
            subnets.setdefault(sub["network_id"], []).append(sub["id"])
    dhcp = [
        {"network_id": net_id, "device_owner": "network:dhcp", "device_id": f"dhcp-{net_id}", "tenant_id": PROJECT}
        for net_id in net_ids
    ]
    for start in range(0, len(dhcp), batch):
        post(client, "/v2.0/ports", {"ports": dhcp[start : start + batch]})
    per_network = max(1, ports // len(net_ids))
    bodies = [
        {
            "network_id": net_ids[i // per_network % len(net_ids)],
            "device_id": str(uuid.uuid4()),
            "device_owner": "compute:nova",
            "tenant_id": PROJECT,
        }
        for i in range(ports)
    ]
    for start in range(0, len(bodies), batch):
        post(client, "/v2.0/ports", {"ports": bodies[start : start + batch]})
    target_net = net_ids[len(net_ids) // 2]
    device_id = str(uuid.uuid4())
    port = post(
        client,
        "/v2.0/ports",
        {
            "port": {
                "network_id": target_net,
                "device_id": device_id,
                "device_owner": "compute:nova",
                "tenant_id": PROJECT,
            }
        },
    )["port"]
    return {"device_id": device_id, "network_id": target_net, "port": port}


def nova_sequence(target: dict) -> list[tuple[str, str, list]]:
    port, net = target["port"], target["network_id"]
    by_version = {":" in ip["ip_address"]: ip for ip in port["fixed_ips"]}
    v4, v6 = by_version[False], by_version[True]
    return [
        ("list_ports(device_id)", "/v2.0/ports", [("tenant_id", PROJECT), ("device_id", target["device_id"])]),
        ("list_networks(id)", "/v2.0/networks", [("id", net)]),
        (
            "list_floatingips(v4)",
            "/v2.0/floatingips",
            [("fixed_ip_address", v4["ip_address"]), ("port_id", port["id"])],
        ),
        (
            "list_floatingips(v6)",
            "/v2.0/floatingips",
            [("fixed_ip_address", v6["ip_address"]), ("port_id", port["id"])],
        ),
        ("list_subnets(id)", "/v2.0/subnets", [("id", v4["subnet_id"]), ("id", v6["subnet_id"])]),
        ("list_ports(dhcp, v4)", "/v2.0/ports", [("network_id", net), ("device_owner", "network:dhcp")]),
        ("list_ports(dhcp, v6)", "/v2.0/ports", [("network_id", net), ("device_owner", "network:dhcp")]),
        (
            "show_network(physnet)",
            f"/v2.0/networks/{net}",
            [("fields", "provider:physical_network"), ("fields", "provider:network_type")],
        ),
    ]


def refresh(client: httpx.Client, steps: list) -> tuple[float, dict[str, float]]:
    """One Nova refresh: (total ms, ms per step)."""
    total = 0.0
    per_step: dict[str, float] = {}
    for name, path, params in steps:
        t0 = time.perf_counter()
        r = client.get(path, params=params)
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")
        total += elapsed
        per_step[name] = elapsed
    return total, per_step


def one_request(client: httpx.Client, device_id: str) -> float:
    t0 = time.perf_counter()
    r = client.get(f"/v2.0/instances/{device_id}")
    elapsed = (time.perf_counter() - t0) * 1000
    if r.status_code != 200 or len(r.json()["instance"]["ports"]) != 1:
        raise RuntimeError(f"instance info: {r.status_code} {r.text[:300]}")
    return elapsed


@dataclass
class Side:
    """A service under test: its client, its instance, and what the rounds measured."""

    label: str
    client: httpx.Client
    target: dict
    with_extension: bool
    totals: list[float] = field(default_factory=list)
    per_step: dict[str, list[float]] = field(default_factory=dict)
    one: list[float] = field(default_factory=list)


def fill(label: str, url: str, args, *, with_extension: bool, stack: ExitStack) -> Side:
    client = stack.enter_context(httpx.Client(base_url=url, timeout=600, headers=HEADERS))
    t0 = time.perf_counter()
    target = populate(client, args.networks, args.ports, args.batch)
    print(
        f"{label}: filled {args.networks} networks / {args.ports} ports in {time.perf_counter() - t0:.1f} s", flush=True
    )
    return Side(label, client, target, with_extension)


def replay(sides: list[Side], rounds: int, warmup: int) -> None:
    """``warmup + rounds`` rounds; each one refresh (and one instances request) per side in turn."""
    steps = {side.label: nova_sequence(side.target) for side in sides}
    for i in range(warmup + rounds):
        for side in sides:
            total, per_step = refresh(side.client, steps[side.label])
            one = one_request(side.client, side.target["device_id"]) if side.with_extension else None
            if i < warmup:
                continue
            side.totals.append(total)
            for name, value in per_step.items():
                side.per_step.setdefault(name, []).append(value)
            if one is not None:
                side.one.append(one)


@contextmanager
def running_neutron() -> Iterator[None]:
    env = {**os.environ, "NEUTRON_PEER_DB": "neutron_nova_info", "NEUTRON_DB_RESET": "1"}
    subprocess.run(["bash", str(PEER / "start.sh")], check=True, env=env)
    try:
        lift_neutron_quota()
        yield
    finally:
        subprocess.run(["bash", str(PEER / "stop.sh")], check=False)


def lift_neutron_quota() -> None:
    """Neutron's default quota (100 networks, 100 subnets, 500 ports per
    project) is far below the data set; lift it for the bench project."""
    body = {"quota": {"network": -1, "subnet": -1, "port": -1}}
    r = httpx.put(f"{NEUTRON_URL}/v2.0/quotas/{PROJECT}", json=body, timeout=60)
    r.raise_for_status()


def report(side: Side) -> None:
    print(f"{side.label} per GET (ms):")
    for name, values in side.per_step.items():
        print(f"  {name:<24} {harness.summary(values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=1000)
    parser.add_argument("--ports", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quark-backends", default="mariadb,postgresql")
    parser.add_argument("--no-neutron", action="store_true", help="measure Quark only")
    args = parser.parse_args()

    backends = [b.strip() for b in args.quark_backends.split(",") if b.strip()]
    with ExitStack() as stack:
        sides = []
        for backend in backends:
            db_url = stack.enter_context(harness.fresh_database(backend))
            url = stack.enter_context(harness.running_server(db_url, args.workers))
            sides.append(fill(f"quark ({backend})", url, args, with_extension=True, stack=stack))
        if not args.no_neutron:
            stack.enter_context(running_neutron())
            sides.append(fill("neutron (mariadb)", NEUTRON_URL, args, with_extension=False, stack=stack))
        load_before = os.getloadavg()
        replay(sides, args.rounds, args.warmup)

    print_results(sides, args, load_before[0])


def print_results(sides: list[Side], args, load: float) -> None:
    for side in sides:
        report(side)
    print(f"machine: {harness.machine()}; load at the start of the replay {load:.2f}")
    print(f"data: {args.networks} networks, {args.ports} ports; {args.rounds} refreshes of one dual-stack port")
    for side in sides:
        target = "  (target p99 <= 50 ms)" if side.with_extension else ""
        print(f"{side.label} nova sequence (8 GETs) total: {harness.summary(side.totals)}{target}")
        if side.with_extension:
            print(f"{side.label} one request GET /v2.0/instances/D: {harness.summary(side.one)}  (target p99 <= 10 ms)")
    neutron = next((side for side in sides if not side.with_extension), None)
    fields = []
    for side in sides:
        if neutron is None or side is neutron:
            continue
        n_total, q_total = harness.percentile(neutron.totals, 99), harness.percentile(side.totals, 99)
        q_one = harness.percentile(side.one, 99)
        backend = side.label.split("(")[1].rstrip(")")
        print(
            f"ratio neutron/{side.label} p99, nova sequence: {n_total / q_total:.1f}x; "
            f"neutron sequence / quark one request: {n_total / q_one:.1f}x"
        )
        fields.append(f"sequence_p99_ratio_{backend}={n_total / q_total:.1f}")
    for side in sides:
        if side.with_extension:
            backend = side.label.split("(")[1].rstrip(")")
            fields.append(f"quark_{backend}_sequence_p99_ms={harness.percentile(side.totals, 99):.1f}")
            fields.append(f"quark_{backend}_one_p99_ms={harness.percentile(side.one, 99):.1f}")
    print("RESULT " + " ".join(fields))


if __name__ == "__main__":
    main()
