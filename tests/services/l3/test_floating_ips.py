"""Floating IPs as the tables see them: the internal port that holds the
address, created and deleted with the floating IP; associations dropped
when the port goes or stops holding the fixed address (``PortDeleting``,
``PortAddressesChanged``) and kept otherwise; refusals that leave nothing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from quark import errors, owners
from quark.db import models
from quark.services.l3.floating_ips import ExternalNetworkRequired, FloatingIpPortInvalid
from tests.services.conftest import ADMIN, member, router_between

f, p, a = models.floatingips, models.ports, models.ip_allocations


@pytest.fixture
async def world(env):
    """An external network, and a project's network with a port on it, joined
    by the project's router (what an association needs)."""
    external = await env.network(**{"router:external": True})
    await env.subnet(external["id"], "198.51.100.0/24", enable_dhcp=False)
    ctx = member()
    net, subnet = await env.network_with_subnet("10.70.0.0/24", ctx, enable_dhcp=False)
    port = await env.port(net["id"], ctx)
    await router_between(env, ctx, external["id"], subnet["id"])
    return ctx, external, net, subnet, port


async def association(env, fip_id: str) -> tuple:
    row = await env.one(f, fip_id)
    return row.port_id, row.fixed_ip_address


async def test_a_floating_ip_is_held_by_an_internal_port_that_goes_with_it(env, world):
    ctx, external, *_ = world
    fip = await env.services.floating_ips.create(ctx, {"floating_network_id": external["id"]})
    row = await env.one(f, fip["id"])
    internal = await env.one(p, row.floating_port_id)
    assert (internal.device_owner, internal.device_id, internal.project_id) == (owners.FLOATING_IP, fip["id"], "")
    assert await env.live_addresses(internal.id) == [fip["floating_ip_address"]]
    assert await env.count(models.port_security_groups, models.port_security_groups.c.port_id == internal.id) == 0
    await env.refused(errors.ServicePortInUse, env.services.ports.delete(ADMIN, internal.id))

    await env.services.floating_ips.delete(ctx, fip["id"])
    assert await env.one(p, internal.id) is None
    (released,) = await env.allocations(a.c.address == fip["floating_ip_address"])
    assert (released.deallocated, released.deallocated_at) == (True, env.clock.now)


async def test_refused_creates_leave_no_port_and_no_address(env, world):
    ctx, external, net, _, port = world
    fips = env.services.floating_ips
    await env.refused(ExternalNetworkRequired, fips.create(ctx, {"floating_network_id": net["id"]}))
    # The port is checked after the internal port took its address: both go back.
    await env.refused(
        FloatingIpPortInvalid,
        fips.create(
            ctx, {"floating_network_id": external["id"], "port_id": port["id"], "fixed_ip_address": "10.70.0.99"}
        ),
    )
    await env.refused(
        errors.PortNotFound, fips.create(member(), {"floating_network_id": external["id"], "port_id": port["id"]})
    )
    taken = await fips.create(ADMIN, {"floating_network_id": external["id"], "floating_ip_address": "198.51.100.50"})
    await env.refused(
        errors.IpAddressAlreadyAllocated,
        fips.create(
            ADMIN, {"floating_network_id": external["id"], "floating_ip_address": taken["floating_ip_address"]}
        ),
    )


async def test_an_association_goes_when_the_port_goes(env, world):
    ctx, external, _, _, port = world
    fip = await env.services.floating_ips.create(ctx, {"floating_network_id": external["id"], "port_id": port["id"]})
    assert await association(env, fip["id"]) == (port["id"], "10.70.0.2")
    revision = (await env.one(f, fip["id"])).revision_number
    await env.services.ports.delete(ctx, port["id"])
    assert await association(env, fip["id"]) == (None, None)
    assert (await env.one(f, fip["id"])).revision_number == revision + 1


async def test_an_association_goes_when_the_port_stops_holding_the_address(env, world):
    ctx, external, _, subnet, port = world
    fip = await env.services.floating_ips.create(ctx, {"floating_network_id": external["id"], "port_id": port["id"]})
    # Another address besides it: the association stays.
    await env.services.ports.update(
        ADMIN, port["id"], {"fixed_ips": [{"ip_address": "10.70.0.2"}, {"ip_address": "10.70.0.30"}]}
    )
    assert await association(env, fip["id"]) == (port["id"], "10.70.0.2")
    # The associated address let go: the association goes.
    await env.services.ports.update(ADMIN, port["id"], {"fixed_ips": [{"ip_address": "10.70.0.30"}]})
    assert await association(env, fip["id"]) == (None, None)
    assert subnet["id"]


