"""A subnet's heat map (docs/dashboard.md): a grid of at most 256 cells over
one prefix of the subnet.

A prefix with more than 256 addresses is shown as cells of equal prefixes
(a /16 as 256 /24s, an IPv6 /64 as 256 /72s, ...), each with its counts;
zooming into a cell shows the next level, down to a prefix of at most 256
addresses, shown address by address. Cell lengths are chosen so that the
last level before the addresses is always 256 addresses wide (a /20 is 16
cells of /24).

Costs: a grid of addresses reads at most 256 allocation rows (an index range
of ``uq_ip_allocations_subnet_address``); a grid of cells counts the live and
quarantined allocations of the prefix in one grouped index-range read, which
is skipped (pools and policies only) when both the prefix and the subnet's
use counter exceed ``MAX_SCAN``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.db import models
from quark.ipam.addressing import RangeSet, ip_key, parse_cidr
from quark.ipam.pools import excluded_set, pool_ranges

a = models.ip_allocations


def in_pools(row: Any) -> RangeSet:
    """The subnet's allocation pools, before IP policies take their part."""
    return RangeSet(
        (int(ipaddress.ip_address(lo)), int(ipaddress.ip_address(hi))) for lo, hi in row.allocation_pools or ()
    )


CELL_BITS = 8  # 256 cells per grid
MAX_SCAN = 262_144
HEAT_LEVELS = 4


@dataclass(frozen=True)
class Cell:
    label: str  # an address, or a cell's CIDR
    state: str  # used, quarantined, gateway, policy, free, outside; cells: heat, policy, outside
    level: int = 0  # cells: 0..HEAT_LEVELS, the share of the cell's pool addresses in use
    used: int = 0
    quarantined: int = 0
    policy: int = 0
    free: int = 0
    port_id: str | None = None


@dataclass(frozen=True)
class Grid:
    subnet_id: str
    cidr: str  # the prefix shown
    subnet_cidr: str
    leaf: bool  # cells are addresses
    cells: list[Cell]
    parent: str | None  # the prefix one level up, None at the subnet
    counted: bool  # False: too large to count, pools and policies only


@dataclass(frozen=True)
class _Sets:
    pools: RangeSet  # the allocation pools
    allocatable: RangeSet  # the pools without the IP policies' exclusions
    excluded: RangeSet  # the IP policies' exclusions


def zoom_levels(subnet_len: int, max_len: int) -> list[int]:
    """The prefix lengths a subnet's grids are drawn at, from the subnet down."""
    levels = [subnet_len]
    while max_len - levels[-1] > CELL_BITS:
        levels.append(levels[-1] + min(CELL_BITS, max_len - levels[-1] - CELL_BITS))
    return levels


def view_prefix(subnet_cidr: str, asked: str | None) -> tuple[Any, Any]:
    """The subnet and the prefix to show (the subnet when none is asked); 400
    unless ``asked`` is one of the subnet's zoom prefixes."""
    subnet = parse_cidr(subnet_cidr)
    if not asked:
        return subnet, subnet
    try:
        view = ipaddress.ip_network(asked, strict=True)
    except ValueError:
        raise errors.InvalidInput(error_message=f"'{asked}' is not a network prefix") from None
    if view.version != subnet.version or not view.subnet_of(subnet):  # type: ignore[arg-type]
        raise errors.InvalidInput(error_message=f"{asked} is not inside {subnet_cidr}")
    if view.prefixlen not in zoom_levels(subnet.prefixlen, subnet.max_prefixlen):
        raise errors.InvalidInput(error_message=f"{asked} is not a zoom level of {subnet_cidr}")
    return subnet, view


async def build_grid(conn: AsyncConnection, row: Any, asked: str | None, cutoff: Any, used_total: int) -> Grid:
    subnet, view = view_prefix(row.cidr, asked)
    levels = zoom_levels(subnet.prefixlen, subnet.max_prefixlen)
    depth = levels.index(view.prefixlen)
    parent = None
    if depth > 0:
        parent = str(view.supernet(new_prefix=levels[depth - 1]))
    first, last = int(view.network_address), int(view.broadcast_address)
    version = row.ip_version
    span = a.c.subnet_id == row.id, a.c.address_key >= ip_key(first, version), a.c.address_key <= ip_key(last, version)
    live = or_(a.c.deallocated == false(), a.c.deallocated_at > cutoff)
    if depth == len(levels) - 1:
        stmt = select(a.c.address_key, a.c.port_id, a.c.deallocated).where(*span, live)
        held = {int(r.address_key, 16): r for r in (await conn.execute(stmt)).all()}
        sets = _Sets(in_pools(row), pool_ranges(row), excluded_set(row))
        gateway = int(ipaddress.ip_address(row.gateway_ip)) if row.gateway_ip else None
        cells = [_address_cell(sets, gateway, addr, held.get(addr)) for addr in range(first, last + 1)]
        return Grid(row.id, str(view), row.cidr, True, cells, parent, True)
    cell_len = levels[depth + 1]
    counted = view.num_addresses <= MAX_SCAN or used_total <= MAX_SCAN
    counts: dict[int, list[int]] = {}
    if counted:
        digits = -(-cell_len // 4)  # hex digits of the key that fix the cell
        width = 8 if version == 4 else 32
        group = func.substr(a.c.address_key, 1, digits).label("p")
        stmt = select(group, a.c.deallocated, func.count()).where(*span, live).group_by(group, a.c.deallocated)
        shift = subnet.max_prefixlen - cell_len
        for p, released, n in (await conn.execute(stmt)).all():
            index = ((int(p, 16) << (4 * (width - digits))) - first) >> shift
            counts.setdefault(index, [0, 0])[1 if released else 0] += n
    step = 1 << (subnet.max_prefixlen - cell_len)
    sets = _Sets(in_pools(row), pool_ranges(row), excluded_set(row))  # once per grid, not per cell
    cells = [
        _prefix_cell(
            sets, f"{ipaddress.ip_address(first + i * step)}/{cell_len}", first + i * step, step, counts.get(i, [0, 0])
        )
        for i in range(view.num_addresses // step)
    ]
    return Grid(row.id, str(view), row.cidr, False, cells, parent, counted)


def _address_cell(sets: _Sets, gateway: int | None, addr: int, held: Any) -> Cell:
    label = str(ipaddress.ip_address(addr))
    if held is not None and not held.deallocated:
        return Cell(label, "used", used=1, port_id=held.port_id)
    if held is not None:
        return Cell(label, "quarantined", quarantined=1)
    if addr == gateway:
        return Cell(label, "gateway")
    if addr in sets.excluded:
        return Cell(label, "policy", policy=1)
    if addr in sets.allocatable:
        return Cell(label, "free", free=1)
    return Cell(label, "outside")


def _prefix_cell(sets: _Sets, label: str, first: int, size: int, count: list[int]) -> Cell:
    cell = RangeSet([(first, first + size - 1)])
    pools = sets.pools.intersect(cell)
    policy = pools.intersect(sets.excluded).size
    allocatable = sets.allocatable.intersect(cell).size
    used, quarantined = count
    free = max(0, allocatable - used - quarantined)
    if pools.size == 0 and used == 0:
        return Cell(label, "outside", used=used, quarantined=quarantined)
    if allocatable == 0 and used == 0:
        return Cell(label, "policy", policy=policy)
    level = min(HEAT_LEVELS, -(-HEAT_LEVELS * used // max(1, pools.size)))
    return Cell(label, "heat", level, used, quarantined, policy, free)
