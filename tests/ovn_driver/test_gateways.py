"""Gateway ports' chassis (quark/drivers/ovn/gateways.py): one HA_Chassis_Group per router,
gateways spread by load (leastloaded), the order kept on rewrites; on a private OVN."""

from __future__ import annotations

import pytest

from quark.drivers.ovn import OvnDriver
from quark.drivers.ovn import mapping as m
from quark.drivers.ovn.driver import l3_options
from quark.drivers.ovn.gateways import HIGHEST_PRIORITY, group_name, schedule
from tests.ovn import OvnCluster
from tests.ovn_driver.test_driver import change
from tests.ovn_driver.test_l3 import router, topology


@pytest.fixture
async def driver(ovn: OvnCluster):
    d = OvnDriver(
        "ovn",
        {
            "nb_connection": ovn.nb_url,
            "timeout": 5,
            "gateway_chassis": "gw-a, gw-b, gw-c",
            "ha_chassis_group": "true",
            "gateway_scheduler": "leastloaded",
        },
    )
    yield d
    await d.close()


def ha_chassis(ovn: OvnCluster, group: str) -> list[tuple[str, int]]:
    """The group's chassis with their priorities, highest first."""
    found = []
    for uuid in ovn.get("HA_Chassis_Group", group, "ha_chassis").strip("[]").replace(",", " ").split():
        found.append(
            (ovn.get("HA_Chassis", uuid, "chassis_name").strip('"'), int(ovn.get("HA_Chassis", uuid, "priority")))
        )
    return sorted(found, key=lambda pair: -pair[1])


def test_schedule_orders_by_load_and_keeps_what_a_port_has():
    assert schedule(["a", "b", "c"], [], {}, "ordered") == ["a", "b", "c"]
    assert schedule(["a", "b", "c"], [], {"a": 2, "b": 1}, "leastloaded") == ["c", "b", "a"]
    assert schedule(["a", "b", "c"], [], {"a": 1, "b": 1, "c": 1}, "leastloaded") == ["a", "b", "c"]
    # held: its order stays (minus a chassis no longer a candidate), new ones go after, by load
    assert schedule(["a", "b", "c", "d"], ["c", "x", "a"], {"b": 3}, "leastloaded") == ["c", "a", "d", "b"]


def test_options_parse_the_scheme_and_the_scheduler():
    found = l3_options({"ha_chassis_group": "yes", "gateway_scheduler": "leastloaded"})
    assert found["ha_chassis_group"] is True and found["gateway_scheduler"] == "leastloaded"
    assert "ha_chassis_group" not in l3_options({}) and "gateway_scheduler" not in l3_options({})
    with pytest.raises(ValueError, match="gateway_scheduler"):
        l3_options({"gateway_scheduler": "random"})


async def test_one_group_per_router_spread_by_load_kept_on_rewrite_and_removed(ovn, driver):
    routers = [router(external_gateway_info={"network_id": "ext", "enable_snat": True}) for _ in range(4)]
    gateways = []
    for i, r in enumerate(routers):
        _, _, gw, _, _ = await topology(driver, r, cidr=f"10.{20 + i}.0.0/24", gw_ip=f"203.0.113.{20 + i}")
        gateways.append(gw)
    groups = [ha_chassis(ovn, group_name(r["id"])) for r in routers]
    # each gateway's active chassis is the least loaded one: three routers, three chassis, one each
    assert [g[0][0] for g in groups[:3]] == ["gw-a", "gw-b", "gw-c"]
    assert groups[0] == [("gw-a", HIGHEST_PRIORITY), ("gw-b", HIGHEST_PRIORITY - 1), ("gw-c", HIGHEST_PRIORITY - 2)]
    assert groups[1] == [("gw-b", HIGHEST_PRIORITY), ("gw-c", HIGHEST_PRIORITY - 1), ("gw-a", HIGHEST_PRIORITY - 2)]
    assert groups[3][0][0] == "gw-a"  # all equal again: by name
    for r, gw in zip(routers, gateways, strict=True):
        lrp = m.router_port_name(gw["id"])
        assert ovn.get("Logical_Router_Port", lrp, "gateway_chassis") == ""  # one scheme, not both
        assert ovn.get("HA_Chassis_Group", group_name(r["id"]), 'external_ids:"quark:router_id"').strip('"') == r["id"]
    # northd makes the chassis-redirect port of a port with an HA chassis group
    lrp0 = m.router_port_name(gateways[0]["id"])
    ovn.wait_for_nb(lambda: f"cr-{lrp0}" in ovn.sbctl("--bare", "--columns=logical_port", "list", "Port_Binding"))

    # a rewrite of the fourth gateway (the load changed since) does not move it
    await driver.call(change("port", gateways[3], rev=2, op="update"))
    assert ha_chassis(ovn, group_name(routers[3]["id"])) == groups[3]
    assert len(ovn.nb_names("HA_Chassis_Group")) == 4

    await driver.call(change("port", {"id": gateways[0]["id"]}, op="delete"))  # the gateway goes: its group too
    assert group_name(routers[0]["id"]) not in ovn.nb_names("HA_Chassis_Group")
    await driver.call(change("router", {"id": routers[1]["id"]}, op="delete"))  # the router goes: its group too
    assert ovn.nb_names("HA_Chassis_Group") == {group_name(r["id"]) for r in routers[2:]}


async def test_switching_scheme_replaces_gateway_chassis_with_the_group(ovn):
    r = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    plain = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 5, "gateway_chassis": "gw-a, gw-b"})
    grouped = OvnDriver(
        "ovn", {"nb_connection": ovn.nb_url, "timeout": 5, "gateway_chassis": "gw-a, gw-b", "ha_chassis_group": True}
    )
    try:
        _, _, gw, _, _ = await topology(plain, r)
        lrp = m.router_port_name(gw["id"])
        assert ovn.nbctl("lrp-get-gateway-chassis", lrp).split() == [f"{lrp}_gw-a", "2", f"{lrp}_gw-b", "1"]
        await grouped.call(change("port", gw, rev=2, op="update"))
        assert ovn.nbctl("lrp-get-gateway-chassis", lrp).strip() == ""
        assert ovn.nbctl("--bare", "--columns=_uuid", "list", "Gateway_Chassis").strip() == ""
        assert ha_chassis(ovn, group_name(r["id"])) == [("gw-a", HIGHEST_PRIORITY), ("gw-b", HIGHEST_PRIORITY - 1)]
        await plain.call(change("port", gw, rev=3, op="update"))  # and back
        assert ovn.get("Logical_Router_Port", lrp, "ha_chassis_group") == ""
        assert ovn.nb_names("HA_Chassis_Group") == set()
        assert ovn.nbctl("lrp-get-gateway-chassis", lrp).split() == [f"{lrp}_gw-a", "2", f"{lrp}_gw-b", "1"]
    finally:
        await plain.close()
        await grouped.close()
