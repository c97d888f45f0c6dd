"""The router namespace's NAT in a real kernel (docs/l3.md):

* a floating IP that moves takes its established flows with it: the L3 part
  deletes the conntrack entries of the old DNAT/SNAT mapping, so a long-lived
  UDP stream from the "internet" stops reaching the old VM and reaches the
  new one; after a disassociation it reaches neither;
* hairpin: a VM reaches another VM behind the same router by its floating IP.

Real kernel, the L3 part's own code (``L3Agent.ensure_router``) driven with
hand-made documents; the L2 part's work (bridges, the router ports' veth
pairs in the host namespace) is done by the test. Without the deletion the
stream keeps going to the old VM: conntrack translates a flow as its first
packet was."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from quark.agent.l3 import L3Agent, L3Config
from quark.agent.l3_plan import Router, routers_of
from tests.dataplane import kernel
from tests.dataplane.kernel import in_ns, run, wait_for

FLOATING = "203.0.113.7"
VM1, VM2 = "10.60.0.11", "10.60.0.12"

# Sends one datagram every 20 ms from one source port: one flow, as a media stream.
SENDER = f"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 40000))
while True:
    s.sendto(b"x", ("{FLOATING}", 5000))
    time.sleep(0.02)
"""
# Prints one line per datagram received.
RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5000))
while True:
    s.recv(100)
    sys.stdout.write(".\\n")
    sys.stdout.flush()
