"""The network service: segments held and given back, the events an update
publishes, the rules that refuse an unshare, an MTU or a delete, and what a
delete takes with it — read from the tables."""

from __future__ import annotations

from sqlalchemy import select

from quark import errors
from quark.db import models
from quark.ipam.segments import SegmentAllocator
from quark.services.core.networks import NetworkService
from quark.services.events import EVENT_TYPES, Events, NetworkUpdated, ResourcesWritten, Written
from tests.services.conftest import ADMIN, member

n, s, p, a = models.networks, models.subnets, models.ports, models.ip_allocations
seg = models.segment_allocations


async def segment_rows(env, network_type: str = "vxlan") -> list:
    return await env.read(select(seg).where(seg.c.network_type == network_type).order_by(seg.c.segmentation_id))


async def test_project_networks_hold_the_next_id_of_the_seeded_range(env):
    first = await env.network()
    second = await env.network(member())
    assert (first["provider:network_type"], first["provider:segmentation_id"], first["mtu"]) == ("vxlan", 1, 1450)
    assert second["provider:segmentation_id"] == 2
    rows = await segment_rows(env)
    assert [(r.segmentation_id, r.network_id, r.allocated) for r in rows] == [
        (1, first["id"], True),
        (2, second["id"], True),
    ]
    assert (await env.one(n, first["id"])).segment_key == "vxlan::1"


async def test_a_deleted_network_gives_its_id_back_for_reuse(env):
    net = await env.network()
    await env.network()
    env.clock.advance(5)
    await env.services.networks.delete(ADMIN, net["id"])
    released = (await segment_rows(env))[0]
    assert (released.segmentation_id, released.allocated, released.network_id) == (1, False, None)
    assert released.released_at == env.clock.now
    again = await env.network()
    assert again["provider:segmentation_id"] == 1  # the released id before the cursor's next


async def test_an_explicit_id_outside_every_range_is_forgotten_on_delete(env):
    net = await env.network(**{"provider:network_type": "vxlan", "provider:segmentation_id": 70000})
    assert [r.segmentation_id for r in await segment_rows(env)] == [70000]
    await env.services.networks.delete(ADMIN, net["id"])
    assert await segment_rows(env) == []


async def test_refused_creates_leave_nothing(env):
    await env.network(**{"provider:network_type": "vxlan", "provider:segmentation_id": 500})
    await env.network(**{"provider:network_type": "flat", "provider:physical_network": "physnet1"})
    networks = env.services.networks
    # An id a network holds (the segment allocator says so) ...
    await env.refused(
        errors.SegmentationIdInUse,
        networks.create(ADMIN, {"provider:network_type": "vxlan", "provider:segmentation_id": 500}),
    )
    # ... a flat segment twice (the unique segment_key says so, an IntegrityError) ...
    await env.refused(
        errors.SegmentationIdInUse,
        networks.create(ADMIN, {"provider:network_type": "flat", "provider:physical_network": "physnet1"}),
    )
    # ... and provider attributes the type does not allow.
    await env.refused(errors.InvalidInput, networks.create(ADMIN, {"provider:network_type": "vlan"}))
    await env.refused(errors.InvalidInput, networks.create(ADMIN, {"provider:segmentation_id": 7}))


async def test_an_update_publishes_the_columns_that_changed(env):
    events = Events()
    published: list = []

    async def record(conn, event) -> None:
        published.append(event)

    for kind in EVENT_TYPES:
        events.subscribe(kind, record)
    events.freeze()
    service = NetworkService(env.db, env.settings, events, SegmentAllocator(env.clock), env.services.subnets)
    net = await env.network(name="same")

    updated = await service.update(ADMIN, net["id"], {"name": "same", "mtu": 1400, "shared": False})
    written = Written(net["id"], net["revision_number"] + 1, ADMIN.project_id, driver="agent")
    assert published == [
        NetworkUpdated(net["id"], {"mtu": 1400}),
        ResourcesWritten("network", "update", (written,), ADMIN),  # for the backend driver, at the new revision
    ]
    assert (updated["mtu"], updated["revision_number"]) == (1400, net["revision_number"] + 1)


