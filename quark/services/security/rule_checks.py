"""Neutron's checks of a security-group rule: ethertype, protocol, port or
ICMP ranges, remote prefix; pure. ``normalise_rule`` answers the values to
store or raises the 400 Neutron answers."""

from __future__ import annotations

import ipaddress
from typing import Any

from quark import errors

PORTED_PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132, "dccp": 33, "udplite": 136}
ICMP_PROTOCOLS = {"icmp": 1, "ipv6-icmp": 58, "icmpv6": 58}
PROTOCOL_NAMES = {
    "ah": 51,
    "dccp": 33,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "icmp": 1,
    "icmpv6": 58,
    "igmp": 2,
    "ipip": 4,
    "ipv6-encap": 41,
    "ipv6-frag": 44,
    "ipv6-icmp": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "ipv6-route": 43,
    "ospf": 89,
    "pgm": 113,
    "rsvp": 46,
    "sctp": 132,
    "tcp": 6,
    "udp": 17,
    "udplite": 136,
    "vrrp": 112,
    "any": None,
}


REMOTES = ("remote_ip_prefix", "remote_group_id", "remote_address_group_id")


def normalise_rule(attrs: dict) -> dict:
    """The values to store for a rule asked with ``attrs``. Raises 400s."""
    ethertype = _ethertype(attrs.get("ethertype", "IPv4"))
    if len([k for k in REMOTES if attrs.get(k)]) > 1:
        raise errors.SecurityGroupRemoteGroupAndRemoteIpPrefix()
    protocol = _protocol(attrs.get("protocol"))
    low, high = _port_range(protocol, attrs.get("port_range_min"), attrs.get("port_range_max"))
    return {
        "direction": attrs["direction"],
        "ethertype": ethertype,
        "protocol": protocol,
        "port_range_min": low,
        "port_range_max": high,
        "remote_ip_prefix": _remote_prefix(attrs.get("remote_ip_prefix"), ethertype),
        "remote_group_id": attrs.get("remote_group_id"),
        "description": attrs.get("description", ""),
    }


def _ethertype(value: Any) -> str:
    ethertype = {"ipv4": "IPv4", "ipv6": "IPv6"}.get(str(value).lower())
    if ethertype is None:
        raise errors.InvalidInput(error_message=f"Invalid ethertype {value}: use IPv4 or IPv6")
    return ethertype


def _protocol(value: Any) -> str | None:
    """A protocol name or number as stored (lower case; "any" is no protocol)."""
    if value is None:
        return None
    protocol = str(value).lower()
    if protocol.isdigit():
        if not 0 <= int(protocol) <= 255:
            raise errors.SecurityGroupRuleInvalidProtocol(protocol=protocol)
        return protocol
    if protocol not in PROTOCOL_NAMES:
        raise errors.SecurityGroupRuleInvalidProtocol(protocol=protocol)
    return None if protocol == "any" else protocol


def _port_range(protocol: str | None, low: int | None, high: int | None) -> tuple[int | None, int | None]:
    """Ports of TCP-like protocols, type and code of ICMP ones, as stored."""
    if low is None and high is None:
        return None, None
    if protocol is None:
        raise errors.SecurityGroupProtocolRequiredWithPorts()
    number = int(protocol) if protocol.isdigit() else PROTOCOL_NAMES.get(protocol)
    if number in PORTED_PROTOCOLS.values():
        return _ports(low, high)
    if number in ICMP_PROTOCOLS.values():
        return _icmp_type_and_code(low, high)
    raise errors.SecurityGroupInvalidPortRange()


def _ports(low: int | None, high: int | None) -> tuple[int | None, int | None]:
    if low is None or high is None or not 1 <= low <= high <= 65535:
        raise errors.SecurityGroupInvalidPortRange()
    if (low, high) == (1, 65535):
        return None, None  # the whole range is "any port", as Neutron stores it
    return low, high


def _icmp_type_and_code(low: int | None, high: int | None) -> tuple[int | None, int | None]:
    if low is None and high is not None:
        raise errors.SecurityGroupMissingIcmpType(value=high)
    for value in (low, high):
        if value is not None and not 0 <= value <= 255:
            raise errors.SecurityGroupInvalidIcmpValue(field="type/code", value=value)
    return low, high


def _remote_prefix(prefix: str | None, ethertype: str) -> str | None:
    if not prefix:
        return prefix
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        raise errors.InvalidInput(error_message=f"'{prefix}' is not a valid IP prefix") from None
    if f"IPv{net.version}" != ethertype:
        raise errors.SecurityGroupRuleParameterConflict(ethertype=ethertype, cidr=prefix)
    return str(net)
