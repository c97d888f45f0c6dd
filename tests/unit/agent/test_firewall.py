"""Security groups rendered as nftables text (quark.agent.firewall): pure, no kernel,
except the last test, which has the kernel's nft check the whole text (``nft -c``)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from quark.agent import firewall as fw
from quark.agent.firewall import FirewallSpec, Rule

G_WEB, G_PEERS = "7c1e2f7a-0000-4000-8000-000000000001", "7c1e2f7a-0000-4000-8000-000000000002"
G_ADDRS = "7c1e2f7a-0000-4000-8000-0000000000a9"
MAC = "fa:16:3e:00:00:0a"


def port(device: str = "tapaaaaaaaa-aa", **extra) -> dict:
    return {
        "id": device,
        "device_name": device,
        "mac_address": MAC,
        "device_owner": "compute:nova",
        "port_security_enabled": True,
        "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}, {"subnet_id": "s6", "ip_address": "fd00::5"}],
        "allowed_address_pairs": [],
        "security_groups": [G_WEB],
        **extra,
    }


def doc(*ports: dict, stateful: bool = True, rules: list[dict] | None = None, remote: dict | None = None) -> dict:
    return {
        "ports": list(ports),
        "security_groups": {G_WEB: {"stateful": stateful, "rules": rules or []}},
        "remote_groups": remote or {},
    }


def chain(text: str, name: str) -> list[str]:
    """The lines of chain ``name`` in rendered text."""
    lines = text.splitlines()
    start = lines.index(f"\tchain {name} {{")
    end = lines.index("\t}", start)
    return [line.strip() for line in lines[start + 1 : end]]


def test_unfiltered_ports_get_no_chains():
    spec = FirewallSpec.from_api(
        doc(
            port("tapoff"),
            port("tapnosec", port_security_enabled=False),
            port("tapdhcp", device_owner="network:dhcp"),
            {k: v for k, v in port("tapold").items() if k != "port_security_enabled"},
        )
    )
    assert [p.device for p in spec.ports] == ["tapoff"]
    text = fw.render(spec)
    assert "tapnosec" not in text and "tapdhcp" not in text and "tapold" not in text


def test_both_tables_are_replaced_whole_in_one_text():
    text = fw.render(FirewallSpec.from_api(doc(port())))
    head = text.splitlines()[:6]
    assert head == [
        "table bridge quark_filter {",
        "}",
        "delete table bridge quark_filter",
        "table inet quark_filter {",
        "}",
        "delete table inet quark_filter",
    ]
    assert text == fw.render(FirewallSpec.from_api(doc(port())))  # deterministic: reloads nothing twice


def test_marks_dispatch_to_each_ports_chains():
    text = fw.render(FirewallSpec.from_api(doc(port("tapb"), port("tapa"))))
    assert chain(text, "ports_in")[-1] == 'iifname vmap { "tapa" : jump spoof_tapa, "tapb" : jump spoof_tapb }'
    assert chain(text, "spoof_tapb")[0] == "meta mark set 0x00020000"
    assert chain(text, "mark_tapb") == ["meta mark set meta mark & 0xffff0000 | 0x00000002"]
    assert chain(text, "ports")[1:] == [
        "meta mark & 0xffff0000 vmap { 0x00010000 : jump egress_tapa, 0x00020000 : jump egress_tapb }",
        "meta mark & 0x0000ffff vmap { 0x00000001 : jump ingress_tapa, 0x00000002 : jump ingress_tapb }",
    ]


def test_no_ports_no_dispatch_rules():
    text = fw.render(FirewallSpec.from_api({"ports": []}))
    assert chain(text, "ports_in") == ["type filter hook prerouting priority -200; policy accept;"]
    assert chain(text, "ports") == ["type filter hook forward priority 0; policy accept;"]


def test_stateful_and_stateless_chains():
    rules = [{"direction": "ingress", "ethertype": "IPv4", "protocol": 6, "port_range_min": 22, "port_range_max": 22}]
    text = fw.render(FirewallSpec.from_api(doc(port("tapx"), rules=rules)))
    ingress = chain(text, "ingress_tapx")
    assert ingress[:2] == ["ct state established,related accept", "ct state invalid drop"]
    assert "meta nfproto ipv4 meta l4proto 6 th dport 22 accept" in ingress and ingress[-1] == "drop"
    egress = chain(text, "egress_tapx")
    assert egress[0] == "ct state established,related return" and egress[-1] == "drop"
    assert "meta nfproto ipv4 udp sport 68 udp dport 67 return" in egress  # DHCP client
    assert not any(line.endswith(" return") and "nfproto ipv4 return" in line for line in egress)  # no egress rule

    stateless = fw.render(FirewallSpec.from_api(doc(port("tapx"), stateful=False, rules=rules)))
    assert not any("ct state" in line for line in chain(stateless, "ingress_tapx") + chain(stateless, "egress_tapx"))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (Rule("egress", "IPv4"), "meta nfproto ipv4"),
        (Rule("egress", "IPv6"), "meta nfproto ipv6"),
        (Rule("ingress", "IPv4", 17, 1000, 2000), "meta nfproto ipv4 meta l4proto 17 th dport 1000-2000"),
        (Rule("ingress", "IPv4", 6, None, None), "meta nfproto ipv4 meta l4proto 6"),
        (Rule("ingress", "IPv4", 1, 8, None), "meta nfproto ipv4 meta l4proto 1 icmp type 8"),
        (Rule("ingress", "IPv4", 1, 3, 4), "meta nfproto ipv4 meta l4proto 1 icmp type 3 icmp code 4"),
        (Rule("ingress", "IPv6", 1, 128, None), "meta nfproto ipv6 meta l4proto 58 icmpv6 type 128"),
        (Rule("ingress", "IPv6", 58), "meta nfproto ipv6 meta l4proto 58"),
        (Rule("ingress", "IPv4", 47), "meta nfproto ipv4 meta l4proto 47"),
        (Rule("ingress", "IPv4", remote_ip_prefix="10.1.0.0/16"), "meta nfproto ipv4 ip saddr 10.1.0.0/16"),
        (Rule("egress", "IPv4", remote_ip_prefix="10.1.2.3/32"), "meta nfproto ipv4 ip daddr 10.1.2.3"),
        (Rule("ingress", "IPv4", remote_ip_prefix="0.0.0.0/0"), "meta nfproto ipv4"),
        (Rule("egress", "IPv6", remote_ip_prefix="fd00::/64"), "meta nfproto ipv6 ip6 daddr fd00::/64"),
        (
            Rule("ingress", "IPv4", 6, 22, 22, remote_group_id=G_PEERS),
            f"meta nfproto ipv4 ip saddr @{fw.set_name(G_PEERS, 4)} meta l4proto 6 th dport 22",
        ),
        (Rule("egress", "IPv6", remote_group_id=G_PEERS), f"meta nfproto ipv6 ip6 daddr @{fw.set_name(G_PEERS, 6)}"),
        # matches nothing: a prefix of the other family, a remote group the document has no set for
        (Rule("ingress", "IPv4", remote_ip_prefix="fd00::/64"), None),
        (Rule("ingress", "IPv4", remote_group_id="unknown"), None),
        # an address group: its own set (prefix "ag"), never a remote group's of the same id
        (
            Rule("ingress", "IPv4", 6, 443, 443, remote_address_group_id=G_ADDRS),
            f"meta nfproto ipv4 ip saddr @{fw.set_name(G_ADDRS, 4, fw.ADDRESS_GROUP)} meta l4proto 6 th dport 443",
        ),
        (
            Rule("egress", "IPv6", remote_address_group_id=G_ADDRS),
            f"meta nfproto ipv6 ip6 daddr @{fw.set_name(G_ADDRS, 6, fw.ADDRESS_GROUP)}",
        ),
        (Rule("ingress", "IPv4", remote_address_group_id=G_PEERS), None),
    ],
)
def test_rule_matches(rule, expected):
    assert fw.match(rule, {(fw.REMOTE_GROUP, G_PEERS), (fw.ADDRESS_GROUP, G_ADDRS)}) == expected


def test_remote_group_sets_are_shared_and_merged():
    rules = [
        {"direction": "ingress", "ethertype": "IPv4", "remote_group_id": G_PEERS, "protocol": 6},
        {"direction": "ingress", "ethertype": "IPv4", "remote_group_id": G_PEERS, "protocol": 17},
    ]
    remote = {G_PEERS: ["10.0.0.7", "10.0.0.0/24", "10.0.1.9", "fd00::9"], G_WEB: []}
    text = fw.render(FirewallSpec.from_api(doc(port("tapa"), port("tapb"), rules=rules, remote=remote)))
    assert text.count(f"set {fw.set_name(G_PEERS, 4)} {{") == 1  # one per group, not per rule or port
    lines = text.splitlines()
    start = lines.index(f"\tset {fw.set_name(G_PEERS, 4)} {{")
    assert [line.strip() for line in lines[start + 1 : start + 4]] == [
        "type ipv4_addr",
        "flags interval",
        "elements = { 10.0.0.0/24, 10.0.1.9 }",  # 10.0.0.7 is inside 10.0.0.0/24
    ]
    empty = lines.index(f"\tset {fw.set_name(G_WEB, 4)} {{")
    assert [line.strip() for line in lines[empty + 1 : empty + 4]] == ["type ipv4_addr", "flags interval", "}"]


def test_anti_spoofing_allows_own_and_pair_addresses_only():
    pairs = [
        {"ip_address": "10.0.0.99", "mac_address": MAC},
        {"ip_address": "10.9.0.0/24", "mac_address": "fa:16:3e:00:00:cc"},
    ]
    lines = fw.anti_spoofing(fw.FirewallSpec.from_api(doc(port(allowed_address_pairs=pairs))).ports[0])
    assert lines[0] == f"ether saddr != {{ {MAC}, fa:16:3e:00:00:cc }} drop"
    assert lines[-1] == "drop"
    assert "meta l4proto udp udp sport 67 udp dport 68 drop" in lines  # no DHCP server on a VM
    assert "icmpv6 type { nd-router-advert, nd-redirect } drop" in lines
    assert f"ether saddr {MAC} ip saddr {{ 10.0.0.5, 10.0.0.99 }} return" in lines
    assert f"ether saddr {MAC} arp saddr ether {MAC} arp saddr ip {{ 10.0.0.5, 10.0.0.99 }} return" in lines
    assert "ether saddr fa:16:3e:00:00:cc ip saddr { 10.9.0.0/24 } return" in lines
    assert f"ether saddr {MAC} ip6 saddr {{ fd00::5, fe80::f816:3eff:fe00:a }} return" in lines
    advert = next(line for line in lines if "nd-neighbor-advert" in line)
    assert "0xfd000000000000000000000000000005" in advert and "0xfe80000000000000f8163efffe00000a" in advert
    assert "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return" in lines


def test_link_local():
    assert fw.link_local("fa:16:3e:00:00:0a") == "fe80::f816:3eff:fe00:a"


@pytest.mark.skipif(shutil.which("nft") is None or os.geteuid() != 0, reason="needs nft and root")
def test_the_kernel_accepts_the_text():
    rules = [
        {"direction": "ingress", "ethertype": "IPv4", "protocol": 6, "port_range_min": 22, "port_range_max": 22},
        {"direction": "ingress", "ethertype": "IPv6", "protocol": 58, "port_range_min": 128, "port_range_max": 0},
        {"direction": "ingress", "ethertype": "IPv4", "protocol": 1, "remote_group_id": G_PEERS},
        {"direction": "egress", "ethertype": "IPv4", "remote_ip_prefix": "10.0.0.0/8"},
    ]
    pairs = [{"ip_address": "10.9.0.0/24", "mac_address": "fa:16:3e:00:00:cc"}]
    text = fw.render(
        FirewallSpec.from_api(
            doc(port("tapa", allowed_address_pairs=pairs), port("tapb"), rules=rules, remote={G_PEERS: ["10.0.0.7"]})
        )
    )
    result = subprocess.run(["nft", "-c", "-f", "-"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_tightened_names_the_addresses_of_ports_that_lost_an_allowance():
    ssh = {"direction": "ingress", "ethertype": "IPv4", "protocol": 6, "port_range_min": 22, "port_range_max": 22}
    icmp = {"direction": "ingress", "ethertype": "IPv4", "protocol": 1, "remote_group_id": G_PEERS}
    pairs = [{"ip_address": "10.0.0.99", "mac_address": MAC}, {"ip_address": "10.9.0.0/24", "mac_address": MAC}]
    base = doc(port("tapa", allowed_address_pairs=pairs), rules=[ssh, icmp], remote={G_PEERS: ["10.0.0.7", "10.0.0.8"]})
    old = FirewallSpec.from_api(base)

    def after(**changes) -> list[str]:
        return fw.tightened(old, FirewallSpec.from_api({**base, **changes}))

    assert after() == []
    # more allowed: nothing to forget
    assert (
        after(
            security_groups={
                G_WEB: {"stateful": True, "rules": [ssh, icmp, {**ssh, "port_range_min": 80, "port_range_max": 80}]}
            }
        )
        == []
    )
    assert after(remote_groups={G_PEERS: ["10.0.0.7", "10.0.0.8", "10.0.0.9"]}) == []
    # less allowed: the port's single addresses (not its /24 pair), old and new
    assert after(security_groups={G_WEB: {"stateful": True, "rules": [icmp]}}) == ["10.0.0.5", "10.0.0.99", "fd00::5"]
    assert after(remote_groups={G_PEERS: ["10.0.0.7"]}) == ["10.0.0.5", "10.0.0.99", "fd00::5"]
    assert after(ports=[port("tapa")]) == ["10.0.0.5", "10.0.0.99", "fd00::5"]  # a pair removed
    # a port no longer filtered, or new: nothing
    assert after(ports=[port("tapa", port_security_enabled=False), port("tapnew")]) == []
