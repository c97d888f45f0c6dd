"""Unit tests for quark.ipam.macs (pure MAC arithmetic)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quark import errors
from quark.ipam import macs

NEUTRON = 0xFA163E123456
FA163E = 0xFA163E000000
AABBCC = 0xAABBCC000000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("fa:16:3e:12:34:56", NEUTRON, id="colons"),
        pytest.param("FA:16:3E:12:34:56", NEUTRON, id="upper"),
        pytest.param("Fa:16:3e:12:34:56", NEUTRON, id="mixed-case"),
        pytest.param("fa-16-3e-12-34-56", NEUTRON, id="dashes"),
        pytest.param("fa163e123456", NEUTRON, id="bare"),
        pytest.param("FA163E123456", NEUTRON, id="bare-upper"),
        pytest.param("02:00:00:00:00:01", 0x020000000001, id="local-low"),
        pytest.param("fe:ff:ff:ff:ff:ff", 0xFEFFFFFFFFFF, id="highest-unicast"),
    ],
)
def test_parse_mac(text, expected):
    assert macs.parse_mac(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("fa:16:3e:12:34", id="short"),
        pytest.param("fa:16:3e:12:34:56:78", id="long"),
        pytest.param("fa:16-3e:12:34:56", id="mixed-separators"),
        pytest.param("fa:16:3e:1:2:3", id="single-digit-groups"),
        pytest.param("fa16.3e12.3456", id="cisco-dots"),
        pytest.param("fa:16:3e:12:34:5g", id="non-hex"),
        pytest.param(" fa:16:3e:12:34:56", id="leading-space"),
        pytest.param("fa:16:3e:12:34:56\n", id="trailing-newline"),
        pytest.param("fa163e12345", id="bare-11-digits"),
        pytest.param("", id="empty"),
        pytest.param("01:00:5e:00:00:01", id="multicast"),
        pytest.param("ff:ff:ff:ff:ff:ff", id="broadcast"),
        pytest.param("00:00:00:00:00:00", id="all-zero"),
        pytest.param(NEUTRON, id="int"),
        pytest.param(None, id="none"),
    ],
)
def test_parse_mac_errors(text):
    with pytest.raises(errors.InvalidInput) as info:
        macs.parse_mac(text)
    assert info.value.kwargs["error_message"] == f"'{text}' is not a valid MAC address"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(NEUTRON, "fa:16:3e:12:34:56", id="neutron"),
        pytest.param(1, "00:00:00:00:00:01", id="leading-zeros"),
        pytest.param(2**48 - 1, "ff:ff:ff:ff:ff:ff", id="max"),
    ],
)
def test_format_mac(value, expected):
    assert macs.format_mac(value) == expected


@pytest.mark.parametrize("value", [pytest.param(-1, id="negative"), pytest.param(2**48, id="too-big")])
def test_format_mac_errors(value):
    with pytest.raises(ValueError):
        macs.format_mac(value)


@given(st.integers(1, 2**48 - 1).filter(lambda v: not v & macs.MULTICAST_BIT))
def test_parse_format_round_trip(value):
    text = macs.format_mac(value)
    assert text == text.lower() and len(text) == 17
    assert macs.parse_mac(text) == value
    assert macs.parse_mac(text.upper().replace(":", "-")) == value
    assert macs.parse_mac(text.replace(":", "")) == value


@given(st.integers(0, 2**48 - 1).filter(lambda v: v == 0 or v & macs.MULTICAST_BIT))
def test_parse_mac_refuses_multicast_and_zero(value):
    with pytest.raises(errors.InvalidInput):
        macs.parse_mac(macs.format_mac(value))


# --- ranges ---------------------------------------------------------------------------------------

RANGES = [
    pytest.param({"cidr": "AA:BB:CC:00:00:00/24"}, (AABBCC, AABBCC + 2**24 - 1), id="full-cidr"),
    pytest.param({"cidr": "AA:BB:CC"}, (AABBCC, AABBCC + 2**24 - 1), id="prefix-only"),
    pytest.param({"cidr": "AA-BB-CC"}, (AABBCC, AABBCC + 2**24 - 1), id="prefix-dashes"),
    pytest.param({"cidr": "AABBCC"}, (AABBCC, AABBCC + 2**24 - 1), id="prefix-bare"),
    pytest.param({"cidr": "aa:bb:cc/24"}, (AABBCC, AABBCC + 2**24 - 1), id="prefix-with-mask"),
    pytest.param({"cidr": "AABB00/16"}, (0xAABB00000000, 0xAABBFFFFFFFF), id="mask-shorter-than-digits"),
    pytest.param({"cidr": "AABBCCD"}, (0xAABBCCD00000, 0xAABBCCDFFFFF), id="odd-digit-count-mask-28"),
    pytest.param({"cidr": "AA:BB:CC:DD"}, (0xAABBCCDD0000, 0xAABBCCDDFFFF), id="eight-digits-mask-32"),
    pytest.param({"cidr": "AA:BB:CC:DD:EE:FE"}, (0xAABBCCDDEEFE, 0xAABBCCDDEEFE), id="twelve-digits-single"),
    pytest.param({"cidr": "fa:16:3e:00:00:00/24"}, (FA163E, FA163E + 2**24 - 1), id="default-range"),
    pytest.param({"cidr": "AA:00:00:00:00:00/8"}, (0xAA0000000000, 0xAAFFFFFFFFFF), id="mask-8-whole-octet"),
    pytest.param(
        {"first": "fa:16:3e:00:00:10", "last": "FA-16-3E-00-00-1F"}, (FA163E + 0x10, FA163E + 0x1F), id="first-last"
    ),
    pytest.param(
        {"first": "fa:16:3e:00:00:10", "last": "fa:16:3e:00:00:10"},
        (FA163E + 0x10, FA163E + 0x10),
        id="first-equals-last",
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), RANGES)
def test_parse_mac_range(kwargs, expected):
    assert macs.parse_mac_range(**kwargs) == expected


def test_parse_mac_range_positional_cidr():
    assert macs.parse_mac_range("FA:16:3E:00:00:00/24") == (FA163E, FA163E + 2**24 - 1)


RANGE_ERRORS = [
    pytest.param({}, "give either", id="nothing"),
    pytest.param(
        {"cidr": "AA:BB:CC", "first": "aa:bb:cc:00:00:01", "last": "aa:bb:cc:00:00:02"}, "not both", id="both-forms"
    ),
    pytest.param({"first": "aa:bb:cc:00:00:01"}, "give either", id="first-only"),
    pytest.param({"last": "aa:bb:cc:00:00:01"}, "give either", id="last-only"),
    pytest.param({"cidr": "AABB"}, "6 to 12 hex digits", id="too-few-digits"),
    pytest.param({"cidr": "AABBCCDDEEFF00"}, "6 to 12 hex digits", id="too-many-digits"),
    pytest.param({"cidr": "GG:BB:CC"}, "6 to 12 hex digits", id="non-hex"),
    pytest.param({"cidr": "AA:BBCC"}, "6 to 12 hex digits", id="ragged-separators"),
    pytest.param({"cidr": "AA:BB-CC"}, "6 to 12 hex digits", id="mixed-separators"),
    pytest.param({"cidr": " AA:BB:CC"}, "6 to 12 hex digits", id="whitespace"),
    pytest.param({"cidr": ""}, "6 to 12 hex digits", id="empty"),
    pytest.param({"cidr": "AA:BB:CC/49"}, "mask", id="mask-too-big"),
    pytest.param({"cidr": "AA:BB:CC/x"}, "mask", id="mask-not-a-number"),
    pytest.param({"cidr": "AA:BB:CC/"}, "mask", id="mask-empty"),
    pytest.param({"cidr": "AA:BB:CC/-1"}, "mask", id="mask-negative"),
    pytest.param({"cidr": "AA:BB:CC/24/1"}, "mask", id="two-slashes"),
    pytest.param({"cidr": "AA:BB:CC:01:00:00/24"}, "bits set beyond the /24 mask", id="host-bits"),
    pytest.param({"cidr": "01:00:5E/24"}, "multicast", id="multicast-prefix"),
    pytest.param({"cidr": "AA:00:00:00:00:00/7"}, "multicast", id="spans-into-multicast-octet"),
    pytest.param({"cidr": "00:00:00/0"}, "multicast", id="whole-space"),
    pytest.param({"cidr": "00:00:00/24"}, "00:00:00:00:00:00", id="contains-zero"),
    pytest.param({"first": "01:00:00:00:00:00", "last": "01:00:00:00:00:ff"}, "multicast", id="first-last-multicast"),
    pytest.param(
        {"first": "aa:ff:ff:ff:ff:00", "last": "ac:00:00:00:00:10"}, "multicast", id="first-last-spans-octets"
    ),
    pytest.param({"first": "fa:16:3e:00:00:20", "last": "fa:16:3e:00:00:10"}, "is after", id="first-after-last"),
    pytest.param({"first": "fa:16:3e:00:00", "last": "fa:16:3e:00:00:10"}, "first_address", id="bad-first"),
    pytest.param({"first": "fa:16:3e:00:00:00", "last": "nope"}, "last_address", id="bad-last"),
    pytest.param({"cidr": 123}, "not a MAC range cidr", id="non-str-cidr"),
]


@pytest.mark.parametrize(("kwargs", "reason"), RANGE_ERRORS)
def test_parse_mac_range_errors(kwargs, reason):
    with pytest.raises(errors.InvalidMacAddressRange) as info:
        macs.parse_mac_range(**kwargs)
    assert reason in info.value.kwargs["reason"]
    assert info.value.msg.startswith("Invalid MAC address range: ")


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        pytest.param(FA163E, FA163E + 2**24 - 1, "FA:16:3E:00:00:00/24", id="aligned-/24"),
        pytest.param(NEUTRON, NEUTRON, "FA:16:3E:12:34:56/48", id="single"),
        pytest.param(0, 2**48 - 1, "00:00:00:00:00:00/0", id="whole-space"),
        pytest.param(FA163E + 0x10, FA163E + 0x1F, "FA:16:3E:00:00:10/44", id="aligned-16"),
        pytest.param(FA163E + 0x10, FA163E + 0x20, None, id="size-17"),
        pytest.param(FA163E + 0x08, FA163E + 0x17, None, id="unaligned-16"),
        pytest.param(FA163E + 1, FA163E, None, id="reversed"),
        pytest.param(2**48 - 1, 2**48, None, id="beyond-48-bits"),
    ],
)
def test_mac_range_cidr(first, last, expected):
    assert macs.mac_range_cidr(first, last) == expected


@pytest.mark.parametrize(
    ("first", "last", "size"),
    [
        pytest.param(FA163E, FA163E + 2**24 - 1, 2**24, id="/24"),
        pytest.param(NEUTRON, NEUTRON, 1, id="single"),
        pytest.param(FA163E + 0x10, FA163E + 0x20, 17, id="unaligned"),
    ],
)
def test_range_size(first, last, size):
    assert macs.range_size(first, last) == size


def test_range_size_reversed():
    with pytest.raises(ValueError):
        macs.range_size(5, 4)


@given(st.integers(0, 2**48 - 1), st.integers(0, 48))
def test_mac_range_cidr_round_trips_aligned_blocks(value, mask):
    size = 1 << (48 - mask)
    first = value - value % size
    last = first + size - 1
    cidr = macs.mac_range_cidr(first, last)
    assert cidr == f"{macs.format_mac(first).upper()}/{mask}"
    if first and not first & macs.MULTICAST_BIT and first >> 40 == last >> 40:
        assert macs.parse_mac_range(cidr) == (first, last)
    else:
        with pytest.raises(errors.InvalidMacAddressRange):
            macs.parse_mac_range(cidr)


@given(st.integers(0, 2**10), st.integers(1, 2**10))
def test_mac_range_cidr_none_unless_one_aligned_block(first, size):
    last = first + size - 1
    aligned = size & (size - 1) == 0 and first % size == 0
    assert (macs.mac_range_cidr(first, last) is not None) == aligned
    assert macs.range_size(first, last) == size
