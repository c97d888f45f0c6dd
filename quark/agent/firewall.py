"""Security groups as nftables rules: the pure rendering (docs/security_groups_enforcement.md).

``FirewallSpec.from_api(doc)`` reads what the desired-state document says
about the host's ports (``port_security_enabled``, MAC, fixed IPs, allowed
address pairs, groups) and their groups (rules, ``stateful``, the address
sets of remote groups and of the address groups rules name); ``render(spec)`` answers the text of one ``nft -f``
transaction that replaces Quark's two tables whole, so applying it is atomic,
idempotent, and drops stale chains with the table they were in.

The kernel has no bridge-family conntrack here, so the work is split:

- ``table bridge quark_filter`` sees the port devices. Its prerouting chain
  (priority -200, before br_netfilter hands the frame to the IP hooks) jumps,
  by input device, to the port's anti-spoofing chain, which marks the packet
  with the port's index (high 16 bits of ``meta mark``) and drops frames not
  from the port's MAC and addresses (ARP and NDP included). Its forward chain
  (priority -200, before br_netfilter's forward hook) adds the index of the
  output port (low 16 bits).
- ``table inet quark_filter`` (br_netfilter sends bridged IP through it, with
  conntrack) jumps by the marks to the sender's egress chain, which returns
  what its rules allow, then to the receiver's ingress chain, which accepts
  what its rules allow. Both end in drop.

Ports with port security off and network-service ports (``network:*``,
Neutron's trusted ports) get no chains: their traffic is not filtered.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

TABLE = "quark_filter"
# Prefixes of the names of the address sets: a remote group's members, an address group's CIDRs.
REMOTE_GROUP, ADDRESS_GROUP = "rg", "ag"
PORTED = {6, 17, 33, 132, 136}  # tcp, udp, dccp, sctp, udplite
ICMP4, ICMP6 = 1, 58
MAX_PORTS = 0xFFFF
# NDP and MLD a port needs both ways (Neutron's ICMPV6_ALLOWED_*); RAs and
# redirects only towards the VM.
NDP_OUT = "nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report"
NDP_IN = "nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query, nd-redirect"


@dataclass(frozen=True)
class Rule:
    direction: str  # "ingress" (to the VM) or "egress" (from it)
    ethertype: str  # "IPv4" or "IPv6"
    protocol: int | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None
    remote_address_group_id: str | None = None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Rule:
        proto = body.get("protocol")
        return cls(
            direction=body["direction"],
            ethertype=body.get("ethertype") or "IPv4",
            protocol=None if proto is None else int(proto),
            port_range_min=body.get("port_range_min"),
            port_range_max=body.get("port_range_max"),
            remote_ip_prefix=body.get("remote_ip_prefix") or None,
            remote_group_id=body.get("remote_group_id") or None,
            remote_address_group_id=body.get("remote_address_group_id") or None,
        )

    def remote_set(self) -> tuple[str, str] | None:
        """The named set the rule's remote side is (prefix of its name, id), if any."""
        if self.remote_group_id:
            return REMOTE_GROUP, self.remote_group_id
        if self.remote_address_group_id:
            return ADDRESS_GROUP, self.remote_address_group_id
        return None


