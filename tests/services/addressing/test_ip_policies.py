"""IP policies as the tables see them: ``subnets.excluded_ranges`` written
for every target (and for subnets a network gets later), target rows that
follow subnets and policy changes, refusals that leave nothing, and the
exclusions in place before a new subnet's DHCP port takes its address."""

from __future__ import annotations

from sqlalchemy import select

from quark import errors
from quark.db import models
from tests.services.conftest import ADMIN

s, tgt = models.subnets, models.ip_policy_targets


async def excluded(env, subnet_id: str) -> list:
    return (await env.one(s, subnet_id)).excluded_ranges


async def targets(env) -> list[tuple[str, str]]:
    return sorted((r.target_type, r.target_id) for r in await env.read(select(tgt)))


async def test_a_subnet_policy_excludes_its_cidrs_inside_the_subnet(env):
    _, subnet = await env.network_with_subnet("10.40.0.0/24", enable_dhcp=False)
    policy = await env.services.ip_policies.create(
        ADMIN, {"subnet_ids": [subnet["id"]], "exclude": ["10.40.0.0/30", "10.40.0.10/32", "2001:db8::/64"]}
    )
    assert await excluded(env, subnet["id"]) == [["10.40.0.0", "10.40.0.3"], ["10.40.0.10", "10.40.0.10"]]
    assert await targets(env) == [("subnet", subnet["id"])]
    await env.services.ip_policies.delete(ADMIN, policy["id"])
    assert await excluded(env, subnet["id"]) == []
    assert await targets(env) == []


async def test_a_network_policy_reaches_every_subnet_and_later_ones(env):
    net, v4 = await env.network_with_subnet("10.41.0.0/24", enable_dhcp=False)
    await env.services.ip_policies.create(
        ADMIN, {"network_ids": [net["id"]], "exclude": ["10.41.0.0/29", "10.42.0.240/28", "2001:db8:41::/120"]}
    )
    later_v4 = await env.subnet(net["id"], "10.42.0.0/24", enable_dhcp=False)
    later_v6 = await env.subnet(net["id"], "2001:db8:41::/64", enable_dhcp=False)
    assert await excluded(env, v4["id"]) == [["10.41.0.0", "10.41.0.7"]]
    assert await excluded(env, later_v4["id"]) == [["10.42.0.240", "10.42.0.255"]]
    assert await excluded(env, later_v6["id"]) == [["2001:db8:41::", "2001:db8:41::ff"]]
    # Nothing excluded is handed out automatically: the next port skips .0-.7 of the first subnet.
    port = await env.port(net["id"], fixed_ips=[{"subnet_id": v4["id"]}])
    assert port["fixed_ips"][0]["ip_address"] == "10.41.0.8"


async def test_subnet_and_network_policies_add_up(env):
    net, subnet = await env.network_with_subnet("10.43.0.0/24", enable_dhcp=False)
    await env.services.ip_policies.create(ADMIN, {"network_ids": [net["id"]], "exclude": ["10.43.0.100/32"]})
    await env.services.ip_policies.create(ADMIN, {"subnet_ids": [subnet["id"]], "exclude": ["10.43.0.50/32"]})
    assert await excluded(env, subnet["id"]) == [["10.43.0.50", "10.43.0.50"], ["10.43.0.100", "10.43.0.100"]]


async def test_an_update_moves_the_exclusions_with_the_targets(env):
    _, first = await env.network_with_subnet("10.44.0.0/24", enable_dhcp=False)
    _, second = await env.network_with_subnet("10.45.0.0/24", enable_dhcp=False)
    policy = await env.services.ip_policies.create(ADMIN, {"subnet_ids": [first["id"]], "exclude": ["10.44.0.0/28"]})
    await env.services.ip_policies.update(
        ADMIN, policy["id"], {"subnet_ids": [second["id"]], "exclude": ["10.45.0.0/28"]}
    )
    assert await excluded(env, first["id"]) == []
    assert await excluded(env, second["id"]) == [["10.45.0.0", "10.45.0.15"]]
    assert await targets(env) == [("subnet", second["id"])]


async def test_a_deleted_subnet_leaves_its_policy(env):
    _, subnet = await env.network_with_subnet("10.46.0.0/24", enable_dhcp=False)
    policy = await env.services.ip_policies.create(ADMIN, {"subnet_ids": [subnet["id"]], "exclude": ["10.46.0.0/28"]})
    await env.services.subnets.delete(ADMIN, subnet["id"])
    assert await targets(env) == []
    assert (await env.services.ip_policies.get(ADMIN, policy["id"]))["subnet_ids"] == []


async def test_refused_policies_leave_nothing(env):
    net, subnet = await env.network_with_subnet("10.47.0.0/24", enable_dhcp=False)
    policies = env.services.ip_policies
    await policies.create(ADMIN, {"subnet_ids": [subnet["id"]], "exclude": ["10.47.0.0/28"]})
    await env.refused(
        errors.IpPolicyAlreadyExists,
        policies.create(ADMIN, {"subnet_ids": [subnet["id"]], "exclude": ["10.47.0.16/28"]}),
    )
    _, free = await env.network_with_subnet("10.48.0.0/24", enable_dhcp=False)
    await env.refused(
        errors.InvalidInput, policies.create(ADMIN, {"subnet_ids": [free["id"]], "exclude": ["10.0.0.0/8"]})
    )
    await env.refused(
        errors.InvalidInput,
        policies.create(ADMIN, {"subnet_ids": [free["id"]], "network_ids": [net["id"]], "exclude": ["10.48.0.0/28"]}),
    )
    await env.refused(
        errors.SubnetNotFound, policies.create(ADMIN, {"subnet_ids": [free["id"], "nope"], "exclude": ["10.48.0.0/28"]})
    )
    # Who may manage IP policies is the policy layer's decision (create_ip_policy:
    # admins; tests/api/test_policy.py walks every collection's create).
    assert await excluded(env, free["id"]) == []


async def test_a_new_subnets_dhcp_port_takes_an_address_the_policy_allows(env):
    """The IP-policy subscriber runs before DHCP scheduling (quark.services.wiring)."""
    await env.report_dhcp("dhcp-p")
    net = await env.network()
    await env.services.ip_policies.create(ADMIN, {"network_ids": [net["id"]], "exclude": ["10.49.0.0/28"]})
    subnet = await env.subnet(net["id"], "10.49.0.0/24")
    p = models.ports
    (dhcp_port,) = await env.read(select(p).where(p.c.network_id == net["id"], p.c.device_owner == "network:dhcp"))
    assert await env.live_addresses(dhcp_port.id) == ["10.49.0.16"]
    assert subnet["id"]
