"""Metadata for instances on the real kernel: the DHCP service (with
isolated metadata) runs a metadata proxy in the network's namespace, the
host's ``quark metadata-agent`` looks the port up through a fake API and
signs, and a stand-in for Nova's metadata API checks the signature. VMs get
their address and the 169.254.169.254 route by DHCP and their own metadata
by HTTP, whatever headers they send."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from quark import names
from quark.agent import dnsmasq
from quark.agent.metadata.spawn import ProxySpec, ensure_proxy, running_pid, stop_proxy
from tests.dataplane import kernel as k
from tests.dataplane.nova_metadata import NovaMetadata
from tests.dataplane.test_dhcp_kernel import _host, _subnet
from tests.dataplane.test_l2_agent_kernel import _port, _start_agent, _vxlan

SECRET = "quark-metadata-test-secret"
MD = "http://169.254.169.254"


@pytest.fixture
def nova():
    server = NovaMetadata(SECRET).start()
    try:
        yield server
    finally:
        server.stop()


def _metadata_agent(api_url: str, socket: Path, nova_url: str, secret: str) -> k.Process:
    env = {
        "QUARK_AGENT_METADATA_PROXY_SOCKET": str(socket),
        "QUARK_AGENT_METADATA_PROXY_SHARED_SECRET": secret,
        "QUARK_AGENT_NOVA_METADATA_URL": nova_url,
        "QUARK_AGENT_REPORT_INTERVAL": "1",
    }
    cmd = [k.QUARK, "metadata-agent", "--host", "hostA", "--api-url", api_url, "--log-level", "debug"]
    return k.Process(cmd, "metadata-agent", env).start()


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _curl(vm_ns: str, path: str, *args: str) -> tuple[int, str]:
    out = k.in_ns(vm_ns, "curl", "-s", "-m", "5", "-w", "\n%{http_code}", *args, MD + path, check=False).stdout
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


def test_instances_get_their_own_signed_metadata(fake_api, netns, procs, tmp_path, dhcp_state_dir, nova):
    k.require_tools("dnsmasq", "dhclient", "curl")
    host_ns = netns.add("hostA")
    net = str(uuid.uuid4())
    subnet = _subnet(net, "10.52.0.0/24", "10.52.0.1")
    dport = {**_port(net, "fa:16:3e:00:07:02"), "device_owner": "network:dhcp", "device_id": f"dhcp-{net}"}
    vms = {
        "vm1": {**_port(net, "fa:16:3e:00:07:03"), "project_id": "proj-1"},
        "vm2": {**_port(net, "fa:16:3e:00:07:04"), "project_id": "proj-2"},
    }
    ips = {"vm1": "10.52.0.10", "vm2": "10.52.0.11"}
    for name, port in vms.items():
        port["fixed_ips"] = [{"subnet_id": subnet["id"], "ip_address": ips[name]}]
        nova.instances[port["device_id"]] = {"uuid": port["device_id"], "name": name}
    network = _vxlan(net, 8201, [])
    fake_api.set_desired("hostA", [dport, *vms.values()], [network])
    fake_api.set_ports(list(vms.values()))
    dhcp_doc = {
        **network,
        "dhcp_port": {
            "id": dport["id"],
            "mac_address": dport["mac_address"],
            "device_name": dport["device_name"],
            "vm_device_name": dport["vm_device_name"],
            "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "10.52.0.2"}],
        },
        "subnets": [subnet],
        "hosts": [_host(vms[n], subnet, ips[n]) for n in vms],
    }
    fake_api.set_dhcp("hostA", [dhcp_doc])
    sock = tmp_path / "metadata.sock"
    _start_agent(fake_api, procs, "hostA", host_ns, "--tunnel-ip", "10.9.0.1")
    agent = _metadata_agent(fake_api.url, sock, nova.url, SECRET)
    procs.append(agent)
    dhcp_env = {"QUARK_AGENT_ENABLE_ISOLATED_METADATA": "true", "QUARK_AGENT_METADATA_PROXY_SOCKET": str(sock)}
    dhcp = k.Process(k.dhcp_cmd(fake_api.url, "hostA", host_ns, netns.tag, str(dhcp_state_dir)), "dhcp", dhcp_env)
    procs.append(dhcp.start())

    dhcp_ns = names.dhcp_namespace(net, netns.tag)
    spec = ProxySpec(dhcp_ns, str(sock), dhcp_state_dir / net, network_id=net)
    k.wait_for(lambda: running_pid(spec), 20, what="metadata proxy running", proc=dhcp)
    k.wait_for(lambda: dnsmasq.running_pid(dnsmasq.Paths(dhcp_state_dir / net)), 10, what="dnsmasq", proc=dhcp)
    assert sorted(k.addresses(dhcp_ns, dport["vm_device_name"])) == ["10.52.0.2/24", "169.254.169.254/32"]
    k.wait_for(lambda: sock.exists(), 10, what="metadata agent socket", proc=agent)
    assert sock.stat().st_mode & 0o777 == 0o600

    vm_ns = {}
    for name, port in vms.items():
        k.wait_for(lambda port=port: fake_api.status_of(port["id"]) == "ACTIVE", 10, proc=dhcp)
        vm_ns[name] = netns.add(name)
        k.run("ip", "-n", host_ns, "link", "set", port["vm_device_name"], "netns", vm_ns[name])
        env = k.dhcp_client(vm_ns[name], port["vm_device_name"], tmp_path / name)
        assert env["new_ip_address"] == ips[name]
        # option 121: 169.254.169.254/32 via the DHCP port, then the default route (RFC 3442)
        assert env["new_rfc3442_classless_static_routes"] == "32 169 254 169 254 10 52 0 2 0 10 52 0 1"
        k.run("ip", "-n", vm_ns[name], "route", "add", "169.254.169.254/32", "via", "10.52.0.2")

    # each VM gets its own metadata, signed as Nova checks it
    for name, port in vms.items():
        assert _curl(vm_ns[name], "/latest/meta-data/instance-id") == (200, port["device_id"]), agent.describe()
        code, body = _curl(vm_ns[name], "/openstack/latest/meta_data.json")
        assert code == 200 and json.loads(body) == {"uuid": port["device_id"], "name": name}
    seen = nova.requests[-1]
    assert seen["x-forwarded-for"] == ips["vm2"] and seen["x-tenant-id"] == "proj-2"
    assert seen["x-instance-id"] == vms["vm2"]["device_id"]

    # latency through proxy and agent (port lookup cached), 20 requests on one curl
    url = MD + "/latest/meta-data/instance-id"
    out = k.in_ns(vm_ns["vm1"], "curl", "-s", "-w", "%{time_total}\n", *["-o", "/dev/null", url] * 20).stdout
    times = sorted(float(t) for t in out.split())
    print(f"metadata request via proxy and agent: median {times[10] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms")
    assert len(times) == 20 and times[10] < 1.0

    # a VM claiming another's address, network or instance in its headers still gets its own
    forged = [
        *("-H", f"X-Forwarded-For: {ips['vm2']}"),
        *("-H", f"X-Instance-ID: {vms['vm2']['device_id']}"),
        *("-H", "X-Quark-Network-ID: " + str(uuid.uuid4())),
        *("-H", "X-Instance-ID-Signature: 00"),
    ]
    assert _curl(vm_ns["vm1"], "/latest/meta-data/instance-id", *forged) == (200, vms["vm1"]["device_id"])
    assert nova.requests[-1]["x-forwarded-for"] == ips["vm1"]
    # an address no port holds (the VM added one itself) gets nothing
    k.run("ip", "-n", vm_ns["vm1"], "addr", "add", "10.52.0.50/24", "dev", vms["vm1"]["vm_device_name"])
    code, _ = _curl(vm_ns["vm1"], "/latest/meta-data/instance-id", "--interface", "10.52.0.50")
    assert code == 404

    # the proxy killed from outside comes back
    pid = running_pid(spec)
    k.run("kill", "-9", str(pid))
    k.wait_for(lambda: running_pid(spec) not in (None, pid), 10, what="metadata proxy restarted", proc=dhcp)
    pid = running_pid(spec)
    k.wait_for(lambda: _curl(vm_ns["vm2"], "/latest/meta-data/instance-id")[0] == 200, 5, 0.1)

    # a metadata agent with the wrong secret: Nova refuses, the VM sees 403
    agent.stop()
    refused = nova.refused
    procs.append(_metadata_agent(fake_api.url, sock, nova.url, "not-the-secret"))
    k.wait_for(lambda: _curl(vm_ns["vm1"], "/latest/meta-data/instance-id")[0] == 403, 10, 0.1, what="403")
    assert nova.refused > refused

    # the network no longer served here: its proxy goes with its namespace
    fake_api.set_dhcp("hostA", [])
    k.wait_for(lambda: not Path("/run/netns", dhcp_ns).exists(), 10, what="namespace removed", proc=dhcp)
    assert running_pid(spec) is None and not _alive(pid)


def test_a_router_namespace_proxy_keyed_by_router(fake_api, netns, procs, tmp_path, nova):
    """The reusable form an L3 agent uses: a proxy keyed by router id in a router
    namespace that carries 169.254.169.254/32 on ``lo``; the VM's default route
    brings its request there; the agent looks the VM up on the router's networks."""
    k.require_tools("curl")
    router_id, net = str(uuid.uuid4()), str(uuid.uuid4())
    vm_port = {
        **_port(net, "fa:16:3e:00:08:03"),
        "project_id": "proj-r",
        "fixed_ips": [{"subnet_id": "s", "ip_address": "10.53.0.10"}],
    }
    interface = {
        **_port(net, "fa:16:3e:00:08:01"),
        "device_id": router_id,
        "device_owner": "network:router_interface",
        "fixed_ips": [{"subnet_id": "s", "ip_address": "10.53.0.1"}],
    }
    fake_api.set_ports([vm_port, interface])
    nova.instances[vm_port["device_id"]] = {"uuid": vm_port["device_id"]}
    router_ns, vm_ns = netns.add("qrouter"), netns.add("vmr")
    k.run("ip", "link", "add", "qr0", "netns", router_ns, "type", "veth", "peer", "name", "eth0", "netns", vm_ns)
    for ns, dev, cidr in ((router_ns, "qr0", "10.53.0.1/24"), (vm_ns, "eth0", "10.53.0.10/24")):
        k.run("ip", "-n", ns, "addr", "add", cidr, "dev", dev)
        k.run("ip", "-n", ns, "link", "set", dev, "up")
    k.run("ip", "-n", router_ns, "addr", "add", "169.254.169.254/32", "dev", "lo")
    k.run("ip", "-n", vm_ns, "route", "add", "default", "via", "10.53.0.1")

    sock = tmp_path / "metadata.sock"
    agent = _metadata_agent(fake_api.url, sock, nova.url, SECRET)
    procs.append(agent)
    spec = ProxySpec(router_ns, str(sock), tmp_path / "router", router_id=router_id)
    pid = asyncio.run(ensure_proxy(spec))
    try:
        assert asyncio.run(ensure_proxy(spec)) == pid  # running with the same command line: kept
        k.wait_for(lambda: sock.exists(), 10, what="metadata agent socket", proc=agent)
        assert _curl(vm_ns, "/latest/meta-data/instance-id") == (200, vm_port["device_id"]), agent.describe()
        assert ("device_id", router_id) in fake_api.port_queries[0]
        assert nova.requests[-1]["x-forwarded-for"] == "10.53.0.10"
    finally:
        stop_proxy(spec)
    assert running_pid(spec) is None and not _alive(pid)
