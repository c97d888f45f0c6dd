"""IPv6 router advertisements (quark/drivers/ovn: a router port's ``ipv6_ra_configs``) on a
private OVN: the subnet's mode, periodic RAs but not on a gateway port, the network's MTU
followed; northd's RA flows."""

from __future__ import annotations

import pytest

from quark.drivers.ovn import OvnDriver
from quark.drivers.ovn import mapping as m
from tests.ovn import OvnCluster
from tests.ovn_driver.test_driver import change, network, port, subnet
from tests.ovn_driver.test_l3 import router


@pytest.fixture
async def driver(ovn: OvnCluster):
    d = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 5})
    yield d
    await d.close()


def ra(ovn: OvnCluster, port_id: str) -> dict[str, str]:
    """The router port's ``ipv6_ra_configs``."""
    held = ovn.get("Logical_Router_Port", m.router_port_name(port_id), "ipv6_ra_configs").strip("{}")
    return dict(pair.split("=", 1) for pair in held.split(", ") if pair)


def v6_subnet(net: dict, cidr: str, mode: str | None, **attrs) -> dict:
    return subnet(net, cidr=cidr, ip_version=6, gateway_ip=cidr.replace("::/64", "::1"), dns_nameservers=[],
                  ipv6_address_mode=mode, ipv6_ra_mode=mode, **attrs)  # fmt: skip


def test_ra_configs_map_neutrons_modes():
    assert m.ra_configs("slaac", 1500, gateway=False) == {
        "address_mode": "slaac",
        "send_periodic": "true",
        "mtu": "1500",
    }
    assert m.ra_configs("dhcpv6-stateful", None, gateway=True) == {
        "address_mode": "dhcpv6_stateful",
        "send_periodic": "false",
    }
    assert m.ra_configs("dhcpv6-stateless", 1400, False)["address_mode"] == "dhcpv6_stateless"
    assert m.ra_configs(None, 1500, False) == {}


async def test_router_ports_on_ipv6_subnets_announce_their_mode_and_mtu(ovn, driver):
    r = router()
    net = network()
    v4 = subnet(net)
    slaac = v6_subnet(net, "2001:db8:1::/64", "slaac")
    stateful = v6_subnet(net, "2001:db8:2::/64", "dhcpv6-stateful")
    none = v6_subnet(net, "2001:db8:3::/64", None)
    for kind, body in (("router", r), ("network", net), ("subnet", v4), ("subnet", slaac), ("subnet", stateful),
                       ("subnet", none)):  # fmt: skip
        await driver.call(change(kind, body))
    owner = {"device_owner": "network:router_interface", "device_id": r["id"]}
    p4 = port(net, v4, ip="10.1.0.1", **owner)
    p_slaac = port(net, slaac, ip="2001:db8:1::1", mac_address="fa:16:3e:00:01:01", **owner)
    p_stateful = port(net, stateful, ip="2001:db8:2::1", mac_address="fa:16:3e:00:01:02", **owner)
    p_none = port(net, none, ip="2001:db8:3::1", mac_address="fa:16:3e:00:01:03", **owner)
    for p in (p4, p_slaac, p_stateful, p_none):
        await driver.call(change("port", p))
    assert ra(ovn, p4["id"]) == {} and ra(ovn, p_none["id"]) == {}
    assert ra(ovn, p_slaac["id"]) == {"address_mode": "slaac", "send_periodic": "true", "mtu": "1442"}
    assert ra(ovn, p_stateful["id"])["address_mode"] == "dhcpv6_stateful"
    # northd answers router solicitations with the mode's flags
    lr = m.router_name(r["id"])
    ovn.wait_for_nb(lambda: 'put_nd_ra_opts(addr_mode = "slaac"' in ovn.sbctl("lflow-list", lr), what="RA flows")

    await driver.call(change("network", {**net, "mtu": 1400}, rev=2, op="update"))  # the MTU followed
    assert ra(ovn, p_slaac["id"])["mtu"] == "1400" and ra(ovn, p_stateful["id"])["mtu"] == "1400"
    assert ra(ovn, p4["id"]) == {}


async def test_a_gateway_port_does_not_send_periodic_ras(ovn, driver):
    r = router(external_gateway_info={"network_id": "ext"})
    ext = network(**{"provider:network_type": "flat", "provider:physical_network": "public"})
    sub = v6_subnet(ext, "2001:db8:9::/64", "slaac")
    gw = port(ext, sub, ip="2001:db8:9::5", device_owner="network:router_gateway", device_id=r["id"])
    for kind, body in (("router", r), ("network", ext), ("subnet", sub), ("port", gw)):
        await driver.call(change(kind, body))
    assert ra(ovn, gw["id"]) == {"address_mode": "slaac", "send_periodic": "false", "mtu": "1442"}
