"""Group commit of single-port creates (quark.services.common.batching): concurrent
requests share transactions, yet each keeps its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from quark import errors
from quark.config import Settings
from quark.context import Context
from quark.db.engine import Database
from quark.services.registry import build_services
from tests.dbs import prepare

ADMIN = Context.admin()


@pytest.fixture
async def services(database_url):
    settings = Settings(ipam_reuse_after=0)
    db = Database(database_url, pool_size=4, max_overflow=4)
    await prepare(db, settings)
    yield build_services(db, settings)
    await db.dispose()


async def test_concurrent_single_creates_are_batched_and_keep_their_own_errors(services):
    net = await services.networks.create(ADMIN, {"name": "batch"})
    await services.subnets.create(ADMIN, {"network_id": net["id"], "ip_version": 4, "cidr": "10.42.0.0/24"})
    mac = "fa:16:3e:aa:bb:cc"
    bodies = [{"network_id": net["id"], "name": f"p{i}"} for i in range(20)]
    bodies[5]["mac_address"] = mac
    bodies[12]["mac_address"] = mac  # the same MAC twice on one network: exactly one 409
    bodies[15] = {"network_id": "no-such-network"}  # 404 for that request only
    outcomes = await asyncio.gather(*[services.ports.create(ADMIN, dict(b)) for b in bodies], return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, Exception)]
    assert sorted(type(f).__name__ for f in failures) == ["MacAddressInUse", "NetworkNotFound"], failures
    created = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(created) == 18
    for body, outcome in zip(bodies, outcomes):  # each response is its own request's port
        if not isinstance(outcome, Exception):
            assert outcome["name"] == body.get("name", "")
    addresses = [ip["ip_address"] for port in created for ip in port["fixed_ips"]]
    assert len(addresses) == len(set(addresses)) == 18
    assert len({port["mac_address"] for port in created}) == 18
    assert services.ports.batcher.fallbacks >= 1  # a batch failed and was re-run request by request


async def test_a_full_subnet_fails_only_the_requests_beyond_it(services):
    net = await services.networks.create(ADMIN, {"name": "batch-full"})
    await services.subnets.create(ADMIN, {"network_id": net["id"], "ip_version": 4, "cidr": "10.43.0.0/29"})  # 5
    outcomes = await asyncio.gather(
        *[services.ports.create(ADMIN, {"network_id": net["id"]}) for _ in range(8)], return_exceptions=True
    )
    assert sum(not isinstance(o, Exception) for o in outcomes) == 5
    assert all(isinstance(o, errors.IpAddressGenerationFailure) for o in outcomes if isinstance(o, Exception))


async def test_concurrent_creates_share_transactions(services):
    net = await services.networks.create(ADMIN, {"name": "batch-ok"})
    await services.subnets.create(ADMIN, {"network_id": net["id"], "ip_version": 4, "cidr": "10.44.0.0/24"})
    created = await asyncio.gather(*[services.ports.create(ADMIN, {"network_id": net["id"]}) for _ in range(12)])
    assert len({port["fixed_ips"][0]["ip_address"] for port in created}) == 12
    assert services.ports.batcher.batches >= 1 and services.ports.batcher.fallbacks == 0
