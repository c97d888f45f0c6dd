"""The end-to-end dataplane scenario of issue 5, shared by the test
(tests/dataplane/test_e2e.py) and the benchmark (bench/e2e_dataplane.py).

Two "hosts" are network namespaces joined by a veth underlay (10.200.0.1 and
10.200.0.2, only inside those namespaces); each runs a real ``quark agent
--netns``; host A also runs ``quark dhcp``. The Quark API server stays in the
root namespace on 127.0.0.1. "VMs" are further namespaces into which a
port's ``vm…`` device is moved, and which run a real DHCP client.

Everything the scenario makes is named with one unique tag and removed by
``close()`` (namespaces, the processes inside them, agents, files).
"""

from __future__ import annotations

import shutil
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from quark import names
from quark.agent import dnsmasq
from tests.dataplane import kernel as k

UNDERLAY_A, UNDERLAY_B = "10.200.0.1", "10.200.0.2"
PHYS_IFACE = "physA"


@dataclass
class Timings:
    bind_to_active: list[float] = field(default_factory=list)
    create_to_dhcp_entry: list[float] = field(default_factory=list)
    delete_to_device_gone: list[float] = field(default_factory=list)
    delete_to_entry_gone: list[float] = field(default_factory=list)
    restart_to_active: list[float] = field(default_factory=list)
    delete_call: list[float] = field(default_factory=list)

    @staticmethod
    def summary(values: list[float]) -> str:
        if not values:
            return "n/a"
        return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms (n={len(values)})"


