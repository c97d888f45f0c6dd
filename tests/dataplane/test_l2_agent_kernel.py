"""The L2 agent against a fake API, on the real kernel inside a namespace:
what it creates for vxlan and flat networks, how it repairs devices deleted
from outside, admin state, stale device removal, and ERROR for VLAN here."""

from __future__ import annotations

import time
import uuid

from quark import names
from tests.dataplane import kernel as k


def _port(net: str, mac: str, **extra) -> dict:
    pid = str(uuid.uuid4())
    return {
        "id": pid,
        "network_id": net,
        "mac_address": mac,
        "admin_state_up": True,
        "status": "BUILD",
        "device_owner": "compute:nova",
        "device_id": str(uuid.uuid4()),
        "mtu": 1450,
        "fixed_ips": [],
        "device_name": names.tap_name(pid),
        "vm_device_name": names.vm_name(pid),
        "bridge_name": names.bridge_name(net),
        **extra,
    }


def _vxlan(net: str, vni: int, peers: list[str], mtu: int = 1450) -> dict:
    return {
        "id": net,
        "network_type": "vxlan",
        "physical_network": None,
        "segmentation_id": vni,
        "mtu": mtu,
        "bridge_name": names.bridge_name(net),
        "peers": peers,
    }


def _flat(net: str, physnet: str = "physnet1") -> dict:
    return {
        "id": net,
        "network_type": "flat",
        "physical_network": physnet,
        "segmentation_id": None,
        "mtu": 1500,
        "bridge_name": names.bridge_name(net),
        "peers": [],
    }


def _start_agent(api, procs, host: str, ns: str, *extra: str) -> k.Process:
    proc = k.Process(k.agent_cmd(api.url, host, ns, *extra), f"agent-{host}").start()
    procs.append(proc)
    return proc


def _pushed(api, port_id: str) -> list[str]:
    return [ports[port_id] for _, ports in list(api.status_pushes) if port_id in ports]