@dataclass(frozen=True)
class Group:
    stateful: bool = True
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class PortFilter:
    """One filtered port: its host-side device, MAC, addresses and groups."""

    device: str
    mac: str
    ips: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()  # (ip or cidr, mac)
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class FirewallSpec:
    ports: tuple[PortFilter, ...] = ()
    groups: dict[str, Group] = field(default_factory=dict)
    remote_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Address-group id -> its CIDRs (the groups the rules name as remote_address_group_id).
    address_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_api(cls, doc: dict[str, Any]) -> FirewallSpec:
        ports = tuple(sorted((_port(p) for p in doc.get("ports") or () if filtered(p)), key=lambda f: f.device))
        groups = {
            gid: Group(bool(g.get("stateful", True)), tuple(Rule.from_api(r) for r in g.get("rules") or ()))
            for gid, g in (doc.get("security_groups") or {}).items()
        }
        remote = {gid: tuple(addrs) for gid, addrs in (doc.get("remote_groups") or {}).items()}
        address_groups = {agid: tuple(addrs) for agid, addrs in (doc.get("address_groups") or {}).items()}
        return cls(ports[:MAX_PORTS], groups, remote, address_groups)

    def sets(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """Every named address set of the inet table: (prefix, id) -> its addresses."""
        named = {(REMOTE_GROUP, gid): addrs for gid, addrs in self.remote_groups.items()}
        named.update({(ADDRESS_GROUP, agid): addrs for agid, addrs in self.address_groups.items()})
        return named

    def stateful(self, port: PortFilter) -> bool:
        """Neutron: a port's groups are all stateful or all stateless; no group is stateful."""
        return all(self.groups.get(g, Group()).stateful for g in port.groups)


def filtered(port: dict[str, Any]) -> bool:
    """Port security on and not a network-service port (Neutron's trusted ports)."""
    return bool(port.get("port_security_enabled")) and not str(port.get("device_owner") or "").startswith("network:")


def _port(body: dict[str, Any]) -> PortFilter:
    mac = str(body.get("mac_address", "")).lower()
    pairs = tuple(
        (str(pair["ip_address"]), str(pair.get("mac_address") or mac).lower())
        for pair in body.get("allowed_address_pairs") or ()
    )
    return PortFilter(
        device=body["device_name"],
        mac=mac,
        ips=tuple(ip["ip_address"] for ip in body.get("fixed_ips") or ()),
        pairs=pairs,
        groups=tuple(body.get("security_groups") or ()),
    )


# --- rendering ----------------------------------------------------------------------------


def render(spec: FirewallSpec) -> str:
    """The whole ``nft -f`` text: both tables replaced in one transaction."""
    out: list[str] = []
    for family in ("bridge", "inet"):
        out += [f"table {family} {TABLE} {{", "}", f"delete table {family} {TABLE}"]
    out += _bridge_table(spec) + _inet_table(spec)
    return "\n".join(out) + "\n"


def _chain(name: str, body: Iterable[str], hook: str | None = None) -> list[str]:
    head = [f"\tchain {name} {{"]
    if hook:
        head.append(f"\t\t{hook}")
    return head + [f"\t\t{line}" for line in body] + ["\t}"]


def _vmap(key: str, entries: list[tuple[str, str]]) -> list[str]:
    if not entries:
        return []
    return [f"{key} vmap {{ " + ", ".join(f"{k} : jump {chain}" for k, chain in entries) + " }"]


def _bridge_table(spec: FirewallSpec) -> list[str]:
    lines = [f"table bridge {TABLE} {{"]
    ins = [(f'"{p.device}"', f"spoof_{p.device}") for p in spec.ports]
    outs = [(f'"{p.device}"', f"mark_{p.device}") for p in spec.ports]
    lines += _chain("ports_in", _vmap("iifname", ins), "type filter hook prerouting priority -200; policy accept;")
    lines += _chain("ports_out", _vmap("oifname", outs), "type filter hook forward priority -200; policy accept;")
    for index, port in enumerate(spec.ports, start=1):
        lines += _chain(f"spoof_{port.device}", [f"meta mark set 0x{index << 16:08x}", *anti_spoofing(port)])
        lines += _chain(f"mark_{port.device}", [f"meta mark set meta mark & 0xffff0000 | 0x{index:08x}"])
    return [*lines, "}"]


def _inet_table(spec: FirewallSpec) -> list[str]:
    lines = [f"table inet {TABLE} {{"]
    named = spec.sets()
    for prefix, gid in sorted(named):
        lines += _sets(prefix, gid, named[(prefix, gid)])
    eg = [(f"0x{i << 16:08x}", f"egress_{p.device}") for i, p in enumerate(spec.ports, start=1)]
    ing = [(f"0x{i:08x}", f"ingress_{p.device}") for i, p in enumerate(spec.ports, start=1)]
    dispatch = _vmap("meta mark & 0xffff0000", eg) + _vmap("meta mark & 0x0000ffff", ing)
    lines += _chain("ports", dispatch, "type filter hook forward priority 0; policy accept;")
    known = set(named)
    for port in spec.ports:
        stateful = spec.stateful(port)
        rules = [r for g in port.groups for r in spec.groups.get(g, Group()).rules]
        lines += _chain(f"egress_{port.device}", egress(rules, stateful, known))
        lines += _chain(f"ingress_{port.device}", ingress(rules, stateful, known))
    return [*lines, "}"]


def _sets(prefix: str, gid: str, addresses: Iterable[str]) -> list[str]:
    v4, v6 = _split(addresses)
    out = []
    for version, kind, items in ((4, "ipv4_addr", v4), (6, "ipv6_addr", v6)):
        body = [f"type {kind}", "flags interval"]
        if items:
            body.append("elements = { " + ", ".join(items) + " }")
        out += [f"\tset {set_name(gid, version, prefix)} {{", *(f"\t\t{b}" for b in body), "\t}"]
    return out


def set_name(gid: str, version: int, prefix: str = REMOTE_GROUP) -> str:
    return f"{prefix}{version}_" + gid.replace("-", "")


def _split(addresses: Iterable[str]) -> tuple[list[str], list[str]]:
    """IPv4 and IPv6 networks, overlaps merged (nft refuses overlapping interval elements)."""
    nets = [ipaddress.ip_network(a, strict=False) for a in addresses]
    v4 = ipaddress.collapse_addresses(n for n in nets if n.version == 4)
    v6 = ipaddress.collapse_addresses(n for n in nets if n.version == 6)
    return [_text(n) for n in v4], [_text(n) for n in v6]


def _text(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def link_local(mac: str) -> str:
    """The EUI-64 IPv6 link-local address of ``mac``."""
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + eui)))


