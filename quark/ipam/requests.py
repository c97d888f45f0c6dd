"""What a caller asks the IP allocator for, and what it gets.

Every caller asks in these terms — ports (create, update, DHCP ports on new
subnets, EUI-64 addresses on a new SLAAC subnet), ``/v2.0/ip_addresses``,
floating IPs through their internal port, and later router interfaces and
subnet pools — and ``quark.ipam.decision`` answers each request whole, with
one set of rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from quark import owners


class Strategy(StrEnum):
    """Which addresses a holder gets when it names none (a network's ``ipam_strategy``).

    - ``NEUTRON``: one IPv4 and one stateful IPv6 address when the network
      has such subnets; an error when a family present is full.
    - ``ANY``: one address, IPv4 first, IPv6 when no IPv4 is free.
    - ``BOTH``: one of each family if possible, at least one.
    - ``BOTH_REQUIRED``: one of each family, or an error.

    EUI-64 addresses on auto-address (SLAAC) subnets come on top and count
    for IPv6.
    """

    NEUTRON = "NEUTRON"
    ANY = "ANY"
    BOTH = "BOTH"
    BOTH_REQUIRED = "BOTH_REQUIRED"


@dataclass(frozen=True)
class FixedIp:
    """One address asked for: any address of a subnet, a specific address, or both."""

    subnet_id: str | None = None
    ip_address: str | None = None

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> FixedIp:
        """From a ``fixed_ips`` entry of the API (``subnet_id`` and/or ``ip_address``)."""
        return cls(entry.get("subnet_id"), entry.get("ip_address"))


@dataclass(frozen=True)
class Holder:
    """Who will hold the addresses: a port (or no port: an address reserved for
    a device Quark has no port of), its project, and what decides its EUI-64."""

    port_id: str | None
    project_id: str
    # The holder's MAC as an integer: on auto-address subnets it gets the
    # EUI-64 address of it. None: no MAC, such subnets hand out pool addresses.
    mac: int | None = None
    device_owner: str = ""

    @property
    def is_router(self) -> bool:
        """Router ports may take the gateway and get no EUI-64 address (the router
        advertises the prefix)."""
        return self.device_owner in owners.ROUTER


@dataclass(frozen=True)
class AddressRequest:
    """The addresses one holder asks for on one network.

    ``fixed_ips`` None asks for addresses by ``strategy``; a tuple asks for
    exactly those entries (empty: none). ``version`` limits the request to one
    IP version (floating IPs: 4). ``admin`` may take addresses IP policies
    exclude. ``one_required``: the holder must get an address (no subnet to
    take it from is a 400, as ``/v2.0/ip_addresses`` answers), not just what
    the network offers.
    """

    holder: Holder
    network_id: str
    # The network's subnets (rows with a ``used`` count), in creation order.
    subnets: Sequence[Any]
    fixed_ips: tuple[FixedIp, ...] | None = None
    strategy: Strategy = Strategy.NEUTRON
    version: int | None = None
    admin: bool = False
    one_required: bool = False


@dataclass(frozen=True)
class Allocation:
    """One address granted (an ``ip_allocations`` row)."""

    subnet_id: str
    address: str
    port_id: str | None = None
    id: str | None = None  # the row's id, when the allocator knows it without a read
