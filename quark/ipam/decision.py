"""The IP allocation decision: which subnets and addresses a request gets.

One set of rules for every caller (``quark.ipam.requests``):

- An explicit entry names a subnet of the network, an address, or both
  (``resolve_entry``); an entry that does not fit the network is a 400.
- On an auto-address subnet (SLAAC, DHCPv6-stateless) a holder with a MAC
  gets the EUI-64 address of its MAC and only that (asking for another is a
  400); router ports get none automatically (the router advertises the
  prefix). A holder without a MAC (an address for a device with no port
  here) gets pool addresses there, as on any subnet.
- A specific address is never a v4 subnet's network or broadcast address
  (but on /31 and /32), never inside an IP policy's exclusions unless an
  admin asks, never the gateway unless a router port asks (``check_specific``).
- Without entries, the strategy decides the families (``Strategy``); within
  a family subnets reserved by ``service_types`` for the holder's device
  owner come first (Neutron gives them priority), then the fullest subnet
  with room (sparse subnets stay free for growth), falling through to the
  next when it is full.
- A subnet with ``service_types`` serves only holders of those device owners,
  and DHCP ports when DHCP is enabled on it (``serves``), for explicit entries
  as for automatic ones, as Neutron's service subnets: an entry naming another
  subnet is a 400, and a network whose subnets all serve other owners answers
  409 ``IpAddressGenerationFailureNoMatchingSubnet``.
- A request gets everything it asks for or the call raises: the caller's
  transaction is then rolled back with whatever was taken.

How it runs: explicit entries first, request by request; then the automatic
addresses, where all requests asking the same candidate subnets are served
in one batch per subnet (a handful of statements for any number of
holders), and the usage counters are written once at the end. Automatic
addresses come last because taking one from a subnet's cursor locks the
subnet row until the commit: the less that follows, the shorter the lock.

The store that takes the addresses is a protocol (``AddressStore``): the
database's ``IpAllocator`` in Quark, an in-memory model in the tests.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from quark import errors, owners
from quark.ipam import addressing
from quark.ipam.addressing import is_auto_address
from quark.ipam.pools import excluded_set, fullness
from quark.ipam.requests import AddressRequest, Allocation, FixedIp, Holder, Strategy

Owner = tuple[str | None, str]  # (port_id, project_id) of a holder


class AddressStore(Protocol):
    """Takes addresses of one subnet (see ``quark.ipam.ip_allocator.IpAllocator``)."""

    async def allocate_specific(
        self, conn: Any, subnet: Any, address: addressing.IPAddress, port_id: str | None, project_id: str
    ) -> Allocation:
        """Exactly ``address``; raises IpAddressAlreadyAllocated if it is held."""
        ...

    async def allocate_many(
        self, conn: Any, subnet: Any, owners: Sequence[Owner], usage: dict[str, int] | None = None
    ) -> list[Allocation]:
        """One free pool address per owner, in order; fewer (or none) when the pool runs out."""
        ...

    async def add_usage(self, conn: Any, usage: dict[str, int]) -> None:
        """Write the counter changes ``allocate_many`` noted in ``usage``."""
        ...


# --- pure rules ------------------------------------------------------------------------


def resolve_entry(entry: FixedIp, subnets: Sequence[Any], network_id: str) -> tuple[Any, addressing.IPAddress | None]:
    """The subnet and (optional) address an entry asks for, or a 400."""
    address = ipaddress.ip_address(entry.ip_address) if entry.ip_address is not None else None
    if entry.subnet_id is not None:
        subnet = next((sub for sub in subnets if sub.id == entry.subnet_id), None)
        if subnet is None:
            raise errors.InvalidInput(
                error_message=f"Failed to create port on network {network_id}, because fixed_ips included "
                f"invalid subnet {entry.subnet_id}"
            )
        if address is not None and address not in ipaddress.ip_network(subnet.cidr):
            raise errors.InvalidIpForSubnet(ip_address=str(address))
        return subnet, address
    if address is None:
        raise errors.InvalidInput(error_message="fixed_ips entries need a subnet_id or an ip_address")
    for subnet in subnets:
        if address.version == subnet.ip_version and address in ipaddress.ip_network(subnet.cidr):
            return subnet, address
    raise errors.InvalidIpForNetwork(ip_address=str(address))


def check_specific(subnet: Any, address: addressing.IPAddress, *, admin: bool, router: bool) -> None:
    """The rules a specifically requested address obeys (the EUI-64 one aside):
    not a v4 subnet's network or broadcast address (but on /31 and /32), nor
    a v6 subnet's subnet-router anycast address unless a router port asks;
    not inside an IP policy's exclusions unless an admin asks; not the gateway
    unless a router port asks."""
    net = ipaddress.ip_network(subnet.cidr)
    if net.version == 4 and net.prefixlen <= 30 and address in (net.network_address, net.broadcast_address):
        raise errors.InvalidIpForSubnet(ip_address=str(address))
    if net.version == 6 and net.prefixlen < 127 and address == net.network_address and not router:
        raise errors.InvalidIpForSubnet(ip_address=str(address))
    if not admin and int(address) in excluded_set(subnet):
        raise errors.IpAddressExcludedByPolicy(ip=str(address), subnet_id=subnet.id)
    if subnet.gateway_ip == str(address) and not router:
        raise errors.IpAddressAlreadyAllocated(ip=str(address), subnet_id=subnet.id)


def takes_eui64(subnet: Any, holder: Holder) -> bool:
    """Whether the holder's address on ``subnet`` is the EUI-64 of its MAC."""
    return is_auto_address(subnet) and holder.mac is not None and not holder.is_router


