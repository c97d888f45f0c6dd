"""``quark mac-ranges | ip-policies | segment-ranges | ip-availability | jobs``:
each listing in table, JSON and YAML; creates and deletes through the services."""

from __future__ import annotations

from dataclasses import replace

import pytest

from quark.services.registry import build_services
from tests.services.conftest import ADMIN

FORMATS = ("json", "yaml")


def test_mac_ranges_create_list_show_delete(world):
    made = world.parsed("mac-ranges", "create", "--cidr", "AA:BB:CC:00:00:00/40", fmt="json")
    assert made["size"] == 256 and made["first_address"].lower() == "aa:bb:cc:00:00:00"
    for fmt in FORMATS:
        listed = world.parsed("mac-ranges", "list", fmt=fmt)
        assert made["id"] in {r["id"] for r in listed} and len(listed) == 2  # and the default range
    table = world.quark("mac-ranges", "list")
    assert table.exit_code == 0 and made["id"] in table.stdout and "allocated" in table.stdout
    assert world.parsed("mac-ranges", "show", made["id"], fmt="yaml")["cidr"] == made["cidr"]
    overlap = world.quark("mac-ranges", "create", "--cidr", "AA:BB:CC:00:00:00/44")
    assert overlap.exit_code == 1 and "quark: MacAddressRangeOverlap" in overlap.output
    assert world.quark("mac-ranges", "delete", made["id"]).exit_code == 0
    assert made["id"] not in {r["id"] for r in world.parsed("mac-ranges", "list", fmt="json")}
    missing = world.quark("mac-ranges", "show", made["id"])
    assert missing.exit_code == 1 and "NotFound" in missing.output


def test_ip_policies_create_list_delete(world):
    net, sub = world.do(lambda env: env.network_with_subnet("10.9.0.0/24"))
    made = world.parsed("ip-policies", "create", "--subnet", sub["id"], "--exclude", "10.9.0.16/28", fmt="json")
    assert made["subnet_ids"] == [sub["id"]] and made["exclude"] == ["10.9.0.16/28"]
    for fmt in FORMATS:
        assert [p["id"] for p in world.parsed("ip-policies", "list", fmt=fmt)] == [made["id"]]
    assert made["id"] in world.quark("ip-policies", "list").stdout
    # the exclusion shows in the availability: 253 in the pool, 16 excluded
    avail = world.parsed("ip-availability", "show", net["id"], fmt="json")
    assert avail["subnet_ip_availability"][0]["total_ips"] == 253 - 16
    assert world.quark("ip-policies", "delete", made["id"]).exit_code == 0
    assert world.parsed("ip-policies", "list", fmt="json") == []


def test_segment_ranges_create_list_delete(world):
    made = world.parsed(
        "segment-ranges", "create", "--network-type", "vlan", "--physical-network", "physx",
        "--minimum", "100", "--maximum", "199", "--name", "cli", fmt="json",
    )  # fmt: skip
    assert made["size"] == 100 and made["physical_network"] == "physx"
    for fmt in FORMATS:
        assert made["id"] in {r["id"] for r in world.parsed("segment-ranges", "list", fmt=fmt)}
    assert "physx" in world.quark("segment-ranges", "list").stdout
    bad = world.quark("segment-ranges", "create", "--network-type", "vlan", "--physical-network", "physx",
                      "--minimum", "150", "--maximum", "250")  # fmt: skip
    assert bad.exit_code == 1
    assert world.quark("segment-ranges", "delete", made["id"]).exit_code == 0
    assert made["id"] not in {r["id"] for r in world.parsed("segment-ranges", "list", fmt="json")}


def test_ip_availability_bars_and_formats(world):
    async def build(env):
        net, sub = await env.network_with_subnet("10.7.0.0/28")  # 13 allocatable: .2 - .14
        for _ in range(3):
            await env.port(net["id"])
        return net, sub

    net, sub = world.do(build)
    for fmt in FORMATS:
        [view] = world.parsed("ip-availability", "list", fmt=fmt)
        assert view["network_id"] == net["id"]
        assert (view["used_ips"], view["total_ips"]) == (3, 13)
    table = world.quark("ip-availability", "list")
    assert table.exit_code == 0
    assert "10.7.0.0/28" in table.stdout and "23.1" in table.stdout  # 3 of 13 as a percentage
    assert "━" in table.stdout  # Rich's bar
    assert world.parsed("ip-availability", "list", "--project", "nobody", fmt="json") == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_jobs_list_and_show(world, fmt):
    async def build(env):
        # a driver that needs backend work writes a job per change (docs/jobs.md)
        services = build_services(env.db, replace(env.settings, backend_driver="statefile"))
        return await services.networks.create(ADMIN, {"name": "with-job"})

    net = world.do(build)
    jobs = world.parsed("jobs", "list", fmt=fmt)
    assert [(j["resource_id"], j["operation"], j["status"]) for j in jobs] == [(net["id"], "create", "queued")]
    assert world.parsed("jobs", "list", "--status", "failed", fmt=fmt) == []
    assert world.parsed("jobs", "show", jobs[0]["id"], fmt=fmt)["resource_type"] == "network"
    assert net["id"] in world.quark("jobs", "list").stdout