"""


@pytest.fixture
def tools(root):
    kernel.require_tools("nft", "conntrack")


def document(router_id: str, fixed: str | None) -> Router:
    fips = [{"id": "fip-1", "floating_ip_address": FLOATING, "fixed_ip_address": fixed}] if fixed else []
    body = {
        "id": router_id,
        "admin_state_up": True,
        "status": "BUILD",
        "enable_snat": True,
        "ports": [
            {
                "id": "gw-port",
                "kind": "gateway",
                "mac_address": "fa:16:3e:00:aa:01",
                "network_id": "ext",
                "mtu": 1500,
                "vm_device_name": "vmgw0",
                "fixed_ips": [{"subnet_id": "s1", "ip_address": "203.0.113.5", "prefixlen": 24}],
            },
            {
                "id": "if-port",
                "kind": "interface",
                "mac_address": "fa:16:3e:00:aa:02",
                "network_id": "priv",
                "mtu": 1500,
                "vm_device_name": "vmif0",
                "fixed_ips": [{"subnet_id": "s2", "ip_address": "10.60.0.1", "prefixlen": 24}],
            },
        ],
        "gateway": {"port_id": "gw-port", "addresses": ["203.0.113.5"], "next_hop": "203.0.113.1"},
        "routes": [],
        "floating_ips": fips,
        "port_forwardings": [],
    }
    [router] = routers_of({"routers": [body]})
    return router


def plug(host: str, ns: str | None, inside: str, outside: str, bridge: str, cidr: str | None = None) -> None:
    """A veth pair: ``outside`` on ``bridge`` in the host namespace, ``inside`` in ``ns`` (or the host's)."""
    run("ip", "-n", host, "link", "add", inside, "type", "veth", "peer", "name", outside)
    run("ip", "-n", host, "link", "set", outside, "master", bridge, "up")
    if ns is not None:
        run("ip", "-n", host, "link", "set", inside, "netns", ns)
        run("ip", "-n", ns, "link", "set", inside, "up")
        if cidr:
            run("ip", "-n", ns, "addr", "add", cidr, "dev", inside)


def received(path: Path) -> int:
    return path.read_text().count(".") if path.exists() else 0


def growing(path: Path, window: float = 0.5) -> bool:
    before = received(path)
    time.sleep(window)
    return received(path) > before


class Site:
    """The namespaces of a test: the host (bridges, the router ports' veth pairs
    as the L2 part leaves them), the internet, two VMs on the private network,
    and the L3 part realising the router from hand-made documents."""

    def __init__(self, netns) -> None:
        self.host, self.internet, self.vm1, self.vm2 = (netns.add(n) for n in ("host", "inet", "vm1", "vm2"))
        host = self.host
        for bridge in ("brE", "brI"):
            run("ip", "-n", host, "link", "add", bridge, "type", "bridge")
            run("ip", "-n", host, "link", "set", bridge, "up")
        plug(host, None, "vmgw0", "tapgw0", "brE")
        plug(host, None, "vmif0", "tapif0", "brI")
        plug(host, self.internet, "eth0", "xe0", "brE", "203.0.113.50/24")
        for vm, address in ((self.vm1, VM1), (self.vm2, VM2)):
            plug(host, vm, "eth0", f"p{vm[-1]}", "brI", f"{address}/24")
            run("ip", "-n", vm, "route", "add", "default", "via", "10.60.0.1")
        config = L3Config(host="h", netns=host, namespace_prefix=netns.tag)
        self.agent = L3Agent(client=None, config=config)  # type: ignore[arg-type]
        self.router_id = kernel.unique("r")
        self.router_ns = self.agent.namespace(self.router_id)

    def converge(self, fixed: str | None) -> str:
        """Realise the router with the floating IP on ``fixed`` (None: unassociated); its status."""
        router = document(self.router_id, fixed)
        status, _, _ = asyncio.run(self.agent.ensure_router(router, {"vmgw0", "vmif0"}))
        return status


def test_a_moved_floating_ip_takes_its_established_udp_flow(tools, netns, procs, tmp_path):
    site = Site(netns)
    vm1, vm2, internet, router_ns, converge = site.vm1, site.vm2, site.internet, site.router_ns, site.converge

    assert converge(VM1) == "ACTIVE"
    logs = {vm: tmp_path / f"{vm}.log" for vm in (vm1, vm2)}
    for vm in (vm1, vm2):
        receiver = kernel.Process(["ip", "netns", "exec", vm, sys.executable, "-u", "-c", RECEIVER], vm)
        receiver.log = logs[vm]  # its stdout: a line per datagram
        procs.append(receiver.start())
    sender = kernel.Process(["ip", "netns", "exec", internet, sys.executable, "-c", SENDER], "udp-sender").start()
    procs.append(sender)
    wait_for(lambda: received(logs[vm1]) > 10, timeout=15, what="the stream reaching vm1", proc=sender)
    assert received(logs[vm2]) == 0
    flows = in_ns(router_ns, "conntrack", "-L", "-d", FLOATING, check=False).stdout
    assert f"src={VM1}" in flows  # one tracked flow, translated to vm1

    # the floating IP moves to vm2: the same flow (same source port) follows at once
    moved_at = time.monotonic()
    assert converge(VM2) == "ACTIVE"
    wait_for(lambda: received(logs[vm2]) > 5, timeout=5, what="the stream reaching vm2")
    followed = time.monotonic() - moved_at
    time.sleep(0.3)  # datagrams in flight
    assert not growing(logs[vm1], 1.0), "the old VM still receives the established flow"
    assert growing(logs[vm2])
    flows = in_ns(router_ns, "conntrack", "-L", "-d", FLOATING, check=False).stdout
    assert f"src={VM2}" in flows and f"src={VM1}" not in flows
    print(f"stream followed the move in {followed:.2f} s")

    # disassociated: the stream reaches no VM
    assert converge(None) == "ACTIVE"
    time.sleep(0.3)
    assert not growing(logs[vm2], 1.0) and not growing(logs[vm1], 0.2)
    assert f"src={VM2}" not in in_ns(router_ns, "conntrack", "-L", "-d", FLOATING, check=False).stdout


def test_hairpin_a_vm_reaches_another_by_its_floating_ip(tools, netns, procs, tmp_path):
    site = Site(netns)
    assert site.converge(VM2) == "ACTIVE"
    server_log = tmp_path / "http.log"
    server = kernel.Process(
        ["ip", "netns", "exec", site.vm2, sys.executable, "-m", "http.server", "8080", "--bind", "0.0.0.0"], "http"
    )
    server.log = server_log
    procs.append(server.start())
    fetch = f"import urllib.request; print(urllib.request.urlopen('http://{FLOATING}:8080/', timeout=3).status)"

    def answered() -> bool:
        return in_ns(site.vm1, sys.executable, "-c", fetch, check=False).stdout.strip() == "200"

    wait_for(answered, timeout=15, interval=0.3, what="vm1 reaching vm2 by its floating IP", proc=server)
    # vm2 saw the router's interface address (masqueraded), so its answer went back through the router
    assert "10.60.0.1 - - " in server_log.read_text() and f"{VM1} - - " not in server_log.read_text()
    # from the internet the client's own address is kept (no masquerade there)
    fetch_outside = kernel.in_ns(site.internet, sys.executable, "-c", fetch, check=False)
    assert fetch_outside.stdout.strip() == "200", fetch_outside.stderr
    assert "203.0.113.50 - - " in server_log.read_text()