def anti_spoofing(port: PortFilter) -> list[str]:
    """Frames from the VM: only from its MACs and addresses (fixed IPs, allowed
    address pairs); DHCP and DAD from no address; no DHCP server replies, router
    advertisements or redirects; ARP and neighbour adverts only for its own addresses."""
    by_mac: dict[str, list[str]] = {port.mac: list(port.ips)}
    for ip, mac in port.pairs:
        by_mac.setdefault(mac, []).append(ip)
    macs = ", ".join(sorted(by_mac))
    own_v6 = {ipaddress.ip_network(a, strict=False) for ips in by_mac.values() for a in ips if ":" in a}
    own_v6 |= {ipaddress.ip_network(link_local(m)) for m in by_mac}
    all_v6 = sorted(f"0x{int(net.network_address):032x}" for net in own_v6 if net.prefixlen == 128)
    lines = [
        f"ether saddr != {{ {macs} }} drop",
        "meta l4proto udp udp sport 67 udp dport 68 drop",
        "meta l4proto udp udp sport 547 udp dport 546 drop",
        "icmpv6 type { nd-router-advert, nd-redirect } drop",
        # The target of a neighbour advert (bytes 8-23 of the ICMPv6 header): only its own.
        f"icmpv6 type nd-neighbor-advert @th,64,128 != {{ {', '.join(all_v6)} }} drop",
        "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return",
        "ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, mld2-listener-report } return",
        "arp saddr ip 0.0.0.0 return",
    ]
    for mac in sorted(by_mac):
        v4, v6 = _split(by_mac[mac])
        if v4:
            lines.append(f"ether saddr {mac} arp saddr ether {mac} arp saddr ip {{ {', '.join(v4)} }} return")
            lines.append(f"ether saddr {mac} ip saddr {{ {', '.join(v4)} }} return")
        lines.append(f"ether saddr {mac} ip6 saddr {{ {', '.join([*v6, link_local(mac)])} }} return")
    return [*lines, "drop"]


def _head(stateful: bool, verdict: str) -> list[str]:
    return [f"ct state established,related {verdict}", "ct state invalid drop"] if stateful else []


def egress(rules: list[Rule], stateful: bool, known: set[tuple[str, str]]) -> list[str]:
    """From the VM: DHCP and NDP, then what the egress rules allow (``return``: the
    receiver's ingress chain, if it is a filtered port here, decides next); drop."""
    lines = _head(stateful, "return") + [
        "meta nfproto ipv4 udp sport 68 udp dport 67 return",
        "meta nfproto ipv6 udp sport 546 udp dport 547 return",
        f"icmpv6 type {{ {NDP_OUT} }} return",
    ]
    lines += [f"{m} return" for r in rules if r.direction == "egress" if (m := match(r, known)) is not None]
    return [*lines, "drop"]


