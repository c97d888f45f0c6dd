"""Pure IP address arithmetic: parsing, reservation rules, pools, EUI-64, sort keys.

No I/O. Strings only at the edges (``parse_*`` in; ``canonical_cidr``, ``ip_key`` out);
inside, addresses are ``ipaddress`` objects or plain ints. ``usable_range`` is the one
reservation rule::

    IPv4 10.0.0.0/24 (prefix <= 30)
      10.0.0.0    10.0.0.1 ........... 10.0.0.254   10.0.0.255
      [network]   [------------ usable ----------]   [broadcast]
      excluded    .1 = default gateway               excluded
    IPv4 /31 (RFC 3021) and /32: no network/broadcast address
      10.0.0.0/31: [10.0.0.0 10.0.0.1] both usable, gateway 10.0.0.1;  /32: usable, no gateway

    IPv6 2001:db8::/64 (prefix <= 126): no broadcast, but the network address is the
    subnet-router anycast address (RFC 4291 2.6.1)
      2001:db8::      2001:db8::1 ......... 2001:db8::ffff:ffff:ffff:ffff
      [anycast]       [------------------- usable ---------------------]
      excluded, and the default gateway (Neutron's default)
    IPv6 /127 (RFC 6164) and /128: every address usable
      2001:db8::/127: [2001:db8:: 2001:db8::1]
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from quark import errors

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

AUTO_ADDRESS_MODES = frozenset({"slaac", "dhcpv6-stateless"})
_KEY_WIDTH = {4: 8, 6: 32}
_HEX = re.compile(r"[0-9a-fA-F]+")


def _invalid(message: str) -> errors.InvalidInput:
    return errors.InvalidInput(error_message=message)


def _address(value: int, version: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def parse_ip(text: str, version: int | None = None) -> IPAddress:
    """Parse one address. Nothing is stripped; IPv6 scope ids ("fe80::1%eth0") are refused.

    InvalidInput "'<text>' is not a valid IP address" for garbage or a non-str;
    "'<text>' is not a valid IPv<version> address" when ``version`` does not match.
    """
    if not isinstance(text, str) or "%" in text:
        raise _invalid(f"'{text}' is not a valid IP address")
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise _invalid(f"'{text}' is not a valid IP address") from None
    if version is not None and addr.version != version:
        raise _invalid(f"'{text}' is not a valid IPv{version} address")
    return addr


def canonical_ip(text: str) -> str:
    """One address in its canonical spelling, as ``ipaddress`` reads it (lenient where
    ``parse_ip`` is strict: an IPv6 scope id is kept). InvalidInput "'<text>' is not a
    valid IP address" otherwise."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _invalid(f"'{text}' is not a valid IP address") from None


def parse_cidr(text: str, version: int | None = None) -> IPNetwork:
    """Parse a client's subnet CIDR. InvalidInput, checked in this (Neutron's) order:

    1. garbage, non-str, scope id: "'<text>' is not a valid IP subnet";
    2. no '/', host bits set (IPv4 and IPv6), or an IPv4 spelling other than the canonical one
       (netmask, '/024'): "'<text>' isn't a recognized IP subnet cidr, '<canonical>' is recommended";
    3. ``version`` mismatch: "cidr '<text>' does not match the ip_version '<version>'";
    4. prefix length 0: "... 0 is not allowed as CIDR prefix length ...".
    """
    if not isinstance(text, str) or "%" in text:
        raise _invalid(f"'{text}' is not a valid IP subnet")
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise _invalid(f"'{text}' is not a valid IP subnet") from None
    recommended = canonical_cidr(net)
    host_bits = ipaddress.ip_interface(text).ip != net.network_address
    if "/" not in text or host_bits or (net.version == 4 and text != recommended):
        raise _invalid(f"'{text}' isn't a recognized IP subnet cidr, '{recommended}' is recommended")
    if version is not None and net.version != version:
        raise _invalid(f"cidr '{text}' does not match the ip_version '{version}'")
    if net.prefixlen == 0:
        raise _invalid(f"'{text}': 0 is not allowed as CIDR prefix length, it must be greater than 0")
    return net


def canonical_cidr(net: IPNetwork) -> str:
    """The stored spelling, compressed and lower case: "2001:db8::/64", "10.0.0.0/24"."""
    return f"{net.network_address.compressed}/{net.prefixlen}"


