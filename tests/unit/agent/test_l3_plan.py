"""The L3 part's pure planning (quark.agent.l3_plan): the router model read
from a desired-state document, the NAT ruleset, addresses and routes each
device must carry, and the statuses given what the kernel shows."""

from __future__ import annotations

from quark import names
from quark.agent import l3_plan as plan
from quark.agent.l3_plan import Device

GW, IF = "a" * 8 + "-gw", "b" * 8 + "-if"
GW_MAC, IF_MAC = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"


def doc(**router) -> dict:
    body = {
        "id": "r1",
        "admin_state_up": True,
        "status": "BUILD",
        "enable_snat": True,
        "ports": [
            {
                "id": GW,
                "kind": "gateway",
                "mac_address": GW_MAC.upper(),
                "network_id": "ext",
                "mtu": 1500,
                "vm_device_name": names.vm_name(GW),
                "fixed_ips": [{"subnet_id": "s", "ip_address": "203.0.113.5", "prefixlen": 24}],
            },
            {
                "id": IF,
                "kind": "interface",
                "mac_address": IF_MAC,
                "network_id": "priv",
                "mtu": 1450,
                "fixed_ips": [{"subnet_id": "p", "ip_address": "10.0.0.1", "prefixlen": 24}],
            },
        ],
        "gateway": {"port_id": GW, "addresses": ["203.0.113.5"], "next_hop": "203.0.113.1"},
        "routes": [{"destination": "10.9.0.0/24", "nexthop": "10.0.0.9"}],
        "floating_ips": [
            {"id": "f1", "status": "DOWN", "floating_ip_address": "203.0.113.7", "fixed_ip_address": "10.0.0.4"}
        ],
        **router,
    }
    return {"generation": 3, "routers": [body]}


def test_router_from_the_document():
    [router] = plan.routers_of(doc())
    assert router.gateway is not None and router.gateway.device == names.vm_name(GW)
    assert router.gateway.mac_address == GW_MAC  # lower-cased, as the kernel shows MACs
    assert router.ports[1].device == names.vm_name(IF) and router.ports[1].addresses == ("10.0.0.1/24",)
    assert router.next_hop == "203.0.113.1" and router.routes == (("10.9.0.0/24", "10.0.0.9"),)
    assert plan.routers_of({"generation": 1}) == []


def test_addresses_and_routes():
    [router] = plan.routers_of(doc())
    gw, interface = router.ports
    assert plan.wanted_addresses(router, gw) == {"203.0.113.5/24", "203.0.113.7/32"}  # floating address on the gateway
    assert plan.wanted_addresses(router, interface) == {"10.0.0.1/24"}
    assert plan.wanted_routes(router) == {"0.0.0.0/0": "203.0.113.1", "10.9.0.0/24": "10.0.0.9"}
    assert plan.wanted_routes(router, with_default=False) == {"10.9.0.0/24": "10.0.0.9"}
    [no_gateway] = plan.routers_of(doc(ports=doc()["routers"][0]["ports"][1:], gateway=None))
    assert plan.wanted_routes(no_gateway) == {"10.9.0.0/24": "10.0.0.9"}


def test_route_destinations_are_networks_as_the_kernel_lists_them():
    """/32 and /128 keep their length, each family its own default, IPv6 compressed."""
    routes = [
        {"destination": "10.8.0.5/32", "nexthop": "10.0.0.9"},
        {"destination": "::/0", "nexthop": "2001:DB8:2::9"},
        {"destination": "2001:DB8:0077:0::/48", "nexthop": "2001:db8:2:0::9"},
    ]
    [router] = plan.routers_of(doc(routes=routes))
    assert plan.wanted_routes(router) == {
        "0.0.0.0/0": "203.0.113.1",
        "10.8.0.5/32": "10.0.0.9",
        "::/0": "2001:db8:2::9",
        "2001:db8:77::/48": "2001:db8:2::9",
    }
    v6_gateway = {"port_id": GW, "addresses": ["2001:db8:1::5"], "next_hop": "2001:db8:1::1"}
    [router] = plan.routers_of(doc(gateway=v6_gateway, routes=[]))
    assert plan.wanted_routes(router) == {"::/0": "2001:db8:1::1"}
    assert (
        plan.route_destination("10.1.2.3") == "10.1.2.3/32" and plan.route_destination("10.1.2.0/24") == "10.1.2.0/24"
    )


