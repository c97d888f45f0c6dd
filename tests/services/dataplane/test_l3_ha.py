"""HA routers on L3 hosts as the tables see it (docs/l3.md, "HA routers"):
scheduled on up to max_l3_agents_per_router live hosts, one active
(``routers.l3_host``, its ports bound there), standbys with a namespace-only
document; the active host's death (liveness, with a clock) makes a live
standby active in one check; the reported ha_state; HA → legacy drops the
standbys."""

from __future__ import annotations

from sqlalchemy import select

from quark.db import l3_models
from quark.services.dataplane import l3_ha
from tests.services.conftest import ADMIN
from tests.services.dataplane.test_l3_scheduling import placed, report_l3

r, rh = l3_models.routers, l3_models.router_ha_hosts


async def ha_router(env, cidr: str, **attrs) -> dict:
    _, sub = await env.network_with_subnet(cidr)
    router = await env.services.routers.create(ADMIN, {"name": "ha", "ha": True, **attrs})
    await env.services.routers.add_interface(ADMIN, router["id"], {"subnet_id": sub["id"]})
    return router


async def ha_hosts(env, router_id: str) -> list[str]:
    return [row.host for row in await env.read(select(rh.c.host).where(rh.c.router_id == router_id))]


async def entry(env, host: str, router_id: str) -> dict | None:
    doc = await env.services.hosts.desired_state(ADMIN, host)
    return next((x for x in doc["routers"] if x["id"] == router_id), None)


async def states(env, router_id: str) -> dict[str, str]:
    return {a["host"]: a["ha_state"] for a in await env.services.l3_agents.agents_hosting(router_id)}


async def test_scheduled_on_up_to_max_hosts_one_active(make_env):
    env = await make_env(agent_down_time=20, max_l3_agents_per_router=2)
    for host in ("n1", "n2", "n3"):
        await report_l3(env, host)
    router = await ha_router(env, "10.120.0.0/24")
    assert router["ha"] is True and router["distributed"] is False
    assert await placed(env, router["id"]) == ("n1", "BUILD", [("n1", "bridge")])  # ports on the active host only
    assert sorted(await ha_hosts(env, router["id"])) == ["n1", "n2"]  # two of three: the setting
    assert await states(env, router["id"]) == {"n1": "active", "n2": "standby"}
    active, standby = await entry(env, "n1", router["id"]), await entry(env, "n2", router["id"])
    assert (active["ha_state"], len(active["ports"])) == ("active", 1)
    assert standby["ha_state"] == "standby"
    assert (standby["ports"], standby["gateway"], standby["floating_ips"]) == ([], None, [])  # no address, no NAT
    assert await entry(env, "n3", router["id"]) is None
    on_n2 = await env.services.l3_agents.routers_on(
        (await env.services.l3_agents.agents_hosting(router["id"]))[1]["id"]
    )
    assert router["id"] in on_n2  # a standby hosts it too (Neutron's l3-routers)


async def test_the_active_hosts_death_makes_a_live_standby_active(make_env):
    env = await make_env(agent_down_time=20, max_l3_agents_per_router=3)
    await report_l3(env, "n1")
    await report_l3(env, "n2")
    router = await ha_router(env, "10.121.0.0/24")
    assert await states(env, router["id"]) == {"n1": "active", "n2": "standby"}
    before = (await env.generations())["n2"][0]
    env.clock.advance(15)
    await report_l3(env, "n2")  # n1 is silent from now on
    env.clock.advance(6)
    assert (await placed(env, router["id"]))[0] == "n1"  # not yet: n1 is 21 s silent, but no check ran
    await env.report_l2("n3")  # any heartbeat checks: n1 dead, n2 (a standby) takes over
    assert await placed(env, router["id"]) == ("n2", "BUILD", [("n2", "bridge")])
    assert await states(env, router["id"]) == {"n1": "standby", "n2": "active"}  # n1 kept: standby when back
    await report_l3(env, "n3")  # a new L3 agent: the router, short of hosts, gets it as a standby
    assert await states(env, router["id"]) == {"n1": "standby", "n2": "active", "n3": "standby"}
    assert (await placed(env, router["id"]))[0] == "n2"
    assert (await env.generations())["n2"][0] > before
    assert len((await entry(env, "n2", router["id"]))["ports"]) == 1  # n2's document: the addresses now
    assert (await entry(env, "n1", router["id"]))["ports"] == []  # n1, if it comes back: standby, empty


async def test_periodic_check_fails_over_without_any_report(make_env):
    env = await make_env(agent_down_time=20)
    await report_l3(env, "n1")
    await report_l3(env, "n2")
    router = await ha_router(env, "10.122.0.0/24")
    env.clock.advance(21)  # both silent: nothing alive, the router goes down with its hosts kept
    await env.services.l3_agents.reschedule()
    assert (await placed(env, router["id"]))[:2] == (None, "DOWN")
    assert await ha_hosts(env, router["id"]) == []
    await report_l3(env, "n2")
    assert (await placed(env, router["id"]))[0] == "n2"


async def test_reported_ha_state_and_back_to_legacy(make_env):
    env = await make_env(agent_down_time=20)
    await report_l3(env, "n1")
    await report_l3(env, "n2")
    router = await ha_router(env, "10.123.0.0/24")
    taken = await env.services.hosts.l3_status(ADMIN, "n2", {}, {}, {router["id"]: "standby", "nope": "active"})
    assert taken["ha_states"] == [router["id"]]
    assert (await entry(env, "n2", router["id"]))["reported_ha_state"] == "standby"
    routers = env.services.routers
    await routers.update(ADMIN, router["id"], {"admin_state_up": False})
    updated = await routers.update(ADMIN, router["id"], {"ha": False})
    assert updated["ha"] is False
    assert await ha_hosts(env, router["id"]) == []  # legacy: one host
    assert await entry(env, "n2", router["id"]) is None
    assert (await placed(env, router["id"]))[0] == "n1"


async def test_deleting_an_ha_router_tells_its_standbys(make_env):
    env = await make_env(agent_down_time=20)
    await report_l3(env, "n1")
    await report_l3(env, "n2")
    router = await env.services.routers.create(ADMIN, {"name": "ha", "ha": True})
    assert await entry(env, "n2", router["id"]) is not None  # scheduled on both at create
    before = (await env.generations())["n2"][0]
    await env.services.routers.delete(ADMIN, router["id"])
    assert (await env.generations())["n2"][0] > before  # its agent drops the standby namespace now
    assert await entry(env, "n2", router["id"]) is None
    assert await env.read(select(rh).where(rh.c.router_id == router["id"])) == []


def test_choose_keeps_live_standbys_then_candidates_then_dead_hosts():
    live = {"a", "b", "c", "d"}
    # active first; live current standbys before new candidates; dead former hosts fill what is left
    assert l3_ha.choose("b", ["a", "b", "x"], ["c", "d", "a"], live, 3) == ["b", "a", "c"]
    assert l3_ha.choose("b", ["b", "x"], ["c"], live, 3) == ["b", "c", "x"]  # x is dead: kept as a standby
    assert l3_ha.choose("b", ["b"], ["a", "c", "d"], live, 0) == ["b", "a", "c", "d"]  # 0: no limit
    assert l3_ha.choose(None, ["a"], ["a"], live, 3) == []  # no active host: no hosts
