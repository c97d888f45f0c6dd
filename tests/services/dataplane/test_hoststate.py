"""Which hosts' generations a change bumps, read from ``host_generations``.

A bound port's own host; on a VXLAN network every host with ports there
when a host joins or leaves it (their peers change); the network's DHCP
host (``dhcp_generation``) for any port or subnet change; every host of the
network for an MTU or subnet change; nobody for what no host shows. Hosts
of other networks are never told.

The ports here are in no security group: the hosts a group's change concerns
(any network's) are tests/api/test_port_filters.py's.
"""

from __future__ import annotations

import pytest

from quark.db import models
from tests.services.conftest import ADMIN

L2_HOSTS = ("h1", "h2", "h3")


def bumps(before: dict, after: dict) -> dict[str, tuple[int, int]]:
    """host -> (generation, dhcp_generation) increments, for the hosts that changed."""
    out = {}
    for host, (gen, dhcp) in after.items():
        was = before.get(host, (0, 0))
        if (gen, dhcp) != was:
            out[host] = (gen - was[0], dhcp - was[1])
    return out


class Watch:
    """Runs a change and answers the generation increments it caused."""

    def __init__(self, env) -> None:
        self.env = env

    async def __call__(self, change) -> dict[str, tuple[int, int]]:
        before = await self.env.generations()
        await change
        return bumps(before, await self.env.generations())


@pytest.fixture
async def net(env):
    """L2 agents on h1-h3, a DHCP agent on d1; a VXLAN network with a DHCP
    subnet (its DHCP port on d1), and a port of another network on h3."""
    for i, host in enumerate(L2_HOSTS, start=1):
        await env.report_l2(host, tunnel_ip=f"192.0.2.{i}")
    await env.report_dhcp("d1")
    network, subnet = await env.network_with_subnet("10.90.0.0/24")
    elsewhere, _ = await env.network_with_subnet("10.91.0.0/24", enable_dhcp=False)
    await env.port(elsewhere["id"], security_groups=[], **{"binding:host_id": "h3"})
    return network, subnet


@pytest.fixture
def watch(env) -> Watch:
    return Watch(env)


def bind(env, port_id: str, host: str):
    return env.services.ports.update(ADMIN, port_id, {"binding:host_id": host})


async def test_a_port_create_tells_its_host_the_peers_and_the_dhcp_host(env, net, watch):
    network, _ = net
    port = env.port(network["id"], security_groups=[], **{"binding:host_id": "h1"})
    assert await watch(port) == {"h1": (1, 0), "d1": (0, 1)}
    # h2 joins the network: h1's peers change too.
    assert await watch(env.port(network["id"], security_groups=[], **{"binding:host_id": "h2"})) == {
        "h1": (1, 0),
        "h2": (1, 0),
        "d1": (0, 1),
    }
    # A second port on h2: only h2 (and DHCP).
    assert await watch(env.port(network["id"], security_groups=[], **{"binding:host_id": "h2"})) == {
        "h2": (1, 0),
        "d1": (0, 1),
    }
    # Unbound: only the DHCP host shows it.
    assert await watch(env.port(network["id"], security_groups=[])) == {"d1": (0, 1)}


async def test_bind_unbind_and_delete(env, net, watch):
    network, _ = net
    first = await env.port(network["id"], security_groups=[], **{"binding:host_id": "h1"})
    second = await env.port(network["id"], security_groups=[])
    third = await env.port(network["id"], security_groups=[], **{"binding:host_id": "h2"})

    assert await watch(bind(env, second["id"], "h2")) == {"h2": (1, 0), "d1": (0, 1)}
    assert await watch(bind(env, second["id"], "")) == {"h2": (1, 0), "d1": (0, 1)}
    # The last port of h2 leaves: every host of the network learns its peers changed.
    assert await watch(bind(env, third["id"], "")) == {"h1": (1, 0), "h2": (1, 0), "d1": (0, 1)}
    # Moved from h1 to h2: both hosts (h1 leaves, h2 joins).
    assert await watch(bind(env, first["id"], "h2")) == {"h1": (1, 0), "h2": (1, 0), "d1": (0, 1)}
    assert await watch(env.services.ports.delete(ADMIN, first["id"])) == {"h2": (1, 0), "d1": (0, 1)}
    assert await watch(env.services.ports.delete(ADMIN, second["id"])) == {"d1": (0, 1)}


async def test_on_a_flat_network_a_joining_host_tells_no_other_host(env, watch):
    for host in ("h1", "h2"):
        await env.report_l2(host)
    flat = await env.network(**{"provider:network_type": "flat", "provider:physical_network": "physnet1"})
    await env.subnet(flat["id"], "10.92.0.0/24", enable_dhcp=False)
    await env.port(flat["id"], security_groups=[], **{"binding:host_id": "h1"})
    assert await watch(env.port(flat["id"], security_groups=[], **{"binding:host_id": "h2"})) == {"h2": (1, 0)}


async def test_quiet_port_changes_tell_nobody(env, net, watch):
    network, _ = net
    port = await env.port(network["id"], security_groups=[], **{"binding:host_id": "h1"})
    quiet = {"name": "x", "description": "y", "binding:profile": {"a": 1}, "security_groups": []}
    assert await watch(env.services.ports.update(ADMIN, port["id"], quiet)) == {}
    assert await watch(env.services.ports.update(ADMIN, port["id"], {"admin_state_up": False})) == {
        "h1": (1, 0),
        "d1": (0, 1),
    }
    assert (await env.one(models.ports, port["id"])).status == "DOWN"


async def test_an_mtu_change_tells_every_host_of_the_network(env, net, watch):
    network, _ = net
    await env.port(network["id"], security_groups=[], **{"binding:host_id": "h1"})
    await env.port(network["id"], security_groups=[], **{"binding:host_id": "h2"})
    networks = env.services.networks
    assert await watch(networks.update(ADMIN, network["id"], {"mtu": 1400})) == {
        "h1": (1, 0),
        "h2": (1, 0),
        "d1": (0, 1),
    }
    assert await watch(networks.update(ADMIN, network["id"], {"name": "renamed", "mtu": 1400})) == {}


async def test_subnet_changes_tell_every_host_of_the_network(env, net, watch):
    network, _ = net
    await env.port(network["id"], security_groups=[], **{"binding:host_id": "h1"})
    subnets = env.services.subnets
    everyone = {"h1": (1, 0), "d1": (0, 1)}
    created = await env.subnet(network["id"], "2001:db8:90::/64", enable_dhcp=False)
    assert await watch(subnets.update(ADMIN, created["id"], {"dns_nameservers": ["2001:db8::53"]})) == everyone
    assert await watch(subnets.delete(ADMIN, created["id"])) == everyone
    assert await watch(env.subnet(network["id"], "2001:db8:91::/64", enable_dhcp=False)) == everyone


async def test_port_status_reports_bump_only_on_a_change(env, net, watch):
    network, _ = net
    port = await env.port(network["id"], security_groups=[], **{"binding:host_id": "h1"})
    hosts = env.services.hosts
    assert await watch(hosts.port_status(ADMIN, "h1", {port["id"]: "ACTIVE"})) == {"h1": (1, 0)}
    assert await watch(hosts.port_status(ADMIN, "h1", {port["id"]: "ACTIVE"})) == {}
    # Reported by a host the port is not bound to: ignored.
    assert await watch(hosts.port_status(ADMIN, "h2", {port["id"]: "DOWN"})) == {}
    assert (await env.one(models.ports, port["id"])).status == "ACTIVE"