def test_ruleset_snat_and_floating_ips():
    [router] = plan.routers_of(doc())
    text = plan.ruleset(router)
    dev = names.vm_name(GW)
    assert "ip daddr 203.0.113.7 dnat to 10.0.0.4" in text
    assert f'oifname "{dev}" ip saddr 10.0.0.4 snat to 203.0.113.7' in text
    # the floating IP's SNAT comes before the router's: the first NAT rule that matches wins
    assert text.index("snat to 203.0.113.7") < text.index(f'oifname "{dev}" snat to 203.0.113.5')
    # hairpin: translated connections from inside back inside are masqueraded (not those from outside)
    assert f'iifname != "{dev}" oifname != "{dev}" ct status dnat masquerade' in text
    [no_snat] = plan.routers_of(doc(enable_snat=False))
    assert "snat to 203.0.113.5" not in plan.ruleset(no_snat) and "dnat to 10.0.0.4" in plan.ruleset(no_snat)
    assert "masquerade" in plan.ruleset(no_snat)
    [no_fip] = plan.routers_of(doc(floating_ips=[]))
    assert "masquerade" not in plan.ruleset(no_fip)  # nothing to hairpin
    script = plan.replace_script(text)
    assert script.startswith("table ip quark {}\ndelete table ip quark\n") and script.endswith(text)
    assert plan.digest(text) != plan.digest(plan.ruleset(no_snat))


def devices(**override) -> dict[str, Device]:
    found = {
        names.vm_name(GW): Device(names.vm_name(GW), GW_MAC, True, 1500, {"203.0.113.5/24", "203.0.113.7/32"}),
        names.vm_name(IF): Device(names.vm_name(IF), IF_MAC, True, 1450, {"10.0.0.1/24"}),
    }
    found.update(override)
    return found


def test_statuses():
    [router] = plan.routers_of(doc())
    assert plan.statuses(router, devices(), True) == ("ACTIVE", {GW: "ACTIVE", IF: "ACTIVE"}, {"f1": "ACTIVE"})
    # no NAT table: the router and its floating IPs are not realised, its ports are
    assert plan.statuses(router, devices(), False) == ("DOWN", {GW: "ACTIVE", IF: "ACTIVE"}, {"f1": "DOWN"})
    # a port without its address, down, or with another MAC is DOWN, and so the router
    for broken in (
        Device(names.vm_name(IF), IF_MAC, True, 1450, set()),
        Device(names.vm_name(IF), IF_MAC, False, 1450, {"10.0.0.1/24"}),
        Device(names.vm_name(IF), GW_MAC, True, 1450, {"10.0.0.1/24"}),
    ):
        assert plan.statuses(router, devices(**{broken.name: broken}), True)[:2] == (
            "DOWN",
            {GW: "ACTIVE", IF: "DOWN"},
        )
    # the gateway not in place: the floating IPs are DOWN
    gone = {k: v for k, v in devices().items() if k != names.vm_name(GW)}
    assert plan.statuses(router, gone, True)[2] == {"f1": "DOWN"}
    # admin down: the router and its floating IPs are DOWN, its wired ports ACTIVE
    [down] = plan.routers_of(doc(admin_state_up=False))
    assert plan.statuses(down, devices(), True) == ("DOWN", {GW: "ACTIVE", IF: "ACTIVE"}, {"f1": "DOWN"})
    assert plan.statuses(down, {}, True) == ("DOWN", {GW: "DOWN", IF: "DOWN"}, {"f1": "DOWN"})


def test_an_admin_down_router_keeps_only_its_wired_ports():
    [down] = plan.routers_of(doc(admin_state_up=False, routes=[{"destination": "10.9.0.0/24", "nexthop": "10.0.0.9"}]))
    inert = plan.inert(down)
    assert [p.id for p in inert.ports] == [GW, IF]
    assert plan.wanted_routes(inert) == {}  # not even the default route
    assert plan.wanted_addresses(inert, inert.gateway) == {"203.0.113.5/24"}  # no floating address
    ruleset = plan.ruleset(inert)
    assert "dnat" not in ruleset and "snat" not in ruleset and "masquerade" not in ruleset
    # its gateway without the floating address is wired: ACTIVE
    gw_only = devices(**{names.vm_name(GW): Device(names.vm_name(GW), GW_MAC, True, 1500, {"203.0.113.5/24"})})
    assert plan.statuses(down, gw_only, True)[1] == {GW: "ACTIVE", IF: "ACTIVE"}


def forwarding(**override) -> dict:
    body = {
        "id": "pf1",
        "floatingip_id": "f2",
        "floating_ip_address": "203.0.113.8",
        "floatingip_status": "DOWN",
        "protocol": "tcp",
        "external_port_start": 2222,
        "external_port_end": 2222,
        "internal_ip_address": "10.0.0.5",
        "internal_port_start": 22,
        "internal_port_end": 22,
    }
    return {**body, **override}