async def test_an_association_follows_an_address_moved_through_ip_addresses(env, world):
    ctx, external, net, _, port = world
    other = await env.port(net["id"], ctx)
    ips = env.services.ip_addresses
    extra = await ips.create(ctx, {"network_id": net["id"], "port_ids": [port["id"]], "ip_address": "10.70.0.40"})
    fips = env.services.floating_ips
    on_extra = await fips.create(
        ctx, {"floating_network_id": external["id"], "port_id": port["id"], "fixed_ip_address": "10.70.0.40"}
    )
    on_own = await fips.create(ctx, {"floating_network_id": external["id"], "port_id": other["id"]})

    await ips.update(ctx, extra["id"], {"port_ids": [other["id"]]})

    assert await association(env, on_extra["id"]) == (None, None)  # port no longer holds 10.70.0.40
    assert await association(env, on_own["id"]) == (other["id"], other["fixed_ips"][0]["ip_address"])


async def test_a_shared_address_keeps_its_association_while_the_port_holds_it(env, world):
    ctx, external, net, _, port = world
    peer = await env.port(net["id"], ctx)
    ips = env.services.ip_addresses
    vip = await ips.create(ctx, {"network_id": net["id"], "port_ids": [port["id"], peer["id"]]})
    fip = await env.services.floating_ips.create(
        ctx,
        {"floating_network_id": external["id"], "port_id": port["id"], "fixed_ip_address": vip["ip_address"]},
    )
    await env.services.ports.delete(ctx, peer["id"])  # the other holder goes: the port still holds it
    assert await association(env, fip["id"]) == (port["id"], vip["ip_address"])
    await ips.delete(ctx, vip["id"])
    assert await association(env, fip["id"]) == (None, None)


async def test_one_floating_ip_per_fixed_address(env, world):
    ctx, external, _, _, port = world
    fips = env.services.floating_ips
    await fips.create(ctx, {"floating_network_id": external["id"], "port_id": port["id"]})
    second = await fips.create(ctx, {"floating_network_id": external["id"]})
    await env.refused(errors.FloatingIPPortAlreadyAssociated, fips.update(ctx, second["id"], {"port_id": port["id"]}))
    assert await env.count(f, f.c.port_id == port["id"]) == 1
    assert (await env.read(select(f.c.port_id).where(f.c.id == second["id"])))[0][0] is None


async def test_an_association_racing_a_port_delete_does_not_outlive_the_port(env, world):
    """The association's transaction is held open just before it commits
    while the port is deleted: the delete must either wait for it (and drop
    the association) or make it fail. On SQLite writers queue on the file
    lock; on MariaDB and PostgreSQL the association holds the port's row lock
    (FloatingIpService._associate), which the delete waits for."""
    ctx, external, _, _, port = world
    fips = env.services.floating_ips
    fip = await fips.create(ctx, {"floating_network_id": external["id"]})
    reached, go = asyncio.Event(), asyncio.Event()
    bump = fips.bump_revision

    async def held_bump(conn, resource_id, **changes):
        await bump(conn, resource_id, **changes)
        reached.set()
        await go.wait()  # the association is written, not committed

    fips.bump_revision = held_bump
    associating = asyncio.create_task(fips.update(ctx, fip["id"], {"port_id": port["id"]}))
    await asyncio.wait_for(reached.wait(), 30)
    fips.bump_revision = bump
    deleting = asyncio.create_task(env.services.ports.delete(ctx, port["id"]))
    # Long enough for an unblocked delete to finish; a delete that waits for the
    # association's locks (as it should) is let through when the association commits.
    await asyncio.wait({deleting}, timeout=0.2 if env.db.dialect == "sqlite" else 5)
    go.set()
    outcomes = await asyncio.gather(associating, deleting, return_exceptions=True)
    assert not isinstance(outcomes[1], BaseException)  # the port delete always succeeds
    assert await env.one(p, port["id"]) is None
    assert await association(env, fip["id"]) == (None, None)


async def test_the_subnet_of_an_associated_address_cannot_be_deleted(env, world):
    """The router interface an association needs holds the subnet (409), so a
    subnet delete never takes an associated address away."""
    _, external, _, _, _ = world
    await env.report_dhcp("d1")
    net, first = await env.network_with_subnet("10.71.0.0/24")
    await env.subnet(net["id"], "10.72.0.0/24")
    router = await router_between(env, ADMIN, external["id"], first["id"])
    (dhcp,) = await env.read(select(p).where(p.c.network_id == net["id"], p.c.device_owner == owners.DHCP))
    fip = await env.services.floating_ips.create(
        ADMIN, {"floating_network_id": external["id"], "port_id": dhcp.id, "fixed_ip_address": "10.71.0.2"}
    )
    assert (await env.one(f, fip["id"])).router_id == router["id"]

    await env.refused(errors.SubnetInUse, env.services.subnets.delete(ADMIN, first["id"]))
    assert await association(env, fip["id"]) == (dhcp.id, "10.71.0.2")
