"""Two VMs on one bridge of one host, with security groups, through a real
`quark serve` and `quark agent`: shared by tests/dataplane/test_security_groups_kernel.py
and bench/sg_enforcement.py (docs/security_groups_enforcement.md).

The server VM's port is in a group allowing ingress TCP 22 only, the client
VM's in a group with no ingress rule; both groups have Neutron's open egress.
Both VMs listen on TCP 22.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from quark import names
from tests.dataplane import kernel as k
from tests.dataplane.scenario import Dataplane, ip_of

LISTENER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 22))
s.listen(64)
while True:
    c, _ = s.accept()
    c.close()
"""
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()"


@dataclass
class Lab:
    dp: Dataplane
    srv_ns: str
    cli_ns: str
    srv: dict
    cli: dict
    cli_dev: str
    ssh_group: dict
    rule: dict  # the base of the server group's ingress rules

    def add_rule(self, **attrs: Any) -> dict:
        body = {"security_group_rule": {**self.rule, **attrs}}
        return self.dp.post("/v2.0/security-group-rules", body)["security_group_rule"]

    def delete_rule(self, rule_id: str) -> None:
        self.dp.delete(f"/v2.0/security-group-rules/{rule_id}")


def pings(ns: str, ip: str, *src: str, wait: str = "0.4") -> bool:
    return k.in_ns(ns, "ping", "-c", "1", "-W", wait, "-q", *src, ip, check=False).returncode == 0


def connects(ns: str, ip: str, port: int = 22) -> bool:
    return k.in_ns(ns, "python3", "-c", CONNECT, ip, str(port), check=False).returncode == 0


def until(check, what: str, timeout: float) -> float:
    """Seconds until ``check()`` holds (fails after ``timeout``)."""
    t0 = time.monotonic()
    k.wait_for(check, timeout, 0.02, what=what)
    return time.monotonic() - t0


def build(dp: Dataplane) -> Lab:
    dp.build_hosts()
    dp.start_agent("hostA")
    dp.wait_agents_alive(("hostA", "Quark L2 agent"))
    net, _ = dp.network("sg", cidr="10.79.0.0/24", gateway="10.79.0.1", enable_dhcp=False)
    tag = dp.spaces.tag
    ssh = dp.post("/v2.0/security-groups", {"security_group": {"name": f"{tag}ssh"}})["security_group"]
    client = dp.post("/v2.0/security-groups", {"security_group": {"name": f"{tag}client"}})["security_group"]
    rule = {"security_group_id": ssh["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp"}
    dp.post("/v2.0/security-group-rules", {"security_group_rule": {**rule, "port_range_min": 22, "port_range_max": 22}})
    (srv_ns, srv), (cli_ns, cli) = add_vm(dp, net["id"], ssh["id"], "srv"), add_vm(dp, net["id"], client["id"], "cli")
    return Lab(dp, srv_ns, cli_ns, srv, cli, names.vm_name(cli["id"]), ssh, rule)


def add_vm(dp: Dataplane, network_id: str, group_id: str, name: str) -> tuple[str, dict]:
    """A VM on host A whose port is in ``group_id``, with its address and a TCP 22 listener."""
    port = dp.post(
        "/v2.0/ports",
        {"port": {"network_id": network_id, "device_owner": "compute:nova", "security_groups": [group_id]}},
    )["port"]
    bound, _ = dp.bind(port, "hostA")
    assert bound["binding:vif_details"]["port_filter"] is True, bound
    dp.wait_status(port["id"], "ACTIVE", proc=dp.agents["hostA"])
    ns = dp.attach_vm(port, "hostA", name)
    dev = names.vm_name(port["id"])
    k.run("ip", "-n", ns, "addr", "add", f"{ip_of(port)}/24", "dev", dev)
    k.run("ip", "-n", ns, "link", "set", dev, "up")
    dp.procs.append(k.Process(["ip", "netns", "exec", ns, "python3", "-c", LISTENER], f"listener-{name}").start())
    return ns, port


def icmp_rule_change(lab: Lab, timeout: float) -> tuple[float, float]:
    """(seconds from the API's answer until ICMP passes, after adding an ICMP rule;
    until it is dropped again, after deleting it)."""
    target = ip_of(lab.srv)
    rule = lab.add_rule(protocol="icmp")
    added = until(lambda: pings(lab.cli_ns, target, wait="0.1"), "ICMP allowed", timeout)
    lab.delete_rule(rule["id"])
    removed = until(lambda: not pings(lab.cli_ns, target, wait="0.1"), "ICMP dropped again", timeout)
    return added, removed
