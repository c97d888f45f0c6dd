"""The end-to-end L3 scenario of issue 17, shared by the test
(tests/dataplane/test_e2e_l3.py) and the benchmark (bench/e2e_l3.py).

The two hosts of ``scenario.Dataplane``; host A's agent also runs the L3
part (``--l3``). An external flat network (physnet1, host A's ``physA``)
whose other end is an "internet" namespace holding the external subnet's
gateway address and running an HTTP server; two private VXLAN networks with
VMs (DHCP) on both hosts, each VM running an HTTP server whose listing names
it. A router with its gateway on the external network and an interface on
each private network, on host A. Shown: VM <-> VM across the router, VM ->
internet by SNAT (the internet host sees the gateway address; it has no
route back to the private networks), internet -> VM by a floating IP
(DNAT), the floating IP moved to another VM and traffic following, two port
forwardings of one floating IP reaching two VMs, host A's agent killed and
its router namespace wiped, then restarted: all works again with no API
call; the router deleted: its namespace is gone. The VMs are in a security
group that lets the internet in on the HTTP port (and ICMP), as a user
would open it: the hosts enforce security groups, and the default group
drops ingress from outside it. With a Nova metadata stand-in (the test's),
host A's L3 part runs a metadata proxy in the router namespace: a VM on
each private network gets its own metadata from 169.254.169.254 by its
default route, again after the restart; the proxy stops with the router.
"""

from __future__ import annotations

import json
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quark import names
from quark.agent.metadata.spawn import ProxySpec, running_pid
from quark.db import migrate
from tests.dataplane import kernel as k
from tests.dataplane.nova_metadata import NovaMetadata
from tests.dataplane.scenario import PHYS_IFACE, Dataplane, ip_of
from tests.servers import RunningServer, quark_server

INTERNET = "10.79.0.1"
HTTP_PORT = "8080"


@dataclass
class L3Timings:
    router_to_reachable: list[float] = field(default_factory=list)
    associate_to_reachable: list[float] = field(default_factory=list)
    move_to_reachable: list[float] = field(default_factory=list)
    forwarding_to_reachable: list[float] = field(default_factory=list)
    restart_to_reachable: list[float] = field(default_factory=list)
    delete_to_gone: list[float] = field(default_factory=list)

    @staticmethod
    def summary(values: list[float]) -> str:
        if not values:
            return "n/a"
        return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms (n={len(values)})"


def http_server(dp: Dataplane, ns: str, name: str, bind: str) -> k.Process:
    """``python -m http.server`` in ``ns``, serving a directory that holds a file named ``name``."""
    root = dp.workdir / f"www-{name}"
    root.mkdir(parents=True, exist_ok=True)
    (root / f"marker-{name}").write_text(name)
    cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", HTTP_PORT, "--bind", bind]
    proc = k.Process([*cmd, "--directory", str(root)], f"http-{name}").start()
    dp.procs.append(proc)
    # listening before anything is timed against it (a slow start would look like a slow dataplane)
    k.wait_for(lambda: listening(ns), 30, 0.05, what=f"HTTP server of {name}", proc=proc)
    return proc


def listening(ns: str) -> bool:
    out = k.in_ns(ns, "ss", "-Hltn", f"sport = :{HTTP_PORT}", check=False).stdout
    return bool(out.strip())


def fetch(ns: str, address: str, timeout: float = 1.0, port: str = HTTP_PORT) -> str:
    """The body of http://address:port/ fetched from ``ns`` ("" if it fails)."""
    code = f"import urllib.request as u;print(u.urlopen('http://{address}:{port}/',timeout={timeout}).read().decode())"
    out = k.in_ns(ns, sys.executable, "-c", code, check=False, timeout=timeout + 5)
    return out.stdout if out.returncode == 0 else ""


# One process probing http://<address>:8080/ every 50 ms, printing "<wall time> <marker>" per
# answer ("-" when none): the time a change takes to show, without a process start per try.
PROBE = """
import re, sys, time, urllib.request
url = "http://%s:%s/" % (sys.argv[1], sys.argv[2])
while True:
    try:
        body = urllib.request.urlopen(url, timeout=0.5).read().decode()
        found = re.search(r"marker-(\\w+)", body)
        print(time.time(), found.group(1) if found else "-", flush=True)
    except Exception as exc:
        print(time.time(), "-", type(exc).__name__, exc, flush=True)
    time.sleep(0.05)
"""


