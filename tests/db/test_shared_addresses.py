"""Shared addresses and routes at the database level, on every database:
concurrent removal of the last holders, the shared-address limit under
concurrent creates, `quark ipam check` on the new shape, and migration
0004 turning existing host_routes into route rows.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select, update

from quark import errors
from quark.config import Settings
from quark.context import Context
from quark.db import migrate, models
from quark.db.engine import Database
from quark.ipam import repair
from quark.services.registry import build_services
from tests.dbs import create_database, prepare, selected_backends

ADMIN = Context.admin()
a, h = models.ip_allocations, models.ip_address_ports


class Env:
    def __init__(self, url: str, **settings) -> None:
        self.db = Database(url, pool_size=4, max_overflow=4)
        self.settings = Settings(ipam_reuse_after=0, **settings)
        self.services = build_services(self.db, self.settings)

    async def prepare(self) -> Env:
        """The database prepared as `quark serve` prepares it (ranges seeded)."""
        await prepare(self.db, self.settings)
        return self

    async def network(self, cidr: str, ports: int) -> tuple[str, list[str]]:
        net = await self.services.networks.create(ADMIN, {"name": "shared-db"})
        await self.services.subnets.create(ADMIN, {"network_id": net["id"], "ip_version": 4, "cidr": cidr})
        made = await self.services.ports.create_bulk(ADMIN, [{"network_id": net["id"]} for _ in range(ports)])
        return net["id"], [p["id"] for p in made]


@pytest.fixture
async def env(database_url):
    environment = await Env(database_url).prepare()
    yield environment
    await environment.db.dispose()


async def test_last_holders_deleted_concurrently_release_once(env):
    net_id, (p1, p2) = await env.network("10.80.0.0/24", 2)
    vip = await env.services.ip_addresses.create(ADMIN, {"network_id": net_id, "port_ids": [p1, p2]})
    await asyncio.gather(env.services.ports.delete(ADMIN, p1), env.services.ports.delete(ADMIN, p2))
    async with env.db.read() as conn:
        row = (await conn.execute(select(a).where(a.c.id == vip["id"]))).one()
        holders = (await conn.execute(select(h).where(h.c.allocation_id == vip["id"]))).all()
    assert row.deallocated and row.port_id is None and holders == []
    report = await repair.check(env.db)
    assert not [p for p in report.problems if net_id in p or vip["ip_address"] in p], report.problems


async def test_shared_limit_holds_under_concurrent_creates(database_url):
    limited = await Env(database_url, ipaddr_max_shared_per_network=2).prepare()
    try:
        net_id, ports = await limited.network("10.81.0.0/24", 12)

        async def create(i: int):
            try:
                return await limited.services.ip_addresses.create(
                    ADMIN, {"network_id": net_id, "port_ids": ports[2 * i : 2 * i + 2]}
                )
            except errors.SharedIpAddressLimitExceeded as exc:
                return exc

        results = await asyncio.gather(*[create(i) for i in range(6)])
        made = [r for r in results if isinstance(r, dict)]
        assert len(made) == 2, results
        assert all(isinstance(r, errors.SharedIpAddressLimitExceeded) for r in results if not isinstance(r, dict))
    finally:
        await limited.db.dispose()


async def test_ipam_check_understands_shared_holders(env):
    net_id, (p1, p2) = await env.network("10.82.0.0/24", 2)
    _, (stranger,) = await env.network("10.83.0.0/24", 1)
    vip = await env.services.ip_addresses.create(ADMIN, {"network_id": net_id, "port_ids": [p1, p2]})
    report = await repair.check(env.db)
    mine = [p for p in report.problems if vip["ip_address"] in p or vip["id"] in p]
    assert mine == [] and report.checked_holders >= 2

    async def write(stmt):
        async with env.db.write() as conn:
            await conn.execute(stmt)

    # A single holder and shared holders at once: reported, not fixed.
    await write(update(a).where(a.c.id == vip["id"]).values(port_id=p1))
    report = await repair.check(env.db, fix=True, grace=timedelta(0))
    assert any("single holder" in p and vip["ip_address"] in p for p in report.problems)
    await write(update(a).where(a.c.id == vip["id"]).values(port_id=None))

    # A holder on another network: reported.
    await write(
        insert(h).values(allocation_id=vip["id"], port_id=stranger, service="none", created_at=datetime(2026, 1, 1))
    )
    report = await repair.check(env.db)
    assert any(stranger in p and "held by port" in p for p in report.problems)
    await write(delete(h).where(h.c.port_id == stranger))

    # Holders of an address released behind their back: removed by --fix (past the grace period).
    await write(update(a).where(a.c.id == vip["id"]).values(deallocated=True, deallocated_at=datetime(2026, 1, 1)))
    await write(update(h).where(h.c.allocation_id == vip["id"]).values(created_at=datetime(2026, 1, 1)))
    report = await repair.check(env.db, fix=True, grace=timedelta(0))
    assert sum("released address" in line and vip["id"] in line for line in report.fixed) == 2
    async with env.db.read() as conn:
        assert (await conn.execute(select(h).where(h.c.allocation_id == vip["id"]))).all() == []
    port = await env.services.ports.get(ADMIN, p1)
    assert vip["ip_address"] not in [ip["ip_address"] for ip in port["fixed_ips"]]


@pytest.mark.parametrize("backend", selected_backends())
def test_migration_0004_copies_host_routes(backend, tmp_path_factory):
    """Existing host_routes become route rows (the first of two to one destination wins)."""
    url, drop = create_database(backend, tmp_path_factory)
    try:
        migrate.upgrade(url, "0002")
        asyncio.run(_seed_subnet(url))
        migrate.upgrade(url)
        rows = asyncio.run(_routes(url))
        assert sorted((r.cidr, r.gateway) for r in rows) == [
            ("10.0.0.0/8", "10.90.0.1"),
            ("192.168.0.0/16", "10.90.0.5"),
        ]
        assert {r.project_id for r in rows} == {"seed-project"}
    finally:
        drop()


async def _seed_subnet(url: str) -> None:
    db = Database(url)
    now = datetime(2026, 1, 1)
    net_id, sub_id = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        async with db.write() as conn:
            await conn.execute(
                insert(models.networks).values(
                    id=net_id,
                    project_id="seed-project",
                    name="seed",
                    admin_state_up=True,
                    status="ACTIVE",
                    shared=False,
                    router_external=False,
                    mtu=1450,
                    port_security_enabled=True,
                    dns_domain="",
                    availability_zone_hints=[],
                    ipam_strategy="NEUTRON",
                    description="",
                    created_at=now,
                    updated_at=now,
                    revision_number=0,
                )
            )
            await conn.execute(
                insert(models.subnets).values(
                    id=sub_id,
                    network_id=net_id,
                    project_id="seed-project",
                    name="",
                    ip_version=4,
                    cidr="10.90.0.0/24",
                    gateway_ip="10.90.0.1",
                    enable_dhcp=True,
                    allocation_pools=[],
                    dns_nameservers=[],
                    service_types=[],
                    excluded_ranges=[],
                    description="",
                    created_at=now,
                    updated_at=now,
                    revision_number=0,
                    host_routes=[
                        {"destination": "192.168.0.0/16", "nexthop": "10.90.0.5"},
                        {"destination": "10.0.0.0/8", "nexthop": "10.90.0.1"},
                        {"destination": "10.0.0.0/8", "nexthop": "10.90.0.2"},
                    ],
                )
            )
    finally:
        await db.dispose()


async def _routes(url: str) -> list:
    db = Database(url)
    try:
        async with db.read() as conn:
            return list(await conn.execute(select(models.routes)))
    finally:
        await db.dispose()


async def test_detach_ports_in_batch(env):
    """What a bulk port delete calls before deleting the rows."""
    from quark.ipam import holders

    net_id, (p1, p2, p3) = await env.network("10.84.0.0/24", 3)
    vip = await env.services.ip_addresses.create(ADMIN, {"network_id": net_id, "port_ids": [p1, p2, p3]})
    ips = env.services.ports.ips

    async def detach(ports):
        async def work(conn):
            return await holders.detach_ports(conn, ips, ports)

        return await env.db.run_write(work)

    assert await detach([p1, p2]) == []
    assert (await env.services.ip_addresses.get(ADMIN, vip["id"]))["port_ids"] == [p3]
    assert await detach([p3, p1]) == [vip["id"]]
    with pytest.raises(errors.IpAddressNotFound):
        await env.services.ip_addresses.get(ADMIN, vip["id"])
