"""A subnet's heat map (docs/dashboard.md): a grid of at most 256 cells over
one prefix of the subnet, each cell counted. The grid's arithmetic (zoom
levels, the prefix shown, its cells) is ``quark.ipam.grid``'s; this module
reads the allocations and fills the cells.

Costs: a grid of addresses reads at most 256 allocation rows (an index range
of ``uq_ip_allocations_subnet_address``); a grid of cells counts the live and
quarantined allocations of the prefix in one grouped index-range read, which
is skipped (pools and policies only) when both the prefix and the subnet's
use counter exceed ``MAX_SCAN``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.ipam.addressing import RangeSet, ip_key
from quark.ipam.grid import address_int, address_text, pool_set, zoom
from quark.ipam.pools import excluded_set, pool_ranges

a = models.ip_allocations


def in_pools(row: Any) -> RangeSet:
    """The subnet's allocation pools, before IP policies take their part."""
    return pool_set(row.allocation_pools)


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


async def build_grid(conn: AsyncConnection, row: Any, asked: str | None, cutoff: Any, used_total: int) -> Grid:
    grid = zoom(row.cidr, asked)
    first, last, version = grid.first, grid.last, row.ip_version
    span = a.c.subnet_id == row.id, a.c.address_key >= ip_key(first, version), a.c.address_key <= ip_key(last, version)
    live = or_(a.c.deallocated == false(), a.c.deallocated_at > cutoff)
    sets = _Sets(in_pools(row), pool_ranges(row), excluded_set(row))  # once per grid, not per cell
    if grid.leaf:
        stmt = select(a.c.address_key, a.c.port_id, a.c.deallocated).where(*span, live)
        held = {int(r.address_key, 16): r for r in (await conn.execute(stmt)).all()}
        gateway = address_int(row.gateway_ip) if row.gateway_ip else None
        cells = [_address_cell(sets, gateway, addr, held.get(addr), version) for addr in range(first, last + 1)]
        return Grid(row.id, str(grid.view), row.cidr, True, cells, grid.parent, True)
    counted = grid.view.num_addresses <= MAX_SCAN or used_total <= MAX_SCAN
    counts: dict[int, list[int]] = {}
    if counted:
        group = func.substr(a.c.address_key, 1, grid.key_digits).label("p")
        stmt = select(group, a.c.deallocated, func.count()).where(*span, live).group_by(group, a.c.deallocated)
        for p, released, n in (await conn.execute(stmt)).all():
            counts.setdefault(grid.cell_of(p), [0, 0])[1 if released else 0] += n
    cells = [
        _prefix_cell(sets, label, cell_first, size, counts.get(i, [0, 0]))
        for i, (label, cell_first, size) in enumerate(grid.cells())
    ]
    return Grid(row.id, str(grid.view), row.cidr, False, cells, grid.parent, counted)


def _address_cell(sets: _Sets, gateway: int | None, addr: int, held: Any, version: int) -> Cell:
    label = address_text(addr, version)
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