def normalize_cidr_filter(text: str) -> str | None:
    """Canonical CIDR of a list-filter value with host bits cleared ("10.0.0.5/24" -> "10.0.0.0/24").

    A bare address becomes a host CIDR ("10.0.0.5/32"). Garbage, non-str, scope id: None.
    """
    if not isinstance(text, str) or "%" in text:
        return None
    try:
        return canonical_cidr(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return None


def usable_range(net: IPNetwork) -> tuple[int, int] | None:
    """Inclusive (first, last) ints of the addresses a subnet may hand out (see module diagram).

    IPv4 prefix <= 30: network+1 .. broadcast-1; /31, /32: all. IPv6 prefix <= 126:
    network+1 .. last; /127, /128: all. Never None for a real network (None is in the contract).
    """
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.max_prefixlen - net.prefixlen >= 2:
        first, last = first + 1, (last - 1 if net.version == 4 else last)
    return (first, last) if first <= last else None


def default_gateway(net: IPNetwork) -> IPAddress | None:
    """IPv4: network+1 (a /31's second address), None for a /32. IPv6: the network address, always."""
    if net.version == 6:
        return net.network_address
    return None if net.prefixlen == 32 else net.network_address + 1


def default_pools(net: IPNetwork, gateway: IPAddress | None) -> list[tuple[IPAddress, IPAddress]]:
    """usable_range minus the gateway, as 0, 1 or 2 (start, end) pairs.

    A gateway outside the usable range (outside the CIDR, IPv6 anycast, other version, None)
    removes nothing. 10.0.0.0/24: gw .1 -> [(.2, .254)]; .100 -> [(.1, .99), (.101, .254)].
    """
    bounds = usable_range(net)
    ranges = RangeSet([bounds] if bounds else [])
    if gateway is not None and gateway.version == net.version:
        ranges = ranges.subtract(RangeSet([(int(gateway), int(gateway))]))
    return [(_address(lo, net.version), _address(hi, net.version)) for lo, hi in ranges.ranges()]


def _parse_pool(pool: Any, version: int) -> tuple[IPAddress, IPAddress]:
    """A {"start", "end"} dict or a 2-sequence of strings (address objects tolerated)."""
    ends: list[Any]
    if isinstance(pool, dict):
        ends = [pool.get("start"), pool.get("end")]
    else:
        ends = list(pool) if isinstance(pool, (tuple, list)) and len(pool) == 2 else [None, None]
    ends = [str(end) if isinstance(end, IPAddress) else end for end in ends]
    shown = f"{ends[0]}-{ends[1]}" if all(isinstance(end, str) for end in ends) else repr(pool)
    try:
        first, last = parse_ip(ends[0], version), parse_ip(ends[1], version)
    except errors.InvalidInput:
        raise errors.InvalidAllocationPool(pool=shown) from None
    if int(first) > int(last):  # one version: parse_ip checked it
        raise errors.InvalidAllocationPool(pool=shown)
    return first, last


def _text(pool: tuple[IPAddress, IPAddress]) -> str:
    return f"{pool[0]}-{pool[1]}"


def validate_pools(
    net: IPNetwork, pools: Iterable[Any], gateway: IPAddress | None
) -> list[tuple[IPAddress, IPAddress]]:
    """Check client pools; return them sorted by start as (start, end) address pairs.

    Each check runs over all pools before the next begins (pools shown "10.0.0.2-10.0.0.20"):
    1. bounds parse, have the subnet's version, start <= end, else InvalidAllocationPool;
    2. each pool lies inside usable_range(net), else OutOfBoundsAllocationPool;
    3. no two pools overlap, else OverlappingAllocationPools (lower pool first);
    4. the gateway (if not None) is in no pool, else GatewayConflictWithAllocationPools.
    """
    parsed = [_parse_pool(pool, net.version) for pool in pools]
    lo, hi = usable_range(net) or (1, 0)
    for pool in parsed:
        if int(pool[0]) < lo or int(pool[1]) > hi:
            raise errors.OutOfBoundsAllocationPool(pool=_text(pool), subnet_cidr=str(net))
    parsed.sort()
    for before, pool in zip(parsed, parsed[1:]):  # sorted: the first overlap is between neighbours
        if int(pool[0]) <= int(before[1]):
            raise errors.OverlappingAllocationPools(pool_1=_text(before), pool_2=_text(pool), subnet_cidr=str(net))
    for pool in parsed:
        if gateway is not None and gateway.version == net.version and int(pool[0]) <= int(gateway) <= int(pool[1]):
            raise errors.GatewayConflictWithAllocationPools(ip_address=str(gateway), pool=_text(pool))
    return parsed


def validate_gateway(net: IPNetwork, gateway: IPAddress) -> None:
    """Refuse an IPv4 gateway equal to the network or broadcast address of a prefix <= 30.

    Outside the CIDR is allowed (its subnet is unknown); /31, /32 and IPv6 take any address.
    InvalidInput "'<gw>' is not a valid IPv<v> address" for the wrong version, else
    "Gateway is not valid on subnet".
    """
    if gateway.version != net.version:
        raise _invalid(f"'{gateway}' is not a valid IPv{net.version} address")
    if net.version == 4 and net.prefixlen <= 30 and gateway in (net.network_address, net.broadcast_address):
        raise _invalid("Gateway is not valid on subnet")


def eui64(prefix: IPNetwork, mac: int | str) -> ipaddress.IPv6Address:
    """Modified EUI-64 address (RFC 4291 app. A): upper 64 bits of ``prefix`` + interface id.

    Interface id = MAC with ff:fe inserted in the middle and the U/L bit flipped:
    fa:16:3e:12:34:56 on 2001:db8::/64 -> 2001:db8::f816:3eff:fe12:3456. Prefix bits past
    the 64th are ignored. A str MAC goes through macs.parse_mac (its InvalidInput propagates);
    an int outside 48 bits or an IPv4 prefix: InvalidInput.
    """
    from quark.ipam import macs  # local import: no import-order coupling between the modules

    value = macs.parse_mac(mac) if isinstance(mac, str) else mac
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 48:
        raise _invalid(f"'{mac}' is not a valid MAC address")
    if not isinstance(prefix, ipaddress.IPv6Network):
        raise _invalid(f"EUI-64 needs an IPv6 prefix, not '{prefix}'")
    interface_id = ((value >> 24) << 40 | 0xFFFE << 24 | value & 0xFFFFFF) ^ (0x02 << 56)
    return ipaddress.IPv6Address(int(prefix.network_address) >> 64 << 64 | interface_id)


def is_auto_address(subnet: Any) -> bool:
    """Whether a subnet (any object with ``ip_version`` and the IPv6 modes)
    gives its ports EUI-64 addresses (SLAAC, DHCPv6-stateless) instead of
    allocating them."""
    return subnet.ip_version == 6 and is_auto_address_mode(subnet.ipv6_ra_mode, subnet.ipv6_address_mode)


def is_auto_address_mode(ra_mode: str | None, address_mode: str | None) -> bool:
    """True when either mode is "slaac" or "dhcpv6-stateless" (addresses are EUI-64)."""
    return ra_mode in AUTO_ADDRESS_MODES or address_mode in AUTO_ADDRESS_MODES


def ip_key(addr: IPAddress | int, version: int) -> str:
    """Fixed-width lower-case hex (IPv4 8 digits, IPv6 32) so string order == numeric order.

    ValueError for an unknown version, an address of the other version, an int out of range.
    """
    width = _KEY_WIDTH.get(version)
    if width is None or (isinstance(addr, IPAddress) and addr.version != version):
        raise ValueError(f"{addr!r} cannot be keyed as IP version {version!r}")
    value = int(addr)
    if not 0 <= value < 1 << (4 * width):
        raise ValueError(f"{value} is out of range for IPv{version}")
    return format(value, f"0{width}x")


def ip_from_key(key: str, version: int) -> IPAddress:
    """Inverse of ip_key; ValueError unless ``key`` is exactly the version's width of hex digits."""
    width = _KEY_WIDTH.get(version)
    if width is None or not isinstance(key, str) or len(key) != width or not _HEX.fullmatch(key):
        raise ValueError(f"{key!r} is not an IPv{version} key")
    return _address(int(key, 16), version)


class RangeSet:
    """Immutable sorted set of disjoint inclusive integer ranges [(first,last),...], merged when adjacent.

    Queries are O(log r) (bisect over starts and prefix sums of sizes), set operations O(r) in
    the number of ranges r: nothing is proportional to the member count, so an IPv6 /64 costs
    what a /30 does. Construction sorts its input (O(r log r)).
    """

    __slots__ = ("_starts", "_ends", "_cum")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        """Normalise ``ranges`` (any order, overlaps allowed); ValueError if some first > last."""
        merged: list[list[int]] = []
        for first, last in sorted((int(a), int(b)) for a, b in ranges):
            if first > last:
                raise ValueError(f"range ({first}, {last}) has first > last")
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        self._starts = tuple(first for first, _ in merged)
        self._ends = tuple(last for _, last in merged)
        cum, total = [], 0
        for first, last in merged:
            total += last - first + 1
            cum.append(total)
        self._cum = tuple(cum)  # _cum[i]: members in ranges 0..i

    @classmethod
    def from_pools(cls, pools: Iterable[tuple[IPAddress, IPAddress]]) -> RangeSet:
        """From (start, end) address pairs, as validate_pools and default_pools return them."""
        return cls((int(start), int(end)) for start, end in pools)

    def ranges(self) -> tuple[tuple[int, int], ...]:
        return tuple(zip(self._starts, self._ends))

    @property
    def size(self) -> int:
        """Number of members (a Python int; may exceed 2**64)."""
        return self._cum[-1] if self._cum else 0

    def subtract(self, other: RangeSet) -> RangeSet:
        """Members of self not in other; O(r_self + r_other)."""
        out: list[tuple[int, int]] = []
        j, starts, ends = 0, other._starts, other._ends
        for first, last in zip(self._starts, self._ends):
            while j < len(starts) and ends[j] < first:
                j += 1
            cur, k = first, j
            while k < len(starts) and starts[k] <= last and cur <= last:
                if starts[k] > cur:
                    out.append((cur, starts[k] - 1))
                cur, k = ends[k] + 1, k + 1  # ends[k] >= first, and ends only grow
            if cur <= last:
                out.append((cur, last))
        return RangeSet(out)

    def subtract_cidrs(self, cidrs: Iterable[IPNetwork]) -> RangeSet:
        """Remove whole CIDRs (network to broadcast). Pass CIDRs of the set's own IP version."""
        return self.subtract(RangeSet((int(c.network_address), int(c.broadcast_address)) for c in cidrs))

    def intersect(self, other: RangeSet) -> RangeSet:
        """Members in both sets; O(r_self + r_other)."""
        out: list[tuple[int, int]] = []
        i = j = 0
        while i < len(self._starts) and j < len(other._starts):
            lo, hi = max(self._starts[i], other._starts[j]), min(self._ends[i], other._ends[j])
            if lo <= hi:
                out.append((lo, hi))
            if self._ends[i] < other._ends[j]:
                i += 1
            else:
                j += 1
        return RangeSet(out)

    def _range_of(self, x: int) -> int:
        """Index of the range holding x, or -1."""
        i = bisect.bisect_right(self._starts, x) - 1
        return i if i >= 0 and x <= self._ends[i] else -1

    def __contains__(self, x: object) -> bool:
        """Membership of an int; TypeError otherwise (int() an address object first)."""
        if not isinstance(x, int):
            raise TypeError(f"RangeSet members are ints, not {type(x).__name__}")
        return self._range_of(x) >= 0

    def first_at_or_after(self, x: int) -> int | None:
        """Smallest member >= x, or None."""
        i = bisect.bisect_right(self._starts, x) - 1
        if i >= 0 and x <= self._ends[i]:
            return x
        return self._starts[i + 1] if i + 1 < len(self._starts) else None

    def members_from(self, x: int, count: int) -> list[int]:
        """Up to ``count`` members >= x, ascending; O(log r + count), never more."""
        out: list[int] = []
        i = bisect.bisect_right(self._starts, x) - 1
        if i < 0 or x > self._ends[i]:
            i += 1
            if i < len(self._starts):
                x = self._starts[i]
        while i < len(self._starts) and len(out) < count:
            take = min(count - len(out), self._ends[i] - x + 1)
            out.extend(range(x, x + take))
            i += 1
            if i < len(self._starts):
                x = self._starts[i]
        return out

    def nth(self, k: int) -> int:
        """The k-th member (0-based, ascending); IndexError unless 0 <= k < size."""
        if not 0 <= k < self.size:
            raise IndexError(f"index {k} out of range for a set of {self.size}")
        i = bisect.bisect_right(self._cum, k)
        return self._starts[i] + k - (self._cum[i - 1] if i else 0)

    def index_of(self, x: int) -> int:
        """Position of member x (inverse of nth); ValueError if x is not a member."""
        i = self._range_of(x)
        if i < 0:
            raise ValueError(f"{x} is not in the set")
        return (self._cum[i - 1] if i else 0) + x - self._starts[i]

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RangeSet):
            return NotImplemented
        return self._starts == other._starts and self._ends == other._ends

    def __hash__(self) -> int:
        return hash((self._starts, self._ends))

    def __repr__(self) -> str:
        return f"RangeSet({list(self.ranges())!r})"
