"""The instances service as the tables see it: a device's ports provisioned
in one transaction (all or nothing, MACs and default groups included),
bound and the host told once per network, torn down together (addresses
and MACs quarantined, associations dropped) or not at all; network info
limited to what the caller may see."""

from __future__ import annotations

from sqlalchemy import select

from quark import errors
from quark.db import models
from tests.services.conftest import ADMIN, member, router_between

p, a, m, f = models.ports, models.ip_allocations, models.mac_allocations, models.floatingips


async def test_provision_is_all_or_nothing(env):
    ctx = member()
    net, subnet = await env.network_with_subnet("10.80.0.0/24", ctx, enable_dhcp=False)
    await env.port(net["id"], ADMIN, fixed_ips=[{"ip_address": "10.80.0.9"}])
    instances = env.services.instances
    await env.refused(
        errors.IpAddressAlreadyAllocated,
        instances.provision(
            ctx,
            "vm-1",
            [{"network_id": net["id"]}, {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.80.0.9"}]}],
        ),
    )
    await env.refused(
        errors.NetworkNotFound, instances.provision(ctx, "vm-1", [{"network_id": net["id"]}, {"network_id": "nope"}])
    )
    dsg = models.default_security_groups
    assert await env.count(dsg, dsg.c.project_id == ctx.project_id) == 0
    assert subnet["id"]


async def test_provision_binds_the_ports_and_tells_the_host_once_per_network(env):
    await env.report_l2("compute-1")
    net, _ = await env.network_with_subnet("10.81.0.0/24", enable_dhcp=False)
    before = (await env.generations()).get("compute-1", (0, 0))[0]
    info = await env.services.instances.provision(
        ADMIN,
        "vm-2",
        [{"network_id": net["id"], "name": "nic0"}, {"network_id": net["id"], "name": "nic1"}],
        host="compute-1",
    )
    assert [port["name"] for port in info["ports"]] == ["nic0", "nic1"]  # the order the NICs were asked in
    rows = await env.read(select(p).where(p.c.device_id == "vm-2"))
    assert {(r.binding_host_id, r.binding_vif_type, r.status, r.device_owner) for r in rows} == {
        ("compute-1", "bridge", "BUILD", "compute:nova")
    }
    assert len(rows) == 2
    assert (await env.generations())["compute-1"][0] == before + 1


async def test_provision_without_a_live_agent_leaves_the_binding_failed(env):
    net, _ = await env.network_with_subnet("10.82.0.0/24", enable_dhcp=False)
    info = await env.services.instances.provision(ADMIN, "vm-3", [{"network_id": net["id"]}], host="compute-2")
    (port,) = info["ports"]
    assert (port["binding:vif_type"], port["status"]) == ("binding_failed", "DOWN")
    assert "compute-2" not in await env.generations()


async def test_teardown_takes_every_port_of_the_device_or_none(env):
    ctx = member()
    external = await env.network(**{"router:external": True})
    await env.subnet(external["id"], "198.51.100.0/24", enable_dhcp=False)
    net, subnet = await env.network_with_subnet("10.83.0.0/24", ctx, enable_dhcp=False)
    info = await env.services.instances.provision(ctx, "vm-4", [{"network_id": net["id"]}, {"network_id": net["id"]}])
    first, second = (port["id"] for port in info["ports"])
    await router_between(env, ctx, external["id"], subnet["id"])
    fip = await env.services.floating_ips.create(ctx, {"floating_network_id": external["id"], "port_id": first})
    router = await env.port(net["id"], ADMIN, device_id="vm-4", device_owner="network:router_interface")

    await env.refused(errors.L3PortInUse, env.services.instances.teardown(ADMIN, "vm-4"))
    await env.in_transaction(
        lambda conn: conn.execute(p.delete().where(p.c.id == router["id"]))
    )  # as a router API would
    env.clock.advance(5)

    deleted = await env.services.instances.teardown(ctx, "vm-4")

    assert sorted(deleted) == sorted([first, second])
    assert await env.count(p, p.c.device_id == "vm-4") == 0
    released = await env.allocations(a.c.subnet_id == subnet["id"], a.c.deallocated.is_(True))
    assert len(released) == 2 and {r.deallocated_at for r in released} == {env.clock.now}
    assert await env.count(m, m.c.deallocated.is_(True)) == 2
    assert (await env.one(f, fip["id"])).port_id is None


async def test_network_info_shows_a_project_only_its_side_of_a_device(env):
    alice, bob = member(), member()
    net_a, _ = await env.network_with_subnet("10.84.0.0/24", alice, enable_dhcp=False)
    net_b, _ = await env.network_with_subnet("10.85.0.0/24", bob, enable_dhcp=False)
    own = await env.port(net_a["id"], alice, device_id="vm-5")
    await env.port(net_b["id"], bob, device_id="vm-5")
    shown = await env.services.instances.network_info(alice, "vm-5")
    assert [port["id"] for port in shown["ports"]] == [own["id"]]
    assert len((await env.services.instances.network_info(ADMIN, "vm-5"))["ports"]) == 2
    assert (await env.services.instances.network_info(member(), "vm-5"))["ports"] == []


async def test_a_network_owner_sees_another_projects_port_but_not_its_groups_or_floating_ips(env):
    alice, bob = member(), member()
    net = await env.network(ADMIN, project_id=alice.project_id, shared=True)
    subnet = await env.subnet(net["id"], "10.86.0.0/24", ADMIN, enable_dhcp=False)
    external, _ = await env.network_with_subnet("172.30.86.0/24", ADMIN, enable_dhcp=False)
    await env.services.networks.update(ADMIN, external["id"], {"router:external": True})
    await router_between(env, ADMIN, external["id"], subnet["id"])
    group = await env.services.security_groups.create(bob, {"name": "bobs"})
    port = await env.port(net["id"], bob, device_id="vm-6", security_groups=[group["id"]])
    fip = await env.services.floating_ips.create(bob, {"floating_network_id": external["id"], "port_id": port["id"]})

    def sides(info: dict) -> tuple[list[str], list[str], list[str]]:
        (shown,) = info["ports"]
        return [shown["id"]], [g["id"] for g in info["security_groups"]], [f["id"] for f in shown["floating_ips"]]

    seen_by_owner = await env.services.instances.network_info(alice, "vm-6")
    assert sides(seen_by_owner) == ([port["id"]], [], [])
    assert seen_by_owner["ports"][0]["security_groups"] == [group["id"]]  # the port's own view, as in Neutron
    for ctx in (bob, ADMIN):
        assert sides(await env.services.instances.network_info(ctx, "vm-6")) == (
            [port["id"]],
            [group["id"]],
            [fip["id"]],
        )
