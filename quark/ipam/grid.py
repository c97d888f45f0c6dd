"""The arithmetic of a subnet's heat map (docs/dashboard.md): zoom levels, the
prefix shown, its cells as integer ranges. Pure: no I/O.

A prefix with more than 256 addresses is drawn as ``2**CELL_BITS`` equal
prefixes (a /16 as 256 /24s, an IPv6 /64 as 256 /72s, ...); zooming into a
cell draws the next level, down to a prefix of at most 256 addresses, drawn
address by address. The levels are chosen so that the last one before the
addresses is always 256 addresses wide (a /20 is 16 cells of /24).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from quark import errors
from quark.ipam.addressing import IPNetwork, RangeSet, parse_cidr

CELL_BITS = 8  # 256 cells per grid
_KEY_WIDTH = {4: 8, 6: 32}  # hex digits of an address key (addressing.ip_key)


def zoom_levels(subnet_len: int, max_len: int) -> list[int]:
    """The prefix lengths a subnet's grids are drawn at, from the subnet down."""
    levels = [subnet_len]
    while max_len - levels[-1] > CELL_BITS:
        levels.append(levels[-1] + min(CELL_BITS, max_len - levels[-1] - CELL_BITS))
    return levels


def pool_set(pools: Iterable[tuple[str, str]] | None) -> RangeSet:
    """(start, end) address pairs, as a subnet row stores its allocation pools."""
    return RangeSet((address_int(lo), address_int(hi)) for lo, hi in pools or ())


def address_int(text: str) -> int:
    return int(ipaddress.ip_address(text))


def address_text(value: int, version: int) -> str:
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


@dataclass(frozen=True)
class Zoom:
    """One grid: the prefix ``view`` of the subnet ``subnet``, drawn at its level."""

    subnet: IPNetwork
    view: IPNetwork

    @property
    def levels(self) -> list[int]:
        return zoom_levels(self.subnet.prefixlen, self.subnet.max_prefixlen)

    @property
    def depth(self) -> int:
        return self.levels.index(self.view.prefixlen)

    @property
    def leaf(self) -> bool:
        """The grid's cells are addresses."""
        return self.depth == len(self.levels) - 1

    @property
    def parent(self) -> str | None:
        """The prefix one level up; None at the subnet."""
        if self.depth == 0:
            return None
        return str(self.view.supernet(new_prefix=self.levels[self.depth - 1]))

    @property
    def first(self) -> int:
        return int(self.view.network_address)

    @property
    def last(self) -> int:
        return int(self.view.broadcast_address)

    @property
    def cell_len(self) -> int:
        """The prefix length of a cell (of a grid that is not a leaf)."""
        return self.levels[self.depth + 1]

    @property
    def cell_size(self) -> int:
        return 1 << (self.subnet.max_prefixlen - self.cell_len)

    def cells(self) -> list[tuple[str, int, int]]:
        """Each cell as (its CIDR, its first address, its size), in address order."""
        step, version = self.cell_size, self.subnet.version
        return [
            (f"{address_text(self.first + i * step, version)}/{self.cell_len}", self.first + i * step, step)
            for i in range(self.view.num_addresses // step)
        ]

    @property
    def key_digits(self) -> int:
        """How many leading hex digits of an address key fix the cell it lies in (rounded up:
        a cell length that is not a multiple of 4 groups by a finer prefix)."""
        return -(-self.cell_len // 4)

    def cell_of(self, key_prefix: str) -> int:
        """The index of the cell holding the addresses whose keys start with ``key_prefix``
        (``key_digits`` hex digits)."""
        width = _KEY_WIDTH[self.subnet.version]
        start = int(key_prefix, 16) << (4 * (width - len(key_prefix)))
        return (start - self.first) // self.cell_size


def zoom(subnet_cidr: str, asked: str | None) -> Zoom:
    """The grid of the subnet's prefix ``asked`` (the subnet when none is asked);
    InvalidInput unless ``asked`` is one of the subnet's zoom prefixes."""
    subnet = parse_cidr(subnet_cidr)
    if not asked:
        return Zoom(subnet, subnet)
    try:
        view = ipaddress.ip_network(asked, strict=True)
    except ValueError:
        raise errors.InvalidInput(error_message=f"'{asked}' is not a network prefix") from None
    if view.version != subnet.version or not view.subnet_of(subnet):  # type: ignore[arg-type]
        raise errors.InvalidInput(error_message=f"{asked} is not inside {subnet_cidr}")
    if view.prefixlen not in zoom_levels(subnet.prefixlen, subnet.max_prefixlen):
        raise errors.InvalidInput(error_message=f"{asked} is not a zoom level of {subnet_cidr}")
    return Zoom(subnet, view)


def leaf_prefix(cidr: str, address: str) -> str | None:
    """The last zoom level (<= 256 addresses) of ``cidr`` that holds ``address``;
    None when either does not parse or the address is outside."""
    try:
        subnet = ipaddress.ip_network(cidr)
        addr = ipaddress.ip_address(address)
    except ValueError:
        return None
    if addr not in subnet:
        return None
    length = zoom_levels(subnet.prefixlen, subnet.max_prefixlen)[-1]
    return str(ipaddress.ip_network(f"{addr}/{length}", strict=False))
