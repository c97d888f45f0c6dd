"""DHCP scheduling as the tables see it: a DHCP agent that reports gets the
networks with DHCP subnets and no DHCP port (the least loaded live agent,
one network that cannot be served failing alone); a new DHCP subnet gives
the network's DHCP port an address; the last DHCP subnet going deletes it."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from quark import owners
from quark.db import models
from quark.ipam import macs
from tests.services.conftest import ADMIN

p, a, psg = models.ports, models.ip_allocations, models.port_security_groups


async def dhcp_ports(env, network_id: str) -> list:
    return await env.read(select(p).where(p.c.network_id == network_id, p.c.device_owner == owners.DHCP))


async def test_a_reporting_dhcp_agent_gets_the_networks_without_a_dhcp_port(env):
    plain, v4 = await env.network_with_subnet("10.100.0.0/24")
    dual, dual_v4 = await env.network_with_subnet("10.101.0.0/24")
    stateful = await env.subnet(
        dual["id"], "2001:db8:101::/64", ipv6_ra_mode="dhcpv6-stateful", ipv6_address_mode="dhcpv6-stateful"
    )
    slaac = await env.subnet(dual["id"], "2001:db8:102::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    off, _ = await env.network_with_subnet("10.102.0.0/24", enable_dhcp=False)
    assert [await dhcp_ports(env, n["id"]) for n in (plain, dual, off)] == [[], [], []]  # no agent yet

    await env.report_dhcp("d1")

    (port,) = await dhcp_ports(env, plain["id"])
    assert (port.binding_host_id, port.device_id, port.port_security_enabled) == ("d1", f"dhcp-{plain['id']}", False)
    assert await env.live_addresses(port.id) == ["10.100.0.2"]
    assert await env.count(psg, psg.c.port_id == port.id) == 0
    (port,) = await dhcp_ports(env, dual["id"])
    held = {row.subnet_id for row in await env.allocations(a.c.port_id == port.id)}
    assert held == {dual_v4["id"], stateful["id"]}  # none on the SLAAC subnet: the router advertises it
    assert slaac["id"] not in held
    assert await dhcp_ports(env, off["id"]) == []
    assert (await env.generations())["d1"][1] > 0
    assert v4["id"]


async def test_the_least_loaded_live_agent_is_chosen(env):
    await env.report_dhcp("d2")
    first, _ = await env.network_with_subnet("10.103.0.0/24")
    await env.report_dhcp("d1")  # d1 (no network) is less loaded than d2 (one)
    second, _ = await env.network_with_subnet("10.104.0.0/24")
    third, _ = await env.network_with_subnet("10.105.0.0/24")  # a tie: the first host by name
    hosts = [(await dhcp_ports(env, n["id"]))[0].binding_host_id for n in (first, second, third)]
    assert hosts == ["d2", "d1", "d1"]


async def test_dead_or_disabled_agents_get_nothing_until_they_come_back(make_env):
    env = await make_env(agent_down_time=20)
    agent = await env.report_dhcp("d1")
    env.clock.advance(21)
    dead, _ = await env.network_with_subnet("10.106.0.0/24")
    assert await dhcp_ports(env, dead["id"]) == []

    await env.services.agents.update(ADMIN, agent["id"], {"admin_state_up": False})
    await env.report_dhcp("d1")  # alive again, but disabled
    assert await dhcp_ports(env, dead["id"]) == []

    await env.services.agents.update(ADMIN, agent["id"], {"admin_state_up": True})
    assert [port.binding_host_id for port in await dhcp_ports(env, dead["id"])] == ["d1"]


async def test_a_new_dhcp_subnet_gives_the_dhcp_port_an_address(env):
    await env.report_dhcp("d1")
    net, _ = await env.network_with_subnet("10.107.0.0/24")
    (port,) = await dhcp_ports(env, net["id"])
    off = await env.subnet(net["id"], "10.108.0.0/24", enable_dhcp=False)
    assert len(await env.live_addresses(port.id)) == 1
    revision = (await env.one(p, port.id)).revision_number
    generation = (await env.generations())["d1"][1]

    await env.services.subnets.update(ADMIN, off["id"], {"enable_dhcp": True})

    assert sorted(await env.live_addresses(port.id)) == ["10.107.0.2", "10.108.0.2"]
    assert (await env.one(p, port.id)).revision_number == revision + 1
    assert (await env.generations())["d1"][1] > generation
    await env.subnet(net["id"], "10.109.0.0/24")
    assert len(await env.live_addresses(port.id)) == 3


async def test_the_last_dhcp_subnet_going_deletes_the_dhcp_port(env):
    await env.report_dhcp("d1")
    net, first = await env.network_with_subnet("10.110.0.0/24")
    second = await env.subnet(net["id"], "10.111.0.0/24")
    (port,) = await dhcp_ports(env, net["id"])

    await env.services.subnets.delete(ADMIN, first["id"])
    assert [row.id for row in await dhcp_ports(env, net["id"])] == [port.id]
    assert await env.live_addresses(port.id) == ["10.111.0.2"]

    await env.services.subnets.update(ADMIN, second["id"], {"enable_dhcp": False})
    assert await dhcp_ports(env, net["id"]) == []
    m = models.mac_allocations
    (mac,) = await env.read(select(m).where(m.c.address == macs.parse_mac(port.mac_address)))
    assert mac.deallocated is True
    (released,) = await env.allocations(a.c.subnet_id == second["id"])
    assert (released.address, released.deallocated) == ("10.111.0.2", True)


async def test_a_network_that_cannot_be_served_fails_alone(env):
    full, subnet = await env.network_with_subnet(
        "10.112.0.0/24", allocation_pools=[{"start": "10.112.0.10", "end": "10.112.0.10"}]
    )
    await env.port(full["id"])  # takes the only address
    served, _ = await env.network_with_subnet("10.113.0.0/24")
    m = models.mac_allocations
    before = {
        "ports": await env.count(p, p.c.network_id == full["id"]),
        "allocations": await env.count(a, a.c.subnet_id == subnet["id"]),
        "macs": await env.count(m) + 1,  # the served network's DHCP port's
    }

    await env.report_dhcp("d1")

    assert len(await dhcp_ports(env, served["id"])) == 1
    assert await dhcp_ports(env, full["id"]) == []
    after = {
        "ports": await env.count(p, p.c.network_id == full["id"]),
        "allocations": await env.count(a, a.c.subnet_id == subnet["id"]),
        "macs": await env.count(m),
    }
    assert after == before
    assert await env.used(subnet["id"]) == 1


async def test_two_dhcp_agents_reporting_at_once_give_a_network_one_dhcp_port(env):
    """Two DHCP agents come back after an outage at the same moment: the
    first report's transaction is held open once it has made the network's
    DHCP port while the second agent reports. SQLite queues the second
    writer behind the first; on the server databases the second report waits
    for the network's row lock (DhcpScheduler.network_dhcp_changed)."""
    await env.report_dhcp("d1")
    await env.report_dhcp("d2")
    env.clock.advance(env.settings.agent_down_time + 1)  # both down: the network gets no DHCP port
    net, _ = await env.network_with_subnet("10.114.0.0/24")
    assert await dhcp_ports(env, net["id"]) == []
    scheduler = env.services.dhcp_scheduler
    schedule = scheduler.network_dhcp_changed
    reached, go = asyncio.Event(), asyncio.Event()

    async def first_held(conn, network_id):
        await schedule(conn, network_id)
        if not reached.is_set():
            reached.set()
            await go.wait()  # the DHCP port is written, not committed

    scheduler.network_dhcp_changed = first_held
    first = asyncio.create_task(env.report_dhcp("d1"))
    await asyncio.wait_for(reached.wait(), 30)
    second = asyncio.create_task(env.report_dhcp("d2"))
    # Long enough for an unhindered second report to decide; one that waits
    # for the first (as it should) goes on when the first commits.
    await asyncio.wait({second}, timeout=0.2 if env.db.dialect == "sqlite" else 5)
    go.set()
    await asyncio.gather(first, second)

    assert len(await dhcp_ports(env, net["id"])) == 1
