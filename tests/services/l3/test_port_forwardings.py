"""Port forwardings as the tables see them: the floating IP's router set with
the first and cleared with the last; refusals that leave every table as it
was; the forwardings and the floating IP's router going with the internal port
or its address; concurrent creates of one external port (one wins); the change
event that an L3 host will follow."""

from __future__ import annotations

import asyncio

import pytest

from quark import errors
from quark.db import l3_models, models
from quark.services.events import PortForwardingsChanged
from quark.services.l3.port_forwarding_errors import FipInUseByPortForwarding, PortHasBindingFloatingIP
from tests.services.conftest import ADMIN, member, router_between

f, p, pf = models.floatingips, models.ports, l3_models.port_forwardings


@pytest.fixture
async def world(env):
    return await make_world(env)


async def make_world(env) -> tuple:
    """(caller, external network, its network, its port, router between them, floating IP)."""
    external = await env.network(**{"router:external": True})
    await env.subnet(external["id"], "198.51.100.0/24", enable_dhcp=False)
    ctx = member()
    net, subnet = await env.network_with_subnet("10.71.0.0/24", ctx, enable_dhcp=False)
    port = await env.port(net["id"], ctx)
    router = await router_between(env, ctx, external["id"], subnet["id"])
    fip = await env.services.floating_ips.create(ctx, {"floating_network_id": external["id"]})
    return ctx, external, net, port, router, fip


def body(port: dict, external_port: int = 2222, **extra) -> dict:
    return {
        "protocol": "tcp",
        "internal_port_id": port["id"],
        "internal_ip_address": port["fixed_ips"][0]["ip_address"],
        "external_port": external_port,
        "internal_port": 22,
        **extra,
    }


async def test_the_floating_ips_router_follows_its_forwardings(env, world):
    ctx, _, _, port, router, fip = world
    service = env.services.port_forwardings
    first = await service.create_in_fip(ctx, fip["id"], body(port))
    row = await env.one(f, fip["id"])
    assert (row.router_id, row.port_id, row.revision_number) == (router["id"], None, fip["revision_number"] + 1)
    stored = await env.one(pf, first["id"])
    assert (stored.external_port_start, stored.external_port_end, stored.internal_port_start) == (2222, 2222, 22)
    second = await service.create_in_fip(ctx, fip["id"], body(port, 2223, internal_port=23))
    await service.delete_in_fip(ctx, fip["id"], first["id"])
    assert (await env.one(f, fip["id"])).router_id == router["id"]  # one is left
    await service.delete_in_fip(ctx, fip["id"], second["id"])
    assert (await env.one(f, fip["id"])).router_id is None


async def test_refusals_leave_every_table_as_it_was(env, world):
    ctx, external, net, port, _, fip = world
    service = env.services.port_forwardings
    await service.create_in_fip(ctx, fip["id"], body(port))
    await env.refused(errors.BadRequest, service.create_in_fip(ctx, fip["id"], body(port, internal_port=24)))
    await env.refused(errors.BadRequest, service.create_in_fip(ctx, fip["id"], body(port, 2300)))  # same socket
    await env.refused(
        errors.BadRequest, service.create_in_fip(ctx, fip["id"], body(port, 2301, internal_ip_address="10.71.0.250"))
    )
    stranger = member()
    await env.refused(errors.FloatingIPNotFound, service.create_in_fip(stranger, fip["id"], body(port, 2303)))
    theirs = await env.services.floating_ips.create(stranger, {"floating_network_id": external["id"]})
    await env.refused(errors.PortNotFound, service.create_in_fip(stranger, theirs["id"], body(port, 2302)))
    await env.refused(
        FipInUseByPortForwarding, env.services.floating_ips.update(ctx, fip["id"], {"port_id": port["id"]})
    )
    await env.refused(FipInUseByPortForwarding, env.services.floating_ips.delete(ctx, fip["id"]))
    # Its external network's delete takes unassociated floating IPs with it: not this one.
    await env.refused(FipInUseByPortForwarding, env.services.networks.delete(ADMIN, external["id"]))
    other = await env.port(net["id"], ctx)
    await env.services.floating_ips.create(ctx, {"floating_network_id": external["id"], "port_id": other["id"]})
    await env.refused(PortHasBindingFloatingIP, service.create_in_fip(ctx, fip["id"], body(other, 2304)))


async def test_forwardings_go_with_their_port_and_its_address(env, world):
    ctx, _, net, port, _, fip = world
    service = env.services.port_forwardings
    first = await service.create_in_fip(ctx, fip["id"], body(port))
    other = await env.port(net["id"], ctx)
    second = await service.create_in_fip(ctx, fip["id"], body(other, 2223))
    await env.services.ports.update(ctx, other["id"], {"fixed_ips": [{"ip_address": "10.71.0.200"}]})
    assert await env.one(pf, second["id"]) is None
    assert await env.one(pf, first["id"]) is not None
    await env.services.ports.delete(ctx, port["id"])
    assert await env.count(pf) == 0
    assert (await env.one(f, fip["id"])).router_id is None
    await env.services.floating_ips.delete(ctx, fip["id"])  # free again


async def test_concurrent_creates_of_one_external_port_one_wins(env, world):
    ctx, _, net, port, _, fip = world
    other = await env.port(net["id"], ctx)
    service = env.services.port_forwardings
    outcomes = await asyncio.gather(
        service.create_in_fip(ctx, fip["id"], body(port, 4000)),
        service.create_in_fip(ctx, fip["id"], body(other, 4000)),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], errors.BadRequest), outcomes
    assert await env.count(pf, pf.c.floatingip_id == fip["id"]) == 1


async def test_every_change_is_published_with_its_router(env, world):
    ctx, _, _, port, router, fip = world
    seen: list[PortForwardingsChanged] = []
    handlers = env.services.events._handlers[PortForwardingsChanged]

    async def record(conn, event: PortForwardingsChanged) -> None:
        seen.append(event)

    handlers.append(record)
    try:
        service = env.services.port_forwardings
        made = await service.create_in_fip(ctx, fip["id"], body(port))
        await service.update_in_fip(ctx, fip["id"], made["id"], {"external_port": 2224})
        await service.delete_in_fip(ADMIN, fip["id"], made["id"])
    finally:
        handlers.remove(record)
    assert [(e.floatingip_ids, e.internal_port_ids, e.router_ids) for e in seen] == [
        ((fip["id"],), (port["id"],), (router["id"],))
    ] * 3
    assert (await env.one(p, port["id"])).revision_number >= 3  # Neutron's revises_on_change
