"""Unit tests for quark.ipam.addressing (pure IP arithmetic)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quark import errors
from quark.ipam import addressing
from quark.ipam.addressing import RangeSet

N = ipaddress.ip_network
A = ipaddress.ip_address


def ints(*texts: str) -> tuple[int, ...]:
    return tuple(int(A(t)) for t in texts)


def addr_pairs(*pairs: tuple[str, str]) -> list[tuple]:
    return [(A(lo), A(hi)) for lo, hi in pairs]


# --- usable_range / default_gateway ---------------------------------------------------------

USABLE = [
    pytest.param("10.0.0.0/24", ("10.0.0.1", "10.0.0.254"), id="v4-/24"),
    pytest.param("10.0.0.0/30", ("10.0.0.1", "10.0.0.2"), id="v4-/30"),
    pytest.param("10.0.0.0/31", ("10.0.0.0", "10.0.0.1"), id="v4-/31"),
    pytest.param("10.0.0.7/32", ("10.0.0.7", "10.0.0.7"), id="v4-/32"),
    pytest.param("2001:db8::/64", ("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff"), id="v6-/64"),
    pytest.param("2001:db8::/126", ("2001:db8::1", "2001:db8::3"), id="v6-/126"),
    pytest.param("2001:db8::/127", ("2001:db8::", "2001:db8::1"), id="v6-/127"),
    pytest.param("2001:db8::5/128", ("2001:db8::5", "2001:db8::5"), id="v6-/128"),
]


@pytest.mark.parametrize(("cidr", "expected"), USABLE)
def test_usable_range(cidr, expected):
    assert addressing.usable_range(N(cidr)) == ints(*expected)


GATEWAYS = [
    pytest.param("10.0.0.0/24", "10.0.0.1", id="v4-/24"),
    pytest.param("10.0.0.0/30", "10.0.0.1", id="v4-/30"),
    pytest.param("10.0.0.0/31", "10.0.0.1", id="v4-/31-second-address"),
    pytest.param("10.0.0.7/32", None, id="v4-/32-none"),
    pytest.param("2001:db8::/64", "2001:db8::", id="v6-/64-anycast"),
    pytest.param("2001:db8::/126", "2001:db8::", id="v6-/126"),
    pytest.param("2001:db8::/127", "2001:db8::", id="v6-/127"),
    pytest.param("2001:db8::5/128", "2001:db8::5", id="v6-/128"),
]


@pytest.mark.parametrize(("cidr", "expected"), GATEWAYS)
def test_default_gateway(cidr, expected):
    assert addressing.default_gateway(N(cidr)) == (None if expected is None else A(expected))


@given(st.integers(0, 32), st.integers(0, 2**32 - 1))
def test_usable_range_size_formula_v4(prefix, value):
    net = ipaddress.IPv4Network((value, prefix), strict=False)
    first, last = addressing.usable_range(net)
    assert last - first + 1 == (2 ** (32 - prefix) - 2 if prefix <= 30 else 2 ** (32 - prefix))
    assert int(net.network_address) <= first and last <= int(net.broadcast_address)


@given(st.integers(0, 128), st.integers(0, 2**128 - 1))
def test_usable_range_size_formula_v6(prefix, value):
    net = ipaddress.IPv6Network((value, prefix), strict=False)
    first, last = addressing.usable_range(net)
    assert last - first + 1 == (2 ** (128 - prefix) - 1 if prefix <= 126 else 2 ** (128 - prefix))
    assert last == int(net.broadcast_address)


# --- default_pools ---------------------------------------------------------------------------

DEFAULT_POOLS = [
    pytest.param("10.0.0.0/24", "10.0.0.1", [("10.0.0.2", "10.0.0.254")], id="gw-at-start"),
    pytest.param(
        "10.0.0.0/24", "10.0.0.100", [("10.0.0.1", "10.0.0.99"), ("10.0.0.101", "10.0.0.254")], id="gw-middle"
    ),
    pytest.param("10.0.0.0/24", "10.0.0.254", [("10.0.0.1", "10.0.0.253")], id="gw-at-end"),
    pytest.param("10.0.0.0/24", None, [("10.0.0.1", "10.0.0.254")], id="gw-none"),
    pytest.param("10.0.0.0/24", "192.168.0.1", [("10.0.0.1", "10.0.0.254")], id="gw-outside-cidr"),
    pytest.param("10.0.0.0/24", "10.0.0.0", [("10.0.0.1", "10.0.0.254")], id="gw-network-address"),
    pytest.param("10.0.0.0/30", "10.0.0.1", [("10.0.0.2", "10.0.0.2")], id="v4-/30"),
    pytest.param("10.0.0.0/31", "10.0.0.1", [("10.0.0.0", "10.0.0.0")], id="v4-/31"),
    pytest.param("10.0.0.7/32", "10.0.0.7", [], id="v4-/32-gw-is-only-address"),
    pytest.param("2001:db8::/64", "2001:db8::", [("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff")], id="v6-gw-anycast"),
    pytest.param("2001:db8::/64", "2001:db8::1", [("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff")], id="v6-gw-first"),
    pytest.param("2001:db8::/127", "2001:db8::", [("2001:db8::1", "2001:db8::1")], id="v6-/127"),
]


@pytest.mark.parametrize(("cidr", "gateway", "expected"), DEFAULT_POOLS)
def test_default_pools(cidr, gateway, expected):
    gw = None if gateway is None else A(gateway)
    assert addressing.default_pools(N(cidr), gw) == addr_pairs(*expected)


@st.composite
def networks_and_gateways(draw):
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    prefix = draw(st.integers(0, bits))
    network_class = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    net = network_class((draw(st.integers(0, 2**bits - 1)), prefix), strict=False)
    first, last = int(net.network_address), int(net.broadcast_address)
    choice = draw(st.sampled_from(["none", "default", "inside", "outside"]))
    if choice == "none":
        return net, None
    if choice == "default":
        return net, addressing.default_gateway(net)
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    if choice == "inside" or prefix == 0:  # a /0 has no outside
        return net, make(draw(st.integers(first, last)))
    outside = draw(st.integers(0, 2**bits - 1).filter(lambda v: not first <= v <= last))
    return net, make(outside)


@given(networks_and_gateways())
def test_default_pools_properties(case):
    net, gateway = case
    pools = addressing.default_pools(net, gateway)
    lo, hi = addressing.usable_range(net)
    members = RangeSet.from_pools(pools)
    assert len(members.ranges()) == len(pools)  # disjoint, not adjacent, sorted
    assert [(int(a), int(b)) for a, b in pools] == list(members.ranges())
    assert members == members.intersect(RangeSet([(lo, hi)]))
    gateway_used = gateway is not None and lo <= int(gateway) <= hi
    assert members.size == hi - lo + 1 - gateway_used
    if gateway is not None:
        assert int(gateway) not in members
    if net.max_prefixlen - net.prefixlen >= 2:
        assert int(net.network_address) not in members
        if net.version == 4:
            assert int(net.broadcast_address) not in members
    # what default_pools produces, validate_pools accepts unchanged
    as_text = [{"start": str(a), "end": str(b)} for a, b in pools]
    assert addressing.validate_pools(net, as_text, gateway) == pools


# --- validate_pools --------------------------------------------------------------------------

NET24 = "10.0.0.0/24"


def test_validate_pools_accepts_dicts_and_tuples_and_sorts():
    pools = [("10.0.0.50", "10.0.0.60"), {"start": "10.0.0.2", "end": "10.0.0.20"}]
    result = addressing.validate_pools(N(NET24), pools, A("10.0.0.1"))
    assert result == addr_pairs(("10.0.0.2", "10.0.0.20"), ("10.0.0.50", "10.0.0.60"))


def test_validate_pools_accepts_slash31_and_v6_pools():
    v4 = addressing.validate_pools(N("10.0.0.0/31"), [("10.0.0.0", "10.0.0.1")], None)
    assert v4 == addr_pairs(("10.0.0.0", "10.0.0.1"))
    last = "2001:db8::ffff:ffff:ffff:ffff"
    v6 = addressing.validate_pools(N("2001:db8::/64"), [("2001:DB8::10", last)], A("2001:db8::"))
    assert v6 == addr_pairs(("2001:db8::10", "2001:db8::ffff:ffff:ffff:ffff"))


POOL_ERRORS = [
    pytest.param(
        [("10.0.0.x", "10.0.0.20")], errors.InvalidAllocationPool, {"pool": "10.0.0.x-10.0.0.20"}, id="invalid-garbage"
    ),
    pytest.param(
        [(" 10.0.0.2", "10.0.0.20")],
        errors.InvalidAllocationPool,
        {"pool": " 10.0.0.2-10.0.0.20"},
        id="invalid-whitespace",
    ),
    pytest.param(
        [("10.0.0.20", "10.0.0.2")], errors.InvalidAllocationPool, {"pool": "10.0.0.20-10.0.0.2"}, id="invalid-reversed"
    ),
    pytest.param([("2001:db8::1", "2001:db8::2")], errors.InvalidAllocationPool, {}, id="invalid-version"),
    pytest.param(
        [{"start": "10.0.0.2"}],
        errors.InvalidAllocationPool,
        {"pool": "{'start': '10.0.0.2'}"},
        id="invalid-missing-end",
    ),
    pytest.param(["10.0.0.2"], errors.InvalidAllocationPool, {}, id="invalid-not-a-pair"),
    pytest.param(
        [("10.0.0.0", "10.0.0.20")],
        errors.OutOfBoundsAllocationPool,
        {"pool": "10.0.0.0-10.0.0.20", "subnet_cidr": NET24},
        id="oob-network-address",
    ),
    pytest.param(
        [("10.0.0.200", "10.0.0.255")],
        errors.OutOfBoundsAllocationPool,
        {"pool": "10.0.0.200-10.0.0.255"},
        id="oob-broadcast",
    ),
    pytest.param(
        [("10.0.1.1", "10.0.1.20")], errors.OutOfBoundsAllocationPool, {"pool": "10.0.1.1-10.0.1.20"}, id="oob-outside"
    ),
    pytest.param(
        [("10.0.0.30", "10.0.0.40"), ("10.0.0.2", "10.0.0.30")],
        errors.OverlappingAllocationPools,
        {"pool_1": "10.0.0.2-10.0.0.30", "pool_2": "10.0.0.30-10.0.0.40", "subnet_cidr": NET24},
        id="overlap",
    ),
    pytest.param(
        [("10.0.0.2", "10.0.0.100"), ("10.0.0.10", "10.0.0.20"), ("10.0.0.50", "10.0.0.60")],
        errors.OverlappingAllocationPools,
        {"pool_1": "10.0.0.2-10.0.0.100", "pool_2": "10.0.0.10-10.0.0.20"},
        id="overlap-nested",
    ),
    pytest.param(
        [("10.0.0.2", "10.0.0.20"), ("10.0.0.30", "10.0.0.40")],
        errors.GatewayConflictWithAllocationPools,
        {"ip_address": "10.0.0.35", "pool": "10.0.0.30-10.0.0.40"},
        id="gateway-conflict",
    ),
    # two faults each: the earlier check wins even when the later fault comes first in the list
    pytest.param(
        [("10.0.0.0", "10.0.0.20"), ("10.0.0.50", "bad")],
        errors.InvalidAllocationPool,
        {"pool": "10.0.0.50-bad"},
        id="order-invalid-before-out-of-bounds",
    ),
    pytest.param(
        [("10.0.0.2", "10.0.0.30"), ("10.0.0.20", "10.0.0.40"), ("10.0.0.250", "10.0.0.255")],
        errors.OutOfBoundsAllocationPool,
        {"pool": "10.0.0.250-10.0.0.255"},
        id="order-out-of-bounds-before-overlap",
    ),
    pytest.param(
        [("10.0.0.30", "10.0.0.40"), ("10.0.0.2", "10.0.0.35")],
        errors.OverlappingAllocationPools,
        {"pool_1": "10.0.0.2-10.0.0.35"},
        id="order-overlap-before-gateway",
    ),
]


@pytest.mark.parametrize(("pools", "error", "kwargs"), POOL_ERRORS)
def test_validate_pools_errors(pools, error, kwargs):
    with pytest.raises(error) as info:
        addressing.validate_pools(N(NET24), pools, A("10.0.0.35"))
    assert type(info.value) is error
    for key, value in kwargs.items():
        assert info.value.kwargs[key] == value


def test_validate_pools_message_format():
    with pytest.raises(errors.GatewayConflictWithAllocationPools) as info:
        addressing.validate_pools(N(NET24), [{"start": "10.0.0.2", "end": "10.0.0.20"}], A("10.0.0.2"))
    assert info.value.msg == "Gateway ip 10.0.0.2 conflicts with allocation pool 10.0.0.2-10.0.0.20."


# --- validate_gateway --------------------------------------------------------------------------

GATEWAY_CHECKS = [
    pytest.param("10.0.0.0/24", "10.0.0.1", True, id="v4-first-host"),
    pytest.param("10.0.0.0/24", "10.0.0.254", True, id="v4-last-host"),
    pytest.param("10.0.0.0/24", "10.0.0.0", False, id="v4-network"),
    pytest.param("10.0.0.0/24", "10.0.0.255", False, id="v4-broadcast"),
    pytest.param("10.0.0.0/30", "10.0.0.3", False, id="v4-/30-broadcast"),
    pytest.param("10.0.0.0/24", "192.168.1.1", True, id="v4-outside-cidr"),
    pytest.param("10.0.0.0/31", "10.0.0.0", True, id="v4-/31-first"),
    pytest.param("10.0.0.7/32", "10.0.0.7", True, id="v4-/32"),
    pytest.param("2001:db8::/64", "2001:db8::", True, id="v6-anycast"),
    pytest.param("2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", True, id="v6-last"),
    pytest.param("10.0.0.0/24", "2001:db8::1", False, id="wrong-version"),
]


@pytest.mark.parametrize(("cidr", "gateway", "ok"), GATEWAY_CHECKS)
def test_validate_gateway(cidr, gateway, ok):
    if ok:
        assert addressing.validate_gateway(N(cidr), A(gateway)) is None
    else:
        with pytest.raises(errors.InvalidInput):
            addressing.validate_gateway(N(cidr), A(gateway))


def test_validate_gateway_message():
    with pytest.raises(errors.InvalidInput) as info:
        addressing.validate_gateway(N("10.0.0.0/24"), A("10.0.0.255"))
    assert info.value.kwargs["error_message"] == "Gateway is not valid on subnet"


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version", "expected"),
    [
        pytest.param("10.0.0.1", None, "10.0.0.1", id="v4"),
        pytest.param("10.0.0.1", 4, "10.0.0.1", id="v4-versioned"),
        pytest.param("2001:DB8:0::1", 6, "2001:db8::1", id="v6-upper"),
    ],
)
def test_parse_ip(text, version, expected):
    assert addressing.parse_ip(text, version) == A(expected)


@pytest.mark.parametrize(
    ("text", "version", "message"),
    [
        pytest.param("10.0.0.256", None, "'10.0.0.256' is not a valid IP address", id="garbage"),
        pytest.param(" 10.0.0.1", None, "' 10.0.0.1' is not a valid IP address", id="whitespace"),
        pytest.param("010.0.0.1", None, "'010.0.0.1' is not a valid IP address", id="leading-zero"),
        pytest.param("fe80::1%eth0", None, "'fe80::1%eth0' is not a valid IP address", id="scope-id"),
        pytest.param("10.0.0.0/24", None, "'10.0.0.0/24' is not a valid IP address", id="cidr"),
        pytest.param(167772161, None, "'167772161' is not a valid IP address", id="int"),
        pytest.param(None, None, "'None' is not a valid IP address", id="none"),
        pytest.param("10.0.0.1", 6, "'10.0.0.1' is not a valid IPv6 address", id="version-mismatch-4-6"),
        pytest.param("::1", 4, "'::1' is not a valid IPv4 address", id="version-mismatch-6-4"),
    ],
)
def test_parse_ip_errors(text, version, message):
    with pytest.raises(errors.InvalidInput) as info:
        addressing.parse_ip(text, version)
    assert info.value.kwargs["error_message"] == message


@pytest.mark.parametrize(
    ("text", "version", "expected"),
    [
        pytest.param("10.0.0.0/24", 4, "10.0.0.0/24", id="v4"),
        pytest.param("10.0.0.4/30", None, "10.0.0.4/30", id="v4-/30"),
        pytest.param("10.0.0.5/32", 4, "10.0.0.5/32", id="v4-/32"),
        pytest.param("2001:DB8:0:0::/64", 6, "2001:db8::/64", id="v6-upper-uncompressed"),
        pytest.param("2001:db8::1/128", 6, "2001:db8::1/128", id="v6-/128"),
    ],
)
def test_parse_cidr(text, version, expected):
    net = addressing.parse_cidr(text, version)
    assert net == N(expected)
    assert addressing.canonical_cidr(net) == expected


@pytest.mark.parametrize(
    ("text", "version", "message"),
    [
        pytest.param(
            "10.0.0.5/24",
            None,
            "'10.0.0.5/24' isn't a recognized IP subnet cidr, '10.0.0.0/24' is recommended",
            id="v4-host-bits",
        ),
        pytest.param(
            "2001:DB8::1/64",
            None,
            "'2001:DB8::1/64' isn't a recognized IP subnet cidr, '2001:db8::/64' is recommended",
            id="v6-host-bits",
        ),
        pytest.param(
            "10.0.0.0",
            None,
            "'10.0.0.0' isn't a recognized IP subnet cidr, '10.0.0.0/32' is recommended",
            id="no-slash",
        ),
        pytest.param(
            "10.0.0.0/255.255.255.0",
            4,
            "'10.0.0.0/255.255.255.0' isn't a recognized IP subnet cidr, '10.0.0.0/24' is recommended",
            id="netmask",
        ),
        pytest.param(
            "10.0.0.5/24",
            6,
            "'10.0.0.5/24' isn't a recognized IP subnet cidr, '10.0.0.0/24' is recommended",
            id="host-bits-before-version",
        ),
        pytest.param("10.0.0.0/24", 6, "cidr '10.0.0.0/24' does not match the ip_version '6'", id="version-mismatch"),
        pytest.param(
            "2001:db8::/64", 4, "cidr '2001:db8::/64' does not match the ip_version '4'", id="version-mismatch-v6"
        ),
        pytest.param("10.0.0.0/33", None, "'10.0.0.0/33' is not a valid IP subnet", id="prefix-too-long"),
        pytest.param("garbage", None, "'garbage' is not a valid IP subnet", id="garbage"),
        pytest.param("10.0.0.0/24 ", None, "'10.0.0.0/24 ' is not a valid IP subnet", id="whitespace"),
        pytest.param("fe80::%1/64", None, "'fe80::%1/64' is not a valid IP subnet", id="scope-id"),
        pytest.param(None, None, "'None' is not a valid IP subnet", id="none"),
    ],
)
def test_parse_cidr_errors(text, version, message):
    with pytest.raises(errors.InvalidInput) as info:
        addressing.parse_cidr(text, version)
    assert info.value.kwargs["error_message"] == message


@pytest.mark.parametrize("text", ["0.0.0.0/0", "::/0"])
def test_parse_cidr_prefix_zero(text):
    with pytest.raises(errors.InvalidInput) as info:
        addressing.parse_cidr(text)
    assert "0 is not allowed as CIDR prefix length" in info.value.kwargs["error_message"]
    assert text in info.value.kwargs["error_message"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("10.0.0.5/24", "10.0.0.0/24", id="v4-host-bits"),
        pytest.param("2001:DB8::1/64", "2001:db8::/64", id="v6-host-bits"),
        pytest.param("10.0.0.5", "10.0.0.5/32", id="bare-address"),
        pytest.param("0.0.0.0/0", "0.0.0.0/0", id="default-route"),
        pytest.param("nope", None, id="garbage"),
        pytest.param("fe80::1%eth0", None, id="scope-id"),
        pytest.param(42, None, id="non-str"),
    ],
)
def test_normalize_cidr_filter(text, expected):
    assert addressing.normalize_cidr_filter(text) == expected


# --- EUI-64 and modes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "mac", "expected"),
    [
        pytest.param("2001:db8::/64", "fa:16:3e:12:34:56", "2001:db8::f816:3eff:fe12:3456", id="neutron-mac"),
        pytest.param("fe80::/64", "aa:bb:cc:dd:ee:ff", "fe80::a8bb:ccff:fedd:eeff", id="link-local"),
        pytest.param("2001:db8::/64", 0xFA163E123456, "2001:db8::f816:3eff:fe12:3456", id="int-mac"),
        pytest.param(
            "2001:db8:1:200::/56",
            "00:00:5e:00:53:01",
            "2001:db8:1:200:200:5eff:fe00:5301",
            id="short-prefix-ul-bit-set",
        ),
        pytest.param(
            "2001:db8::1234:0:0:0/80", "fa:16:3e:12:34:56", "2001:db8::f816:3eff:fe12:3456", id="long-prefix-upper-64"
        ),
    ],
)
def test_eui64(prefix, mac, expected):
    assert addressing.eui64(N(prefix), mac) == A(expected)


@pytest.mark.parametrize(
    ("prefix", "mac"),
    [
        pytest.param("10.0.0.0/24", "fa:16:3e:12:34:56", id="ipv4-prefix"),
        pytest.param("2001:db8::/64", "01:00:5e:00:00:01", id="multicast-mac"),
        pytest.param("2001:db8::/64", "not-a-mac", id="garbage-mac"),
        pytest.param("2001:db8::/64", 1 << 48, id="int-too-big"),
        pytest.param("2001:db8::/64", -1, id="negative-int"),
    ],
)
def test_eui64_errors(prefix, mac):
    with pytest.raises(errors.InvalidInput):
        addressing.eui64(N(prefix), mac)


@given(st.integers(0, 2**48 - 1), st.integers(0, 2**128 - 1), st.integers(1, 64))
def test_eui64_round_trip(mac, prefix_value, prefix_len):
    prefix = ipaddress.IPv6Network((prefix_value, prefix_len), strict=False)
    address = int(addressing.eui64(prefix, mac))
    assert address >> 64 == int(prefix.network_address) >> 64
    interface_id = address & (2**64 - 1)
    assert (interface_id >> 24) & 0xFFFF == 0xFFFE
    flipped = interface_id ^ (0x02 << 56)
    assert (flipped >> 40) << 24 | (flipped & 0xFFFFFF) == mac


@pytest.mark.parametrize(
    ("ra", "mode", "expected"),
    [
        pytest.param("slaac", None, True, id="ra-slaac"),
        pytest.param(None, "slaac", True, id="mode-slaac"),
        pytest.param(None, "dhcpv6-stateless", True, id="mode-stateless"),
        pytest.param("dhcpv6-stateless", "dhcpv6-stateless", True, id="both-stateless"),
        pytest.param("dhcpv6-stateful", "dhcpv6-stateful", False, id="stateful"),
        pytest.param(None, None, False, id="none"),
    ],
)
def test_is_auto_address_mode(ra, mode, expected):
    assert addressing.is_auto_address_mode(ra, mode) is expected


# --- ip_key ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addr", "version", "key"),
    [
        pytest.param(A("10.0.0.1"), 4, "0a000001", id="v4"),
        pytest.param(A("255.255.255.255"), 4, "ffffffff", id="v4-max"),
        pytest.param(2, 4, "00000002", id="v4-int"),
        pytest.param(A("2001:db8::1"), 6, "20010db8000000000000000000000001", id="v6"),
        pytest.param(A("::"), 6, "0" * 32, id="v6-zero"),
    ],
)
def test_ip_key(addr, version, key):
    assert addressing.ip_key(addr, version) == key
    back = addressing.ip_from_key(key, version)
    assert back.version == version and int(back) == int(addr)


def test_ip_key_string_order_is_numeric_order():
    texts = ["10.0.0.10", "10.0.0.9", "9.255.255.255", "10.0.1.0", "10.0.0.100"]
    by_key = sorted(texts, key=lambda t: addressing.ip_key(A(t), 4))
    assert by_key == ["9.255.255.255", "10.0.0.9", "10.0.0.10", "10.0.0.100", "10.0.1.0"]


@pytest.mark.parametrize(
    ("addr", "version"),
    [
        pytest.param(A("10.0.0.1"), 6, id="v4-as-v6"),
        pytest.param(A("::1"), 4, id="v6-as-v4"),
        pytest.param(2**32, 4, id="int-too-big"),
        pytest.param(-1, 6, id="negative"),
        pytest.param(1, 5, id="bad-version"),
    ],
)
def test_ip_key_errors(addr, version):
    with pytest.raises(ValueError):
        addressing.ip_key(addr, version)


@pytest.mark.parametrize(
    ("key", "version"),
    [
        pytest.param("0a00001", 4, id="short"),
        pytest.param("0a0000011", 4, id="long"),
        pytest.param("0x000001", 4, id="prefix-0x"),
        pytest.param("0a_00001", 4, id="underscore"),
        pytest.param(" a000001", 4, id="space"),
        pytest.param("0a000001", 6, id="v4-key-as-v6"),
    ],
)
def test_ip_from_key_errors(key, version):
    with pytest.raises(ValueError):
        addressing.ip_from_key(key, version)


@given(
    st.sampled_from([4, 6]).flatmap(
        lambda v: st.tuples(
            st.just(v),
            st.integers(0, 2 ** (32 if v == 4 else 128) - 1),
            st.integers(0, 2 ** (32 if v == 4 else 128) - 1),
        )
    )
)
def test_ip_key_order_equals_int_order(case):
    version, x, y = case
    kx, ky = addressing.ip_key(x, version), addressing.ip_key(y, version)
    assert (kx < ky) == (x < y) and (kx == ky) == (x == y)
    assert len(kx) == (8 if version == 4 else 32) and kx == kx.lower()
    assert int(addressing.ip_from_key(kx, version)) == x


# --- RangeSet --------------------------------------------------------------------------------------


def test_rangeset_normalises_merges_adjacent_and_overlapping():
    rs = RangeSet([(10, 12), (1, 3), (4, 5), (11, 20), (30, 30)])
    assert rs.ranges() == ((1, 5), (10, 20), (30, 30))
    assert rs.size == 5 + 11 + 1
    assert rs == RangeSet([(30, 30), (1, 5), (10, 20)])
    assert hash(rs) == hash(RangeSet([(1, 5), (10, 20), (30, 30)]))
    assert repr(rs) == "RangeSet([(1, 5), (10, 20), (30, 30)])"
    assert rs != RangeSet([(1, 5)]) and rs != [(1, 5), (10, 20), (30, 30)]


def test_rangeset_empty():
    rs = RangeSet([])
    assert not rs and rs.size == 0 and rs.ranges() == ()
    assert rs.first_at_or_after(0) is None and 5 not in rs
    with pytest.raises(IndexError):
        rs.nth(0)
    assert bool(RangeSet([(7, 7)]))


def test_rangeset_errors():
    rs = RangeSet([(1, 5), (10, 20)])
    with pytest.raises(ValueError):
        RangeSet([(5, 4)])
    with pytest.raises(IndexError):
        rs.nth(rs.size)
    with pytest.raises(IndexError):
        rs.nth(-1)
    with pytest.raises(ValueError):
        rs.index_of(7)
    with pytest.raises(TypeError):
        A("0.0.0.1") in rs  # noqa: B015 - addresses must be int()-ed


def test_rangeset_from_pools_and_subtract_cidrs():
    rs = RangeSet.from_pools(addressing.default_pools(N("10.0.0.0/24"), A("10.0.0.1")))
    assert rs.ranges() == (ints("10.0.0.2", "10.0.0.254"),)
    rest = rs.subtract_cidrs([N("10.0.0.0/28"), N("10.0.0.128/25")])
    assert rest.ranges() == (ints("10.0.0.16", "10.0.0.127"),)


def test_rangeset_on_ipv6_slash64_does_not_enumerate():
    net = N("2001:db8::/64")
    excluded = [N("2001:db8::/120"), N("2001:db8::8000:0:0:0/65"), N("2001:db8::1:0:0/96")]
    rs = RangeSet([addressing.usable_range(net)]).subtract_cidrs(excluded)
    assert rs.size == 2**64 - 2**8 - 2**63 - 2**32
    base = int(net.network_address)
    assert rs.nth(0) == base + 256
    assert rs.nth(rs.size - 1) == base + 2**63 - 1
    assert rs.first_at_or_after(base) == base + 256
    assert rs.first_at_or_after(base + 0xFFFF_FFFF) == base + 0xFFFF_FFFF
    assert rs.first_at_or_after(base + 0x1_0000_0005) == base + 0x2_0000_0000  # inside the excluded /96
    assert rs.first_at_or_after(base + 2**63) is None
    k = 2**62 + 12345
    assert rs.index_of(rs.nth(k)) == k
    assert int(A("2001:db8::8000:0:0:0")) not in rs and int(A("2001:db8::7fff:ffff:ffff:ffff")) in rs
    half = rs.intersect(RangeSet([(base, base + 2**62 - 1)]))
    assert half.size == 2**62 - 2**8 - 2**32


UNIVERSE = 64
range_lists = st.lists(
    st.tuples(st.integers(0, UNIVERSE - 1), st.integers(0, 8)).map(lambda t: (t[0], min(t[0] + t[1], UNIVERSE - 1))),
    max_size=8,
)


def model(ranges) -> set[int]:
    return {x for first, last in ranges for x in range(first, last + 1)}


def assert_matches(rs: RangeSet, members: set[int]) -> None:
    assert model(rs.ranges()) == members
    parts = rs.ranges()
    assert all(a[1] + 1 < b[0] for a, b in zip(parts, parts[1:]))  # sorted, disjoint, never adjacent
    assert rs.size == len(members) and bool(rs) == bool(members)


@given(range_lists)
def test_rangeset_matches_set_model(ranges):
    rs, members = RangeSet(ranges), model(ranges)
    assert_matches(rs, members)
    ordered = sorted(members)
    for x in range(-2, UNIVERSE + 2):
        assert (x in rs) == (x in members)
        assert rs.first_at_or_after(x) == min((m for m in ordered if m >= x), default=None)
        if x in members:
            assert rs.index_of(x) == ordered.index(x)
        else:
            with pytest.raises(ValueError):
                rs.index_of(x)
    for k, member in enumerate(ordered):
        assert rs.nth(k) == member
        assert rs.index_of(rs.nth(k)) == k
    with pytest.raises(IndexError):
        rs.nth(len(ordered))


@given(range_lists, st.integers(-2, UNIVERSE + 2), st.integers(0, UNIVERSE + 4))
def test_rangeset_members_from_matches_set_model(ranges, start, count):
    expected = sorted(m for m in model(ranges) if m >= start)[:count]
    assert RangeSet(ranges).members_from(start, count) == expected


@given(range_lists, range_lists)
def test_rangeset_subtract_and_intersect_match_set_model(left, right):
    a, b = RangeSet(left), RangeSet(right)
    assert_matches(a.subtract(b), model(left) - model(right))
    assert_matches(a.intersect(b), model(left) & model(right))
    assert a.intersect(b) == b.intersect(a)
    assert a.subtract(b).size + a.intersect(b).size == a.size


@given(range_lists, st.lists(st.tuples(st.integers(0, UNIVERSE - 1), st.integers(26, 32)), max_size=4))
def test_rangeset_subtract_cidrs_matches_set_model(ranges, cidr_specs):
    cidrs = [ipaddress.IPv4Network((value, prefix), strict=False) for value, prefix in cidr_specs]
    removed = {x for c in cidrs for x in range(int(c.network_address), int(c.broadcast_address) + 1)}
    assert_matches(RangeSet(ranges).subtract_cidrs(cidrs), model(ranges) - removed)


def test_canonical_ip_spells_an_address_as_ipaddress_does_or_refuses_it():
    from quark.ipam.addressing import canonical_ip

    assert canonical_ip("2001:DB8:0::1") == "2001:db8::1"
    assert canonical_ip("10.0.0.1") == "10.0.0.1"
    assert canonical_ip("fe80::1%eth0") == "fe80::1%eth0"  # lenient where parse_ip is strict
    with pytest.raises(errors.InvalidInput, match="'10.0.0.256' is not a valid IP address"):
        canonical_ip("10.0.0.256")
