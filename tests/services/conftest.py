"""Service-level tests: the services of one process over a real database, no HTTP.

Each backend (SQLite, PostgreSQL, MariaDB) gets one database for the
session, created and migrated to head (tests/dbs.py); before every test its
tables are emptied and it is prepared as ``quark serve`` prepares one
(``quark.api.app.prepare_database``: the default MAC range and the seeded
segment ranges; and the default security-group rule templates that migration
0016 seeds), so every test starts from a fresh deployment whatever ran
before it, in any order, for the cost of a few DELETEs instead of a
migration per test. The services are built by
``build_services`` with a clock the test moves (quarantines, agent liveness).

What these tests look at is what HTTP cannot show: the rows a transaction
leaves (``Env.snapshot``: every table's row count and the counters), the
events published, host generations, and that a refused operation leaves
nothing behind (``Env.refused``).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.services.addressing.mac_ranges import ensure_default_range
from quark.services.core.segment_ranges import ensure_seed_ranges
from quark.services.dataplane import hoststate
from quark.services.dataplane.agents import DHCP_AGENT, Report
from quark.services.dataplane.binding import L2_AGENT
from quark.services.registry import Services, build_services
from quark.services.security.templates import restore_defaults
from tests.clock import Clock
from tests.dbs import migrated_database, selected_backends

ADMIN = Context.admin()

# Columns summed by ``Env.snapshot`` besides the row counts: revisions (a
# rolled-back change must not leave a bumped one), address and MAC usage, generations.
SUMMED = (
    ("networks", "revision_number"),
    ("subnets", "revision_number"),
    ("ports", "revision_number"),
    ("floatingips", "revision_number"),
    ("routers", "revision_number"),
    ("ip_usage", "used"),
    ("mac_range_usage", "used"),
    ("host_generations", "generation"),
    ("host_generations", "dhcp_generation"),
)


def member(project_id: str | None = None) -> Context:
    """A project's member (not admin); a fresh project unless one is named."""
    return Context(project_id=project_id or f"p-{uuid.uuid4().hex[:10]}", roles=frozenset({"member"}))


