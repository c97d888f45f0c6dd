"""dnsmasq files and command line generated from a dhcp_state network."""

from __future__ import annotations

from pathlib import Path

import pytest

from quark.agent import dnsmasq as d

NET = "11111111-2222-3333-4444-555555555555"
V4, V6 = "sub-v4", "sub-v6"


def network(subnets, hosts=(), mtu=1450) -> d.DhcpNetwork:
    return d.DhcpNetwork.from_api(
        {
            "id": NET,
            "network_type": "vxlan",
            "mtu": mtu,
            "dhcp_port": {
                "id": "dhcp-port-id-000",
                "mac_address": "fa:16:3e:00:00:02",
                "device_name": "tapdhcp",
                "vm_device_name": "vmdhcp",
                "fixed_ips": [
                    {"subnet_id": V4, "ip_address": "10.0.0.2"},
                    {"subnet_id": V6, "ip_address": "2001:db8::2"},
                ],
            },
            "subnets": subnets,
            "hosts": list(hosts),
        }
    )


def v4(**kw):
    return {
        "id": V4,
        "cidr": "10.0.0.0/24",
        "ip_version": 4,
        "gateway_ip": "10.0.0.1",
        "dns_nameservers": [],
        "host_routes": [],
        "enable_dhcp": True,
        "ipv6_address_mode": None,
        "ipv6_ra_mode": None,
        **kw,
    }


def v6(address_mode=None, ra_mode=None, **kw):
    return {
        "id": V6,
        "cidr": "2001:db8::/64",
        "ip_version": 6,
        "gateway_ip": "2001:db8::1",
        "dns_nameservers": [],
        "host_routes": [],
        "enable_dhcp": True,
        "ipv6_address_mode": address_mode,
        "ipv6_ra_mode": ra_mode,
        **kw,
    }


def host(port, mac, ip, subnet):
    return {
        "port_id": port,
        "mac_address": mac,
        "ip_address": ip,
        "subnet_id": subnet,
        "hostname": "host-" + ip.replace(".", "-").replace(":", "-"),
    }


def test_hosts_file_one_line_per_port_with_both_families():
    net = network(
        [v4(), v6()],
        [
            host("p1", "FA:16:3E:00:00:05", "10.0.0.5", V4),
            host("p1", "fa:16:3e:00:00:05", "2001:db8::5", V6),
            host("p2", "fa:16:3e:00:00:06", "10.0.0.6", V4),
        ],
    )
    assert d.hosts_file(net) == (
        "fa:16:3e:00:00:05,10.0.0.5,[2001:db8::5],host-10-0-0-5\nfa:16:3e:00:00:06,10.0.0.6,host-10-0-0-6\n"
    )


def test_hosts_file_skips_slaac_and_dhcp_disabled_subnets():
    net = network(
        [v4(enable_dhcp=False), v6("slaac", "slaac")],
        [host("p1", "fa:16:3e:00:00:05", "10.0.0.5", V4), host("p1", "fa:16:3e:00:00:05", "2001:db8::5", V6)],
    )
    assert d.hosts_file(net) == ""


def test_opts_file_router_dns_routes_and_mtu():
    net = network(
        [
            v4(
                dns_nameservers=["10.0.0.53", "10.0.0.54"],
                host_routes=[{"destination": "10.9.0.0/16", "nexthop": "10.0.0.254"}],
            ),
            v6(dns_nameservers=["2001:db8::53"]),
        ]
    )
    tag4, tag6 = f"tag:subnet-{V4}", f"tag:subnet-{V6}"
    assert d.opts_file(net).splitlines() == [
        f"{tag4},option:router,10.0.0.1",
        f"{tag4},option:dns-server,10.0.0.53,10.0.0.54",
        f"{tag4},option:classless-static-route,10.9.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1",
        f"{tag4},249,10.9.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1",
        f"{tag4},option:mtu,1450",
        f"{tag6},option6:dns-server,[2001:db8::53]",
    ]


def test_no_gateway_means_an_empty_router_option():
    assert d.opts_file(network([v4(gateway_ip=None)])).splitlines()[0] == f"tag:subnet-{V4},option:router"


@pytest.mark.parametrize(
    ("address_mode", "ra_mode", "range_mode", "enable_ra"),
    [
        pytest.param(None, None, "static", False, id="v6-no-modes-is-stateful"),
        pytest.param("dhcpv6-stateful", None, "static", False, id="stateful"),
        pytest.param("dhcpv6-stateful", "dhcpv6-stateful", "static", True, id="stateful-with-ra"),
        pytest.param("dhcpv6-stateless", "dhcpv6-stateless", "ra-stateless", True, id="stateless-with-ra"),
        pytest.param("dhcpv6-stateless", None, "static", False, id="stateless-external-ra"),
        pytest.param("slaac", "slaac", "slaac", True, id="slaac-with-ra"),
        pytest.param("slaac", None, None, False, id="slaac-external-ra-nothing-to-do"),
    ],
)
def test_ipv6_modes_map_to_ranges_and_ra(address_mode, ra_mode, range_mode, enable_ra):
    net = network([v4(), v6(address_mode, ra_mode)])
    cmd = d.command(net, d.Paths(Path("/s") / NET), "vmdhcp")
    ranges = [a for a in cmd if a.startswith("--dhcp-range=")]
    assert ranges[0] == f"--dhcp-range=set:subnet-{V4},10.0.0.0,static,255.255.255.0,86400s"
    if range_mode is None:
        assert len(ranges) == 1
    else:
        assert ranges[1] == f"--dhcp-range=set:subnet-{V6},2001:db8::,{range_mode},64,86400s"
    assert ("--enable-ra" in cmd) is enable_ra


def test_command_line_serves_one_interface_from_files_only():
    paths = d.Paths(Path("/s") / NET)
    cmd = d.command(network([v4()]), paths, "vmdhcp", "/usr/sbin/dnsmasq")
    assert cmd[0] == "/usr/sbin/dnsmasq"
    for arg in (
        "--no-hosts",
        "--no-resolv",
        "--bind-interfaces",
        "--interface=vmdhcp",
        "--port=0",
        f"--dhcp-hostsfile={paths.hosts}",
        f"--dhcp-optsfile={paths.opts}",
        f"--dhcp-leasefile={paths.leases}",
        f"--pid-file={paths.pid}",
    ):
        assert arg in cmd


def test_dhcp_port_addresses_carry_the_subnet_prefix():
    assert network([v4(), v6()]).port_addresses() == ["10.0.0.2/24", "2001:db8::2/64"]


def test_write_if_changed(tmp_path):
    f = tmp_path / "host"
    assert d.write_if_changed(f, "a\n") is True
    assert d.write_if_changed(f, "a\n") is False
    assert oct(f.stat().st_mode & 0o777) == "0o644"
    assert d.write_if_changed(f, "b\n") is True and f.read_text() == "b\n"