class Probe:
    """The PROBE loop in ``ns`` against ``address`` (and ``port``)."""

    def __init__(self, dp: Dataplane, ns: str, address: str, port: str = HTTP_PORT) -> None:
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-c", PROBE, address, port]
        self.proc = k.Process(cmd, "probe").start()
        dp.procs.append(self.proc)

    def answered_by(self, name: str, since: float) -> float | None:
        """The wall time of the first answer from VM ``name`` at or after ``since`` (None: none yet)."""
        for line in self.proc.log_text().splitlines():
            stamp, _, rest = line.partition(" ")
            who = rest.split(" ")[0]
            try:
                when = float(stamp)
            except ValueError:
                continue
            if who == name and when >= since:
                return when
        return None

    def wait(self, name: str, since: float, timeout: float = 30) -> float:
        """Seconds from ``since`` (wall time) to the first answer from ``name``."""
        when = k.wait_for(lambda: self.answered_by(name, since), timeout, 0.05, what=f"internet -> {name}")
        return float(when) - since


class Pinger:
    """``ping -D`` every 50 ms from ``ns``: the wall time of the first reply after a moment."""

    def __init__(self, dp: Dataplane, ns: str, address: str) -> None:
        cmd = ["ip", "netns", "exec", ns, "stdbuf", "-oL", "ping", "-D", "-n", "-i", "0.05", address]
        self.proc = k.Process(cmd, "ping").start()
        dp.procs.append(self.proc)

    def replied(self, since: float) -> float | None:
        for line in self.proc.log_text().splitlines():
            if line.startswith("[") and "bytes from" in line:
                when = float(line[1 : line.index("]")])
                if when >= since:
                    return when
        return None

    def wait(self, since: float, timeout: float = 30) -> float:
        """Seconds from ``since`` (wall time) to the first reply."""
        return float(k.wait_for(lambda: self.replied(since), timeout, 0.05, what="ping replies")) - since


def pings(ns: str, address: str) -> bool:
    return k.in_ns(ns, "ping", "-c", "1", "-W", "1", address, check=False).returncode == 0


def open_group(dp: Dataplane) -> dict:
    """A security group letting anyone in on the HTTP port, and ICMP (as a user opens SSH or a web port)."""
    group = dp.post("/v2.0/security-groups", {"security_group": {"name": dp.spaces.tag + "web"}})["security_group"]
    for rule in (
        {"protocol": "tcp", "port_range_min": int(HTTP_PORT), "port_range_max": int(HTTP_PORT)},
        {"protocol": "icmp"},
    ):
        body = {"security_group_id": group["id"], "direction": "ingress", "remote_ip_prefix": "0.0.0.0/0", **rule}
        dp.post("/v2.0/security-group-rules", {"security_group_rule": body})
    return group


def vm(dp: Dataplane, net: dict, host: str, name: str, group: dict) -> tuple[dict, str]:
    """A port bound to ``host`` in the default group and ``group``, its VM namespace with its
    DHCP address and default route, an HTTP server."""
    port, _ = dp.create_port(net)
    groups = [*port["security_groups"], group["id"]]
    port = dp.put(f"/v2.0/ports/{port['id']}", {"port": {"security_groups": groups}})["port"]
    bound, _ = dp.bind(port, host)
    assert bound["binding:vif_type"] == "bridge", bound
    dp.wait_status(port["id"], "ACTIVE", proc=dp.agents[host])
    ns = dp.attach_vm(port, host, name)
    env = dp.dhcp_client(ns, port)
    assert env["new_ip_address"] == ip_of(port), env
    k.run("ip", "-n", ns, "route", "replace", "default", "via", env["new_routers"])
    http_server(dp, ns, name, ip_of(port))
    return port, ns


def router_namespace(dp: Dataplane, router_id: str) -> str:
    return names.router_namespace(router_id, dp.spaces.tag)


def metadata_env(workdir: Path, nova: NovaMetadata, secret: str) -> dict[str, str]:
    """The agents' settings for router metadata: host A's L3 part runs proxies, its metadata agent signs."""
    return {
        "QUARK_AGENT_ENABLE_METADATA_PROXY": "true",
        "QUARK_AGENT_METADATA_PROXY_SOCKET": str(workdir / "md.sock"),
        "QUARK_AGENT_L3_STATE_DIR": str(workdir / "l3"),
        "QUARK_AGENT_METADATA_PROXY_SHARED_SECRET": secret,
        "QUARK_AGENT_NOVA_METADATA_URL": nova.url,
    }