def serves(subnet: Any, device_owner: str) -> bool:
    """Whether ``subnet`` gives addresses to holders of ``device_owner``: a subnet
    without ``service_types`` serves every owner; one with them, those owners,
    and DHCP ports when DHCP is enabled on it (as Neutron's service subnets)."""
    types = subnet.service_types
    return not types or device_owner in types or (device_owner == owners.DHCP and bool(subnet.enable_dhcp))


def serving(request: AddressRequest) -> list[Any]:
    """The network's subnets that serve the request's holder (any IP version)."""
    owner = request.holder.device_owner
    return [sub for sub in request.subnets if serves(sub, owner)]


def eligible(request: AddressRequest) -> list[Any]:
    """The subnets automatic allocation may use for the request: of its IP
    version, and serving its holder's device owner."""
    return [sub for sub in serving(request) if request.version in (None, sub.ip_version)]


def family(subnets: Sequence[Any], version: int, holder: Holder) -> list[Any]:
    """The subnets of ``version`` that hand out pool addresses to the holder, in
    the order to try them: without a MAC, auto-address subnets after the
    others; subnets with ``service_types`` (reserved for the holder) before
    general ones; then fullest first."""
    # A holder with a MAC gets its EUI-64 there instead; a router port nothing.
    no_pool = holder.mac is not None or holder.is_router
    pooled = [sub for sub in subnets if sub.ip_version == version and not (no_pool and is_auto_address(sub))]
    return sorted(pooled, key=lambda sub: (is_auto_address(sub), not sub.service_types, -fullness(sub)))


@dataclass
class Grant:
    """What one request got so far."""

    request: AddressRequest
    allocations: list[Allocation] = field(default_factory=list)
    versions: set[int] = field(default_factory=set)  # of every address granted
    pooled_versions: set[int] = field(default_factory=set)  # of the pool (not EUI-64) ones

    def add(self, subnet: Any, allocation: Allocation, *, eui64: bool) -> None:
        self.allocations.append(allocation)
        self.versions.add(subnet.ip_version)
        if not eui64:
            self.pooled_versions.add(subnet.ip_version)

    def has(self, version: int) -> bool:
        return version in self.versions

    def pooled(self, version: int | None = None) -> bool:
        """Whether the grant holds a pool address (not an EUI-64 one), of ``version`` if given."""
        return version in self.pooled_versions if version is not None else bool(self.pooled_versions)

    def wants(self, version: int) -> bool:
        """Whether the automatic allocation should look for an address of ``version`` now.

        NEUTRON gives one pool address of each family, besides the EUI-64 ones
        (as Neutron: one IPv4, one stateful IPv6, every SLAAC subnet's); the
        other strategies count an EUI-64 address for its family.
        """
        if self.request.strategy == Strategy.NEUTRON:
            return not self.pooled(version)
        if self.has(version):
            return False
        if self.request.strategy == Strategy.ANY:
            return not self.pooled()
        return True

    def satisfied(self, subnets: Sequence[Any]) -> bool:
        families = {sub.ip_version for sub in subnets}
        stateful = {sub.ip_version for sub in subnets if not is_auto_address(sub)}
        strategy = self.request.strategy
        if strategy in (Strategy.ANY, Strategy.BOTH):
            return bool(self.allocations) or not families
        if strategy == Strategy.BOTH_REQUIRED:
            return self.has(4) and self.has(6)
        return all(self.pooled(version) for version in stateful)


# --- carrying it out -----------------------------------------------------------------


async def allocate(store: AddressStore, conn: Any, requests: Sequence[AddressRequest]) -> list[list[Allocation]]:
    """Answer every request whole; the allocations of each, in the order taken.

    Raises the 400s of ``resolve_entry`` and ``check_specific``,
    AllocationOnAutoAddressSubnet, IpAddressAlreadyAllocated (a specific
    address held), IpAddressGenerationFailure (nothing free where the
    request must get an address) and, for ``one_required`` with no subnet
    to take from, InvalidInput.
    """
    grants = [Grant(request) for request in requests]
    for grant in grants:
        if not grant.request.fixed_ips:
            continue
        subnets = _serving_or_refuse(grant.request)
        for entry in grant.request.fixed_ips:
            subnet, address = resolve_entry(entry, subnets, grant.request.network_id)
            _check_version(grant.request, subnet)
            await take(store, conn, grant, subnet, address)
    await _allocate_automatic(store, conn, [grant for grant in grants if grant.request.fixed_ips is None])
    return [grant.allocations for grant in grants]