async def test_unsharing_is_refused_while_another_project_has_ports(env):
    owner, other = member(), member()
    net = await env.network(owner, shared=True)
    await env.subnet(net["id"], "10.1.0.0/24", owner)
    await env.port(net["id"], other)
    await env.refused(errors.InvalidSharedSetting, env.services.networks.update(owner, net["id"], {"shared": False}))
    assert (await env.one(n, net["id"])).shared is True


async def test_unsharing_ignores_the_networks_own_and_dhcp_ports(env):
    owner, other = member(), member()
    net = await env.network(owner, shared=True)
    await env.subnet(net["id"], "10.2.0.0/24", owner)
    await env.port(net["id"], owner)
    await env.port(net["id"], ADMIN, project_id=other.project_id, device_owner="network:dhcp")
    updated = await env.services.networks.update(owner, net["id"], {"shared": False})
    assert updated["shared"] is False


async def test_an_mtu_too_small_for_ipv6_is_refused(env):
    net = await env.network()
    await env.subnet(net["id"], "2001:db8:1::/64")
    await env.refused(errors.NetworkMTUSubnetConflict, env.services.networks.update(ADMIN, net["id"], {"mtu": 1279}))
    assert (await env.services.networks.update(ADMIN, net["id"], {"mtu": 1280}))["mtu"] == 1280


async def test_a_network_in_use_cannot_be_deleted(env):
    net, sub = await env.network_with_subnet("10.3.0.0/24")
    port = await env.port(net["id"], device_owner="compute:nova")
    await env.refused(errors.NetworkInUse, env.services.networks.delete(ADMIN, net["id"]))
    await env.services.ports.delete(ADMIN, port["id"])
    # An address reserved for a device with no port keeps it in use too.
    address = await env.services.ip_addresses.create(ADMIN, {"network_id": net["id"], "subnet_id": sub["id"]})
    await env.refused(errors.NetworkInUse, env.services.networks.delete(ADMIN, net["id"]))
    await env.services.ip_addresses.delete(ADMIN, address["id"])
    await env.services.networks.delete(ADMIN, net["id"])
    assert await env.one(n, net["id"]) is None


async def test_a_delete_takes_its_dhcp_port_subnets_and_everything_on_them(env):
    await env.report_dhcp("dhcp-1")
    net = await env.network()
    v4 = await env.subnet(
        net["id"], "10.4.0.0/24", host_routes=[{"destination": "10.99.0.0/16", "nexthop": "10.4.0.254"}]
    )
    v6 = await env.subnet(net["id"], "2001:db8:4::/64", enable_dhcp=False)
    await env.services.subnets.add_tags(ADMIN, v4["id"], ["kept-with-the-subnet"])
    await env.services.networks.add_tags(ADMIN, net["id"], ["kept-with-the-network"])
    policy = await env.services.ip_policies.create(ADMIN, {"network_ids": [net["id"]], "exclude": ["10.4.0.0/28"]})
    (dhcp_port,) = await env.read(select(p).where(p.c.network_id == net["id"]))
    assert dhcp_port.device_owner == "network:dhcp"
    dhcp_generation = (await env.generations())["dhcp-1"][1]
    policies, mac_rows = await env.count(models.ip_policies), await env.count(models.mac_allocations)
    subnet_ids = [v4["id"], v6["id"]]

    await env.services.networks.delete(ADMIN, net["id"])

    assert await env.one(n, net["id"]) is None
    assert await env.count(s, s.c.network_id == net["id"]) == 0
    assert await env.count(p, p.c.network_id == net["id"]) == 0
    assert await env.count(a, a.c.network_id == net["id"]) == 0  # dropped, not quarantined
    assert await env.count(models.ip_usage, models.ip_usage.c.subnet_id.in_(subnet_ids)) == 0
    assert await env.count(models.routes) == 0
    assert await env.count(models.tags) == 0
    assert await env.count(models.ip_policy_targets) == 0
    assert await env.count(models.ip_policies) == policies  # the policy stays, with no targets
    assert (await env.services.ip_policies.get(ADMIN, policy["id"]))["network_ids"] == []
    # The DHCP port's MAC is given back (quarantined), and its host is told.
    assert await env.count(models.mac_allocations) == mac_rows
    m = models.mac_allocations
    (mac,) = await env.read(select(m).where(m.c.deallocated.is_(True)))
    assert mac.deallocated_at == env.clock.now
    assert (await env.generations())["dhcp-1"][1] > dhcp_generation