def metadata_of(ns: str) -> dict[str, Any]:
    """meta_data.json as the VM in ``ns`` gets it from 169.254.169.254 ({} if it fails)."""
    url = "http://169.254.169.254/openstack/latest/meta_data.json"
    out = k.in_ns(ns, "curl", "-s", "-m", "5", "-f", url, check=False)
    return dict(json.loads(out.stdout)) if out.returncode == 0 else {}


def run_l3_scenario(dp: Dataplane, nova: NovaMetadata | None = None) -> L3Timings:
    t = L3Timings()
    dp.l3_hosts = {"hostA"}
    dp.build_hosts()
    dp.start_agent("hostA")
    dp.start_agent("hostB")
    alive = [("hostA", "Quark L2 agent"), ("hostB", "Quark L2 agent"), ("hostA", "L3 agent")]
    if nova is not None:
        md_agent = k.Process(
            [k.QUARK, "metadata-agent", "--host", "hostA", "--api-url", dp.api_url], "metadata-agent", dp.agent_env
        ).start()
        dp.procs.append(md_agent)
        alive.append(("hostA", "Metadata agent"))
    dp.wait_agents_alive(*alive)
    dp.start_dhcp()
    dp.wait_agents_alive(("hostA", "DHCP agent"))

    # --- the internet: host A's physnet1 NIC's other end -------------------------------
    inet = dp.spaces.add("inet")
    k.run("ip", "-n", dp.host_ns["hostA"], "link", "set", PHYS_IFACE + "p", "netns", inet)
    k.run("ip", "-n", inet, "addr", "add", f"{INTERNET}/24", "dev", PHYS_IFACE + "p")
    k.run("ip", "-n", inet, "link", "set", PHYS_IFACE + "p", "up")
    web = http_server(dp, inet, "internet", INTERNET)
    ext = dp.post(
        "/v2.0/networks",
        {
            "network": {
                "name": dp.spaces.tag + "ext",
                "router:external": True,
                "provider:network_type": "flat",
                "provider:physical_network": "physnet1",
            }
        },
    )["network"]
    dp.post(
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": ext["id"],
                "ip_version": 4,
                "cidr": "10.79.0.0/24",
                "gateway_ip": INTERNET,
                "enable_dhcp": False,
            }
        },
    )
    net1, sub1 = dp.network("p1", cidr="10.81.0.0/24", gateway="10.81.0.1")
    net2, sub2 = dp.network("p2", cidr="10.82.0.0/24", gateway="10.82.0.1")
    web_group = open_group(dp)
    p1, vm1 = vm(dp, net1, "hostB", "vm1", web_group)
    p2, vm2 = vm(dp, net2, "hostB", "vm2", web_group)
    p3, vm3 = vm(dp, net1, "hostA", "vm3", web_group)

    # --- the router: VM <-> VM across it, VM -> internet by SNAT ------------------------
    pinger = Pinger(dp, vm1, INTERNET)  # running before the router exists: its start is not timed
    t0 = time.time()
    router = dp.post(
        "/v2.0/routers", {"router": {"name": dp.spaces.tag + "r", "external_gateway_info": {"network_id": ext["id"]}}}
    )["router"]
    for sub in (sub1, sub2):
        dp.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    agent_a = dp.agents["hostA"]
    t.router_to_reachable.append(pinger.wait(t0))
    pinger.proc.stop(9)
    gw_address = dp.get(f"/v2.0/routers/{router['id']}")["router"]["external_gateway_info"]["external_fixed_ips"][0][
        "ip_address"
    ]
    assert "10.81.0.0" not in k.run("ip", "-n", inet, "route").stdout  # no way back but the gateway address
    assert "marker-internet" in fetch(vm1, INTERNET)
    assert f"{gw_address} - -" in web.log_text(), web.log_text()[-500:]  # the internet saw the gateway address
    k.wait_for(lambda: "marker-vm2" in fetch(vm1, ip_of(p2)), 10, what="vm1 -> vm2 through the router", proc=agent_a)
    k.wait_for(lambda: "marker-vm1" in fetch(vm2, ip_of(p1)), 10, what="vm2 -> vm1 through the router", proc=agent_a)
    k.wait_for(
        lambda: dp.get(f"/v2.0/routers/{router['id']}")["router"]["status"] == "ACTIVE", 10, what="router ACTIVE"
    )
    ports = dp.get("/v2.0/ports", device_id=router["id"])["ports"]
    assert len(ports) == 3 and all(p["binding:host_id"] == "hostA" for p in ports), ports
    k.wait_for(lambda: all(dp.port_status(p["id"]) == "ACTIVE" for p in ports), 10, what="router ports ACTIVE")
    if nova is not None:  # each VM its own metadata, through the router's proxy
        for port, ns in ((p1, vm1), (p2, vm2)):
            nova.instances[port["device_id"]] = {"uuid": port["device_id"], "name": ns}
            got = k.wait_for(lambda ns=ns: metadata_of(ns), 15, what=f"metadata of {ns}", proc=agent_a)
            assert got == nova.instances[port["device_id"]], got
            assert nova.requests[-1]["x-forwarded-for"] == ip_of(port), nova.requests[-1]

    # --- a floating IP: the internet reaches vm1, then vm3 ------------------------------
    fip = dp.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": ext["id"]}})["floatingip"]
    address = fip["floating_ip_address"]
    probe = Probe(dp, inet, address)  # probing before the association: its own start is not timed
    k.wait_for(lambda: probe.answered_by("-", 0), 30, 0.05, what="the probe running", proc=probe.proc)
    t0 = time.time()
    dp.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": p1["id"]}})
    t.associate_to_reachable.append(probe.wait("vm1", t0))
    k.wait_for(lambda: fip_status(dp, fip) == "ACTIVE", 10, what="floating IP ACTIVE")
    t0 = time.time()
    dp.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": p3["id"]}})
    t.move_to_reachable.append(probe.wait("vm3", t0))
    k.wait_for(lambda: fip_status(dp, fip) == "ACTIVE", 10, what="floating IP ACTIVE again")

    # --- port forwardings: one floating address, TCP 2222 -> vm1:8080, 2223 -> vm2:8080 --
    shared = dp.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": ext["id"]}})["floatingip"]
    fwd_probe = Probe(dp, inet, shared["floating_ip_address"], "2222")
    k.wait_for(lambda: fwd_probe.answered_by("-", 0), 30, 0.05, what="the probe running", proc=fwd_probe.proc)
    t0 = time.time()
    forward(dp, shared, p1, "2222")
    t.forwarding_to_reachable.append(fwd_probe.wait("vm1", t0))
    fwd_probe.proc.stop(9)
    forward(dp, shared, p2, "2223")
    k.wait_for(
        lambda: "marker-vm2" in fetch(inet, shared["floating_ip_address"], port="2223"),
        10,
        what="internet -> vm2 by port forwarding",
        proc=agent_a,
    )
    assert "marker-vm1" in fetch(inet, shared["floating_ip_address"], port="2222")
    assert fetch(inet, shared["floating_ip_address"]) == ""  # no forwarding of the port itself
    k.wait_for(lambda: fip_status(dp, shared) == "ACTIVE", 10, what="port forwardings' floating IP ACTIVE")

    # --- host A's agent killed, its router namespace wiped, restarted ------------------
    rns = router_namespace(dp, router["id"])
    assert rns in k.namespaces_with_prefix(dp.spaces.tag)
    agent_a.stop(9)
    k.delete_netns(rns)
    # the kernel tears a deleted namespace's devices down in the background
    k.wait_for(lambda: not pings(vm1, INTERNET), 15, 0.05, what="the router gone with its namespace")
    t0 = time.time()
    agent_a = dp.start_agent("hostA")
    t.restart_to_reachable.append(probe.wait("vm3", t0))
    k.wait_for(lambda: pings(vm1, INTERNET) and pings(vm2, ip_of(p1)), 30, 0.05, what="routing again", proc=agent_a)
    assert "marker-vm2" in fetch(inet, shared["floating_ip_address"], port="2223")  # forwardings rebuilt too
    if nova is not None:  # the proxy left in the wiped namespace is replaced by one in the new
        got = k.wait_for(lambda: metadata_of(vm1), 15, what="metadata after the restart", proc=agent_a)
        assert got["uuid"] == p1["device_id"], got

    # --- the router deleted: its namespace goes ----------------------------------------
    t0 = time.monotonic()
    dp.delete(f"/v2.0/floatingips/{fip['id']}")
    for pf in dp.get(f"/v2.0/floatingips/{shared['id']}/port_forwardings")["port_forwardings"]:
        dp.delete(f"/v2.0/floatingips/{shared['id']}/port_forwardings/{pf['id']}")
    dp.delete(f"/v2.0/floatingips/{shared['id']}")
    for sub in (sub1, sub2):
        dp.put(f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    dp.delete(f"/v2.0/routers/{router['id']}")
    k.wait_for(lambda: rns not in k.namespaces_with_prefix(dp.spaces.tag), 15, 0.05, what="namespace gone")
    t.delete_to_gone.append(time.monotonic() - t0)
    if nova is not None:
        spec = ProxySpec(
            rns,
            dp.agent_env["QUARK_AGENT_METADATA_PROXY_SOCKET"],
            Path(dp.agent_env["QUARK_AGENT_L3_STATE_DIR"]) / router["id"],
            router_id=router["id"],
        )
        assert running_pid(spec) is None
    assert not pings(vm1, INTERNET)
    for proc in dp.agents.values():
        assert proc.alive(), proc.describe()
    return t


def forward(dp: Dataplane, fip: dict[str, Any], port: dict[str, Any], external: str) -> dict[str, Any]:
    """A TCP port forwarding of ``fip``'s ``external`` port to ``port``'s HTTP port."""
    body = {
        "protocol": "tcp",
        "external_port": int(external),
        "internal_port": int(HTTP_PORT),
        "internal_port_id": port["id"],
        "internal_ip_address": ip_of(port),
    }
    return dict(
        dp.post(f"/v2.0/floatingips/{fip['id']}/port_forwardings", {"port_forwarding": body})["port_forwarding"]
    )


def fip_status(dp: Dataplane, fip: dict[str, Any]) -> str:
    return str(dp.get(f"/v2.0/floatingips/{fip['id']}")["floatingip"]["status"])


# agent_down_time of the failover tests' servers (tests/dataplane/conftest.py's l3_failover_server)
FAILOVER_DOWN_TIME = 6


@contextmanager
def failover_server(tmp_path: Path, down_time: int = FAILOVER_DOWN_TIME) -> Iterator[RunningServer]:
    """A server on its own SQLite database whose agents are dead ``down_time`` s
    after their last report, checking for routers of dead L3 agents every second."""
    k.require_tools("dnsmasq", "dhclient", "ping", "nft")
    url = f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"
    migrate.upgrade(url)
    env = {"QUARK_AGENT_DOWN_TIME": str(down_time), "QUARK_IPAM_REUSE_AFTER": "0", "QUARK_L3_RESCHEDULE_INTERVAL": "1"}
    with quark_server(url, env=env) as srv:
        yield srv


def two_l3_hosts(dp: Dataplane) -> None:
    """Hosts A and B, both running the L2 and L3 parts, alive, and the DHCP service on host A."""
    dp.l3_hosts = {"hostA", "hostB"}
    dp.build_hosts()
    dp.start_agent("hostA")
    dp.start_agent("hostB")
    l3 = [("hostA", "L3 agent"), ("hostB", "L3 agent")]
    dp.wait_agents_alive(("hostA", "Quark L2 agent"), ("hostB", "Quark L2 agent"), *l3)
    dp.start_dhcp()
    dp.wait_agents_alive(("hostA", "DHCP agent"))


def kill_host_a(dp: Dataplane, router_namespace: str) -> float:
    """Host A dies: no agent, no DHCP service, no underlay, and its router
    namespace gone with it; when it died (``time.monotonic``)."""
    dp.agents["hostA"].stop(signal.SIGKILL)
    assert dp.dhcp is not None
    dp.dhcp.stop(signal.SIGKILL)
    k.run("ip", "-n", dp.host_ns["hostA"], "link", "set", "ulA", "down")
    k.delete_netns(router_namespace)
    return time.monotonic()


def wait_through_host_b(dp: Dataplane, vm1: str, p1: dict, vm2: str, p2: dict) -> None:
    """Until the two VMs reach each other (through the router, now on host B)."""
    k.wait_for(
        lambda: "marker-vm2" in fetch(vm1, ip_of(p2)) and "marker-vm1" in fetch(vm2, ip_of(p1)),
        30,
        0.2,
        what="vm1 <-> vm2 through host B",
        proc=dp.agents["hostB"],
    )
