"""Quotas as the services see them: limits (defaults from the settings,
per-project overrides, reset), who may read and change them, what is
counted, and that a create over the limit is refused whole, leaving nothing.

The exactness under concurrent creates of several processes is shown over
HTTP (tests/api/test_quota_concurrency.py)."""

from __future__ import annotations

from sqlalchemy import select

from quark import errors, owners
from quark.context import Context
from quark.db import models
from quark.services.common.quotas import QuotaService
from tests.services.conftest import ADMIN, member

p = models.ports


async def limit(env, project_id: str, **limits: int) -> None:
    await env.services.quotas.update(ADMIN, project_id, limits)


async def own_network(env, ctx: Context, cidr: str = "10.0.0.0/24") -> dict:
    net = await env.network(ctx)
    await env.subnet(net["id"], cidr, ctx, enable_dhcp=False)
    return net


async def test_defaults_come_from_the_settings(make_env):
    env = await make_env(quota_port=7, quota_network=-1, quota_floatingip=0)
    ctx = member()
    expected = {
        "network": -1,
        "subnet": 100,
        "port": 7,
        "security_group": 10,
        "security_group_rule": 100,
        "floatingip": 0,
        "router": 10,
        "subnetpool": -1,
        "rbac_policy": 10,
        "address_group": -1,
    }
    assert env.services.quotas.show_default(ctx, ctx.project_id) == expected
    assert await env.services.quotas.show(ctx, ctx.project_id) == expected
    await limit(env, ctx.project_id, port=3)
    assert await env.services.quotas.show(ctx, ctx.project_id) == {**expected, "port": 3}
    assert env.services.quotas.show_default(ctx, ctx.project_id) == expected  # the defaults stay


async def test_a_port_over_the_limit_is_refused_and_a_bulk_fails_whole(env):
    ctx = member()
    net = await own_network(env, ctx)
    await limit(env, ctx.project_id, port=3)
    await env.services.ports.create_bulk(ctx, [{"network_id": net["id"]}, {"network_id": net["id"]}])

    refused = await env.refused(
        errors.OverQuota,
        env.services.ports.create_bulk(ctx, [{"network_id": net["id"]}, {"network_id": net["id"]}]),
    )
    assert str(refused) == "Quota exceeded for resources: ['port']."
    await env.port(net["id"], ctx)  # the last one fits
    await env.refused(errors.OverQuota, env.port(net["id"], ctx))
    assert await env.count(p, p.c.project_id == ctx.project_id) == 3


async def test_unlimited_and_other_projects_are_not_held_back(env):
    ctx, other = member(), member()
    net = await own_network(env, ctx)
    await limit(env, ctx.project_id, port=-1)
    await limit(env, other.project_id, port=0)
    await env.services.ports.create_bulk(ctx, [{"network_id": net["id"]}] * 12)
    assert await env.count(p, p.c.project_id == ctx.project_id) == 12
    # No lock row is made for an unlimited resource: nothing to take turns on.
    ql = models.quota_locks
    assert await env.count(ql, ql.c.project_id == ctx.project_id, ql.c.resource == "port") == 0
    assert await env.count(ql, ql.c.project_id == ctx.project_id, ql.c.resource == "network") == 1


async def test_an_admin_creating_for_a_project_is_held_to_that_projects_quota(env):
    ctx = member()
    net = await own_network(env, ctx)
    await limit(env, ctx.project_id, port=1, network=1)
    await env.port(net["id"], ADMIN, project_id=ctx.project_id)
    await env.refused(errors.OverQuota, env.port(net["id"], ADMIN, project_id=ctx.project_id))
    await env.refused(errors.OverQuota, env.network(ADMIN, project_id=ctx.project_id))
    await env.port(net["id"], ADMIN)  # the admin's own project is another one


