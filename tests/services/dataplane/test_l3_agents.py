"""The l3_agent_scheduler service and the periodic move off dead L3 agents, as
the tables see it (docs/l3.md): with a clock, so liveness is exact."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from quark import errors
from quark.db import l3_models, models
from quark.services.dataplane.binding import L2_AGENT
from quark.services.dataplane.l3_agents import InvalidL3Agent, RouterHostedByL3Agent
from tests.services.conftest import ADMIN
from tests.services.dataplane.test_l3_scheduling import placed, report_l3, router_with_interface

r, p, ag = l3_models.routers, models.ports, models.agents


async def agent_id(env, host: str, agent_type: str = "L3 agent") -> str:
    (row,) = await env.read(select(ag.c.id).where(ag.c.host == host, ag.c.agent_type == agent_type))
    return row.id


def missing(router_id: str) -> errors.QuarkError:
    return errors.NotFound()


async def test_the_periodic_check_moves_routers_off_a_dead_agent_without_any_report(make_env):
    env = await make_env(agent_down_time=20)
    await report_l3(env, "n1")
    await report_l3(env, "n2")
    router = await router_with_interface(env, "10.120.0.0/24")
    assert (await placed(env, router["id"]))[0] == "n1"  # a tie: the first by name
    env.clock.advance(15)
    await report_l3(env, "n2")  # n1 still alive here: nothing moves
    assert (await placed(env, router["id"]))[0] == "n1"
    env.clock.advance(10)  # n1 is dead, n2 alive; nobody reports
    before = await env.generations()
    assert await env.services.l3_agents.reschedule() == 1
    assert await placed(env, router["id"]) == ("n2", "BUILD", [("n2", "bridge")])
    after = await env.generations()
    assert after["n1"][0] > before["n1"][0] and after["n2"][0] > before.get("n2", (0, 0))[0]
    assert await env.services.l3_agents.reschedule() == 0  # nothing stranded: one query
    agents = await env.services.l3_agents.agents_hosting(router["id"])
    assert [a["host"] for a in agents] == ["n2"] and agents[0]["alive"] is True


async def test_concurrent_checks_move_a_router_once(make_env):
    env = await make_env(agent_down_time=20)
    await report_l3(env, "n1")
    router = await router_with_interface(env, "10.121.0.0/24")
    env.clock.advance(15)
    await report_l3(env, "n2")
    await report_l3(env, "n3")
    env.clock.advance(10)
    revisions = await env.read(select(p.c.id, p.c.revision_number).where(p.c.device_id == router["id"]))
    await asyncio.gather(*(env.services.l3_agents.reschedule() for _ in range(3)))
    host, status, bindings = await placed(env, router["id"])
    assert host == "n2" and status == "BUILD" and bindings == [("n2", "bridge")]
    after = dict(await env.read(select(p.c.id, p.c.revision_number).where(p.c.device_id == router["id"])))
    assert all(after[port_id] == rev + 1 for port_id, rev in revisions)  # each port re-bound once


async def test_add_and_remove_by_an_admin(make_env):
    env = await make_env(agent_down_time=20)
    await report_l3(env, "n1")
    await report_l3(env, "n2")
    router = await router_with_interface(env, "10.122.0.0/24")
    n1, n2 = await agent_id(env, "n1"), await agent_id(env, "n2")
    l3 = env.services.l3_agents
    assert await l3.routers_on(n1) == [router["id"]] and await l3.routers_on(n2) == []
    with pytest.raises(RouterHostedByL3Agent) as caught:
        await l3.add(n2, router["id"], missing(router["id"]))
    assert caught.value.kwargs == {"router_id": router["id"], "agent_id": n1}
    await l3.add(n1, router["id"], missing(router["id"]))  # already there: nothing happens
    assert (await placed(env, router["id"]))[0] == "n1"

    await l3.remove(n2, router["id"], missing(router["id"]))  # not there: nothing happens
    assert (await placed(env, router["id"]))[0] == "n1"
    await l3.remove(n1, router["id"], missing(router["id"]))
    assert (await placed(env, router["id"]))[:2] == (None, "DOWN")
    # neither a report nor the periodic check takes it back: the admin's choice holds
    await report_l3(env, "n2")
    await l3.reschedule()
    assert (await placed(env, router["id"]))[:2] == (None, "DOWN")
    assert await l3.agents_hosting(router["id"]) == []

    await l3.add(n2, router["id"], missing(router["id"]))
    assert await placed(env, router["id"]) == ("n2", "BUILD", [("n2", "bridge")])
    assert await l3.routers_on(n2) == [router["id"]]

    # removed again, then the router changes: scheduled again (Neutron's routers_updated)
    await l3.remove(n2, router["id"], missing(router["id"]))
    await env.services.routers.update(ADMIN, router["id"], {"name": "renamed"})
    assert (await placed(env, router["id"]))[:2] == ("n1", "BUILD")
    (row,) = await env.read(select(r.c.l3_unhosted).where(r.c.id == router["id"]))
    assert not row.l3_unhosted


async def test_invalid_agents_and_missing_things(make_env):
    env = await make_env(agent_down_time=20)
    await report_l3(env, "n1")
    router = await router_with_interface(env, "10.123.0.0/24")
    l3 = env.services.l3_agents
    l2 = await agent_id(env, "n1", L2_AGENT)
    with pytest.raises(InvalidL3Agent):
        await l3.add(l2, router["id"], missing(router["id"]))
    assert await l3.routers_on(l2) == []
    n1 = await agent_id(env, "n1")
    await env.services.agents.update(ADMIN, n1, {"admin_state_up": False})
    with pytest.raises(InvalidL3Agent):
        await l3.add(n1, router["id"], missing(router["id"]))
    with pytest.raises(errors.AgentNotFound):
        await l3.routers_on("00000000-0000-0000-0000-000000000000")
    gone = errors.NotFound()
    with pytest.raises(errors.NotFound) as caught:
        await l3.add(n1, "00000000-0000-0000-0000-000000000001", gone)
    assert caught.value is gone
