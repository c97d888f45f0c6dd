"""The port service: the rows a create writes and a delete gives back (MAC,
addresses, usage counters, memberships, tags), the events each change
publishes, all-or-nothing bulk creates and refused updates, and the EUI-64
addresses ports get when a SLAAC subnet comes."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from sqlalchemy import select

from quark import errors
from quark.db import models
from quark.ipam import addressing, macs
from quark.services import wiring
from quark.services.core.ports.service import PortService
from quark.services.core.subnets import SubnetService
from quark.services.events import (
    EVENT_TYPES,
    Events,
    PortAddressesChanged,
    PortChange,
    PortDeleting,
    PortGroupsChanging,
    PortsChanged,
    PortsCreating,
    ResourcesCreated,
    ResourcesWritten,
    SubnetCreated,
)
from tests.services.conftest import ADMIN, member

p, a, m = models.ports, models.ip_allocations, models.mac_allocations
psg, t = models.port_security_groups, models.tags


async def mac_row(env, mac_text: str):
    rows = await env.read(select(m).where(m.c.address == macs.parse_mac(mac_text)))
    return rows[0] if rows else None


async def test_a_create_writes_the_port_its_mac_address_counter_and_children(env):
    ctx = member()
    net, subnet = await env.network_with_subnet("10.20.0.0/24", ctx, enable_dhcp=False)
    port = await env.port(net["id"], ctx, tags=["x", "y"])

    row = await env.one(p, port["id"])
    assert (row.status, row.mac_allocated, row.project_id, row.ip_allocation) == (
        "DOWN",
        True,
        ctx.project_id,
        "immediate",
    )
    mac = await mac_row(env, port["mac_address"])
    assert (mac.deallocated, mac.allocated_at) == (False, env.clock.now)
    (allocation,) = await env.allocations(a.c.port_id == port["id"])
    assert (allocation.address, allocation.subnet_id, allocation.project_id) == (
        "10.20.0.2",
        subnet["id"],
        ctx.project_id,
    )
    assert allocation.allocated_at == env.clock.now
    assert await env.used(subnet["id"]) == 1
    assert [r.security_group_id for r in await env.read(select(psg).where(psg.c.port_id == port["id"]))] == port[
        "security_groups"
    ]
    assert sorted(r.tag for r in await env.read(select(t).where(t.c.resource_id == port["id"]))) == ["x", "y"]


async def test_a_delete_gives_everything_back_quarantined(env):
    net, subnet = await env.network_with_subnet("10.21.0.0/24", enable_dhcp=False)
    port = await env.port(net["id"], tags=["x"])
    env.clock.advance(60)
    await env.services.ports.delete(ADMIN, port["id"])

    assert await env.one(p, port["id"]) is None
    (allocation,) = await env.allocations(a.c.subnet_id == subnet["id"])
    assert (allocation.deallocated, allocation.deallocated_at, allocation.port_id) == (True, env.clock.now, None)
    assert await env.used(subnet["id"]) == 0
    mac = await mac_row(env, port["mac_address"])
    assert (mac.deallocated, mac.deallocated_at) == (True, env.clock.now)
    assert await env.count(psg, psg.c.port_id == port["id"]) == 0
    assert await env.count(t, t.c.resource_id == port["id"]) == 0
    # Quarantined: the next port gets a fresh address, not the released one.
    assert (await env.port(net["id"]))["fixed_ips"][0]["ip_address"] == "10.21.0.3"


async def test_a_bulk_create_is_all_or_nothing_macs_groups_and_tags_included(env):
    ctx = member()
    net, subnet = await env.network_with_subnet("10.22.0.0/24", ctx, enable_dhcp=False)
    await env.port(net["id"], ADMIN, fixed_ips=[{"ip_address": "10.22.0.9"}])
    ports = env.services.ports
    good = {"network_id": net["id"], "tags": ["t"]}
    # The project's default group would be made by this create: it is not left behind either.
    await env.refused(
        errors.IpAddressAlreadyAllocated,
        ports.create_bulk(
            ctx,
            [
                good,
                {"network_id": net["id"], "fixed_ips": [{"subnet_id": subnet["id"]}]},
                {
                    "network_id": net["id"],
                    "fixed_ips": [{"ip_address": "10.22.0.9"}],
                },
            ],
        ),
    )
    await env.refused(
        errors.MacAddressInUse,
        ports.create_bulk(
            ADMIN,
            [
                {"network_id": net["id"], "mac_address": "fa:16:3e:aa:bb:cc"},
                {"network_id": net["id"], "mac_address": "fa:16:3e:aa:bb:cc"},
            ],
        ),
    )
    dsg = models.default_security_groups
    assert await env.count(dsg, dsg.c.project_id == ctx.project_id) == 0


async def test_a_refused_update_keeps_the_addresses_and_the_revision(env):
    net, subnet = await env.network_with_subnet("10.23.0.0/24", enable_dhcp=False)
    port = await env.port(net["id"])
    await env.port(net["id"], fixed_ips=[{"ip_address": "10.23.0.50"}])
    await env.refused(
        errors.IpAddressAlreadyAllocated,
        env.services.ports.update(ADMIN, port["id"], {"name": "new", "fixed_ips": [{"ip_address": "10.23.0.50"}]}),
    )
    row = await env.one(p, port["id"])
    assert (row.name, row.revision_number) == ("", port["revision_number"])
    assert await env.live_addresses(port["id"]) == ["10.23.0.2"]


async def test_an_address_change_quarantines_the_old_one_and_keeps_the_count(env):
    net, subnet = await env.network_with_subnet("10.24.0.0/24", enable_dhcp=False)
    port = await env.port(net["id"])
    env.clock.advance(10)
    await env.services.ports.update(ADMIN, port["id"], {"fixed_ips": [{"ip_address": "10.24.0.77"}]})
    rows = {row.address: row for row in await env.allocations(a.c.subnet_id == subnet["id"])}
    assert (rows["10.24.0.2"].deallocated, rows["10.24.0.2"].deallocated_at) == (True, env.clock.now)
    assert (rows["10.24.0.77"].deallocated, rows["10.24.0.77"].port_id) == (False, port["id"])
    assert await env.used(subnet["id"]) == 1


def recording_ports(env, written: list | None = None) -> tuple[PortService, list]:
    """A port service over the env's database whose events are only recorded
    (``ResourcesWritten`` in ``written``, when given; the others in the list returned)."""
    events = Events()
    published: list = []

    async def record(conn, event) -> None:
        if isinstance(event, ResourcesWritten):
            if written is not None:
                written.append(event)
            return
        published.append(event)

    for kind in EVENT_TYPES:
        events.subscribe(kind, record)
    events.freeze()
    real = env.services.ports
    return PortService(env.db, env.settings, events, real.ips, real.macs, real.binder), published


async def test_the_events_of_a_port_create_update_and_delete(env):
    written: list = []
    ports, published = recording_ports(env, written)
    net, _ = await env.network_with_subnet("10.25.0.0/24", enable_dhcp=False)
    network = await env.one(models.networks, net["id"])

    port = (await ports.create_bulk(ADMIN, [{"network_id": net["id"], "name": "a"}]))[0]
    creating, changed, claim = published
    assert claim == ResourcesCreated("port", {ADMIN.project_id: 1})  # last: quotas lock only until the commit
    assert isinstance(creating, PortsCreating) and [c.project_id for c in creating.choices] == [ADMIN.project_id]
    assert isinstance(changed, PortsChanged) and changed.network.id == net["id"]
    assert (changed.changes, changed.dhcp) == ((PortChange(port["id"], "", ""),), True)

    published.clear()
    await ports.update(ADMIN, port["id"], {"name": "b", "description": "quiet"})
    assert published == []  # nothing a host shows

    await ports.update(ADMIN, port["id"], {"security_groups": []})
    assert published == []  # no group before, none after: nothing changes

    group = await env.services.security_groups.create(ADMIN, {"name": "g"})
    await ports.update(ADMIN, port["id"], {"security_groups": [group["id"]]})
    assert published == [PortGroupsChanging(ADMIN, port["id"], ADMIN.project_id, (group["id"],), (group["id"],))]

    published.clear()
    await ports.update(ADMIN, port["id"], {"fixed_ips": [{"ip_address": "10.25.0.9"}]})
    assert [type(e) for e in published] == [PortAddressesChanged, PortsChanged]
    assert published[0].port_ids == (port["id"],)

    published.clear()
    row = await env.one(p, port["id"])
    await ports.delete(ADMIN, port["id"])
    assert published == [PortDeleting(row, network, "")]
    # Every change, quiet ones too, is written for the backend driver, at its revision.
    seen = [(e.resource, e.operation, [(w.resource_id, w.revision, w.driver) for w in e.items]) for e in written]
    pid = port["id"]
    assert seen == [
        ("port", "create", [(pid, 0, "agent")]),
        *[("port", "update", [(pid, revision, "agent")]) for revision in (1, 2, 3)],
        ("port", "update", [(pid, row.revision_number, "agent")]),
        ("port", "delete", [(pid, row.revision_number, "agent")]),
    ]


async def test_a_slaac_subnet_gives_the_ports_eui64_addresses_but_not_router_ports(env):
    net, _ = await env.network_with_subnet("10.26.0.0/24", enable_dhcp=False)
    plain = await env.port(net["id"])
    router = await env.port(net["id"], device_owner="network:router_interface")
    slaac = await env.subnet(net["id"], "2001:db8:26::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")

    expected = addressing.eui64(ipaddress.ip_network(slaac["cidr"]), macs.parse_mac(plain["mac_address"]))
    (eui64,) = await env.allocations(a.c.subnet_id == slaac["id"])
    assert (eui64.port_id, eui64.address) == (plain["id"], str(expected))
    assert await env.used(slaac["id"]) == 1
    assert (await env.one(p, plain["id"])).revision_number == plain["revision_number"] + 1
    assert (await env.one(p, router["id"])).revision_number == router["revision_number"]


async def test_a_port_delete_releases_an_explicit_mac_of_a_range(env):
    net, _ = await env.network_with_subnet("10.27.0.0/24", enable_dhcp=False)
    inside, outside = "fa:16:3e:00:ff:01", "02:00:00:00:00:01"
    kept = await env.port(net["id"], mac_address=inside)
    free = await env.port(net["id"], mac_address=outside)
    assert (await env.one(p, kept["id"])).mac_allocated is True
    assert (await env.one(p, free["id"])).mac_allocated is False
    assert await mac_row(env, outside) is None  # outside every range: not recorded
    await env.services.ports.delete(ADMIN, kept["id"])
    assert (await mac_row(env, inside)).deallocated is True


async def test_a_slaac_subnet_reserved_for_other_owners_gives_existing_ports_nothing(env):
    net, _ = await env.network_with_subnet("10.28.0.0/24", enable_dhcp=False)
    before = await env.port(net["id"], device_owner="compute:nova")
    other_before = await env.port(net["id"], device_owner="network:loadbalancer")
    slaac = await env.subnet(
        net["id"],
        "2001:db8:28::/64",
        ipv6_ra_mode="slaac",
        ipv6_address_mode="slaac",
        service_types=["network:loadbalancer"],
    )
    after = await env.port(net["id"], device_owner="compute:nova")
    on_slaac = {row.port_id for row in await env.allocations(a.c.subnet_id == slaac["id"])}
    assert after["id"] not in on_slaac  # a port made after the subnet: not served there
    assert other_before["id"] in on_slaac  # the owner the subnet serves
    assert before["id"] not in on_slaac  # nor a port made before it


async def test_a_port_created_while_a_slaac_subnet_is_added_gets_its_eui64_address(env, request):
    """The subnet create's transaction is held open after its subscribers ran
    (a handler subscribed last on a bus of its own) while a port is created
    on the network: the port must end up with an EUI-64 address on the new
    subnet, whichever transaction comes first. SQLite queues the writers."""
    if env.db.dialect != "sqlite":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="PortService.on_subnet_created (core/ports/service.py) gives EUI-64 addresses to the ports "
                "it can read, and a port create reads the network's subnets without waiting for a subnet "
                "create in flight: a port created meanwhile gets no address on the new SLAAC subnet, ever",
            )
        )
    s = env.services
    events = Events()
    wiring.subscribe(
        events,
        ports=s.ports,
        routes=s.routes,
        security_groups=s.security_groups,
        dhcp_scheduler=s.dhcp_scheduler,
        agent_changes=s.agent_changes,
        l3_scheduler=s.l3_scheduler,
        quotas=s.quotas,
        floating_ip_service=s.floating_ips,
        port_forwardings=s.port_forwardings,
        outbox=s.outbox,
    )
    reached, go = asyncio.Event(), asyncio.Event()

    async def hold(conn, event) -> None:
        reached.set()
        await go.wait()

    events.subscribe(SubnetCreated, hold)
    events.freeze()
    subnets = SubnetService(env.db, env.settings, events, s.ports.ips)
    net, _ = await env.network_with_subnet("10.29.0.0/24", enable_dhcp=False)
    body = {"network_id": net["id"], "ip_version": 6, "cidr": "2001:db8:29::/64", "ipv6_ra_mode": "slaac"}
    body["ipv6_address_mode"] = "slaac"

    adding = asyncio.create_task(subnets.create(ADMIN, body))
    await asyncio.wait_for(reached.wait(), 30)
    creating = asyncio.create_task(env.port(net["id"]))
    await asyncio.wait({creating}, timeout=0.2 if env.db.dialect == "sqlite" else 5)
    go.set()
    slaac, port = await asyncio.gather(adding, creating)

    held = {row.subnet_id for row in await env.allocations(a.c.port_id == port["id"], a.c.deallocated.is_(False))}
    assert slaac["id"] in held
