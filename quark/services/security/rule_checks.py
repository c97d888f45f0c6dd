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
# Neutron's SG_PORT_PROTO_NAMES, as its SecurityGroupInvalidProtocolForPort lists them.
PORT_PROTOCOLS_TEXT = "DCCP, SCTP, TCP, UDP, UDPLITE"
# Protocols that only exist over IPv6 (names and numbers): refused in an IPv4 rule.
IPV6_ONLY_PROTOCOLS = frozenset(
    {"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route"}
    | {"41", "44", "58", "59", "60", "43"}
)


def normalise_rule(attrs: dict) -> dict:
    """The values to store for a rule asked with ``attrs``. Raises 400s, in
    Neutron's order of checks (``_validate_base_security_group_rule_attributes``)."""
    ethertype = _ethertype(attrs.get("ethertype", "IPv4"))
    protocol = _canonical_icmp(_protocol(attrs.get("protocol")), ethertype)
    low, high = _port_range(protocol, attrs.get("port_range_min"), attrs.get("port_range_max"))
    prefix = _remote_prefix(attrs.get("remote_ip_prefix"), ethertype)
    if ethertype == "IPv4" and protocol in IPV6_ONLY_PROTOCOLS:
        raise errors.SecurityGroupEthertypeConflictWithProtocol(ethertype=ethertype, protocol=protocol)
    if len([k for k in REMOTES if attrs.get(k)]) > 1:
        raise errors.SecurityGroupRemoteGroupAndRemoteIpPrefix()
    return {
        "direction": attrs["direction"],
        "ethertype": ethertype,
        "protocol": protocol,
        "port_range_min": low,
        "port_range_max": high,
        "remote_ip_prefix": prefix,
        "remote_group_id": attrs.get("remote_group_id"),
        "remote_address_group_id": attrs.get("remote_address_group_id"),
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


def _canonical_icmp(protocol: str | None, ethertype: str) -> str | None:
    """In an IPv6 rule the legacy ICMP names become ``ipv6-icmp`` and 1 becomes 58, as Neutron stores them."""
    if ethertype == "IPv6":
        if protocol in ("icmp", "icmpv6"):
            return "ipv6-icmp"
        if protocol == "1":
            return "58"
    return protocol


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
    raise errors.SecurityGroupInvalidProtocolForPort(protocol=number, valid_port_protocols=PORT_PROTOCOLS_TEXT)


def _ports(low: int | None, high: int | None) -> tuple[int | None, int | None]:
    if (low, high) == (1, 65535):
        return None, None  # the whole range is "any port", as Neutron stores it
    if low == 0 or high == 0:
        raise errors.SecurityGroupInvalidPortValue(port=0)
    if low is None or high is None or low > high:
        raise errors.SecurityGroupInvalidPortRange()
    return low, high


def _icmp_type_and_code(low: int | None, high: int | None) -> tuple[int | None, int | None]:
    for attr, field, value in (("min", "type", low), ("max", "code", high)):
        if value is not None and not 0 <= value <= 255:
            raise errors.SecurityGroupInvalidIcmpValue(field=field, attr=attr, value=value)
    if low is None and high is not None:
        raise errors.SecurityGroupMissingIcmpType(value=high)
    return low, high


def _remote_prefix(prefix: str | None, ethertype: str) -> str | None:
    """The prefix as given, with its mask made explicit (``10.0.0.34`` → ``10.0.0.34/32``);
    Neutron keeps the host bits here and answers the network as ``normalized_cidr``."""
    if not prefix:
        return prefix
    try:
        interface = ipaddress.ip_interface(prefix)
    except ValueError:
        raise errors.InvalidInput(error_message=f"'{prefix}' is not a valid IP prefix") from None
    if f"IPv{interface.version}" != ethertype:
        raise errors.SecurityGroupRuleParameterConflict(ethertype=ethertype, cidr=prefix)
    return str(interface)


def normalized_cidr(prefix: str | None) -> str | None:
    """The network of a stored ``remote_ip_prefix`` (alias ``security-groups-normalized-cidr``)."""
    return str(ipaddress.ip_interface(prefix).network) if prefix else None
