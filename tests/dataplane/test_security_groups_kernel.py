"""Security groups enforced on a host (docs/security_groups_enforcement.md),
against a real `quark serve` and a real `quark agent` in a host namespace: two
VMs on one bridge; a group allowing only TCP 22 lets TCP 22 in and drops
ICMP; a rule added or deleted through the API changes the traffic within
about a second; a forged source address is dropped, unless it is an allowed
address pair; port_security_enabled=false lets everything through."""

from __future__ import annotations

import time

import pytest

from quark import names
from quark.db import migrate
from tests.dataplane import kernel as k
from tests.dataplane.scenario import Dataplane, ip_of
from tests.servers import quark_server

# How soon a change made through the API must show in the traffic (measured from
# the API's answer to the first probe that obeys it; printed, about half a second).
EFFECTIVE_WITHIN = 3.0
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


@pytest.fixture
def server(root, tmp_path):
    k.require_tools("ping", "nft")
    url = f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"
    migrate.upgrade(url)
    with quark_server(url, env={"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0"}) as srv:
        yield srv


def pings(ns: str, ip: str, *src: str) -> bool:
    return k.in_ns(ns, "ping", "-c", "1", "-W", "0.4", "-q", *src, ip, check=False).returncode == 0


def connects(ns: str, ip: str, port: int = 22) -> bool:
    return k.in_ns(ns, "python3", "-c", CONNECT, ip, str(port), check=False).returncode == 0


def until(check, what: str, timeout: float = EFFECTIVE_WITHIN) -> float:
    """Seconds until ``check()`` holds (fails after ``timeout``)."""
    t0 = time.monotonic()
    k.wait_for(check, timeout, 0.05, what=what)
    return time.monotonic() - t0


def test_groups_rules_spoofing_pairs_and_port_security_on_one_bridge(server, tmp_path):
    dp = Dataplane(server.url, tmp_path)
    try:
        _scenario(dp)
    except BaseException:
        print(dp.logs())
        print(server.log_text()[-4000:])
        raise
    finally:
        dp.close()


def _scenario(dp: Dataplane) -> None:
    dp.build_hosts()
    dp.start_agent("hostA")
    dp.wait_agents_alive(("hostA", "Quark L2 agent"))
    net, _ = dp.network("sg", cidr="10.79.0.0/24", gateway="10.79.0.1", enable_dhcp=False)
    tag = dp.spaces.tag
    ssh = dp.post("/v2.0/security-groups", {"security_group": {"name": f"{tag}ssh"}})["security_group"]
    client = dp.post("/v2.0/security-groups", {"security_group": {"name": f"{tag}client"}})["security_group"]
    rule = {"security_group_id": ssh["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp"}
    dp.post("/v2.0/security-group-rules", {"security_group_rule": {**rule, "port_range_min": 22, "port_range_max": 22}})

    vms = {}
    for name, group in (("srv", ssh), ("cli", client)):
        port = dp.post(
            "/v2.0/ports",
            {"port": {"network_id": net["id"], "device_owner": "compute:nova", "security_groups": [group["id"]]}},
        )["port"]
        bound, _ = dp.bind(port, "hostA")
        assert bound["binding:vif_details"]["port_filter"] is True, bound
        dp.wait_status(port["id"], "ACTIVE", proc=dp.agents["hostA"])
        ns = dp.attach_vm(port, "hostA", name)
        dev = names.vm_name(port["id"])
        k.run("ip", "-n", ns, "addr", "add", f"{ip_of(port)}/24", "dev", dev)
        k.run("ip", "-n", ns, "link", "set", dev, "up")
        vms[name] = (ns, port, dev)
    (srv_ns, srv, _), (cli_ns, cli, cli_dev) = vms["srv"], vms["cli"]
    for ns in (srv_ns, cli_ns):
        dp.procs.append(k.Process(["ip", "netns", "exec", ns, "python3", "-c", LISTENER], "listener").start())

    # Only TCP 22 gets in: ICMP is dropped (and nothing else of the server's is open).
    until(lambda: connects(cli_ns, ip_of(srv)), "TCP 22 through")
    assert not pings(cli_ns, ip_of(srv))
    # The server's egress is open (a new group's rules), but the client's ingress
    # only takes replies: a connection the server opens is dropped.
    assert not connects(srv_ns, ip_of(cli))

    # A rule added through the API lets ICMP in, deleting it drops it again.
    icmp = dp.post("/v2.0/security-group-rules", {"security_group_rule": {**rule, "protocol": "icmp"}})
    added = until(lambda: pings(cli_ns, ip_of(srv)), "ICMP allowed")
    dp.delete(f"/v2.0/security-group-rules/{icmp['security_group_rule']['id']}")
    removed = until(lambda: not pings(cli_ns, ip_of(srv)), "ICMP dropped again")
    print(f"rule change -> effective: add {added * 1000:.0f} ms, delete {removed * 1000:.0f} ms")
    dp.post("/v2.0/security-group-rules", {"security_group_rule": {**rule, "protocol": "icmp"}})
    until(lambda: pings(cli_ns, ip_of(srv)), "ICMP allowed")

    # A forged source address is dropped; as an allowed address pair it passes.
    forged = "10.79.0.250"
    k.run("ip", "-n", cli_ns, "addr", "add", f"{forged}/32", "dev", cli_dev)
    assert not pings(cli_ns, ip_of(srv), "-I", forged)
    assert pings(cli_ns, ip_of(srv))
    dp.put(f"/v2.0/ports/{cli['id']}", {"port": {"allowed_address_pairs": [{"ip_address": forged}]}})
    until(lambda: pings(cli_ns, ip_of(srv), "-I", forged), "address pair allowed")
    # A forged MAC is dropped too.
    k.run("ip", "-n", cli_ns, "link", "set", cli_dev, "address", "fa:16:3e:ee:ee:ee")
    k.run("ip", "-n", srv_ns, "neigh", "flush", "all")
    assert not pings(cli_ns, ip_of(srv))
    k.run("ip", "-n", cli_ns, "link", "set", cli_dev, "address", cli["mac_address"])
    until(lambda: pings(cli_ns, ip_of(srv)), "own MAC again")

    # Port security off on the client's port: everything reaches it, filtered by no group.
    assert not connects(srv_ns, ip_of(cli))
    off = {"security_groups": [], "allowed_address_pairs": [], "port_security_enabled": False}
    dp.put(f"/v2.0/ports/{cli['id']}", {"port": off})
    until(lambda: connects(srv_ns, ip_of(cli)), "unfiltered port reachable")
    assert pings(cli_ns, ip_of(srv), "-I", forged)  # no anti-spoofing on it either
    assert dp.agents["hostA"].alive()
