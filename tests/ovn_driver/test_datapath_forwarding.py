"""A port forwarding through an OVN router the driver wrote (tests/ovn.py's userspace-datapath
hypervisor, the router's gateway chassis): a TCP connection from a host on the external
network to the floating IP's external port reaches the VM's internal port, until the
forwarding is deleted."""

from __future__ import annotations

import subprocess
import sys
import time

from quark.drivers.ovn import OvnDriver
from tests.ovn_driver.test_datapath import wait_up
from tests.ovn_driver.test_datapath_l3 import default_route
from tests.ovn_driver.test_driver import change, network, port, subnet, uid
from tests.ovn_driver.test_forwarding import forwarding

# The VM's service: answers each connection with what it listens on, until killed.
SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
while True:
    c, _ = s.accept(); c.sendall(b"vm:" + sys.argv[1].encode()); c.close()
"""


def fetch(ns: str, address: str, port: int) -> str:
    """What a TCP connection from ``ns`` to ``address:port`` reads ("" if it fails)."""
    client = (
        f"import socket; s = socket.create_connection(({address!r}, {port}), timeout=2); print(s.recv(64).decode())"
    )
    done = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", client], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def eventually(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


async def test_a_tcp_connection_to_the_floating_ips_port_reaches_the_vm(ovn, chassis):
    driver = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 5, "gateway_chassis": f"chassis-{chassis.tag}"})
    server = None
    try:
        r = {"id": uid(), "project_id": "p1", "name": "r", "admin_state_up": True, "routes": [],
             "external_gateway_info": {"network_id": "ext", "enable_snat": False}}  # fmt: skip
        ext, net = network(**{"provider:segmentation_id": 80}), network(**{"provider:segmentation_id": 81})
        ext_sub = subnet(ext, cidr="203.0.113.0/24", gateway_ip="203.0.113.1")
        sub = subnet(net, cidr="10.80.0.0/24", gateway_ip="10.80.0.1")
        await driver.call(change("router", r))
        for n, s in ((ext, ext_sub), (net, sub)):
            await driver.call(change("network", n))
            await driver.call(change("subnet", s))
        gw = port(ext, ext_sub, ip="203.0.113.10", device_owner="network:router_gateway", device_id=r["id"],
                  mac_address="fa:16:3e:00:80:10")  # fmt: skip
        inside = port(net, sub, ip="10.80.0.1", device_owner="network:router_interface", device_id=r["id"],
                      mac_address="fa:16:3e:00:80:01")  # fmt: skip
        vm = port(net, sub, ip="10.80.0.5", mac_address="fa:16:3e:00:80:05", port_security_enabled=False)
        outside = port(ext, ext_sub, ip="203.0.113.99", mac_address="fa:16:3e:00:80:99", port_security_enabled=False)
        for p in (gw, inside, vm, outside):
            await driver.call(change("port", p))
        vm_ns = chassis.plug(vm["id"], vm["mac_address"], "10.80.0.5/24")
        default_route(vm_ns, "10.80.0.1")
        out_ns = chassis.plug(outside["id"], outside["mac_address"], "203.0.113.99/24")
        for p in (vm, outside):
            await wait_up(driver, p["id"])
        server = subprocess.Popen(["ip", "netns", "exec", vm_ns, sys.executable, "-c", SERVER, "8022"])

        pf = forwarding(uid(), r["id"], floating_ip_address="203.0.113.60", internal_ip_address="10.80.0.5",
                        ports=(2222, 2222, 8022, 8022))  # fmt: skip
        assert fetch(out_ns, "203.0.113.60", 2222) == ""
        await driver.call(change("port_forwarding", pf))
        eventually(lambda: fetch(out_ns, "203.0.113.60", 2222) == "vm:8022", "the forwarding never reached the VM")
        assert fetch(out_ns, "203.0.113.60", 2223) == ""  # only the forwarded port
        await driver.call(change("port_forwarding", {"id": pf["id"]}, op="delete"))
        eventually(lambda: fetch(out_ns, "203.0.113.60", 2222) == "", "the port still forwards after its delete")
    finally:
        if server is not None:
            server.kill()
            server.wait(5)
        await driver.close()