def _serving_or_refuse(request: AddressRequest) -> list[Any]:
    """The subnets explicit entries may name: those serving the holder; none of
    a network that has subnets is Neutron's 409."""
    subnets = serving(request)
    if request.subnets and not subnets:
        raise errors.IpAddressGenerationFailureNoMatchingSubnet(
            network_id=request.network_id, service_type=request.holder.device_owner
        )
    return subnets


def _check_version(request: AddressRequest, subnet: Any) -> None:
    if request.version is not None and subnet.ip_version != request.version:
        raise errors.InvalidInput(error_message=f"subnet {subnet.id} is not an IPv{request.version} subnet")


async def take(store: AddressStore, conn: Any, grant: Grant, subnet: Any, address: addressing.IPAddress | None) -> None:
    """One address of ``subnet`` for the grant: ``address``, or any free one."""
    request, holder = grant.request, grant.request.holder
    # An admin may take an excluded address only by naming it.
    named = address is not None
    eui64 = takes_eui64(subnet, holder)
    if eui64:
        assert holder.mac is not None
        expected = addressing.eui64(ipaddress.ip_network(subnet.cidr), holder.mac)
        if address is not None and address != expected:
            raise errors.AllocationOnAutoAddressSubnet(ip=str(address), subnet_id=subnet.id)
        address = expected
    if address is None:
        got = await store.allocate_many(conn, subnet, [(holder.port_id, holder.project_id)])
        if not got:
            raise errors.IpAddressGenerationFailure(net_id=subnet.network_id)
        grant.add(subnet, got[0], eui64=False)
        return
    check_specific(subnet, address, admin=request.admin and named, router=holder.is_router)
    allocation = await store.allocate_specific(conn, subnet, address, holder.port_id, holder.project_id)
    grant.add(subnet, allocation, eui64=eui64)


async def _allocate_automatic(store: AddressStore, conn: Any, grants: list[Grant]) -> None:
    """Addresses of requests without entries: EUI-64 ones, then by strategy."""
    candidates = {id(grant): eligible(grant.request) for grant in grants}
    for grant in grants:
        for sub in candidates[id(grant)]:
            if takes_eui64(sub, grant.request.holder):
                await take(store, conn, grant, sub, None)
    # ANY prefers IPv4, so it asks IPv4 first; otherwise the families are
    # independent and IPv6 (random draws, no lock) goes first, so that the
    # IPv4 cursor row is held for as short a time as possible.
    order = (4, 6) if any(grant.request.strategy == Strategy.ANY for grant in grants) else (6, 4)
    usage: dict[str, int] = {}  # counters of every subnet, written once at the end
    for version in order:
        await _serve_family(store, conn, version, grants, candidates, usage)
    await store.add_usage(conn, usage)
    for grant in grants:
        _check_satisfied(grant, candidates[id(grant)])


async def _serve_family(
    store: AddressStore,
    conn: Any,
    version: int,
    grants: list[Grant],
    candidates: dict[int, list[Any]],
    usage: dict[str, int],
) -> None:
    """One address of ``version`` for every grant that wants one, in batches of
    grants with the same subnets to try."""
    batches: dict[tuple[str, ...], list[Grant]] = defaultdict(list)
    subnets_of: dict[tuple[str, ...], list[Any]] = {}
    # The order to try depends only on the candidates and on two traits of the
    # holder: worked out once per such kind of grant, not once per grant.
    orders: dict[tuple[Any, ...], list[Any]] = {}
    for grant in grants:
        if not grant.wants(version):
            continue
        holder = grant.request.holder
        kind = (*(sub.id for sub in candidates[id(grant)]), holder.mac is None, holder.is_router)
        if kind not in orders:
            orders[kind] = family(candidates[id(grant)], version, holder)
        ordered = orders[kind]
        if ordered:
            key = tuple(sub.id for sub in ordered)
            batches[key].append(grant)
            subnets_of[key] = ordered
    for key, waiting in batches.items():
        for subnet in subnets_of[key]:
            owners = [(g.request.holder.port_id, g.request.holder.project_id) for g in waiting]
            got = await store.allocate_many(conn, subnet, owners, usage)
            for grant, allocation in zip(waiting, got):
                grant.add(subnet, allocation, eui64=False)
            waiting = waiting[len(got) :]
            if not waiting:
                break


def _check_satisfied(grant: Grant, subnets: list[Any]) -> None:
    request = grant.request
    if request.one_required and not grant.allocations:
        if not subnets:
            kind = f"IPv{request.version} " if request.version else ""
            raise errors.InvalidInput(
                error_message=f"network {request.network_id} has no {kind}subnet to allocate from"
            )
        raise errors.IpAddressGenerationFailure(net_id=request.network_id)
    if not subnets and any(request.version in (None, sub.ip_version) for sub in request.subnets):
        # The network has subnets, all reserved (service_types) for other owners.
        raise errors.IpAddressGenerationFailureNoMatchingSubnet(
            network_id=request.network_id, service_type=request.holder.device_owner
        )
    if not grant.satisfied(subnets):
        raise errors.IpAddressGenerationFailure(net_id=request.network_id)
