"""Quotas are exact under concurrency: 32 clients of one project against
`quark serve --workers 2` race single creates (ports: the group-commit hot
path; networks: one transaction each) towards the project's limit. Exactly
the limit is reached, never more, and every refused request is a 409
OverQuota (issue 15).

Two rounds per resource: from 10 below the limit (batches that fit only in
part fall back to one request at a time) and, after the limit is raised by
one, from one below.
"""

from __future__ import annotations

import asyncio
import collections
import uuid

import httpx
import pytest

from tests.servers import quark_server

pytestmark = pytest.mark.slow

CLIENTS, PER_CLIENT, LIMIT = 32, 2, 40


@pytest.fixture
def two_worker_server(database_url):
    # SQLite: two processes queue on the file's write lock (BEGIN IMMEDIATE); same guarantee.
    with quark_server(database_url, workers=2, env={"QUARK_IPAM_REUSE_AFTER": "0"}) as server:
        yield server


async def _race(url: str, project_id: str, path: str, body: dict) -> collections.Counter:
    outcomes: collections.Counter = collections.Counter()
    headers = {"X-Project-Id": project_id, "X-Roles": "member"}
    start = asyncio.Event()

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as http:
            await start.wait()
            for _ in range(PER_CLIENT):
                response = await http.post(path, json=body)
                if response.status_code == 201:
                    outcomes["201"] += 1
                else:
                    outcomes[f"{response.status_code} {response.json()['NeutronError']['type']}"] += 1

    tasks = [asyncio.create_task(client()) for _ in range(CLIENTS)]
    await asyncio.sleep(0.2)  # every client connected and waiting
    start.set()
    await asyncio.gather(*tasks)
    return outcomes


async def _used(admin: httpx.AsyncClient, project_id: str, resource: str) -> int:
    details = (await admin.get(f"/v2.0/quotas/{project_id}/details")).json()["quota"]
    return details[resource]["used"]


async def _scenario(url: str, resource: str) -> list[tuple[collections.Counter, int]]:
    project = f"race-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=url, timeout=120) as admin:
        r = await admin.put(f"/v2.0/quotas/{project}", json={"quota": {resource: LIMIT}})
        assert r.status_code == 200, r.text
        if resource == "port":
            net = (await admin.post("/v2.0/networks", json={"network": {"project_id": project}})).json()["network"]
            subnet = {"network_id": net["id"], "ip_version": 4, "cidr": "10.77.0.0/22", "enable_dhcp": False}
            r = await admin.post("/v2.0/subnets", json={"subnet": {**subnet, "project_id": project}})
            assert r.status_code == 201, r.text
            path, body = "/v2.0/ports", {"port": {"network_id": net["id"]}}
            bulk = {"ports": [{"network_id": net["id"], "project_id": project}] * (LIMIT - 10)}
        else:
            path, body = "/v2.0/networks", {"network": {"name": "race"}}
            bulk = {"networks": [{"name": "pre", "project_id": project}] * (LIMIT - 10)}
        r = await admin.post(path, json=bulk)
        assert r.status_code == 201, r.text
        assert await _used(admin, project, resource) == LIMIT - 10

        rounds = [(await _race(url, project, path, body), await _used(admin, project, resource))]
        r = await admin.put(f"/v2.0/quotas/{project}", json={"quota": {resource: LIMIT + 1}})
        assert r.status_code == 200, r.text
        rounds.append((await _race(url, project, path, body), await _used(admin, project, resource)))
        return rounds


@pytest.mark.parametrize("resource", ["port", "network"])
def test_racing_clients_reach_exactly_the_limit(two_worker_server, resource):
    (first, used_first), (second, used_second) = asyncio.run(_scenario(two_worker_server.url, resource))
    attempts = CLIENTS * PER_CLIENT
    assert first == {"201": 10, "409 OverQuota": attempts - 10}, first
    assert used_first == LIMIT
    assert second == {"201": 1, "409 OverQuota": attempts - 1}, second
    assert used_second == LIMIT + 1
