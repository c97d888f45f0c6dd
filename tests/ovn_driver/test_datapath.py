"""Packets through what the OVN driver wrote: a hypervisor on Open vSwitch's
userspace datapath (no kernel module here) runs ovn-controller; two
namespaces bound to the driver's logical switch ports ping each other, their
ports come ``up`` (read back through the driver), and the security groups'
ACLs hold: a port whose group allows no ingress is unreachable until a newer
revision of its group allows ICMP."""

from __future__ import annotations

import time
import uuid

from quark.drivers.base import Change
from quark.drivers.ovn import OvnDriver


def uid() -> str:
    return str(uuid.uuid4())


def rule(direction: str, **attrs) -> dict:
    return {"id": uid(), "direction": direction, "ethertype": "IPv4", "protocol": None, "remote_ip_prefix": None,
            "remote_group_id": None, "port_range_min": None, "port_range_max": None, **attrs}  # fmt: skip


async def wait_up(driver: OvnDriver, port_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await driver.port_up(port_id):
        assert time.monotonic() < deadline, f"port {port_id} never came up"
        time.sleep(0.2)


async def test_two_namespaces_ping_through_ovn_and_acls_hold(ovn, chassis):
    driver = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 5})
    try:
        net = {"id": uid(), "project_id": "p", "name": "n", "mtu": 1442, "provider:network_type": "geneve",
               "provider:segmentation_id": 77}  # fmt: skip
        sub = {"id": uid(), "network_id": net["id"], "cidr": "10.61.0.0/24", "gateway_ip": "10.61.0.1",
               "enable_dhcp": True, "ip_version": 4, "dns_nameservers": []}  # fmt: skip
        default = {"id": uid(), "name": "default", "stateful": True}
        default["security_group_rules"] = [rule("egress"), rule("ingress", remote_group_id=default["id"])]
        closed = {"id": uid(), "name": "closed", "stateful": True, "security_group_rules": [rule("egress")]}
        for kind, body in (("network", net), ("subnet", sub), ("security_group", default), ("security_group", closed)):
            await driver.call(Change(kind, "create", body["id"], 1, body))
        vms = []
        for n, group in ((11, default), (12, default), (13, closed)):
            port = {"id": uid(), "network_id": net["id"], "mac_address": f"fa:16:3e:00:61:{n}",
                    "fixed_ips": [{"subnet_id": sub["id"], "ip_address": f"10.61.0.{n}"}],
                    "security_groups": [group["id"]], "port_security_enabled": True, "admin_state_up": True}  # fmt: skip
            await driver.call(Change("port", "create", port["id"], 1, port))
            assert await driver.port_up(port["id"]) in (None, False)  # no chassis has it yet
            vms.append(chassis.plug(port["id"], port["mac_address"], f"10.61.0.{n}/24"))
            await wait_up(driver, port["id"])

        a, _, c = vms
        assert chassis.ping(a, "10.61.0.12", count=3), "no ping between two ports of one group"
        assert not chassis.ping(a, "10.61.0.13"), "a group without ingress rules let ICMP in"

        closed["security_group_rules"] = [*closed["security_group_rules"], rule("ingress", protocol="icmp")]
        await driver.call(Change("security_group", "update", closed["id"], 2, closed))
        deadline = time.monotonic() + 20
        while not chassis.ping(a, "10.61.0.13", count=1):
            assert time.monotonic() < deadline, "ICMP allowed by revision 2 never got through"
        assert chassis.ping(c, "10.61.0.11") is False  # its replies are allowed, not its own requests into default
    finally:
        await driver.close()
