"""Concurrent API clients spread over several Quark servers (one per Galera
node), for tests/api/test_galera.py and bench/galera.py.

Client ``i`` talks to server ``i % len(urls)``. Every answer is kept: the
201s (the port as answered, for the "nothing acknowledged is lost" checks),
the latencies, and every other answer as an error.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass
class Load:
    created: list[dict] = field(default_factory=list)  # ports answered 201
    latencies: list[float] = field(default_factory=list)  # seconds, of the 201s
    acked_at: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, server index) of each 201
    errors: list[tuple[int | str, str]] = field(default_factory=list)  # non-201 answers: (status or exception, text)
    unavailable: int = 0  # 503 answers a client waited out and sent again (with retry_unavailable)
    per_server: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.created) / self.seconds if self.seconds else 0.0

    def p99(self) -> float:
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(len(values) * 0.99))] if values else 0.0


def setup_network(url: str, cidr: str = "10.40.0.0/16") -> str:
    """A network with one IPv4 subnet big enough for every port of a run; its id."""
    with httpx.Client(base_url=url, timeout=60) as admin:
        net = admin.post("/v2.0/networks", json={"network": {"name": "galera-load"}})
        net.raise_for_status()
        network_id = net.json()["network"]["id"]
        sub = admin.post("/v2.0/subnets", json={"subnet": {"network_id": network_id, "ip_version": 4, "cidr": cidr}})
        sub.raise_for_status()
    return network_id


async def _client(
    index: int, urls: list[str], network_id: str | list[str], load: Load, budget: list[int], until: float, retry: bool
) -> None:
    server = index % len(urls)
    if isinstance(network_id, list):  # one network per server
        network_id = network_id[server]
    async with httpx.AsyncClient(base_url=urls[server], timeout=60) as http:
        while time.monotonic() < until:
            if budget[0] <= 0:
                return
            budget[0] -= 1
            while True:
                start = time.monotonic()
                try:
                    response = await http.post("/v2.0/ports", json={"port": {"network_id": network_id}})
                except httpx.HTTPError as exc:
                    load.errors.append((type(exc).__name__, str(exc)))
                    break
                if response.status_code == 201:
                    now = time.monotonic()
                    load.created.append(response.json()["port"])
                    load.latencies.append(now - start)
                    load.acked_at.append((now, server))
                    load.per_server[server] += 1
                    break
                if response.status_code == 503 and retry and time.monotonic() < until:
                    load.unavailable += 1
                    await asyncio.sleep(0.2)
                    continue
                load.errors.append((response.status_code, response.text[:300]))
                break


async def create_ports(
    urls: list[str],
    network_id: str | list[str],
    *,
    clients: int,
    count: int | None = None,
    seconds: float | None = None,
    retry_unavailable: bool = False,
) -> Load:
    """``count`` ports in all, or as many as ``seconds`` allow, from ``clients`` concurrent clients
    (on ``network_id``, or on ``network_id[i]`` through server ``i`` when it is a list)."""
    load = Load()
    budget = [count if count is not None else 10**9]
    until = time.monotonic() + (seconds if seconds is not None else 10**6)
    start = time.monotonic()
    await asyncio.gather(
        *(_client(i, urls, network_id, load, budget, until, retry_unavailable) for i in range(clients))
    )
    load.seconds = time.monotonic() - start
    return load


async def create_networks(urls: list[str], count: int) -> list[dict]:
    """``count`` networks created at once, spread over ``urls``; the networks as answered (admin view)."""

    async def one(i: int) -> dict:
        async with httpx.AsyncClient(base_url=urls[i % len(urls)], timeout=60) as http:
            response = await http.post("/v2.0/networks", json={"network": {"name": f"galera-seg-{i}"}})
            assert response.status_code == 201, response.text
            return response.json()["network"]

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def duplicates(values: list) -> list:
    return [value for value, seen in Counter(values).items() if seen > 1]