async def test_every_counted_resource_is_refused_at_its_limit(env):
    ctx = member()
    net = await own_network(env, ctx)
    group = await env.services.security_groups.create(ctx, {"name": "g"})
    # default group: 4 rules; "g": 2 egress rules
    await limit(env, ctx.project_id, network=1, subnet=1, security_group=2, security_group_rule=7)
    await env.refused(errors.OverQuota, env.network(ctx))
    await env.refused(errors.OverQuota, env.subnet(net["id"], "10.9.0.0/24", ctx))
    await env.refused(errors.OverQuota, env.services.security_groups.create(ctx, {"name": "h"}))
    rule = {"security_group_id": group["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp"}
    await env.services.security_group_rules.create(ctx, rule)  # the 7th
    refused = await env.refused(
        errors.OverQuota, env.services.security_group_rules.create(ctx, {**rule, "protocol": "udp"})
    )
    assert str(refused) == "Quota exceeded for resources: ['security_group_rule']."


async def test_a_nested_network_create_counts_its_subnets(env):
    ctx = member()
    await limit(env, ctx.project_id, subnet=1)
    nested = {"name": "n", "subnets": [{"ip_version": 4, "cidr": f"10.{i}.0.0/24"} for i in (1, 2)]}
    await env.refused(errors.OverQuota, env.services.networks.create_bulk(ctx, [nested]))


async def test_floating_ips_are_counted_and_their_ports_belong_to_no_project(env):
    ctx = member()
    external = await env.network(**{"router:external": True})
    await env.subnet(external["id"], "198.51.100.0/24", enable_dhcp=False)
    await limit(env, ctx.project_id, floatingip=1, port=0)
    await env.services.floating_ips.create(
        ctx, {"floating_network_id": external["id"]}
    )  # port quota 0: not a port of ctx
    await env.refused(errors.OverQuota, env.services.floating_ips.create(ctx, {"floating_network_id": external["id"]}))
    details = await env.services.quotas.details(ctx, ctx.project_id)
    assert (details["floatingip"], details["port"]["used"]) == ({"limit": 1, "used": 1, "reserved": 0}, 0)


async def test_dhcp_ports_are_counted_but_never_refused(env):
    ctx = member()
    await limit(env, ctx.project_id, port=1)
    await env.report_dhcp("d1")
    net = await env.network(ctx)
    await env.subnet(net["id"], "10.3.0.0/24", ctx)  # DHCP on: the network's DHCP port is made
    await env.subnet(net["id"], "10.4.0.0/24", ctx)
    (dhcp,) = await env.read(select(p).where(p.c.network_id == net["id"]))
    assert (dhcp.device_owner, dhcp.project_id) == (owners.DHCP, ctx.project_id)
    await env.refused(errors.OverQuota, env.port(net["id"], ctx))  # the DHCP port used the one allowed
    assert (await env.services.quotas.details(ctx, ctx.project_id))["port"]["used"] == 1


async def test_instance_ports_count_as_ports(env):
    ctx = member()
    net = await own_network(env, ctx)
    await limit(env, ctx.project_id, port=2)
    nics = [{"network_id": net["id"]}] * 3
    await env.refused(errors.OverQuota, env.services.instances.provision(ctx, "vm-1", nics))
    info = await env.services.instances.provision(ctx, "vm-1", nics[:2])
    assert len(info["ports"]) == 2


async def test_reserved_and_shared_addresses_count_as_ports(env):
    """/v2.0/ip_addresses: an address reserved (no holder) or shared (several
    holders) is what a Neutron user would hold with a port of its own; an
    address added to one port is not (bounded by ipaddr_max_per_port)."""
    ctx = member()
    net = await own_network(env, ctx)
    a, b = await env.services.ports.create_bulk(ctx, [{"network_id": net["id"]}] * 2)
    await limit(env, ctx.project_id, port=4)
    addresses = env.services.ip_addresses
    await addresses.create(ctx, {"network_id": net["id"], "port_ids": [a["id"]]})  # added to a port: not counted
    await addresses.create(ctx, {"network_id": net["id"]})  # reserved: the 3rd
    await addresses.create(ctx, {"network_id": net["id"], "port_ids": [a["id"], b["id"]]})  # shared: the 4th
    assert (await env.services.quotas.details(ctx, ctx.project_id))["port"]["used"] == 4
    refused = await env.refused(errors.OverQuota, addresses.create(ctx, {"network_id": net["id"]}))
    assert str(refused) == "Quota exceeded for resources: ['port']."
    await env.refused(errors.OverQuota, env.port(net["id"], ctx))
    await addresses.create(ctx, {"network_id": net["id"], "port_ids": [b["id"]]})  # still fine


async def test_details_count_what_the_project_has(env):
    ctx = member()
    net = await own_network(env, ctx)
    await env.port(net["id"], ctx)  # makes the default group (1 group, 4 rules)
    details = await env.services.quotas.details(ctx, ctx.project_id)
    used = {name: entry["used"] for name, entry in details.items()}
    assert used == {
        "network": 1,
        "subnet": 1,
        "port": 1,
        "security_group": 1,
        "security_group_rule": 4,
        "floatingip": 0,
        "router": 0,
        "subnetpool": 0,
        "rbac_policy": 0,
        "address_group": 0,
    }
    assert details["port"] == {"limit": 500, "used": 1, "reserved": 0}


async def test_a_limit_below_the_usage_is_refused_unless_forced(env):
    ctx = member()
    net = await own_network(env, ctx)
    await env.services.ports.create_bulk(ctx, [{"network_id": net["id"]}] * 3)
    quotas = env.services.quotas
    refused = await env.refused(errors.HTTPBadRequest, quotas.update(ADMIN, ctx.project_id, {"network": 5, "port": 2}))
    assert str(refused) == "Quota limit 2 for port must be greater than or equal to already used 3"
    assert (await quotas.update(ADMIN, ctx.project_id, {"port": 3}))["port"] == 3  # equal is fine
    assert (await quotas.update(ADMIN, ctx.project_id, {"port": 1}, force=True))["port"] == 1
    assert (await quotas.update(ADMIN, ctx.project_id, {"port": -1}))["port"] == -1
    await env.refused(errors.QuotaResourceUnknown, quotas.update(ADMIN, ctx.project_id, {"l2_gateway": 1}))


async def test_list_and_reset(env):
    quotas = env.services.quotas
    a, b = member(), member()
    await quotas.update(ADMIN, a.project_id, {"port": 5, "network": 2})
    await quotas.update(ADMIN, b.project_id, {"floatingip": 1})
    listed = {q["project_id"]: q for q in await quotas.list_all(ADMIN)}
    assert set(listed) == {a.project_id, b.project_id}
    assert listed[a.project_id] == {**quotas.defaults(), "port": 5, "network": 2, **_ids(a.project_id)}
    assert listed[b.project_id] == {**quotas.defaults(), "floatingip": 1, **_ids(b.project_id)}

    await quotas.reset(ADMIN, a.project_id)
    assert await quotas.show(ADMIN, a.project_id) == quotas.defaults()
    assert [q["project_id"] for q in await quotas.list_all(ADMIN)] == [b.project_id]
    missing = await env.refused(errors.TenantQuotaNotFound, quotas.reset(ADMIN, a.project_id))
    assert str(missing) == f"Quota for tenant {a.project_id} could not be found."


def _ids(project_id: str) -> dict:
    return {"project_id": project_id, "tenant_id": project_id}


async def test_a_project_reads_its_own_quotas_and_details_of_others_are_admin_only(env):
    """Who may call the quota API is the policy's (tests/api/test_quotas*.py); the
    details of another project are Neutron's hard rule (quota_details)."""
    quotas = env.services.quotas
    ctx, other = member(), member()
    assert await quotas.show(ctx, ctx.project_id) == quotas.defaults()
    assert (await quotas.details(ctx, ctx.project_id))["port"]["limit"] == 500
    other_details = await env.refused(errors.AdminRequired, quotas.details(ctx, other.project_id))
    assert "Only admin is authorized to access quotas for another project" in str(other_details)
    assert QuotaService.project_info(ctx, "tenant") == {"tenant_id": ctx.project_id}
    await env.refused(errors.QuotaMissingTenant, _async(QuotaService.project_info, Context(project_id=""), "project"))


async def _async(call, *args):
    return call(*args)
