"""Security groups enforced on a host (docs/security_groups_enforcement.md),
against a real `quark serve` and a real `quark agent` in a host namespace: two
VMs on one bridge; a group allowing only TCP 22 lets TCP 22 in and drops
ICMP; a rule added or deleted through the API changes the traffic within
about a second; a forged source address is dropped, unless it is an allowed
address pair; a restarted agent reloads its tables whole; port_security_enabled=false
lets everything through; a stateless group lets replies in only by its rules."""

from __future__ import annotations

import time

import pytest

from quark.db import migrate
from tests.dataplane import kernel as k
from tests.dataplane.scenario import Dataplane, ip_of
from tests.dataplane.sg_scenario import add_vm, build, connects, icmp_rule_change, pings, until
from tests.servers import quark_server

# How soon a change made through the API must show in the traffic (measured from
# the API's answer to the first probe that obeys it; printed, about half a second;
# bench/sg_enforcement.py has the figures).
EFFECTIVE_WITHIN = 3.0


@pytest.fixture
def server(root, tmp_path):
    k.require_tools("ping", "nft")
    url = f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"
    migrate.upgrade(url)
    with quark_server(url, env={"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0"}) as srv:
        yield srv


def replies(ping: k.Process) -> int:
    return ping.log_text().count(" bytes from ")


def nft_tables(ns: str) -> str:
    """Quark's two tables in the host namespace, as nft lists them ("" if one is missing)."""
    out = [k.in_ns(ns, "nft", "list", "table", fam, "quark_filter", check=False) for fam in ("bridge", "inet")]
    return "".join(r.stdout for r in out) if all(r.returncode == 0 for r in out) else ""


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
    lab = build(dp)
    srv_ns, srv, cli_ns, cli, cli_dev = lab.srv_ns, lab.srv, lab.cli_ns, lab.cli, lab.cli_dev

    # Only TCP 22 gets in: ICMP is dropped (and nothing else of the server's is open).
    until(lambda: connects(cli_ns, ip_of(srv)), "TCP 22 through", EFFECTIVE_WITHIN)
    assert not pings(cli_ns, ip_of(srv))
    # The server's egress is open (a new group's rules), but the client's ingress
    # only takes replies: a connection the server opens is dropped.
    assert not connects(srv_ns, ip_of(cli))

    # A rule added through the API lets ICMP in, deleting it drops it again.
    added, removed = icmp_rule_change(lab, EFFECTIVE_WITHIN)
    print(f"rule change -> effective: add {added * 1000:.0f} ms, delete {removed * 1000:.0f} ms")
    # A flow the deleted rule allowed does not outlive it: one ping running (one
    # conntrack entry) stops getting replies once the rule is gone.
    icmp = lab.add_rule(protocol="icmp")
    until(lambda: pings(cli_ns, ip_of(srv)), "ICMP allowed", EFFECTIVE_WITHIN)
    running = k.Process(["ip", "netns", "exec", cli_ns, "ping", "-i", "0.05", "-c", "100", ip_of(srv)], "ping")
    dp.procs.append(running.start())
    until(lambda: replies(running) >= 5, "a running ping answered", EFFECTIVE_WITHIN)
    lab.delete_rule(icmp["id"])
    time.sleep(1.0)
    stopped = replies(running)
    time.sleep(0.5)
    assert replies(running) == stopped, running.log_text()[-500:]
    running.stop(9)
    lab.add_rule(protocol="icmp")
    until(lambda: pings(cli_ns, ip_of(srv)), "ICMP allowed", EFFECTIVE_WITHIN)

    # A forged source address is dropped; as an allowed address pair it passes.
    forged = "10.79.0.250"
    k.run("ip", "-n", cli_ns, "addr", "add", f"{forged}/32", "dev", cli_dev)
    assert not pings(cli_ns, ip_of(srv), "-I", forged)
    assert pings(cli_ns, ip_of(srv))
    dp.put(f"/v2.0/ports/{cli['id']}", {"port": {"allowed_address_pairs": [{"ip_address": forged}]}})
    until(lambda: pings(cli_ns, ip_of(srv), "-I", forged), "address pair allowed", EFFECTIVE_WITHIN)
    # A forged MAC is dropped too.
    k.run("ip", "-n", cli_ns, "link", "set", cli_dev, "address", "fa:16:3e:ee:ee:ee")
    k.run("ip", "-n", srv_ns, "neigh", "flush", "all")
    assert not pings(cli_ns, ip_of(srv))
    k.run("ip", "-n", cli_ns, "link", "set", cli_dev, "address", cli["mac_address"])
    until(lambda: pings(cli_ns, ip_of(srv)), "own MAC again", EFFECTIVE_WITHIN)

    # The agent killed, its inet table deleted and a stale chain left in the bridge
    # table: restarted, it loads both tables whole from the API, the stale chain gone.
    host = dp.host_ns["hostA"]
    k.run("ip", "-n", cli_ns, "addr", "add", "10.79.0.251/32", "dev", cli_dev)
    dp.agents["hostA"].stop(9)
    k.run("ip", "netns", "exec", host, "nft", "delete", "table", "inet", "quark_filter")
    k.run("ip", "netns", "exec", host, "nft", "add", "chain", "bridge", "quark_filter", "stale_chain")
    dp.start_agent("hostA")
    until(lambda: "egress_" in nft_tables(host) and "stale_chain" not in nft_tables(host), "tables reloaded", 15)
    until(lambda: pings(cli_ns, ip_of(srv)), "ICMP allowed after restart", EFFECTIVE_WITHIN)
    assert not connects(srv_ns, ip_of(cli))
    assert not pings(cli_ns, ip_of(srv), "-I", "10.79.0.251")

    # Port security off on the client's port: everything reaches it, filtered by no group.
    assert not connects(srv_ns, ip_of(cli))
    off = {"security_groups": [], "allowed_address_pairs": [], "port_security_enabled": False}
    dp.put(f"/v2.0/ports/{cli['id']}", {"port": off})
    until(lambda: connects(srv_ns, ip_of(cli)), "unfiltered port reachable", EFFECTIVE_WITHIN)
    assert pings(cli_ns, ip_of(srv), "-I", forged)  # no anti-spoofing on it either

    # A stateless group: what its rules let in gets in, but with no conntrack the
    # replies to the VM's own connections need a rule of their own.
    group = dp.post("/v2.0/security-groups", {"security_group": {"name": f"{dp.spaces.tag}stl", "stateful": False}})
    group_id = group["security_group"]["id"]
    stl_ns, stl = add_vm(dp, srv["network_id"], group_id, "stl")
    until(lambda: not connects(cli_ns, ip_of(stl)), "stateless group: nothing in", EFFECTIVE_WITHIN)
    lab.add_rule(security_group_id=group_id, port_range_min=22, port_range_max=22)
    until(lambda: connects(cli_ns, ip_of(stl)), "stateless group: TCP 22 in", EFFECTIVE_WITHIN)
    assert not connects(stl_ns, ip_of(cli))  # its SYN goes out, the SYN-ACK is not let back in
    assert connects(srv_ns, ip_of(cli))  # (a stateful group's VM: the reply is accepted)
    lab.add_rule(security_group_id=group_id, remote_ip_prefix=f"{ip_of(cli)}/32")
    until(lambda: connects(stl_ns, ip_of(cli)), "stateless group: replies from the client in", EFFECTIVE_WITHIN)
    assert dp.agents["hostA"].alive()
