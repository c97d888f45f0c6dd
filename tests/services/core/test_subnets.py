"""The subnet service: the rows a create writes (subnet, usage counters,
cursor, the network's revision), what refuses a create or a delete and that
the refusal leaves nothing, and what a delete takes with it."""

from __future__ import annotations

import ipaddress

import pytest
from sqlalchemy import select

from quark import errors
from quark.db import models
from quark.ipam import addressing
from quark.ipam.ip_allocator import USAGE_SHARDS
from tests.services.conftest import ADMIN, member

n, s, p, a = models.networks, models.subnets, models.ports, models.ip_allocations
u = models.ip_usage


def key(address: str) -> str:
    value = ipaddress.ip_address(address)
    return addressing.ip_key(value, value.version)


@pytest.mark.parametrize(
    ("cidr", "first"),
    # IPv4: the gateway is the first host; IPv6: the subnet-router anycast address (not in the pool).
    [("10.10.0.0/24", "10.10.0.2"), ("2001:db8:10::/64", "2001:db8:10::1")],
)
async def test_a_create_writes_the_row_its_counters_and_cursor(env, cidr, first):
    net = await env.network()
    subnet = await env.subnet(net["id"], cidr, enable_dhcp=False)
    row = await env.one(s, subnet["id"])
    assert row.next_ip_key == key(first)  # the first pool address
    assert row.excluded_ranges == []
    shards = await env.read(select(u).where(u.c.subnet_id == subnet["id"]))
    assert sorted(shard.shard for shard in shards) == list(range(USAGE_SHARDS))
    assert sum(shard.used for shard in shards) == 0
    assert (await env.one(n, net["id"])).revision_number == net["revision_number"] + 1


async def test_a_subnet_without_pools_has_no_cursor(env):
    net = await env.network()
    subnet = await env.subnet(net["id"], "10.11.0.0/30", enable_dhcp=False, allocation_pools=[])
    assert (await env.one(s, subnet["id"])).next_ip_key is None


async def test_refused_creates_leave_nothing(env):
    owner, stranger = member(), member()
    net = await env.network(owner)
    await env.subnet(net["id"], "10.12.0.0/24", owner)
    subnets = env.services.subnets

    def create(ctx, cidr, **attrs):
        version = ipaddress.ip_network(cidr).version
        return subnets.create(ctx, {"network_id": net["id"], "ip_version": version, "cidr": cidr, **attrs})

    await env.refused(errors.InvalidInput, create(owner, "10.12.0.128/25"))  # overlaps
    await env.refused(errors.NetworkNotFound, create(stranger, "10.13.0.0/24"))  # cannot see it
    await env.refused(errors.InvalidInput, create(owner, "2001:db8:12::/64", ipv6_ra_mode="slaac", enable_dhcp=False))
    # Route rows are written by a subscriber after the subnet row: its refusal takes the row back.
    duplicate = [
        {"destination": "10.50.0.0/16", "nexthop": "10.14.0.1"},
        {"destination": "10.50.0.0/16", "nexthop": "10.14.0.2"},
    ]
    await env.refused(errors.DuplicateRouteConflict, create(owner, "10.14.0.0/24", host_routes=duplicate))


async def test_no_subnet_on_another_projects_shared_network(env):
    owner = member()
    net = await env.network(owner, shared=True)
    await env.refused(
        errors.PolicyNotAuthorized,
        env.services.subnets.create(member(), {"network_id": net["id"], "ip_version": 4, "cidr": "10.15.0.0/24"}),
    )


async def test_an_ipv6_subnet_needs_an_mtu_of_1280(env):
    net = await env.network(mtu=1200)
    await env.refused(
        errors.NetworkMTUSubnetConflict,
        env.services.subnets.create(ADMIN, {"network_id": net["id"], "ip_version": 6, "cidr": "2001:db8:16::/64"}),
    )


async def test_a_subnet_with_addresses_in_use_cannot_be_deleted(env):
    net, subnet = await env.network_with_subnet("10.17.0.0/24", enable_dhcp=False)
    port = await env.port(net["id"])
    await env.refused(errors.SubnetInUse, env.services.subnets.delete(ADMIN, subnet["id"]))
    await env.services.ports.delete(ADMIN, port["id"])
    reserved = await env.services.ip_addresses.create(ADMIN, {"network_id": net["id"]})
    await env.refused(errors.SubnetInUse, env.services.subnets.delete(ADMIN, subnet["id"]))
    await env.services.ip_addresses.delete(ADMIN, reserved["id"])
    await env.services.subnets.delete(ADMIN, subnet["id"])
    assert await env.one(s, subnet["id"]) is None


async def test_a_delete_drops_allocations_counters_routes_and_tags(env):
    net = await env.network()
    routes = [{"destination": "10.60.0.0/16", "nexthop": "10.18.0.1"}]
    subnet = await env.subnet(net["id"], "10.18.0.0/24", enable_dhcp=False, host_routes=routes)
    await env.services.subnets.add_tags(ADMIN, subnet["id"], ["a", "b"])
    gone = await env.port(net["id"])
    await env.services.ports.delete(ADMIN, gone["id"])  # its address stays, quarantined
    assert [row.deallocated for row in await env.allocations(a.c.subnet_id == subnet["id"])] == [True]
    network_revision = (await env.one(n, net["id"])).revision_number

    await env.services.subnets.delete(ADMIN, subnet["id"])

    assert await env.one(s, subnet["id"]) is None
    assert await env.allocations(a.c.subnet_id == subnet["id"]) == []
    assert await env.count(u, u.c.subnet_id == subnet["id"]) == 0
    assert await env.count(models.routes) == 0
    assert await env.count(models.tags, models.tags.c.resource_id == subnet["id"]) == 0
    assert (await env.one(n, net["id"])).revision_number == network_revision + 1


async def test_deleting_a_slaac_subnet_takes_the_ports_eui64_addresses(env):
    net = await env.network()
    v4 = await env.subnet(net["id"], "10.19.0.0/24", enable_dhcp=False)
    slaac = await env.subnet(net["id"], "2001:db8:19::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    port = await env.port(net["id"])
    assert len(await env.live_addresses(port["id"])) == 2
    revision = (await env.one(p, port["id"])).revision_number

    await env.services.subnets.delete(ADMIN, slaac["id"])  # auto addresses do not keep it in use

    assert await env.live_addresses(port["id"]) == [(await env.allocations(a.c.subnet_id == v4["id"]))[0].address]
    assert (await env.one(p, port["id"])).revision_number == revision + 1


async def test_deleting_a_slaac_subnet_gives_the_holders_of_its_shared_address_a_new_revision(env):
    net = await env.network()
    slaac = await env.subnet(net["id"], "2001:db8:20::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    # Ports without addresses of their own (no EUI-64 address on the subnet).
    first, second = await env.port(net["id"], fixed_ips=[]), await env.port(net["id"], fixed_ips=[])
    shared = await env.services.ip_addresses.create(
        ADMIN, {"network_id": net["id"], "subnet_id": slaac["id"], "port_ids": [first["id"], second["id"]]}
    )
    assert shared["type"] == "shared"
    revisions = {pid: (await env.one(p, pid)).revision_number for pid in (first["id"], second["id"])}

    await env.services.subnets.delete(ADMIN, slaac["id"])

    assert await env.count(models.ip_address_ports) == 0
    for port_id, revision in revisions.items():
        assert shared["ip_address"] not in [
            ip["ip_address"] for ip in (await env.services.ports.get(ADMIN, port_id))["fixed_ips"]
        ]
        assert (await env.one(p, port_id)).revision_number == revision + 1
