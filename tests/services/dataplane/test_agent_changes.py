"""What agent reports and admin changes of agents do to ports and hosts, in
the report's own transaction: failed bindings bound again when the L2
agent is new, back alive, enabled or able to serve more; tunnel peers told
when an agent's tunnel address changes or the agent goes; a heartbeat that
changes nothing tells nobody."""

from __future__ import annotations

from quark import names
from quark.db import models
from tests.services.conftest import ADMIN

p = models.ports


async def binding(env, port_id: str) -> tuple[str, str, int]:
    row = await env.one(p, port_id)
    return row.binding_vif_type, row.status, row.revision_number


async def failed_port(env, host: str, dhcp: bool = False, **network):
    """A port whose binding to ``host`` failed, on a new network (with a DHCP subnet if ``dhcp``)."""
    net = await env.network(**network)
    await env.subnet(net["id"], "10.120.0.0/24", enable_dhcp=dhcp)
    port = await env.port(net["id"], **{"binding:host_id": host})
    assert (port["binding:vif_type"], port["status"]) == ("binding_failed", "DOWN")
    return net, port


async def test_a_new_agent_binds_the_ports_that_failed_on_its_host(env):
    await env.report_dhcp("d1")
    net, port = await failed_port(env, "h1", dhcp=True)
    revision = port["revision_number"]
    dhcp_before = (await env.generations())["d1"]

    await env.report_l2("h1")

    assert await binding(env, port["id"]) == ("bridge", "BUILD", revision + 1)
    row = await env.one(p, port["id"])
    assert row.binding_vif_details["bridge_name"] == names.bridge_name(net["id"])
    assert row.binding_vif_details["device_name"] == names.tap_name(port["id"])
    generations = await env.generations()
    assert generations["h1"][0] == 1
    assert generations["d1"] == dhcp_before  # a rebind changes nothing DHCP shows


async def test_an_agent_back_alive_binds_again_and_a_heartbeat_alone_does_not(make_env):
    env = await make_env(agent_down_time=20)
    await env.report_l2("h1")
    env.clock.advance(21)  # h1's agent is down
    _, port = await failed_port(env, "h1")
    await env.report_l2("h1")  # back: binds the port
    state = await binding(env, port["id"])
    assert state[0] == "bridge"
    generations = await env.generations()

    env.clock.advance(5)
    await env.report_l2("h1")  # a heartbeat of a live agent, nothing new

    assert await binding(env, port["id"]) == state
    assert await env.generations() == generations


async def test_an_agent_able_to_serve_more_binds_what_it_could_not(env):
    await env.report_l2("h1")  # no VLAN support
    _, port = await failed_port(
        env,
        "h1",
        **{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100},
    )
    revision = port["revision_number"]
    await env.report_l2("h1")
    assert await binding(env, port["id"]) == ("binding_failed", "DOWN", revision)
    await env.report_l2("h1", vlan_supported=True)
    assert await binding(env, port["id"]) == ("bridge", "BUILD", revision + 1)


async def test_an_agent_enabled_by_an_admin_binds_what_failed_while_disabled(env):
    agent = await env.report_l2("h1")
    await env.services.agents.update(ADMIN, agent["id"], {"admin_state_up": False})
    _, port = await failed_port(env, "h1")
    await env.services.agents.update(ADMIN, agent["id"], {"description": "still disabled"})
    assert (await binding(env, port["id"]))[0] == "binding_failed"
    await env.services.agents.update(ADMIN, agent["id"], {"admin_state_up": True})
    assert (await binding(env, port["id"]))[:2] == ("bridge", "BUILD")


async def test_tunnel_peers_are_told_of_a_new_tunnel_address_and_of_a_deleted_agent(env):
    for i, host in enumerate(("h1", "h2", "h3"), start=1):
        await env.report_l2(host, tunnel_ip=f"192.0.2.{i}")
    shared, _ = await env.network_with_subnet("10.121.0.0/24", enable_dhcp=False)
    other, _ = await env.network_with_subnet("10.122.0.0/24", enable_dhcp=False)
    await env.port(shared["id"], **{"binding:host_id": "h1"})
    await env.port(shared["id"], **{"binding:host_id": "h2"})
    await env.port(other["id"], **{"binding:host_id": "h3"})

    before = await env.generations()
    agent = await env.report_l2("h1", tunnel_ip="192.0.2.101")
    after = await env.generations()
    assert {h: after[h][0] - before[h][0] for h in ("h1", "h2", "h3")} == {"h1": 0, "h2": 1, "h3": 0}
    state = await env.services.hosts.desired_state(ADMIN, "h2")
    assert [network["peers"] for network in state["networks"]] == [["192.0.2.101"]]

    await env.services.agents.delete(ADMIN, agent["id"])
    final = await env.generations()
    assert {h: final[h][0] - after[h][0] for h in ("h1", "h2", "h3")} == {"h1": 0, "h2": 1, "h3": 0}
    state = await env.services.hosts.desired_state(ADMIN, "h2")
    assert [network["peers"] for network in state["networks"]] == [[]]