def test_port_forwardings_rules_and_addresses():
    pfs = [
        forwarding(),
        forwarding(
            id="pf2",
            protocol="UDP",
            external_port_start=2000,
            external_port_end=2010,
            internal_port_start=53,
            internal_port_end=53,
        ),
        forwarding(
            id="pf3", external_port_start=3000, external_port_end=3010, internal_port_start=3000, internal_port_end=3010
        ),
        forwarding(
            id="pf4",
            external_port_start=4000,
            external_port_end=4001,
            internal_port_start=5000,
            internal_port_end=5001,
            internal_ip_address="10.0.0.6",
        ),
        forwarding(id="pf5", protocol="icmp", floatingip_id="f3", floating_ip_address="203.0.113.9"),
    ]
    [router] = plan.routers_of(doc(port_forwardings=pfs))
    text = plan.ruleset(router)
    assert "ip daddr 203.0.113.8 tcp dport 2222 dnat to 10.0.0.5:22" in text
    assert "ip daddr 203.0.113.8 udp dport 2000-2010 dnat to 10.0.0.5:53" in text  # one port takes the range
    assert "ip daddr 203.0.113.8 tcp dport 3000-3010 dnat to 10.0.0.5\n" in text  # the same ports
    assert "tcp dport 4000-4001 dnat to 10.0.0.6 : tcp dport map { 4000 : 5000, 4001 : 5001 }" in text
    assert "ip daddr 203.0.113.9 ip protocol icmp dnat to 10.0.0.5" in text
    # in prerouting (DNAT), no SNAT of their own
    assert text.index("dnat to 10.0.0.5:22") < text.index("chain postrouting")
    assert "snat to 203.0.113.8" not in text
    # the gateway answers ARP for their floating addresses, once each
    gw = router.gateway
    assert gw is not None
    assert plan.wanted_addresses(router, gw) == {
        "203.0.113.5/24",
        "203.0.113.7/32",
        "203.0.113.8/32",
        "203.0.113.9/32",
    }


def test_port_forwardings_statuses():
    [router] = plan.routers_of(doc(port_forwardings=[forwarding(), forwarding(id="pf2", external_port_start=80)]))
    dev = names.vm_name(GW)
    full = devices(**{dev: Device(dev, GW_MAC, True, 1500, {"203.0.113.5/24", "203.0.113.7/32", "203.0.113.8/32"})})
    # the forwardings' floating IP is reported with the associated one
    assert plan.statuses(router, full, True)[2] == {"f1": "ACTIVE", "f2": "ACTIVE"}
    assert plan.statuses(router, full, False)[2] == {"f1": "DOWN", "f2": "DOWN"}
    # the gateway without the forwardings' floating address is not realised: DOWN
    assert plan.statuses(router, devices(), True)[2] == {"f1": "DOWN", "f2": "DOWN"}
    [down] = plan.routers_of(doc(admin_state_up=False, port_forwardings=[forwarding()]))
    assert plan.statuses(down, devices(), True)[2] == {"f1": "DOWN", "f2": "DOWN"}


def test_serves_metadata_with_an_ipv4_interface():
    [router] = plan.routers_of(doc())
    assert plan.serves_metadata(router)
    gw_only = doc()["routers"][0]["ports"][:1]
    [no_interface] = plan.routers_of(doc(ports=gw_only))
    assert not plan.serves_metadata(no_interface)  # a gateway alone: no VM routes to it
    v6 = {
        **doc()["routers"][0]["ports"][1],
        "fixed_ips": [{"subnet_id": "p6", "ip_address": "fd00::1", "prefixlen": 64}],
    }
    [v6_only] = plan.routers_of(doc(ports=[*gw_only, v6]))
    assert not plan.serves_metadata(v6_only)


def test_conntrack_deletions_of_mappings_that_went():
    [router] = plan.routers_of(doc())
    pf = {
        "id": "pf1",
        "floatingip_id": "f2",
        "floating_ip_address": "203.0.113.8",
        "protocol": "udp",
        "external_port_start": 5000,
        "external_port_end": 5000,
        "internal_ip_address": "10.0.0.5",
        "internal_port_start": 5000,
        "internal_port_end": 5000,
    }
    [with_pf] = plan.routers_of(doc(port_forwardings=[pf]))
    assert plan.nat_mappings(with_pf) == {("203.0.113.7", "10.0.0.4"), ("203.0.113.8", "10.0.0.5")}
    [moved] = plan.routers_of(
        doc(floating_ips=[{"id": "f1", "floating_ip_address": "203.0.113.7", "fixed_ip_address": "10.0.0.6"}])
    )
    before, after = plan.nat_mappings(router), plan.nat_mappings(moved)
    assert plan.conntrack_deletions(before, after) == [
        ("-d", "203.0.113.7", "--reply-src", "10.0.0.4"),  # DNAT'd to the old address
        ("-s", "10.0.0.4", "--reply-dst", "203.0.113.7"),  # SNAT'd from it
    ]
    assert plan.conntrack_deletions(before, before) == []  # nothing moved: nothing dropped
    [gone] = plan.routers_of(doc(floating_ips=[]))
    assert plan.conntrack_deletions(plan.nat_mappings(with_pf), plan.nat_mappings(gone)) == [
        ("-d", "203.0.113.7", "--reply-src", "10.0.0.4"),
        ("-s", "10.0.0.4", "--reply-dst", "203.0.113.7"),
        ("-d", "203.0.113.8", "--reply-src", "10.0.0.5"),
        ("-s", "10.0.0.5", "--reply-dst", "203.0.113.8"),
    ]
    [no_gateway] = plan.routers_of(doc(ports=[], gateway=None))
    assert plan.nat_mappings(no_gateway) == set()
