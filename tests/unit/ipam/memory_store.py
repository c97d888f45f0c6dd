"""An in-memory ``AddressStore`` (``quark.ipam.decision``) for tests.

It keeps, per subnet, the addresses held and a usage counter, and answers
the three calls of the protocol as the database's ``IpAllocator`` does when
nothing has ever been released (no quarantine, no reuse):

- ``allocate_specific`` takes exactly the address, anywhere in the subnet
  (the rules about which addresses may be asked for are the decision's, not
  the store's), or raises ``IpAddressAlreadyAllocated`` when it is held;
- ``allocate_many`` hands out the lowest free addresses of the subnet's pool
  (allocation pools minus IP-policy exclusions, ``quark.ipam.pools``), one
  per owner in order, fewer (or none) when the pool runs out — the order the
  database's cursor follows, except on huge IPv6 pools, which it draws at
  random;
- every address taken counts on the subnet's counter at once, except those
  of ``allocate_many`` with a ``usage`` dict, which are noted there for
  ``add_usage`` to write.

The ``conn`` argument is ignored. Nothing here rolls back on its own:
``transaction()`` restores the state a failing block left, as the database
rolls back the caller's transaction.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from quark import errors
from quark.ipam import addressing
from quark.ipam.pools import pool_ranges
from quark.ipam.requests import Allocation

Owner = tuple[str | None, str]


@dataclass(frozen=True)
class MemorySubnet:
    """The subnet attributes the allocation decision and the stores read.

    ``allocation_pools`` and ``excluded_ranges`` are [[first, last], ...]
    address strings, as in the ``subnets`` table; ``used`` is the counter as
    read with the network (the snapshot ``fullness`` is computed from).
    """

    id: str
    network_id: str
    ip_version: int
    cidr: str
    gateway_ip: str | None = None
    allocation_pools: tuple[tuple[str, str], ...] = ()
    excluded_ranges: tuple[tuple[str, str], ...] = ()
    service_types: tuple[str, ...] = ()
    enable_dhcp: bool = False
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None
    used: int = 0


@dataclass
class _State:
    held: dict[str, dict[int, Owner]] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    taken: int = 0  # allocations ever made: their ids


class MemoryStore:
    """Addresses held per subnet, in memory (see the module docstring)."""

    def __init__(self) -> None:
        self._state = _State()

    # --- the AddressStore protocol --------------------------------------------------

    async def allocate_specific(
        self, conn: Any, subnet: Any, address: addressing.IPAddress, port_id: str | None, project_id: str
    ) -> Allocation:
        held = self._held(subnet.id)
        if int(address) in held:
            raise errors.IpAddressAlreadyAllocated(ip=str(address), subnet_id=subnet.id)
        allocation = self._take(subnet, int(address), (port_id, project_id))
        self._state.used[subnet.id] = self.used(subnet.id) + 1
        return allocation

    async def allocate_many(
        self, conn: Any, subnet: Any, owners: Sequence[Owner], usage: dict[str, int] | None = None
    ) -> list[Allocation]:
        pools, held = pool_ranges(subnet), self._held(subnet.id)
        out: list[Allocation] = []
        candidate = pools.first_at_or_after(0)
        while candidate is not None and len(out) < len(owners):
            if candidate not in held:
                out.append(self._take(subnet, candidate, owners[len(out)]))
            candidate = pools.first_at_or_after(candidate + 1)
        if out:
            if usage is not None:
                usage[subnet.id] = usage.get(subnet.id, 0) + len(out)
            else:
                self._state.used[subnet.id] = self.used(subnet.id) + len(out)
        return out

    async def add_usage(self, conn: Any, usage: dict[str, int]) -> None:
        for subnet_id, delta in usage.items():
            self._state.used[subnet_id] = self.used(subnet_id) + delta

    # --- what tests read and set ----------------------------------------------------

    def used(self, subnet_id: str) -> int:
        """The subnet's usage counter (what ``subnets.used`` would read)."""
        return self._state.used.get(subnet_id, 0)

    def held(self, subnet: Any) -> dict[str, Owner]:
        """Address -> (port_id, project_id) of every address held in the subnet."""
        return {str(_address(value, subnet.ip_version)): owner for value, owner in self._held(subnet.id).items()}

    def held_ints(self, subnet_id: str) -> frozenset[int]:
        """The addresses held in the subnet, as integers."""
        return frozenset(self._held(subnet_id))

    def seed(self, subnet: Any, addresses: Sequence[int], owner: Owner = ("seed", "seed")) -> None:
        """Hold ``addresses`` already (as earlier transactions would have), counted."""
        for value in addresses:
            self._held(subnet.id)[value] = owner
        self._state.used[subnet.id] = self.used(subnet.id) + len(addresses)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Undo whatever the block took if it raises (the database's rollback)."""
        saved = copy.deepcopy(self._state)
        try:
            yield
        except BaseException:
            self._state = saved
            raise

    # --- inside ---------------------------------------------------------------------

    def _held(self, subnet_id: str) -> dict[int, Owner]:
        return self._state.held.setdefault(subnet_id, {})

    def _take(self, subnet: Any, value: int, owner: Owner) -> Allocation:
        self._held(subnet.id)[value] = owner
        self._state.taken += 1
        return Allocation(subnet.id, str(_address(value, subnet.ip_version)), owner[0], f"mem-{self._state.taken}")


def _address(value: int, version: int) -> addressing.IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)