def test_vxlan_and_flat_ports_are_plugged_and_reported_active(fake_api, netns, procs):
    ns = netns.add("hostA")
    k.run("ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    vx, flat = str(uuid.uuid4()), str(uuid.uuid4())
    p1, p2 = _port(vx, "fa:16:3e:00:01:01"), _port(flat, "fa:16:3e:00:01:02", mtu=1500)
    fake_api.set_desired("hostA", [p1, p2], [_vxlan(vx, 5001, ["10.9.0.2", "10.9.0.3"]), _flat(flat)])
    agent = _start_agent(fake_api, procs, "hostA", ns, "--tunnel-ip", "10.9.0.1", "--bridge-mappings", "physnet1:eth1")

    k.wait_for(
        lambda: fake_api.status_of(p1["id"]) == "ACTIVE" and fake_api.status_of(p2["id"]) == "ACTIVE",
        20,
        what="both ports ACTIVE",
        proc=agent,
    )
    links = k.links(ns)
    br_vx, br_flat = names.bridge_name(vx), names.bridge_name(flat)
    vxdev = links["vxlan-5001"]
    assert vxdev["linkinfo"]["info_kind"] == "vxlan"
    data = vxdev["linkinfo"]["info_data"]
    assert (data["id"], data["local"], data["port"], data.get("learning")) == (5001, "10.9.0.1", 4789, True)
    assert vxdev["master"] == br_vx and vxdev["mtu"] == 1450
    assert k.flood_entries(ns, "vxlan-5001") == {"10.9.0.2", "10.9.0.3"}
    assert links["eth1"]["master"] == br_flat
    tap, vm = links[p1["device_name"]], links[p1["vm_device_name"]]
    assert tap["master"] == br_vx and "UP" in tap["flags"] and tap["mtu"] == 1450
    assert vm["address"] == "fa:16:3e:00:01:01" and vm["mtu"] == 1450
    assert links[p2["device_name"]]["master"] == br_flat
    # the heartbeat carries the agent's configuration
    report = k.wait_for(lambda: [r for r in fake_api.reports if r["configurations"].get("devices") == 2], 10)[-1]
    assert report["agent_type"] == "Quark L2 agent" and report["binary"] == "quark-agent"
    assert report["configurations"]["tunnel_types"] == ["vxlan"]
    assert report["configurations"]["bridge_mappings"] == {"physnet1": "eth1"}
    assert report["configurations"]["vlan_supported"] is False
    assert fake_api.reports[0]["start_flag"] is True

    # a device deleted from outside: reported DOWN, recreated, ACTIVE again
    k.run("ip", "-n", ns, "link", "del", p1["device_name"])
    k.wait_for(lambda: "DOWN" in _pushed(fake_api, p1["id"]), 5, what="DOWN pushed")
    k.wait_for(lambda: p1["device_name"] in k.links(ns) and fake_api.status_of(p1["id"]) == "ACTIVE", 5)
    # a peer leaves, another joins: flood entries follow
    fake_api.set_desired("hostA", [p1, p2], [_vxlan(vx, 5001, ["10.9.0.3", "10.9.0.4"]), _flat(flat)])
    k.wait_for(lambda: k.flood_entries(ns, "vxlan-5001") == {"10.9.0.3", "10.9.0.4"}, 5, what="flood entries")
    # admin_state_up=false brings the device down and the port DOWN
    fake_api.set_desired(
        "hostA", [{**p1, "admin_state_up": False}, p2], [_vxlan(vx, 5001, ["10.9.0.3", "10.9.0.4"]), _flat(flat)]
    )
    k.wait_for(lambda: "UP" not in k.links(ns)[p1["device_name"]]["flags"], 5, what="tap down")
    k.wait_for(lambda: fake_api.status_of(p1["id"]) == "DOWN", 5)
    # unbound: everything of that network goes; the flat port stays
    fake_api.set_desired("hostA", [p2], [_flat(flat)])
    k.wait_for(lambda: not {p1["device_name"], br_vx, "vxlan-5001"} & set(k.links(ns)), 5, what="vxlan gone")
    assert br_flat in k.links(ns) and "eth1" in k.links(ns)
    assert agent.alive(), agent.log_text()[-3000:]


def test_restart_recreates_from_api_then_removes_only_stale_owned_devices(fake_api, netns, procs):
    ns = netns.add("hostA")
    net = str(uuid.uuid4())
    p1 = _port(net, "fa:16:3e:00:02:01")
    fake_api.set_desired("hostA", [p1], [_vxlan(net, 6001, [])])
    # leftovers: an owned stale pair and bridge, and foreign devices that look alike
    stale = str(uuid.uuid4())
    k.run("ip", "-n", ns, "link", "add", names.tap_name(stale), "type", "veth", "peer", "name", names.vm_name(stale))
    k.run("ip", "-n", ns, "link", "add", names.bridge_name(stale), "type", "bridge")
    k.run("ip", "-n", ns, "link", "add", "vmbr0", "type", "bridge")
    k.run("ip", "-n", ns, "link", "add", "tapx", "type", "veth", "peer", "name", "vmx")
    _start_agent(fake_api, procs, "hostA", ns, "--tunnel-ip", "10.9.0.1")
    k.wait_for(lambda: fake_api.status_of(p1["id"]) == "ACTIVE", 20, what="ACTIVE")
    k.wait_for(
        lambda: not {names.tap_name(stale), names.vm_name(stale), names.bridge_name(stale)} & set(k.links(ns)),
        5,
        what="stale devices removed",
    )
    assert {"vmbr0", "tapx", "vmx"} <= set(k.links(ns))


def test_agent_killed_devices_deleted_restart_restores_everything(fake_api, netns, procs):
    ns = netns.add("hostB")
    net = str(uuid.uuid4())
    p1 = _port(net, "fa:16:3e:00:03:01")
    fake_api.set_desired("hostB", [p1], [_vxlan(net, 7001, ["10.9.0.1"])])
    agent = _start_agent(fake_api, procs, "hostB", ns, "--tunnel-ip", "10.9.0.2")
    k.wait_for(lambda: fake_api.status_of(p1["id"]) == "ACTIVE", 20)
    agent.stop(9)
    for dev in (p1["device_name"], "vxlan-7001", names.bridge_name(net)):
        k.run("ip", "-n", ns, "link", "del", dev)
    _start_agent(fake_api, procs, "hostB", ns, "--tunnel-ip", "10.9.0.2")
    k.wait_for(lambda: {p1["device_name"], "vxlan-7001", names.bridge_name(net)} <= set(k.links(ns)), 20)
    k.wait_for(lambda: k.flood_entries(ns, "vxlan-7001") == {"10.9.0.1"}, 5)
    k.wait_for(lambda: fake_api.status_of(p1["id"]) == "ACTIVE", 5)


def test_vlan_network_is_a_clear_error_without_8021q(fake_api, netns, procs):
    ns = netns.add("hostA")
    k.run("ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    net = str(uuid.uuid4())
    p1 = _port(net, "fa:16:3e:00:04:01")
    fake_api.set_desired("hostA", [p1], [{**_flat(net), "network_type": "vlan", "segmentation_id": 100}])
    agent = _start_agent(fake_api, procs, "hostA", ns, "--bridge-mappings", "physnet1:eth1")
    k.wait_for(lambda: fake_api.status_of(p1["id"]) == "ERROR", 20, what="ERROR")
    assert "8021q" in agent.log_text()
    assert p1["device_name"] not in k.links(ns)


def test_two_hosts_vxlan_over_a_veth_underlay_carry_vm_traffic(fake_api, netns, procs):
    k.require_tools("ping")
    a, b = netns.add("hostA"), netns.add("hostB")
    k.run("ip", "link", "add", "ulA", "netns", a, "type", "veth", "peer", "name", "ulB", "netns", b)
    for ns, dev, ip in ((a, "ulA", "10.201.0.1"), (b, "ulB", "10.201.0.2")):
        k.run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
        k.run("ip", "-n", ns, "link", "set", dev, "up")
    net = str(uuid.uuid4())
    pa, pb = _port(net, "fa:16:3e:00:07:01"), _port(net, "fa:16:3e:00:07:02")
    fake_api.set_desired("hostA", [pa], [_vxlan(net, 9001, ["10.201.0.2"])])
    fake_api.set_desired("hostB", [pb], [_vxlan(net, 9001, ["10.201.0.1"])])
    agent_a = _start_agent(fake_api, procs, "hostA", a, "--tunnel-ip", "10.201.0.1")
    agent_b = _start_agent(fake_api, procs, "hostB", b, "--tunnel-ip", "10.201.0.2")
    k.wait_for(lambda: fake_api.status_of(pa["id"]) == "ACTIVE", 20, proc=agent_a)
    k.wait_for(lambda: fake_api.status_of(pb["id"]) == "ACTIVE", 20, proc=agent_b)
    vms = {}
    for host_ns, port, ip in ((a, pa, "10.202.0.1"), (b, pb, "10.202.0.2")):
        vm = netns.add("vm" + ip.rsplit(".", 1)[1])
        k.run("ip", "-n", host_ns, "link", "set", port["vm_device_name"], "netns", vm)
        k.run("ip", "-n", vm, "addr", "add", f"{ip}/24", "dev", port["vm_device_name"])
        k.run("ip", "-n", vm, "link", "set", port["vm_device_name"], "up")
        vms[ip] = vm
    k.in_ns(vms["10.202.0.1"], "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.202.0.2")
    # the VM ends left the hosts: the agents keep the ports ACTIVE and leave them alone
    time.sleep(1)
    assert fake_api.status_of(pa["id"]) == "ACTIVE" and fake_api.status_of(pb["id"]) == "ACTIVE"
    k.in_ns(vms["10.202.0.2"], "ping", "-c", "1", "-W", "2", "10.202.0.1")
