"""Neutron's checks of a security-group rule (quark.services.security.rule_checks), pure."""

from __future__ import annotations

import pytest

from quark import errors
from quark.services.security.rule_checks import normalise_rule, normalized_cidr


def rule(**attrs) -> dict:
    return normalise_rule({"direction": "ingress", **attrs})


def test_the_whole_port_range_is_any_port():
    assert (rule(protocol="tcp", port_range_min=1, port_range_max=65535)["port_range_min"]) is None


@pytest.mark.parametrize("low, high", [(0, 5), (5, 0), (0, 0)])
def test_port_0_is_an_invalid_port_value(low, high):
    with pytest.raises(errors.SecurityGroupInvalidPortValue):
        rule(protocol="udp", port_range_min=low, port_range_max=high)


def test_a_reversed_range_is_an_invalid_range():
    with pytest.raises(errors.SecurityGroupInvalidPortRange):
        rule(protocol="sctp", port_range_min=9, port_range_max=8)


def test_ports_on_a_protocol_without_ports():
    with pytest.raises(errors.SecurityGroupInvalidProtocolForPort) as refused:
        rule(protocol="112", port_range_min=1, port_range_max=2)
    assert refused.value.msg.startswith("Ports cannot be specified for protocol 112.")


def test_icmp_values_are_checked_before_the_missing_type():
    with pytest.raises(errors.SecurityGroupInvalidIcmpValue) as refused:
        rule(protocol="icmp", port_range_max=300)
    assert refused.value.msg == "Invalid value for ICMP code (port-range-max): 300. It must be 0 to 255."
    with pytest.raises(errors.SecurityGroupMissingIcmpType):
        rule(protocol="icmp", port_range_max=3)


@pytest.mark.parametrize("protocol", ["ipv6-icmp", "icmpv6", "58", "ipv6-nonxt", "59", "ipv6-opts", "60", "43", "41"])
def test_ipv6_only_protocols_conflict_with_ipv4(protocol):
    with pytest.raises(errors.SecurityGroupEthertypeConflictWithProtocol):
        rule(ethertype="IPv4", protocol=protocol)


@pytest.mark.parametrize(
    "protocol, stored", [("icmp", "ipv6-icmp"), ("icmpv6", "ipv6-icmp"), ("1", "58"), ("tcp", "tcp")]
)
def test_legacy_icmp_names_become_ipv6_icmp_in_ipv6_rules(protocol, stored):
    assert rule(ethertype="IPv6", protocol=protocol)["protocol"] == stored
    if protocol != "icmpv6":  # IPv6-only: refused in IPv4 rules
        assert rule(ethertype="IPv4", protocol=protocol)["protocol"] == protocol


@pytest.mark.parametrize(
    "given, kept, network",
    [
        ("10.0.0.34/24", "10.0.0.34/24", "10.0.0.0/24"),
        ("10.0.0.34", "10.0.0.34/32", "10.0.0.34/32"),
        ("10.0.0.0/255.255.0.0", "10.0.0.0/16", "10.0.0.0/16"),
    ],
)
def test_the_prefix_is_kept_with_its_mask_and_normalized_to_its_network(given, kept, network):
    stored = rule(remote_ip_prefix=given)["remote_ip_prefix"]
    assert (stored, normalized_cidr(stored)) == (kept, network)


def test_ipv6_prefixes_and_none():
    stored = rule(ethertype="IPv6", remote_ip_prefix="2001:db8::5/64")["remote_ip_prefix"]
    assert (stored, normalized_cidr(stored)) == ("2001:db8::5/64", "2001:db8::/64")
    assert normalized_cidr(None) is None
    with pytest.raises(errors.SecurityGroupRuleParameterConflict):
        rule(ethertype="IPv4", remote_ip_prefix="2001:db8::/64")
