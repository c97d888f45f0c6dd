"""The cost of permanent links (docs/links.md) on the hot path: GET /v2.0/ports
answering 1,000 ports.

A real ``quark serve`` (one worker) on a fresh database is filled with
``--ports`` ports (bulk POSTs), then ``--rounds`` lists of all of them are
timed, interleaved with the same list narrowed by ``fields`` to every
attribute but ``links`` (the same rows, the same views, no links built).
Run it on this branch and, for a before figure, with ``PYTHONPATH`` on a
checkout of main (which has no links: both columns then measure the same).
It also times ``Linker.add`` alone over as many views, in process.

    .venv/bin/python bench/list_links.py --backend postgresql --ports 1000 --rounds 40
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path

import httpx

from quark.api.definitions.core import PORT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import fresh_database, machine, running_server, summary


def fill(client: httpx.Client, ports: int) -> None:
    net = client.post("/v2.0/networks", json={"network": {"name": "links-bench"}}).json()["network"]
    subnet = {"network_id": net["id"], "ip_version": 4, "cidr": "10.90.0.0/16"}
    assert client.post("/v2.0/subnets", json={"subnet": subnet}).status_code == 201
    for start in range(0, ports, 100):
        body = {"ports": [{"network_id": net["id"], "name": f"p{i}"} for i in range(start, min(ports, start + 100))]}
        response = client.post("/v2.0/ports", json=body)
        assert response.status_code == 201, response.text


def timed(client: httpx.Client, params: dict) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get("/v2.0/ports", params=params)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed, len(response.content)


def in_process(ports: int) -> float:
    """µs per 1,000 views for ``Linker.add`` alone."""
    try:
        from quark.api.links import Linker
    except ImportError:  # main: no links
        return 0.0
    linker = Linker("http://127.0.0.1:9696", "ports")
    views = [{"id": f"{i:08d}-0000-4000-8000-000000000000", "name": "p"} for i in range(ports)]
    runs = 50
    seconds = timeit.timeit(lambda: [linker.add(v) for v in views], number=runs)
    return seconds / runs * 1e6 * 1000 / ports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="postgresql", choices=("sqlite", "postgresql", "mariadb"))
    parser.add_argument("--ports", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    print(machine())
    narrowed = {"fields": [a.name for a in PORT.attributes if a.returned]}
    with fresh_database(args.backend) as url, running_server(url, workers=1) as base:
        with httpx.Client(base_url=base, timeout=120) as client:
            fill(client, args.ports)
            for _ in range(3):  # warm-up: caches, statement plans
                timed(client, {})
                timed(client, narrowed)
            full, without, sizes = [], [], set()
            for _ in range(args.rounds):
                ms, size = timed(client, {})
                full.append(ms)
                sizes.add(size)
                without.append(timed(client, narrowed)[0])
    print(f"GET /v2.0/ports, {args.ports} ports, {args.backend}, {args.rounds} rounds, body {sorted(sizes)} bytes")
    print(f"  every attribute (links included where served): {summary(full)}")
    print(f"  fields = every attribute but links:            {summary(without)}")
    print(f"  Linker.add alone, in process: {in_process(args.ports):.0f} µs per 1,000 views")


if __name__ == "__main__":
    main()
