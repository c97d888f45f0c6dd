"""What a subnet hands out automatically, and where its cursor stands: pure.

A subnet's *pool* is its allocation pools minus what IP policies exclude
(``subnets.excluded_ranges``, kept up to date by the IP policies service);
the allocator's cursor (``subnets.next_ip_key``) names the next never-used
pool address. Nothing here reads or writes the database.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from quark.ipam import addressing
from quark.ipam.addressing import RangeSet


def _ranges(pairs: Iterable[tuple[str, str]]) -> RangeSet:
    return RangeSet((int(ipaddress.ip_address(lo)), int(ipaddress.ip_address(hi))) for lo, hi in pairs)


@functools.lru_cache(maxsize=4096)
def _pool_ranges(pools: tuple[tuple[str, str], ...], excluded: tuple[tuple[str, str], ...]) -> RangeSet:
    ranges = _ranges(pools)
    return ranges.subtract(_ranges(excluded)) if excluded else ranges


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(lo), str(hi)) for lo, hi in value or ())


def pool_ranges(subnet: Any) -> RangeSet:
    """The addresses of a subnet the allocator may hand out automatically:
    its allocation pools minus what IP policies exclude."""
    return _pool_ranges(_pairs(subnet.allocation_pools), _pairs(getattr(subnet, "excluded_ranges", None)))


def excluded_set(subnet: Any) -> RangeSet:
    """The addresses IP policies exclude on a subnet (only admins may ask for them)."""
    return _ranges(_pairs(getattr(subnet, "excluded_ranges", None)))


def fullness(subnet: Any) -> float:
    """Share of a subnet's pool in use (``subnet.used``), 1.0 for an empty pool:
    automatic allocation fills the fullest subnet with room first."""
    capacity = pool_ranges(subnet).size
    return (subnet.used or 0) / capacity if capacity else 1.0


def initial_cursor(pools: RangeSet, version: int) -> str | None:
    """The cursor of a new subnet: its first pool address (None: nothing to hand out)."""
    first = pools.first_at_or_after(0)
    return None if first is None else addressing.ip_key(first, version)


def cursor_after_pool_change(old: RangeSet, new: RangeSet, cursor_key: str | None, version: int) -> str | None:
    """Where the cursor must stand after the pools change.

    Addresses added below the cursor (or anywhere, once it has run out) were
    never handed out, so the cursor goes back to the first of them; the walk
    forward skips what is taken through the index.
    """
    added = new.subtract(old)
    first_added = added.first_at_or_after(0)
    if cursor_key is None:
        return None if first_added is None else addressing.ip_key(first_added, version)
    cursor = int(cursor_key, 16)
    if first_added is not None and first_added < cursor:
        cursor = first_added
    following = new.first_at_or_after(cursor)
    return None if following is None else addressing.ip_key(following, version)
