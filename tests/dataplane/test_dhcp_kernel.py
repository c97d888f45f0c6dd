"""The DHCP service (and the L2 agent beside it) against a fake API on the
real kernel: dnsmasq in its namespace answers a VM with exactly the port's
address and the subnet's options, port changes reach dnsmasq by SIGHUP
without a restart, and an unscheduled network loses namespace and dnsmasq."""

from __future__ import annotations

import uuid
from pathlib import Path

from quark import names
from quark.agent import dnsmasq
from tests.dataplane import kernel as k
from tests.dataplane.test_l2_agent_kernel import _port, _start_agent, _vxlan


def _subnet(net_id: str, cidr: str, gateway: str, **extra) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "network_id": net_id,
        "cidr": cidr,
        "ip_version": 4,
        "gateway_ip": gateway,
        "dns_nameservers": [],
        "host_routes": [],
        "enable_dhcp": True,
        "ipv6_address_mode": None,
        "ipv6_ra_mode": None,
        **extra,
    }


def _host(port: dict, subnet: dict, ip: str) -> dict:
    return {
        "port_id": port["id"],
        "mac_address": port["mac_address"],
        "ip_address": ip,
        "subnet_id": subnet["id"],
        "hostname": "host-" + ip.replace(".", "-"),
    }


def test_dhcp_serves_the_port_address_and_follows_changes(fake_api, netns, procs, tmp_path, dhcp_state_dir):
    k.require_tools("dnsmasq", "dhclient")
    host_ns = netns.add("hostA")
    net = str(uuid.uuid4())
    subnet = _subnet(
        net,
        "10.50.0.0/24",
        "10.50.0.1",
        dns_nameservers=["10.50.0.53"],
        host_routes=[{"destination": "10.60.0.0/24", "nexthop": "10.50.0.254"}],
    )
    dport = {**_port(net, "fa:16:3e:00:05:02"), "device_owner": "network:dhcp", "device_id": f"dhcp-{net}"}
    vm_port = _port(net, "fa:16:3e:00:05:03")
    network = _vxlan(net, 8001, [])
    fake_api.set_desired("hostA", [dport, vm_port], [network])

    def dhcp_doc(hosts):
        return [
            {
                **network,
                "dhcp_port": {
                    "id": dport["id"],
                    "mac_address": dport["mac_address"],
                    "device_name": dport["device_name"],
                    "vm_device_name": dport["vm_device_name"],
                    "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "10.50.0.2"}],
                },
                "subnets": [subnet],
                "hosts": hosts,
            }
        ]

    fake_api.set_dhcp("hostA", dhcp_doc([_host(vm_port, subnet, "10.50.0.10")]))
    state = dhcp_state_dir
    _start_agent(fake_api, procs, "hostA", host_ns, "--tunnel-ip", "10.9.0.1")
    dhcp = k.Process(k.dhcp_cmd(fake_api.url, "hostA", host_ns, netns.tag, str(state)), "dhcp").start()
    procs.append(dhcp)

    dhcp_ns = names.dhcp_namespace(net, netns.tag)
    paths = dnsmasq.Paths(state / net)
    k.wait_for(lambda: dnsmasq.running_pid(paths), 20, what="dnsmasq running", proc=dhcp)
    assert k.addresses(dhcp_ns, dport["vm_device_name"]) == ["10.50.0.2/24"]
    assert k.links(dhcp_ns)[dport["vm_device_name"]]["address"] == "fa:16:3e:00:05:02"
    assert "10.50.0.10" in paths.hosts.read_text()
    k.wait_for(lambda: fake_api.status_of(vm_port["id"]) == "ACTIVE", 10)

    vm_ns = netns.add("vm1")
    k.run("ip", "-n", host_ns, "link", "set", vm_port["vm_device_name"], "netns", vm_ns)
    env = k.dhcp_client(vm_ns, vm_port["vm_device_name"], tmp_path / "vm1")
    assert env["new_ip_address"] == "10.50.0.10"
    assert env["new_subnet_mask"] == "255.255.255.0"
    assert env["new_routers"] == "10.50.0.1"
    assert env["new_domain_name_servers"] == "10.50.0.53"
    assert env["new_interface_mtu"] == "1450"
    assert env["new_host_name"] == "host-10-50-0-10"
    # 121: 24.10.60.0 via 10.50.0.254, and the default route via the gateway
    assert env["new_rfc3442_classless_static_routes"] == "24 10 60 0 10 50 0 254 0 10 50 0 1"
    assert "10.50.0.10/24" in k.addresses(vm_ns, vm_port["vm_device_name"])
    k.in_ns(vm_ns, "ping", "-c", "1", "-W", "2", "10.50.0.2")

    # a new port: its entry is there at once (within a second in practice; the bound is
    # generous but far inside the service's 30 s long-poll wait, so it was the poll's wake),
    # by SIGHUP (same dnsmasq)
    pid = dnsmasq.running_pid(paths)
    other = _port(net, "fa:16:3e:00:05:04")
    fake_api.set_dhcp("hostA", dhcp_doc([_host(vm_port, subnet, "10.50.0.10"), _host(other, subnet, "10.50.0.11")]))
    k.wait_for(lambda: "10.50.0.11" in paths.hosts.read_text(), 5, what="new host entry")
    k.wait_for(lambda: "read " + str(paths.hosts) in paths.log.read_text(), 5, what="dnsmasq re-read the hosts file")
    assert dnsmasq.running_pid(paths) == pid
    # a port gone: its entry is gone
    fake_api.set_dhcp("hostA", dhcp_doc([_host(other, subnet, "10.50.0.11")]))
    k.wait_for(lambda: "10.50.0.10" not in paths.hosts.read_text(), 5, what="entry removed")
    assert dnsmasq.running_pid(paths) == pid

    # dnsmasq killed from outside: back within a couple of seconds
    k.run("kill", "-9", str(pid))
    k.wait_for(lambda: dnsmasq.running_pid(paths) not in (None, pid), 5, what="dnsmasq restarted", proc=dhcp)
    pid = dnsmasq.running_pid(paths)

    # no longer scheduled here: dnsmasq, namespace and files go
    fake_api.set_dhcp("hostA", [])
    k.wait_for(lambda: not Path("/run/netns", dhcp_ns).exists(), 10, what="namespace removed", proc=dhcp)
    # the agent deletes the namespace first, then the files: wait for the second too
    k.wait_for(lambda: not paths.directory.exists(), 5, what="files removed", proc=dhcp)
    assert not Path(f"/proc/{pid}").exists() or dnsmasq.running_pid(paths) is None