class Dataplane:
    def __init__(self, api_url: str, workdir: Path, *, token: str = "", agent_env: dict[str, str] | None = None):
        """``token``: the scenario's admin token on a Keystone-authenticated server, and
        ``agent_env`` the agents' credentials there (QUARK_AGENT_CLOUD, OS_CLIENT_CONFIG_FILE)."""
        self.api = httpx.Client(base_url=api_url, timeout=30, headers={"X-Auth-Token": token} if token else None)
        self.agent_env = agent_env or {}
        self.api_url = api_url
        self.workdir = workdir
        self.spaces = k.Namespaces()
        self.procs: list[k.Process] = []
        self.agents: dict[str, k.Process] = {}
        self.host_ns: dict[str, str] = {}
        self.state_dir = k.state_dir()
        self.dhcp: k.Process | None = None
        self.timings = Timings()
        # Hosts whose agent also runs the L3 part (tests/dataplane/l3_scenario.py).
        self.l3_hosts: set[str] = set()
        # host -> what its router namespaces add to the tag: the simulated hosts share one
        # kernel, so two hosts holding one router (an HA router's active and standby) need
        # namespace names of their own.
        self.l3_prefixes: dict[str, str] = {}

    # --- set-up ------------------------------------------------------------------

    def build_hosts(self) -> None:
        a, b = self.spaces.add("hostA"), self.spaces.add("hostB")
        self.host_ns = {"hostA": a, "hostB": b}
        k.run("ip", "link", "add", "ulA", "netns", a, "type", "veth", "peer", "name", "ulB", "netns", b)
        for ns, dev, ip in ((a, "ulA", UNDERLAY_A), (b, "ulB", UNDERLAY_B)):
            k.run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            k.run("ip", "-n", ns, "link", "set", dev, "up")
        # host A's "physical" NIC of physnet1 (a veth whose other end stays unused)
        k.run("ip", "-n", a, "link", "add", PHYS_IFACE, "type", "veth", "peer", "name", PHYS_IFACE + "p")
        k.run("ip", "-n", a, "link", "set", PHYS_IFACE + "p", "up")

    def start_agent(self, host: str) -> k.Process:
        extra = ["--tunnel-ip", UNDERLAY_A if host == "hostA" else UNDERLAY_B]
        if host == "hostA":
            extra += ["--bridge-mappings", f"physnet1:{PHYS_IFACE}"]
        if host in self.l3_hosts:
            extra += ["--l3", "--namespace-prefix", self.spaces.tag + self.l3_prefixes.get(host, "")]
        proc = k.Process(
            k.agent_cmd(self.api_url, host, self.host_ns[host], *extra), f"agent-{host}", self.agent_env
        ).start()
        self.procs.append(proc)
        self.agents[host] = proc
        return proc

    def start_dhcp(self) -> k.Process:
        self.dhcp = k.Process(
            k.dhcp_cmd(self.api_url, "hostA", self.host_ns["hostA"], self.spaces.tag, str(self.state_dir)),
            "dhcp-hostA",
            self.agent_env,
        ).start()
        self.procs.append(self.dhcp)
        return self.dhcp

    def wait_agents_alive(self, *wanted: tuple[str, str], timeout: float = 30) -> None:
        def alive() -> bool:
            agents = self.get("/v2.0/agents")["agents"]
            seen = {(a["host"], a["agent_type"]) for a in agents if a.get("alive")}
            return set(wanted) <= seen

        k.wait_for(alive, timeout, 0.1, what=f"agents alive: {wanted}", proc=self.agents.get("hostA"))

    # --- API ---------------------------------------------------------------------

    def _check(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 300:
            raise AssertionError(f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self._check(self.api.get(path, params=params))

    def post(self, path: str, body: dict) -> Any:
        return self._check(self.api.post(path, json=body))

    def put(self, path: str, body: dict) -> Any:
        return self._check(self.api.put(path, json=body))

    def delete(self, path: str) -> None:
        self._check(self.api.delete(path))

    def network(self, name: str, *, cidr: str, gateway: str, flat: bool = False, **subnet: Any) -> tuple[dict, dict]:
        body: dict[str, Any] = {"name": f"{self.spaces.tag}{name}"}
        if flat:
            body.update({"provider:network_type": "flat", "provider:physical_network": "physnet1"})
        else:
            body["provider:network_type"] = "vxlan"
        net = self.post("/v2.0/networks", {"network": body})["network"]
        sub = self.post(
            "/v2.0/subnets",
            {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": cidr, "gateway_ip": gateway, **subnet}},
        )["subnet"]
        return net, sub

    def create_port(self, net: dict) -> tuple[dict, float]:
        t0 = time.monotonic()
        port = self.post(
            "/v2.0/ports",
            {"port": {"network_id": net["id"], "device_owner": "compute:nova", "device_id": str(uuid.uuid4())}},
        )["port"]
        return port, t0

    def bind(self, port: dict, host: str) -> tuple[dict, float]:
        t0 = time.monotonic()
        bound = self.put(f"/v2.0/ports/{port['id']}", {"port": {"binding:host_id": host}})["port"]
        return bound, t0

    def port_status(self, port_id: str) -> str:
        return self.get(f"/v2.0/ports/{port_id}")["port"]["status"]

    def wait_status(self, port_id: str, status: str, timeout: float = 30, proc: k.Process | None = None) -> float:
        k.wait_for(
            lambda: self.port_status(port_id) == status, timeout, 0.02, what=f"port {port_id} {status}", proc=proc
        )
        return time.monotonic()

    # --- DHCP --------------------------------------------------------------------

    def dhcp_paths(self, network_id: str) -> dnsmasq.Paths:
        return dnsmasq.Paths(self.state_dir / network_id)

    def hosts_entries(self, network_id: str) -> str:
        try:
            return self.dhcp_paths(network_id).hosts.read_text()
        except FileNotFoundError:
            return ""

    def has_entry(self, network_id: str, port: dict) -> bool:
        text = self.hosts_entries(network_id).lower()
        return any(line.startswith(port["mac_address"].lower() + ",") for line in text.splitlines())

    # --- VMs ---------------------------------------------------------------------

    def attach_vm(self, port: dict, host: str, name: str) -> str:
        """Move the port's vm… device from the host into a fresh VM namespace."""
        vm_ns = self.spaces.tag + name
        if not Path("/run/netns", vm_ns).exists():
            self.spaces.add(name)
        dev = names.vm_name(port["id"])
        k.wait_for(lambda: dev in k.links(self.host_ns[host]), 15, what=f"{dev} on {host}", proc=self.agents.get(host))
        k.run("ip", "-n", self.host_ns[host], "link", "set", dev, "netns", vm_ns)
        return vm_ns

    def dhcp_client(self, vm_ns: str, port: dict) -> dict[str, str]:
        dev = names.vm_name(port["id"])
        k.run("ip", "-n", vm_ns, "addr", "flush", "dev", dev)
        return k.dhcp_client(vm_ns, dev, self.workdir / vm_ns)

    # --- tear-down ---------------------------------------------------------------

    def close(self) -> None:
        try:
            for proc in self.procs:
                proc.stop(9)
        finally:  # the namespaces go even if a process would not die
            self.spaces.cleanup()  # kills dnsmasq and DHCP clients inside the namespaces
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.api.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.args[1]} {p.args[3]}\n{p.log_text()[-3000:]}" for p in self.procs)


def ip_of(port: dict) -> str:
    return port["fixed_ips"][0]["ip_address"]


def run_scenario(dp: Dataplane, *, extra_ports: int = 0, check: bool = True) -> Timings:
    """The whole issue-5 scenario; asserts as it goes; returns the timings."""
    t = dp.timings
    dp.build_hosts()
    dp.start_agent("hostA")
    dp.start_agent("hostB")
    dp.wait_agents_alive(("hostA", "Quark L2 agent"), ("hostB", "Quark L2 agent"))
    # the DHCP ports are bound to host A: its L2 agent must be known first
    dp.start_dhcp()
    dp.wait_agents_alive(("hostA", "DHCP agent"))

    # --- VXLAN network across both hosts ------------------------------------------
    net, sub = dp.network(
        "vx",
        cidr="10.77.0.0/24",
        gateway="10.77.0.1",
        dns_nameservers=["10.77.0.53"],
        host_routes=[{"destination": "10.88.0.0/24", "nexthop": "10.77.0.254"}],
    )
    p1, c1 = dp.create_port(net)
    p2, c2 = dp.create_port(net)
    for port, created in ((p1, c1), (p2, c2)):
        k.wait_for(lambda port=port: dp.has_entry(net["id"], port), 15, 0.01, what="DHCP entry", proc=dp.dhcp)
        t.create_to_dhcp_entry.append(time.monotonic() - created)
    for port, host in ((p1, "hostA"), (p2, "hostB")):
        bound, t0 = dp.bind(port, host)
        assert bound["binding:vif_type"] == "bridge", bound
        assert bound["binding:vif_details"]["bridge_name"] == names.bridge_name(net["id"])
        assert bound["binding:vif_details"]["device_name"] == names.tap_name(port["id"])
        assert bound["status"] in ("BUILD", "ACTIVE"), bound
        t.bind_to_active.append(dp.wait_status(port["id"], "ACTIVE", proc=dp.agents[host]) - t0)

    vm_a = dp.attach_vm(p1, "hostA", "vmA")
    vm_b = dp.attach_vm(p2, "hostB", "vmB")
    env_a = dp.dhcp_client(vm_a, p1)
    env_b = dp.dhcp_client(vm_b, p2)
    assert env_a["new_ip_address"] == ip_of(p1), env_a
    assert env_b["new_ip_address"] == ip_of(p2), env_b
    assert env_a["new_routers"] == "10.77.0.1" and env_a["new_domain_name_servers"] == "10.77.0.53"
    assert env_b["new_interface_mtu"] == str(net["mtu"]), (env_b, net)
    k.in_ns(vm_a, "ping", "-c", "3", "-i", "0.2", "-W", "2", ip_of(p2))
    k.in_ns(vm_b, "ping", "-c", "3", "-i", "0.2", "-W", "2", ip_of(p1))

    # more ports for the timings (bind on alternating hosts, no VM)
    for i in range(extra_ports):
        port, created = dp.create_port(net)
        k.wait_for(lambda port=port: dp.has_entry(net["id"], port), 15, 0.01, what="DHCP entry", proc=dp.dhcp)
        t.create_to_dhcp_entry.append(time.monotonic() - created)
        host = "hostA" if i % 2 == 0 else "hostB"
        _, t0 = dp.bind(port, host)
        t.bind_to_active.append(dp.wait_status(port["id"], "ACTIVE", proc=dp.agents[host]) - t0)

    # --- a flat network on host A -------------------------------------------------
    fnet, fsub = dp.network("flat", cidr="10.78.0.0/24", gateway="10.78.0.1", flat=True)
    p3, c3 = dp.create_port(fnet)
    bound, t0 = dp.bind(p3, "hostA")
    assert bound["binding:vif_type"] == "bridge", bound
    t.bind_to_active.append(dp.wait_status(p3["id"], "ACTIVE", proc=dp.agents["hostA"]) - t0)
    k.wait_for(lambda: dp.has_entry(fnet["id"], p3), 15, 0.01, what="flat DHCP entry", proc=dp.dhcp)
    assert k.links(dp.host_ns["hostA"])[PHYS_IFACE]["master"] == names.bridge_name(fnet["id"])
    vm_c = dp.attach_vm(p3, "hostA", "vmC")
    env_c = dp.dhcp_client(vm_c, p3)
    assert env_c["new_ip_address"] == ip_of(p3), env_c
    assert env_c["new_routers"] == "10.78.0.1"

    # --- agent B killed, its devices deleted, agent B restarted -------------------
    b = dp.host_ns["hostB"]
    vxlan_dev = names.vxlan_name(net["provider:segmentation_id"])
    devices_b = [names.tap_name(p2["id"]), vxlan_dev, names.bridge_name(net["id"])]
    dp.agents["hostB"].stop(9)
    for dev in devices_b:
        k.run("ip", "-n", b, "link", "del", dev)
    assert not set(devices_b) & set(k.links(b))
    t0 = time.monotonic()
    dp.start_agent("hostB")
    k.wait_for(lambda: set(devices_b) <= set(k.links(b)), 30, what="host B devices back", proc=dp.agents["hostB"])
    k.wait_for(lambda: k.flood_entries(b, vxlan_dev) == {UNDERLAY_A}, 10, what="flood entry back")
    dp.wait_status(p2["id"], "ACTIVE", proc=dp.agents["hostB"])
    t.restart_to_active.append(time.monotonic() - t0)
    # and the VM on B works again once plugged back in
    vm_b = dp.attach_vm(p2, "hostB", "vmB")
    env_b = dp.dhcp_client(vm_b, p2)
    assert env_b["new_ip_address"] == ip_of(p2)
    k.in_ns(vm_b, "ping", "-c", "2", "-i", "0.2", "-W", "2", ip_of(p1))

    # --- delete a port: its device and its DHCP entry disappear --------------------
    a = dp.host_ns["hostA"]
    tap1 = names.tap_name(p1["id"])
    assert tap1 in k.links(a) and dp.has_entry(net["id"], p1)
    t0 = time.monotonic()
    dp.delete(f"/v2.0/ports/{p1['id']}")
    t.delete_call.append(time.monotonic() - t0)
    k.wait_for(lambda: tap1 not in k.links(a), 15, 0.01, what="device gone", proc=dp.agents["hostA"])
    t.delete_to_device_gone.append(time.monotonic() - t0)
    k.wait_for(lambda: not dp.has_entry(net["id"], p1), 15, 0.01, what="DHCP entry gone", proc=dp.dhcp)
    t.delete_to_entry_gone.append(time.monotonic() - t0)
    for proc in (*dp.agents.values(), dp.dhcp):
        assert proc is not None and proc.alive(), proc.describe() if proc else "no DHCP service"
    return t
