"""Packets through an OVN router the driver wrote (tests/ovn.py's userspace-datapath
hypervisor): a namespace "VM" reaches a VM of another subnet through the router's
two interfaces, and a host on the external network reaches a VM through its floating
IP (dnat_and_snat on the gateway port, whose gateway chassis is this hypervisor)."""

from __future__ import annotations

import subprocess
import time

from quark.drivers.ovn import OvnDriver
from tests.ovn_driver.test_datapath import wait_up
from tests.ovn_driver.test_driver import change, network, port, subnet, uid


def default_route(ns: str, gateway: str) -> None:
    subprocess.run(["ip", "-n", ns, "route", "add", "default", "via", gateway], check=True, capture_output=True)


def eventually_pings(chassis, ns: str, ip: str, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not chassis.ping(ns, ip, count=1):
        assert time.monotonic() < deadline, what


async def test_vms_of_two_subnets_ping_through_the_router_and_a_floating_ip(ovn, chassis):
    driver = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 5, "gateway_chassis": f"chassis-{chassis.tag}"})
    try:
        r = {"id": uid(), "project_id": "p1", "name": "r", "admin_state_up": True, "routes": [],
             "external_gateway_info": {"network_id": "ext", "enable_snat": True}}  # fmt: skip
        ext = network(**{"provider:segmentation_id": 90})
        ext_sub = subnet(ext, cidr="203.0.113.0/24", gateway_ip="203.0.113.1")
        nets = [network(**{"provider:segmentation_id": 91 + i}) for i in range(2)]
        subs = [subnet(net, cidr=f"10.7{i}.0.0/24", gateway_ip=f"10.7{i}.0.1") for i, net in enumerate(nets)]
        await driver.call(change("router", r))
        for net, sub in [(ext, ext_sub), *zip(nets, subs, strict=True)]:
            await driver.call(change("network", net))
            await driver.call(change("subnet", sub))
        gw = port(ext, ext_sub, ip="203.0.113.10", device_owner="network:router_gateway", device_id=r["id"],
                  mac_address="fa:16:3e:00:70:10")  # fmt: skip
        interfaces = [
            port(
                net,
                sub,
                ip=sub["gateway_ip"],
                device_owner="network:router_interface",
                device_id=r["id"],
                mac_address=f"fa:16:3e:00:7{i}:01",
            )  # fmt: skip
            for i, (net, sub) in enumerate(zip(nets, subs, strict=True))
        ]
        vms = [
            port(net, sub, ip=f"10.7{i}.0.5", mac_address=f"fa:16:3e:00:7{i}:05", port_security_enabled=False)
            for i, (net, sub) in enumerate(zip(nets, subs, strict=True))
        ]
        outside = port(ext, ext_sub, ip="203.0.113.99", mac_address="fa:16:3e:00:70:99", port_security_enabled=False)
        for p in (gw, *interfaces, *vms, outside):
            await driver.call(change("port", p))
        spaces = []
        for p, gateway in ((vms[0], "10.70.0.1"), (vms[1], "10.71.0.1"), (outside, None)):
            ip = p["fixed_ips"][0]["ip_address"]
            spaces.append(chassis.plug(p["id"], p["mac_address"], f"{ip}/24"))
            if gateway:
                default_route(spaces[-1], gateway)
            await wait_up(driver, p["id"])
        a, b, out = spaces

        eventually_pings(chassis, a, "10.71.0.5", "no ping from one subnet to the other through the router")
        eventually_pings(chassis, b, "10.70.0.5", "no ping back the other way")

        fip = {"id": uid(), "project_id": "p1", "floating_ip_address": "203.0.113.50", "floating_network_id": ext["id"],
               "port_id": vms[0]["id"], "fixed_ip_address": "10.70.0.5", "router_id": r["id"]}  # fmt: skip
        assert not chassis.ping(out, "203.0.113.50", count=1)
        await driver.call(change("floatingip", fip))
        eventually_pings(chassis, out, "203.0.113.50", "the floating IP never answered from outside")
        await driver.call(change("floatingip", {**fip, "port_id": None, "fixed_ip_address": None}, rev=2))
        deadline = time.monotonic() + 20
        while chassis.ping(out, "203.0.113.50", count=1):
            assert time.monotonic() < deadline, "the floating IP still answers after its disassociation"
    finally:
        await driver.close()
