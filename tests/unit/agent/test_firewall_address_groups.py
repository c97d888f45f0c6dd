"""The planned nftables ruleset of rules naming an address group
(``remote_address_group_id``): the group's CIDRs as one named set per family,
matched by the rules; a removed address tightens the filter."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from quark.agent import firewall as fw
from quark.agent.firewall import FirewallSpec

G_WEB = "5a0e0000-0000-4000-8000-000000000001"
AG = "5a0e0000-0000-4000-8000-0000000000a1"
MAC = "fa:16:3e:00:00:0b"
HTTPS = {
    "direction": "ingress",
    "ethertype": "IPv4",
    "protocol": 6,
    "port_range_min": 443,
    "port_range_max": 443,
    "remote_address_group_id": AG,
}
OUT6 = {"direction": "egress", "ethertype": "IPv6", "remote_address_group_id": AG}


def doc(addresses: list[str] | None, rules: list[dict] | None = None) -> dict:
    port = {
        "id": "p",
        "device_name": "tapag",
        "mac_address": MAC,
        "device_owner": "compute:nova",
        "port_security_enabled": True,
        "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}],
        "allowed_address_pairs": [],
        "security_groups": [G_WEB],
    }
    out = {
        "ports": [port],
        "security_groups": {G_WEB: {"stateful": True, "rules": rules or [HTTPS, OUT6]}},
        "remote_groups": {},
    }
    if addresses is not None:
        out["address_groups"] = {AG: addresses}
    return out


def chain(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"\tchain {name} {{")
    return [line.strip() for line in lines[start + 1 : lines.index("\t}", start)]]


def set_body(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"\tset {name} {{")
    return [line.strip() for line in lines[start + 1 : lines.index("\t}", start)]]


def test_the_groups_cidrs_are_one_set_per_family_and_the_rules_match_them():
    text = fw.render(FirewallSpec.from_api(doc(["192.168.0.0/16", "10.1.0.0/24", "10.1.0.9/32", "2001:db8::/64"])))
    v4, v6 = fw.set_name(AG, 4, fw.ADDRESS_GROUP), fw.set_name(AG, 6, fw.ADDRESS_GROUP)
    assert v4 == "ag4_" + AG.replace("-", "") and v6 == "ag6_" + AG.replace("-", "")
    # one set each, overlaps merged (10.1.0.9 is inside 10.1.0.0/24), single addresses bare
    assert set_body(text, v4) == ["type ipv4_addr", "flags interval", "elements = { 10.1.0.0/24, 192.168.0.0/16 }"]
    assert set_body(text, v6) == ["type ipv6_addr", "flags interval", "elements = { 2001:db8::/64 }"]
    assert text.count(f"set {v4} {{") == 1
    assert f"meta nfproto ipv4 ip saddr @{v4} meta l4proto 6 th dport 443 accept" in chain(text, "ingress_tapag")
    assert f"meta nfproto ipv6 ip6 daddr @{v6} return" in chain(text, "egress_tapag")


def test_an_empty_group_is_an_empty_set_and_a_group_the_document_lacks_matches_nothing():
    empty = fw.render(FirewallSpec.from_api(doc([])))
    assert set_body(empty, fw.set_name(AG, 4, fw.ADDRESS_GROUP)) == ["type ipv4_addr", "flags interval"]
    assert any("@ag4_" in line for line in chain(empty, "ingress_tapag"))
    missing = fw.render(FirewallSpec.from_api(doc(None)))
    assert "@ag4_" not in missing and "@ag6_" not in missing
    assert chain(missing, "ingress_tapag")[-1] == "drop"


def test_removing_an_address_tightens_the_filter_adding_one_does_not():
    old = FirewallSpec.from_api(doc(["10.1.0.0/24", "10.2.0.0/24"]))
    assert fw.tightened(old, FirewallSpec.from_api(doc(["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"]))) == []
    assert fw.tightened(old, FirewallSpec.from_api(doc(["10.1.0.0/24"]))) == ["10.0.0.5"]


@pytest.mark.skipif(shutil.which("nft") is None or os.geteuid() != 0, reason="needs nft and root")
def test_the_kernel_accepts_the_text():
    text = fw.render(FirewallSpec.from_api(doc(["10.1.0.0/24", "10.1.0.9/32", "2001:db8::/64"])))
    result = subprocess.run(["nft", "-c", "-f", "-"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
