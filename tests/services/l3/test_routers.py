"""Routers as the tables see them: the gateway and interface ports they
create and delete in their own transaction, refusals that leave nothing
behind, and the races Neutron's API leaves to the server (one subnet, two
routers; atomic extra routes)."""

from __future__ import annotations

import asyncio

import pytest

from quark import errors, owners
from quark.db import l3_models, models
from quark.services.l3 import router_errors
from tests.services.conftest import ADMIN, member

r, p = l3_models.routers, models.ports


@pytest.fixture
async def world(env):
    """An external network, and a project's network with a subnet."""
    external = await env.network(**{"router:external": True})
    await env.subnet(external["id"], "198.51.100.0/24", enable_dhcp=False)
    ctx = member()
    net, subnet = await env.network_with_subnet("10.90.0.0/24", ctx, enable_dhcp=False)
    return ctx, external, net, subnet


async def test_the_gateway_port_comes_and_goes_with_the_gateway(env, world):
    ctx, external, *_ = world
    routers = env.services.routers
    router = await routers.create(ctx, {"external_gateway_info": {"network_id": external["id"]}})
    row = await env.one(r, router["id"])
    gateway = await env.one(p, row.gw_port_id)
    assert (gateway.device_owner, gateway.device_id, gateway.project_id) == (owners.ROUTER_GATEWAY, row.id, "")
    (address,) = await env.live_addresses(gateway.id)
    assert router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == address
    assert await env.count(models.port_security_groups, models.port_security_groups.c.port_id == gateway.id) == 0

    await routers.update(ctx, router["id"], {"external_gateway_info": None})
    assert (await env.one(r, router["id"])).gw_port_id is None
    assert await env.one(p, gateway.id) is None
    assert await env.live_addresses(gateway.id) == []


async def test_refusals_leave_nothing(env, world):
    ctx, external, net, subnet = world
    routers = env.services.routers
    await env.refused(
        router_errors.RouterBadRequest, routers.create(ctx, {"external_gateway_info": {"network_id": net["id"]}})
    )
    router = await routers.create(ctx, {"name": "r"})
    await env.refused(router_errors.RouterBadRequest, routers.update(ctx, router["id"], {"ha": True}))  # admin-up
    await routers.add_interface(ctx, router["id"], {"subnet_id": subnet["id"]})
    await env.refused(
        router_errors.RouterBadRequest, routers.add_interface(ctx, router["id"], {"subnet_id": subnet["id"]})
    )
    await env.refused(router_errors.RouterInUse, routers.delete(ctx, router["id"]))
    bad = [{"destination": "192.0.2.0/24", "nexthop": "10.91.0.1"}]
    await env.refused(router_errors.InvalidRoutes, routers.update(ctx, router["id"], {"routes": bad}))
    await env.refused(router_errors.InvalidRoutes, routers.change_routes(ctx, router["id"], {"routes": bad}, add=True))
    await env.refused(errors.L3PortInUse, env.services.ports.delete(ADMIN, (await interface_port(env, router)).id))
    await env.refused(router_errors.RouterNotFound, routers.delete(member(), router["id"]))


async def interface_port(env, router: dict):
    (port,) = await env.read(
        p.select().where(p.c.device_id == router["id"], p.c.device_owner.in_(owners.ROUTER_INTERFACE))
    )
    return port


async def test_removing_an_interface_gives_the_gateway_address_back(env, world):
    ctx, _, _, subnet = world
    routers = env.services.routers
    router = await routers.create(ctx, {})
    info = await routers.add_interface(ctx, router["id"], {"subnet_id": subnet["id"]})
    assert await env.live_addresses(info["port_id"]) == [subnet["gateway_ip"]]
    assert (await env.one(r, router["id"])).revision_number == 1
    await routers.remove_interface(ctx, router["id"], {"port_id": info["port_id"]})
    assert await env.one(p, info["port_id"]) is None
    other = await routers.create(ctx, {})
    again = await routers.add_interface(ctx, other["id"], {"subnet_id": subnet["id"]})  # the address at once
    assert await env.live_addresses(again["port_id"]) == [subnet["gateway_ip"]]


async def test_two_routers_adding_one_subnet_at_once_one_wins(env, world):
    ctx, _, _, subnet = world
    routers = env.services.routers
    first, second = [await routers.create(ctx, {}) for _ in range(2)]
    results = await asyncio.gather(
        *(routers.add_interface(ctx, router["id"], {"subnet_id": subnet["id"]}) for router in (first, second)),
        return_exceptions=True,
    )
    won = [result for result in results if isinstance(result, dict)]
    lost = [result for result in results if isinstance(result, BaseException)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], errors.IpAddressAlreadyAllocated), lost
    interfaces = await env.read(p.select().where(p.c.device_owner == owners.ROUTER_INTERFACE_PORT))
    assert [port.id for port in interfaces] == [won[0]["port_id"]]


async def test_concurrent_atomic_route_changes_all_apply(env, world):
    ctx, _, _, subnet = world
    routers = env.services.routers
    router = await routers.create(ctx, {})
    await routers.add_interface(ctx, router["id"], {"subnet_id": subnet["id"]})
    routes = [{"destination": f"192.0.{i}.0/24", "nexthop": f"10.90.0.{10 + i}"} for i in range(6)]
    await asyncio.gather(*(routers.change_routes(ctx, router["id"], {"routes": [x]}, add=True) for x in routes))
    shown = (await routers.get(ctx, router["id"]))["routes"]
    assert sorted(map(str, shown)) == sorted(map(str, routes))
    await asyncio.gather(*(routers.change_routes(ctx, router["id"], {"routes": [x]}, add=False) for x in routes))
    assert (await routers.get(ctx, router["id"]))["routes"] == []


async def test_new_gateway_addresses_on_the_same_network_replace_the_port(env, world):
    """An admin moves the gateway to other addresses, or asks again for the one
    it has (taken back at once from the port being replaced)."""
    ctx, external, *_ = world
    routers = env.services.routers
    gateway = {"network_id": external["id"], "external_fixed_ips": [{"ip_address": "198.51.100.20"}]}
    router = await routers.create(ADMIN, {"external_gateway_info": gateway})
    for address in ("198.51.100.20", "198.51.100.21"):
        gateway = {"network_id": external["id"], "external_fixed_ips": [{"ip_address": address}]}
        shown = await routers.update(ADMIN, router["id"], {"external_gateway_info": gateway})
        assert [ip["ip_address"] for ip in shown["external_gateway_info"]["external_fixed_ips"]] == [address]
        row = await env.one(r, router["id"])
        assert await env.live_addresses(row.gw_port_id) == [address]
    assert await env.count(p, p.c.device_owner == owners.ROUTER_GATEWAY) == 1
