"""Routers onto L3 hosts as the tables see it (docs/l3.md): the least loaded
live L3 host, the router's ports bound there, the move off a dead host at the
next report of any agent, DOWN when no L3 host is left."""

from __future__ import annotations

from sqlalchemy import select

from quark.db import l3_models, models
from quark.services.dataplane.agents import Report
from quark.services.dataplane.l3_scheduling import L3_AGENT
from tests.services.conftest import ADMIN

r, p = l3_models.routers, models.ports


async def report_l3(env, host: str) -> None:
    await env.report_l2(host)
    await env.services.agents.report(ADMIN, Report(host=host, agent_type=L3_AGENT, configurations={}))


async def router_with_interface(env, cidr: str) -> dict:
    _, sub = await env.network_with_subnet(cidr)
    router = await env.services.routers.create(ADMIN, {"name": "r"})
    await env.services.routers.add_interface(ADMIN, router["id"], {"subnet_id": sub["id"]})
    return router


async def placed(env, router_id: str) -> tuple:
    (row,) = await env.read(select(r.c.l3_host, r.c.status).where(r.c.id == router_id))
    ports = await env.read(select(p.c.binding_host_id, p.c.binding_vif_type).where(p.c.device_id == router_id))
    return row.l3_host, row.status, sorted(set(ports))


async def test_routers_go_to_the_least_loaded_live_l3_host(make_env):
    env = await make_env(agent_down_time=20)
    first = await router_with_interface(env, "10.110.0.0/24")  # no L3 host yet: as Neutron without one
    assert await placed(env, first["id"]) == (None, "ACTIVE", [("", "unbound")])
    await report_l3(env, "n2")
    assert await placed(env, first["id"]) == ("n2", "BUILD", [("n2", "bridge")])  # the report took it
    await report_l3(env, "n1")
    second = await router_with_interface(env, "10.111.0.0/24")
    third = await router_with_interface(env, "10.112.0.0/24")  # a tie: the first host by name
    assert [(await placed(env, x["id"]))[0] for x in (second, third)] == ["n1", "n1"]
    assert (await env.generations())["n1"][0] > 0


async def test_a_dead_hosts_routers_move_or_go_down(make_env):
    env = await make_env(agent_down_time=20)
    await report_l3(env, "n1")
    router = await router_with_interface(env, "10.113.0.0/24")
    assert (await placed(env, router["id"]))[0] == "n1"
    env.clock.advance(21)
    await env.report_l2("compute-1")  # any heartbeat notices: no L3 host alive
    assert await placed(env, router["id"]) == (None, "DOWN", [("n1", "bridge")])
    before = (await env.generations())["n1"][0]
    await report_l3(env, "n2")
    assert await placed(env, router["id"]) == ("n2", "BUILD", [("n2", "bridge")])
    assert (await env.generations())["n1"][0] > before  # n1 is told its ports went
