"""``GET /v2.0/ports?fixed_ips=ip_address=…`` stays an index lookup as ports
grow (issue 21, "Big tables": the filter was an EXISTS correlated to each
port ORed with the shared-address case, which PostgreSQL answered by testing
every port: 130 ms p99 at 30,000 ports, bench/big_tables.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from quark.db import models
from quark.services.common.listing import ListQuery
from tests.services.conftest import ADMIN


async def test_the_filter_finds_the_port_holding_the_address(env):
    network, _ = await env.network_with_subnet("10.77.0.0/24")
    ports = [await env.port(network["id"]) for _ in range(3)]
    wanted = ports[1]["fixed_ips"][0]["ip_address"]
    query = ListQuery(extra={"fixed_ips": {"ip_address": [wanted]}})
    found = await env.services.ports.list(ADMIN, query)
    assert [p["id"] for p in found] == [ports[1]["id"]]


async def test_the_filter_is_not_evaluated_port_by_port(env):
    if env.db.dialect != "postgresql":
        pytest.skip("the plan checked is PostgreSQL's")
    p = models.ports
    clauses = env.services.ports.extra_filters(ListQuery(extra={"fixed_ips": {"ip_address": ["10.77.0.9"]}}))
    statement = select(p.c.id).where(*clauses)
    sql = str(statement.compile(dialect=env.db.engine.dialect, compile_kwargs={"literal_binds": True}))
    async with env.db.read() as conn:
        plan = "\n".join((await conn.execute(text("EXPLAIN " + sql))).scalars())
    # A SubPlan is a subquery run again for each port row scanned.
    assert "SubPlan" not in plan, plan


async def test_subnet_and_substring_filters_find_only_their_ports(env):
    network, subnet = await env.network_with_subnet("10.78.0.0/24")
    other_net, other_subnet = await env.network_with_subnet("10.79.0.0/24")
    mine = await env.port(network["id"])
    theirs = await env.port(other_net["id"])

    async def found(**fixed: list[str]) -> set[str]:
        return {p["id"] for p in await env.services.ports.list(ADMIN, ListQuery(extra={"fixed_ips": fixed}))}

    assert found_ids(await found(subnet_id=[subnet["id"]]), mine, theirs) == {"mine"}
    assert found_ids(await found(subnet_id=[other_subnet["id"]]), mine, theirs) == {"theirs"}
    assert found_ids(await found(ip_address_substr=["10.79."]), mine, theirs) == {"theirs"}


def found_ids(ids: set[str], mine: dict, theirs: dict) -> set[str]:
    return {name for name, port in (("mine", mine), ("theirs", theirs)) if port["id"] in ids}