@pytest.fixture(scope="session", params=selected_backends())
def services_database_url(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        yield url


async def empty_database(db: Database) -> None:
    """Delete every row of Quark's tables (children first); the schema stays."""
    async with db.write() as conn:
        for table in reversed(models.Base.metadata.sorted_tables):
            await conn.execute(delete(table))


class Env:
    """Services over one prepared database, a clock, and helpers to make and read things."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.clock = Clock()
        self.db = Database(url, pool_size=2, max_overflow=6)
        self.services: Services = build_services(self.db, settings, clock=self.clock)

    async def prepare(self) -> None:
        await empty_database(self.db)
        await ensure_default_range(self.db, self.settings.default_mac_range)
        await ensure_seed_ranges(self.db, self.settings.segment_ranges)
        await restore_defaults(self.db)  # the templates migration 0016 seeds

    # --- making things through the services ----------------------------------------

    async def network(self, ctx: Context = ADMIN, **attrs: Any) -> dict:
        return await self.services.networks.create(ctx, {"name": "net", **attrs})

    async def subnet(self, network_id: str, cidr: str, ctx: Context = ADMIN, **attrs: Any) -> dict:
        version = ipaddress.ip_network(cidr).version
        return await self.services.subnets.create(
            ctx, {"network_id": network_id, "ip_version": version, "cidr": cidr, **attrs}
        )

    async def port(self, network_id: str, ctx: Context = ADMIN, **attrs: Any) -> dict:
        return await self.services.ports.create(ctx, {"network_id": network_id, **attrs})

    async def network_with_subnet(self, cidr: str = "10.0.0.0/24", ctx: Context = ADMIN, **subnet_attrs: Any):
        """(network, subnet) of a fresh network with one subnet."""
        net = await self.network(ctx)
        return net, await self.subnet(net["id"], cidr, ctx, **subnet_attrs)

    async def report_l2(self, host: str, tunnel_ip: str = "192.0.2.1", **configurations: Any) -> dict:
        """An L2 agent's report from ``host`` (VXLAN with a tunnel address, physnet1 flat)."""
        conf = {
            "bridge_mappings": {"physnet1": "eth1"},
            "tunnel_ip": tunnel_ip,
            "tunnel_types": ["vxlan"],
            "vlan_supported": False,
            **configurations,
        }
        return await self.services.agents.report(ADMIN, Report(host=host, agent_type=L2_AGENT, configurations=conf))

    async def report_dhcp(self, host: str) -> dict:
        return await self.services.agents.report(ADMIN, Report(host=host, agent_type=DHCP_AGENT, configurations={}))

    # --- reading what the transactions left -----------------------------------------

    async def read(self, statement) -> list[Any]:
        async with self.db.read() as conn:
            return list((await conn.execute(statement)).all())

    async def one(self, table, row_id: str) -> Any:
        """The row of ``table`` with id ``row_id`` (None if there is none)."""
        rows = await self.read(select(table).where(table.c.id == row_id))
        return rows[0] if rows else None

    async def count(self, table, *where) -> int:
        async with self.db.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)

    async def allocations(self, *where) -> list[Any]:
        """ip_allocations rows matching ``where``, by address."""
        a = models.ip_allocations
        return await self.read(select(a).where(*where).order_by(a.c.address_key))

    async def live_addresses(self, port_id: str) -> list[str]:
        """The addresses a port holds alone (its ip_allocations rows not released)."""
        a = models.ip_allocations
        return [row.address for row in await self.allocations(a.c.port_id == port_id, a.c.deallocated.is_(False))]

    async def used(self, subnet_id: str) -> int:
        """The subnet's usage counter (the sum of its shards)."""
        u = models.ip_usage
        async with self.db.read() as conn:
            return int(
                await conn.scalar(select(func.coalesce(func.sum(u.c.used), 0)).where(u.c.subnet_id == subnet_id))
            )

    async def generations(self) -> dict[str, tuple[int, int]]:
        """host -> (generation, dhcp_generation): bases and unfolded changes (hoststate)."""
        async with self.db.read() as conn:
            return await hoststate.generations(conn)

    async def snapshot(self) -> dict[str, int]:
        """Row counts of every table, and the sums of ``SUMMED``."""
        out: dict[str, int] = {}
        async with self.db.read() as conn:
            for table in models.Base.metadata.sorted_tables:
                out[table.name] = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table_name, column in SUMMED:
                table = models.Base.metadata.tables[table_name]
                out[f"{table_name}.{column}"] = int(
                    await conn.scalar(select(func.coalesce(func.sum(table.c[column]), 0))) or 0
                )
        return out

    async def refused(self, error: type[BaseException], operation: Awaitable[Any]) -> BaseException:
        """Await ``operation``, which must raise ``error`` and leave every table
        (rows, revisions, counters, generations) as it found them."""
        before = await self.snapshot()
        with pytest.raises(error) as raised:
            await operation
        assert await self.snapshot() == before
        return raised.value

    async def in_transaction(self, work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
        """Run ``work(conn)`` in one write transaction, as a service does."""
        return await self.db.run_write(work)


@pytest.fixture
async def make_env(services_database_url):
    """A factory of prepared ``Env`` objects (settings may be overridden); disposed after the test."""
    made: list[Env] = []

    async def make(**settings: Any) -> Env:
        env = Env(services_database_url, Settings(**settings))
        made.append(env)
        await env.prepare()
        return env

    yield make
    for env in made:
        await env.db.dispose()


@pytest.fixture
async def env(make_env) -> Env:
    return await make_env()


@pytest.fixture
def services(env) -> Services:
    return env.services


async def router_between(env: Any, ctx: Context, external_id: str, subnet_id: str) -> dict:
    """A router of ``ctx`` joining the subnet to the external network: what a
    floating IP association with an address of the subnet needs."""
    routers = env.services.routers
    router = await routers.create(ctx, {"external_gateway_info": {"network_id": external_id}})
    await routers.add_interface(ctx, router["id"], {"subnet_id": subnet_id})
    return router
