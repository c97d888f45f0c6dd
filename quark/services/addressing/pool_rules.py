"""The rules of a subnet pool's attributes, pure (Neutron's ``SubnetPoolReader``
and ``SubnetPoolHelper``): prefix bounds and their defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quark.ipam.pool_errors import IllegalSubnetPoolPrefixBounds, UnsupportedMinSubnetPoolPrefix
from quark.ipam.prefixes import BITS, DEFAULT_MIN_PREFIXLEN

BOUNDS = ("min_prefixlen", "max_prefixlen", "default_prefixlen")


@dataclass(frozen=True)
class Bounds:
    min_prefixlen: int
    max_prefixlen: int
    default_prefixlen: int


def read_bounds(version: int, attrs: dict[str, Any], current: Any | None = None) -> Bounds:
    """The bounds a create (``current`` None) or an update asks for, defaults filled
    as Neutron's: min 8 (IPv4) or 64 (IPv6), max the address width, default = min."""

    def given(name: str, fallback: int) -> int:
        if attrs.get(name) is not None:
            return int(attrs[name])
        if current is not None:
            return int(getattr(current, name))
        return fallback

    low = given("min_prefixlen", DEFAULT_MIN_PREFIXLEN[version])
    high = given("max_prefixlen", BITS[version])
    default = given("default_prefixlen", low)
    if low < 0:
        raise UnsupportedMinSubnetPoolPrefix(prefix=low, version=version)
    if low > high:
        raise IllegalSubnetPoolPrefixBounds(
            prefix_type="min_prefixlen", prefixlen=low, base_prefix_type="max_prefixlen", base_prefixlen=high
        )
    if high > BITS[version]:
        raise IllegalSubnetPoolPrefixBounds(
            prefix_type="max_prefixlen", prefixlen=high, base_prefix_type="ip_version_max", base_prefixlen=BITS[version]
        )
    if default < low:
        raise IllegalSubnetPoolPrefixBounds(
            prefix_type="default_prefixlen", prefixlen=default, base_prefix_type="min_prefixlen", base_prefixlen=low
        )
    if default > high:
        raise IllegalSubnetPoolPrefixBounds(
            prefix_type="default_prefixlen", prefixlen=default, base_prefix_type="max_prefixlen", base_prefixlen=high
        )
    return Bounds(low, high, default)
