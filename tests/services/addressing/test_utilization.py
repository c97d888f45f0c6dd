"""The dashboard's utilization reads (quark/services/addressing/utilization.py,
heatmap.py) on every database: counts from the usage counter and range
arithmetic, quarantine from the reuse index, the heat map's per-cell counts
(the grouped ``substr`` over the address keys; the zoom arithmetic is
tests/unit/ipam/test_grid.py's), and who may see which counts."""

from __future__ import annotations

import pytest

from quark import errors
from tests.services.conftest import ADMIN, member


async def test_counts_quarantine_and_policy_reservations(make_env):
    env = await make_env(ipam_reuse_after=600)
    net, sub = await env.network_with_subnet("10.50.0.0/24", enable_dhcp=False)
    await env.services.ip_policies.create(ADMIN, {"subnet_ids": [sub["id"]], "exclude": ["10.50.0.240/28"]})
    ports = [await env.port(net["id"]) for _ in range(5)]
    await env.services.ports.delete(ADMIN, ports[0]["id"])
    use = (await env.services.utilization.subnets(ADMIN, [sub["id"]]))[sub["id"]]
    # pools: .2-.254 (253); the policy takes .240-.254 of them (15; .255 is outside the pools)
    assert (use.size, use.in_pools, use.policy_reserved, use.allocatable) == (256, 253, 15, 238)
    assert (use.used, use.quarantined, use.free) == (4, 1, 233)
    assert use.used == await env.used(sub["id"])
    env.clock.advance(601)  # the quarantine is over
    assert (await env.services.utilization.subnets(ADMIN, [sub["id"]]))[sub["id"]].quarantined == 0


async def test_a_members_counts_are_its_own_subnets_only(env):
    owner, other = member(), member()
    net = await env.network(owner)
    sub = await env.subnet(net["id"], "10.51.0.0/24", owner, enable_dhcp=False)
    assert sub["id"] in await env.services.utilization.subnets(owner, [sub["id"]])
    assert await env.services.utilization.subnets(other, [sub["id"]]) == {}
    with pytest.raises(errors.SubnetNotFound):
        await env.services.utilization.heatmap(other, sub["id"], None)


async def test_heatmap_aggregates_a_16_and_shows_a_24_address_by_address(make_env):
    env = await make_env(ipam_reuse_after=600)
    net, sub = await env.network_with_subnet("10.60.0.0/16", enable_dhcp=False)
    await env.services.ip_policies.create(ADMIN, {"subnet_ids": [sub["id"]], "exclude": ["10.60.3.0/24"]})
    held = [await env.port(net["id"], fixed_ips=[{"ip_address": ip}]) for ip in ("10.60.0.5", "10.60.0.6", "10.60.2.9")]
    await env.services.ports.delete(ADMIN, held[1]["id"])  # 10.60.0.6 quarantined
    top = await env.services.utilization.heatmap(ADMIN, sub["id"], None)
    assert (top.cidr, top.leaf, top.parent, len(top.cells), top.counted) == ("10.60.0.0/16", False, None, 256, True)
    assert (top.cells[0].label, top.cells[0].used, top.cells[0].quarantined) == ("10.60.0.0/24", 1, 1)
    assert (top.cells[2].used, top.cells[2].quarantined) == (1, 0)
    assert top.cells[3].state == "policy" and top.cells[3].policy == 256
    assert sum(c.used for c in top.cells) == 2
    leaf = await env.services.utilization.heatmap(ADMIN, sub["id"], "10.60.0.0/24")
    assert (leaf.leaf, leaf.parent, len(leaf.cells)) == (True, "10.60.0.0/16", 256)
    states = {c.label: c.state for c in leaf.cells}
    assert states["10.60.0.0"] == "outside"
    assert states["10.60.0.1"] == "gateway"
    assert states["10.60.0.5"] == "used"
    assert states["10.60.0.6"] == "quarantined"
    assert states["10.60.0.7"] == "free"
    assert next(c for c in leaf.cells if c.label == "10.60.0.5").port_id == held[0]["id"]


async def test_heatmap_of_an_ipv6_subnet_zooms_in_steps_of_256(env):
    net, sub = await env.network_with_subnet("2001:db8:70::/64", enable_dhcp=False)
    port = await env.port(net["id"], fixed_ips=[{"ip_address": "2001:db8:70::105"}])
    top = await env.services.utilization.heatmap(ADMIN, sub["id"], None)
    assert (len(top.cells), top.cells[0].label, top.cells[0].used) == (256, "2001:db8:70::/72", 1)
    leaf = await env.services.utilization.heatmap(ADMIN, sub["id"], "2001:db8:70::100/120")
    used = [c for c in leaf.cells if c.state == "used"]
    assert [(c.label, c.port_id) for c in used] == [("2001:db8:70::105", port["id"])]


async def test_a_subnet_pools_use_is_its_prefixes_less_its_free_blocks(env):
    pool = await env.services.subnet_pools.create(
        ADMIN, {"name": "pool", "prefixes": ["10.90.0.0/16"], "default_prefixlen": 24}
    )
    net = await env.network()
    for _ in range(3):
        await env.services.subnets.create(
            ADMIN, {"network_id": net["id"], "ip_version": 4, "subnetpool_id": pool["id"]}
        )
    use = (await env.services.utilization.pools(ADMIN, [pool["id"]]))[pool["id"]]
    assert (use.size, use.used, use.free) == (65536, 3 * 256, 65536 - 3 * 256)


async def test_hosts_run_their_routers_and_dhcp_networks(env):
    await env.report_dhcp("host-a")
    net, _ = await env.network_with_subnet("10.91.0.0/24")  # DHCP on: its port goes to host-a
    runs = await env.services.host_summary.runs(["host-a", "host-b"])
    assert (runs["host-a"].dhcp_networks, runs["host-b"].dhcp_networks) == (1, 0)
    detail = await env.services.host_summary.detail("host-a", None, 25)
    assert [n["id"] for n in detail.dhcp_networks] == [net["id"]]
    assert [n["id"] for n in detail.networks] == [net["id"]]  # the DHCP port is bound there
    assert detail.next_marker is None