def ingress(rules: list[Rule], stateful: bool, known: set[tuple[str, str]]) -> list[str]:
    """To the VM: DHCP replies and NDP, then what the ingress rules allow; drop."""
    lines = _head(stateful, "accept") + [
        "meta nfproto ipv4 udp sport 67 udp dport 68 accept",
        "meta nfproto ipv6 udp sport 547 udp dport 546 accept",
        f"icmpv6 type {{ {NDP_IN} }} accept",
    ]
    lines += [f"{m} accept" for r in rules if r.direction == "ingress" if (m := match(r, known)) is not None]
    return [*lines, "drop"]


def match(rule: Rule, known: set[tuple[str, str]]) -> str | None:
    """The nft match of one rule (the remote side is the source of ingress
    traffic, the destination of egress: a prefix, or the named set of its remote
    group or address group, ``known`` as (prefix, id)); None when it can match nothing."""
    v6 = rule.ethertype == "IPv6"
    family = "ip6" if v6 else "ip"
    side = "saddr" if rule.direction == "ingress" else "daddr"
    parts = [f"meta nfproto {'ipv6' if v6 else 'ipv4'}"]
    if rule.remote_ip_prefix:
        net = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if net.version != (6 if v6 else 4):
            return None
        if net.prefixlen:
            parts.append(f"{family} {side} {_text(net)}")
    remote = rule.remote_set()
    if remote is not None:
        if remote not in known:
            return None
        prefix, gid = remote
        parts.append(f"{family} {side} @{set_name(gid, 6 if v6 else 4, prefix)}")
    parts += _protocol(rule, v6)
    return " ".join(parts)


def _protocol(rule: Rule, v6: bool) -> list[str]:
    proto = rule.protocol
    if proto is None:
        return []
    if v6 and proto == ICMP4:
        proto = ICMP6  # Neutron: "icmp" in an IPv6 rule is ICMPv6
    parts = [f"meta l4proto {proto}"]
    low, high = rule.port_range_min, rule.port_range_max
    if proto in PORTED and (low is not None or high is not None):
        low, high = low or 1, high or 65535
        parts.append(f"th dport {low}" if low == high else f"th dport {low}-{high}")
    elif proto in (ICMP4, ICMP6) and low is not None:
        kind = "icmpv6" if proto == ICMP6 else "icmp"
        parts.append(f"{kind} type {low}")
        if high is not None:
            parts.append(f"{kind} code {high}")
    return parts


# --- what a change takes away ---------------------------------------------------------------


def _allowances(spec: FirewallSpec, port: PortFilter) -> frozenset[str]:
    """Everything the port's chains let through, as comparable lines (the
    members of the remote groups its rules name included)."""
    stateful = spec.stateful(port)
    rules = [r for g in port.groups for r in spec.groups.get(g, Group()).rules]
    named = spec.sets()
    known = set(named)
    lines = set(anti_spoofing(port)) | set(egress(rules, stateful, known)) | set(ingress(rules, stateful, known))
    for prefix, gid in {remote for r in rules if (remote := r.remote_set()) in known}:
        lines |= {f"@{prefix}:{gid} {addr}" for addr in named[(prefix, gid)]}
    return frozenset(lines)


def _host_addresses(port: PortFilter) -> set[str]:
    """The port's single addresses (conntrack entries are looked up by address, not prefix)."""
    found = set(port.ips) | {ip for ip, _ in port.pairs}
    return {str(ipaddress.ip_network(a, strict=False).network_address) for a in found if "/" not in a or _single(a)}


def _single(cidr: str) -> bool:
    net = ipaddress.ip_network(cidr, strict=False)
    return net.prefixlen == net.max_prefixlen


def tightened(old: FirewallSpec, new: FirewallSpec) -> list[str]:
    """Addresses of the ports that the new filter lets through less than the old
    one did: their connection-tracking entries must go, so that a connection
    the old rules allowed does not outlive them (as Neutron deletes them)."""
    before = {p.device: p for p in old.ports}
    out: set[str] = set()
    for port in new.ports:
        was = before.get(port.device)
        if was is not None and not _allowances(old, was) <= _allowances(new, port):
            out |= _host_addresses(was) | _host_addresses(port)
    return sorted(out)