def test_ipv6_stateful_dhcp_and_slaac_router_advertisements(fake_api, netns, procs, tmp_path, dhcp_state_dir):
    k.require_tools("dnsmasq", "dhclient")
    host_ns = netns.add("hostA")
    net = str(uuid.uuid4())
    v4 = _subnet(net, "10.51.0.0/24", "10.51.0.1")
    stateful = _subnet(
        net,
        "2001:db8:51::/64",
        "2001:db8:51::1",
        ip_version=6,
        ipv6_address_mode="dhcpv6-stateful",
        ipv6_ra_mode="dhcpv6-stateful",
    )
    slaac = _subnet(
        net, "2001:db8:52::/64", "2001:db8:52::1", ip_version=6, ipv6_address_mode="slaac", ipv6_ra_mode="slaac"
    )
    dport = {**_port(net, "fa:16:3e:00:06:02"), "device_owner": "network:dhcp"}
    vm_port = _port(net, "fa:16:3e:00:06:03")
    network = _vxlan(net, 8101, [])
    fake_api.set_desired("hostA", [dport, vm_port], [network])
    fake_api.set_dhcp(
        "hostA",
        [
            {
                **network,
                "dhcp_port": {
                    "id": dport["id"],
                    "mac_address": dport["mac_address"],
                    "device_name": dport["device_name"],
                    "vm_device_name": dport["vm_device_name"],
                    "fixed_ips": [
                        {"subnet_id": v4["id"], "ip_address": "10.51.0.2"},
                        {"subnet_id": stateful["id"], "ip_address": "2001:db8:51::2"},
                        {"subnet_id": slaac["id"], "ip_address": "2001:db8:52::2"},
                    ],
                },
                "subnets": [v4, stateful, slaac],
                "hosts": [
                    _host(vm_port, v4, "10.51.0.10"),
                    _host(vm_port, stateful, "2001:db8:51::10"),
                    _host(vm_port, slaac, "2001:db8:52:0:f816:3eff:fe00:603"),
                ],
            }
        ],
    )
    _start_agent(fake_api, procs, "hostA", host_ns, "--tunnel-ip", "10.9.0.1")
    dhcp = k.Process(k.dhcp_cmd(fake_api.url, "hostA", host_ns, netns.tag, str(dhcp_state_dir)), "dhcp").start()
    procs.append(dhcp)
    paths = dnsmasq.Paths(dhcp_state_dir / net)
    k.wait_for(lambda: dnsmasq.running_pid(paths), 20, what="dnsmasq running", proc=dhcp)
    assert "--enable-ra" in paths.cmdline.read_text()
    k.wait_for(lambda: fake_api.status_of(vm_port["id"]) == "ACTIVE", 10)

    vm_ns = netns.add("vm6")
    k.run("ip", "-n", host_ns, "link", "set", vm_port["vm_device_name"], "netns", vm_ns)
    k.in_ns(vm_ns, "sysctl", "-qw", f"net.ipv6.conf.{vm_port['vm_device_name']}.accept_ra=2")
    env = k.dhcp_client(vm_ns, vm_port["vm_device_name"], tmp_path / "vm6")
    assert env["new_ip_address"] == "10.51.0.10"
    # SLAAC from dnsmasq's router advertisement: EUI-64 of the port MAC in the slaac prefix
    try:
        k.wait_for(
            lambda: "2001:db8:52:0:f816:3eff:fe00:603/64" in k.addresses(vm_ns, vm_port["vm_device_name"]),
            20,
            what="SLAAC address",
        )
    except AssertionError:
        print(
            paths.log.read_text(),
            k.run("ip", "-n", vm_ns, "addr").stdout,
            k.run("ip", "-n", names.dhcp_namespace(net, netns.tag), "addr").stdout,
        )
        raise
    env6 = k.dhcp_client(vm_ns, vm_port["vm_device_name"], tmp_path / "vm6", v6=True)
    assert env6["new_ip6_address"] == "2001:db8:51::10", env6
