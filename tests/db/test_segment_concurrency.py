"""Segment ids under contention: many clients against `quark serve --workers 2`
on PostgreSQL and MariaDB. The database alone keeps every id held once:
a small VLAN range is exhausted exactly (the rest get 503 NoNetworkAvailable),
project networks get distinct VNIs, and released ids are reused exactly once.
"""

from __future__ import annotations

import asyncio
import collections
import uuid

import httpx
import pytest

from tests.servers import quark_server

pytestmark = pytest.mark.slow

CLIENTS, PER_CLIENT, RANGE_SIZE = 8, 10, 40


@pytest.fixture
def two_worker_server(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("several writer processes are a server-database scenario")
    with quark_server(database_url, workers=2) as server:
        yield server


async def _create_many(url: str, body: dict, clients: int, per_client: int) -> tuple[collections.Counter, list[dict]]:
    outcomes: collections.Counter = collections.Counter()
    created: list[dict] = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            for _ in range(per_client):
                response = await http.post("/v2.0/networks", json={"network": body})
                if response.status_code == 201:
                    outcomes["201"] += 1
                    created.append(response.json()["network"])
                else:
                    outcomes[f"{response.status_code} {response.json()['NeutronError']['type']}"] += 1

    await asyncio.gather(*[client() for _ in range(clients)])
    return outcomes, created


async def _scenario(url: str) -> None:
    phys = f"conc-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=url, timeout=120) as admin:
        r = await admin.post(
            "/v2.0/segment_allocation_ranges",
            json={
                "segment_allocation_range": {
                    "network_type": "vlan",
                    "physical_network": phys,
                    "minimum": 101,
                    "maximum": 100 + RANGE_SIZE,
                }
            },
        )
        assert r.status_code == 201, r.text
        vlan = {"provider:network_type": "vlan", "provider:physical_network": phys}

        outcomes, nets = await _create_many(url, vlan, CLIENTS, PER_CLIENT)
        assert outcomes == {"201": RANGE_SIZE, "503 NoNetworkAvailable": CLIENTS * PER_CLIENT - RANGE_SIZE}, outcomes
        ids = sorted(n["provider:segmentation_id"] for n in nets)
        assert ids == list(range(101, 101 + RANGE_SIZE))

        # Release ten, then race twenty creates for them: exactly those ten come back.
        freed = nets[:10]
        await asyncio.gather(*[admin.delete(f"/v2.0/networks/{n['id']}") for n in freed])
        outcomes, again = await _create_many(url, vlan, 4, 5)
        assert outcomes == {"201": 10, "503 NoNetworkAvailable": 10}, outcomes
        assert sorted(n["provider:segmentation_id"] for n in again) == sorted(
            n["provider:segmentation_id"] for n in freed
        )

        # Project networks (tenant type vxlan from the seeded range): all distinct.
        name = f"proj-{phys}"  # the database is the session's: list these networks only
        outcomes, _ = await _create_many(url, {"name": name}, CLIENTS, PER_CLIENT)
        assert outcomes == {"201": CLIENTS * PER_CLIENT}, outcomes
        listed = (await admin.get("/v2.0/networks", params={"name": name})).json()["networks"]
        vnis = [n["provider:segmentation_id"] for n in listed]
        assert len(vnis) == CLIENTS * PER_CLIENT and len(set(vnis)) == len(vnis) and None not in vnis


def test_segment_allocation_under_contention(two_worker_server):
    asyncio.run(_scenario(two_worker_server.url))
    assert "Traceback" not in two_worker_server.log_text()
