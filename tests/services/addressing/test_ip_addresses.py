"""The ip_addresses service as the tables see it: the holding shapes
(reserved, one port, shared), the counters, the holders' revisions and
hosts told of a change, releases into quarantine, and refusals that leave
nothing."""

from __future__ import annotations

from sqlalchemy import select

from quark import errors
from quark.db import models
from tests.services.conftest import ADMIN, member

p, a, h = models.ports, models.ip_allocations, models.ip_address_ports


async def holder_rows(env, allocation_id: str) -> list[str]:
    return sorted(r.port_id for r in await env.read(select(h).where(h.c.allocation_id == allocation_id)))


async def revision(env, port_id: str) -> int:
    return (await env.one(p, port_id)).revision_number


async def test_the_three_holding_shapes_in_the_tables(env):
    net, subnet = await env.network_with_subnet("10.30.0.0/24", enable_dhcp=False)
    first, second = await env.port(net["id"]), await env.port(net["id"])
    ips = env.services.ip_addresses

    reserved = await ips.create(ADMIN, {"network_id": net["id"]})
    one = await ips.create(ADMIN, {"network_id": net["id"], "port_ids": [first["id"]]})
    shared = await ips.create(ADMIN, {"network_id": net["id"], "port_ids": [first["id"], second["id"]]})

    rows = {row.id: row for row in await env.allocations(a.c.subnet_id == subnet["id"])}
    assert (rows[reserved["id"]].port_id, await holder_rows(env, reserved["id"])) == (None, [])
    assert (rows[one["id"]].port_id, await holder_rows(env, one["id"])) == (first["id"], [])
    assert (rows[shared["id"]].port_id, await holder_rows(env, shared["id"])) == (
        None,
        sorted([first["id"], second["id"]]),
    )
    assert await env.used(subnet["id"]) == 5  # the two ports' own addresses and these three
    # Each holder's addresses changed: a new revision per change it took part in.
    assert await revision(env, first["id"]) == first["revision_number"] + 2
    assert await revision(env, second["id"]) == second["revision_number"] + 1


async def test_the_hosts_of_the_holders_are_told(env):
    await env.report_l2("host-a")
    await env.report_dhcp("dhcp-a")
    net, _ = await env.network_with_subnet("10.31.0.0/24")
    port = await env.port(net["id"], **{"binding:host_id": "host-a"})
    before = await env.generations()
    await env.services.ip_addresses.create(ADMIN, {"network_id": net["id"], "port_ids": [port["id"]]})
    after = await env.generations()
    assert after["host-a"][0] == before["host-a"][0] + 1
    assert after["dhcp-a"][1] == before["dhcp-a"][1] + 1


async def test_a_delete_releases_into_quarantine_and_tells_the_holders(env):
    net, subnet = await env.network_with_subnet("10.32.0.0/24", enable_dhcp=False)
    first, second = await env.port(net["id"]), await env.port(net["id"])
    shared = await env.services.ip_addresses.create(
        ADMIN, {"network_id": net["id"], "port_ids": [first["id"], second["id"]]}
    )
    revisions = {pid: await revision(env, pid) for pid in (first["id"], second["id"])}
    env.clock.advance(30)

    await env.services.ip_addresses.delete(ADMIN, shared["id"])

    row = await env.one(a, shared["id"])
    assert (row.deallocated, row.deallocated_at, row.port_id) == (True, env.clock.now, None)
    assert await holder_rows(env, shared["id"]) == []
    assert await env.used(subnet["id"]) == 2
    assert {pid: await revision(env, pid) for pid in revisions} == {pid: r + 1 for pid, r in revisions.items()}


async def test_a_shared_address_lives_until_its_last_holder_goes(env):
    net, subnet = await env.network_with_subnet("10.33.0.0/24", enable_dhcp=False)
    first, second = await env.port(net["id"]), await env.port(net["id"])
    shared = await env.services.ip_addresses.create(
        ADMIN, {"network_id": net["id"], "port_ids": [first["id"], second["id"]]}
    )

    await env.services.ports.delete(ADMIN, first["id"])
    row = await env.one(a, shared["id"])
    assert (row.deallocated, await holder_rows(env, shared["id"])) == (False, [second["id"]])

    await env.services.ports.delete(ADMIN, second["id"])
    row = await env.one(a, shared["id"])
    assert (row.deallocated, row.deallocated_at) == (True, env.clock.now)
    assert await env.used(subnet["id"]) == 0


async def test_refused_creates_leave_nothing(make_env):
    env = await make_env(ipaddr_max_per_port=2)
    owner = member()
    net, subnet = await env.network_with_subnet("10.34.0.0/24", owner, enable_dhcp=False)
    other_net, _ = await env.network_with_subnet("10.35.0.0/24", owner, enable_dhcp=False)
    port = await env.port(net["id"], owner)
    elsewhere = await env.port(other_net["id"], owner)
    service_port = await env.port(net["id"], ADMIN, project_id=owner.project_id, device_owner="network:dhcp")
    await env.services.ip_policies.create(ADMIN, {"subnet_ids": [subnet["id"]], "exclude": ["10.34.0.128/25"]})
    ips = env.services.ip_addresses

    await ips.create(owner, {"network_id": net["id"], "port_ids": [port["id"]]})  # its second address
    await env.refused(
        errors.PortIpAddressLimitExceeded, ips.create(owner, {"network_id": net["id"], "port_ids": [port["id"]]})
    )
    await env.refused(
        errors.AddressOfServicePort, ips.create(ADMIN, {"network_id": net["id"], "port_ids": [service_port["id"]]})
    )
    await env.refused(
        errors.PortNotOnAddressNetwork, ips.create(owner, {"network_id": net["id"], "port_ids": [elsewhere["id"]]})
    )
    await env.refused(
        errors.IpAddressExcludedByPolicy, ips.create(owner, {"network_id": net["id"], "ip_address": "10.34.0.200"})
    )
    await env.refused(errors.NetworkNotFound, ips.create(member(), {"network_id": net["id"]}))
    # An admin may take what a policy excludes.
    taken = await ips.create(ADMIN, {"network_id": net["id"], "ip_address": "10.34.0.200"})
    assert (await env.one(a, taken["id"])).address == "10.34.0.200"


async def test_moving_an_address_tells_both_ports(env):
    net, _ = await env.network_with_subnet("10.36.0.0/24", enable_dhcp=False)
    first, second = await env.port(net["id"]), await env.port(net["id"])
    ips = env.services.ip_addresses
    extra = await ips.create(ADMIN, {"network_id": net["id"], "port_ids": [first["id"]]})
    revisions = {pid: await revision(env, pid) for pid in (first["id"], second["id"])}

    await ips.update(ADMIN, extra["id"], {"port_ids": [second["id"]]})

    assert (await env.one(a, extra["id"])).port_id == second["id"]
    assert {pid: await revision(env, pid) for pid in revisions} == {pid: r + 1 for pid, r in revisions.items()}
    await env.refused(
        errors.FixedIpAddressHasOnePort, ips.update(ADMIN, extra["id"], {"port_ids": [first["id"], second["id"]]})
    )
