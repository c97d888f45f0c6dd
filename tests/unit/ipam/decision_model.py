"""A model of the IP allocation decision, and the Hypothesis strategies that
draw networks and requests for it.

The model is written from the rules — ``quark/ipam/decision.py``'s docstring,
``Strategy`` in ``quark/ipam/requests.py``, and Neutron's semantics where
Quark follows Neutron — and uses nothing of ``quark.ipam.decision`` or
``quark.ipam.pools``: it keeps its own sets of held addresses, computes pools,
exclusions and EUI-64 addresses itself, and answers a call (several requests)
with the allocations each request gets, or the error the call raises.

It assumes the store hands out the lowest free pool address first (the
in-memory store's order, and the database cursor's when nothing was ever
released), so that it can predict addresses and not only subnets.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from quark import errors, owners
from quark.ipam import addressing
from quark.ipam.requests import AddressRequest, FixedIp, Holder, Strategy
from tests.unit.ipam.memory_store import MemoryStore, MemorySubnet

NETWORK_ID = "net-model"
MISSING_SUBNET = "sub-missing"
AUTO_MODES = ("slaac", "dhcpv6-stateless")
# A handful of MACs, so that two holders sometimes share one (and its EUI-64).
MACS = (0xFA163E000001, 0xFA163E000002, 0xFA163E0000AB)
OWNERS = (
    "",
    "compute:nova",
    "network:dhcp",
    "network:floatingip",
    "network:router_interface",
    "network:router_gateway",
)
SERVICE_TYPES = OWNERS[1:]
ROUTERS = frozenset(owners.ROUTER)
OUTSIDE = ("192.168.77.5", "2001:db8:ffff::5")  # in no drawn subnet

# --- what is drawn -------------------------------------------------------------------


@dataclass(frozen=True)
class SubnetSpec:
    """One subnet as its creator asked for it, and the addresses held in it
    before the first call (``held``)."""

    index: int
    cidr: str
    gateway_ip: str | None
    pools: tuple[tuple[str, str], ...]
    exclude: tuple[str, ...] = ()  # CIDRs of an IP policy on the subnet
    ra_mode: str | None = None
    address_mode: str | None = None
    service_types: tuple[str, ...] = ()
    held: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"sub-{self.index}"

    @functools.cached_property
    def net(self) -> addressing.IPNetwork:
        return ipaddress.ip_network(self.cidr)

    @property
    def version(self) -> int:
        return self.net.version

    @functools.cached_property
    def auto(self) -> bool:
        return self.version == 6 and (self.ra_mode in AUTO_MODES or self.address_mode in AUTO_MODES)

    @property
    def enable_dhcp(self) -> bool:
        """DHCP needs room for a server (not /31, /32); SLAAC needs it on."""
        return self.net.num_addresses >= 4


@dataclass(frozen=True)
class RequestSpec:
    """One request, before it is bound to the network's subnets of the moment."""

    holder: Holder
    fixed_ips: tuple[FixedIp, ...] | None
    strategy: Strategy
    version: int | None
    admin: bool
    one_required: bool

    def bind(self, subnets: Sequence[Any], network_id: str = NETWORK_ID) -> AddressRequest:
        return AddressRequest(
            holder=self.holder,
            network_id=network_id,
            subnets=subnets,
            fixed_ips=self.fixed_ips,
            strategy=self.strategy,
            version=self.version,
            admin=self.admin,
            one_required=self.one_required,
        )


@dataclass(frozen=True)
class Scenario:
    subnets: tuple[SubnetSpec, ...]
    calls: tuple[tuple[RequestSpec, ...], ...]


# --- building the in-memory network ----------------------------------------------------


@functools.cache
def excluded_ranges(spec: SubnetSpec) -> tuple[tuple[str, str], ...]:
    """The policy's CIDRs clipped to the subnet, merged: ``subnets.excluded_ranges``."""
    net = spec.net
    ranges = _merge(
        (max(lo, int(net.network_address)), min(hi, int(net.broadcast_address)))
        for lo, hi in (_cidr_range(cidr) for cidr in spec.exclude)
    )
    return tuple((str(_ip(lo, spec.version)), str(_ip(hi, spec.version))) for lo, hi in ranges if lo <= hi)


def memory_subnet(spec: SubnetSpec, used: int, network_id: str = NETWORK_ID) -> MemorySubnet:
    return MemorySubnet(
        id=spec.id,
        network_id=network_id,
        ip_version=spec.version,
        cidr=spec.cidr,
        gateway_ip=spec.gateway_ip,
        allocation_pools=spec.pools,
        excluded_ranges=excluded_ranges(spec),
        service_types=spec.service_types,
        enable_dhcp=spec.enable_dhcp,
        ipv6_ra_mode=spec.ra_mode,
        ipv6_address_mode=spec.address_mode,
        used=used,
    )


def seeded_store(specs: Sequence[SubnetSpec]) -> MemoryStore:
    store = MemoryStore()
    for spec in specs:
        store.seed(memory_subnet(spec, 0), [int(ipaddress.ip_address(a)) for a in spec.held])
    return store


def current_subnets(specs: Sequence[SubnetSpec], store: MemoryStore) -> list[MemorySubnet]:
    """The network's subnets as a caller reads them before a call: with their counters."""
    return [memory_subnet(spec, store.used(spec.id)) for spec in specs]


# --- the model -----------------------------------------------------------------------


class Expected(Exception):
    """The error the model says the call raises."""

    def __init__(self, error: type[errors.QuarkError], why: str) -> None:
        super().__init__(f"{error.__name__}: {why}")
        self.error = error
        self.why = why


def _cidr_range(cidr: str) -> tuple[int, int]:
    net = ipaddress.ip_network(cidr)
    return int(net.network_address), int(net.broadcast_address)


def _merge(ranges: Any) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def _subtract(ranges: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for lo, hi in ranges:
        pieces = [(lo, hi)]
        for c_lo, c_hi in cut:
            pieces = [p for a, b in pieces for p in ((a, min(b, c_lo - 1)), (max(a, c_hi + 1), b)) if p[0] <= p[1]]
        out += pieces
    return _merge(out)


def _ip(value: int, version: int) -> addressing.IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def eui64_of(cidr: str, mac: int) -> int:
    """RFC 4291 appendix A: the /64 prefix, then the MAC with ff:fe in its middle
    and the universal/local bit (0x02 of the first octet) flipped."""
    interface_id = (mac >> 24) << 40 | 0xFFFE << 24 | (mac & 0xFFFFFF)
    interface_id ^= 1 << 57
    prefix = int(ipaddress.ip_network(cidr).network_address) >> 64 << 64
    return prefix | interface_id


class ModelSubnet:
    """What the rules need to know of one subnet."""

    def __init__(self, spec: SubnetSpec) -> None:
        self.spec = spec
        self.id, self.version, self.net, self.auto = spec.id, spec.version, spec.net, spec.auto
        self.gateway = None if spec.gateway_ip is None else int(ipaddress.ip_address(spec.gateway_ip))
        self.excluded = _merge(
            (max(lo, int(self.net.network_address)), min(hi, int(self.net.broadcast_address)))
            for lo, hi in map(_cidr_range, spec.exclude)
        )
        pools = _merge((int(ipaddress.ip_address(a)), int(ipaddress.ip_address(b))) for a, b in spec.pools)
        self.pool = _subtract(pools, self.excluded)
        self.capacity = sum(hi - lo + 1 for lo, hi in self.pool)

    def in_pool(self, value: int) -> bool:
        return any(lo <= value <= hi for lo, hi in self.pool)

    def is_excluded(self, value: int) -> bool:
        return any(lo <= value <= hi for lo, hi in self.excluded)

    def lowest_free(self, held: set[int]) -> int | None:
        for lo, hi in self.pool:
            value = lo
            while value <= hi and value in held:
                value += 1
            if value <= hi:
                return value
        return None

    def serves(self, holder: Holder) -> bool:
        """Reserved subnets (service_types) serve only their device owners, and
        DHCP ports when DHCP is on."""
        types = self.spec.service_types
        dhcp = holder.device_owner == "network:dhcp" and self.spec.enable_dhcp
        return not types or holder.device_owner in types or dhcp


@dataclass
class _Got:
    """What one request got so far: (subnet, address, pooled) triples."""

    items: list[tuple[ModelSubnet, int, bool]] = field(default_factory=list)

    def versions(self, *, pooled_only: bool = False) -> set[int]:
        return {sub.version for sub, _, pooled in self.items if pooled or not pooled_only}

    def pooled(self) -> int:
        return sum(1 for _, _, pooled in self.items if pooled)


class Model:
    """The held addresses of one network, and the rules that change them."""

    def __init__(self, specs: Sequence[SubnetSpec]) -> None:
        self.subnets = [ModelSubnet(spec) for spec in specs]
        self.by_id = {sub.id: sub for sub in self.subnets}
        self.held = {spec.id: {int(ipaddress.ip_address(a)) for a in spec.held} for spec in specs}

    def used(self, subnet_id: str) -> int:
        return len(self.held[subnet_id])

    def answer(self, requests: Sequence[AddressRequest]) -> list[list[tuple[str, str]]]:
        """Each request's allocations as sorted (subnet_id, address) pairs; the
        model's held addresses change only if no request raises ``Expected``."""
        held = {sid: set(values) for sid, values in self.held.items()}
        used = {sid: len(values) for sid, values in held.items()}  # the counters the caller read
        got = [_Got() for _ in requests]
        for request, grant in zip(requests, got):
            if request.fixed_ips and self.subnets and not self.serving(request):
                raise Expected(errors.IpAddressGenerationFailureNoMatchingSubnet, "entries, no subnet serves the owner")
            for entry in request.fixed_ips or ():
                self._explicit(request, entry, grant, held)
        automatic = [(r, g) for r, g in zip(requests, got) if r.fixed_ips is None]
        self._automatic(automatic, held, used)
        self.held = held
        return [sorted((sub.id, str(_ip(value, sub.version))) for sub, value, _ in g.items) for g in got]

    # --- explicit entries ------------------------------------------------------------

    def serving(self, request: AddressRequest) -> list[ModelSubnet]:
        return [sub for sub in self.subnets if sub.serves(request.holder)]

    def _explicit(self, request: AddressRequest, entry: FixedIp, grant: _Got, held: dict[str, set[int]]) -> None:
        sub, address = self._resolve(entry, self.serving(request))
        if request.version is not None and sub.version != request.version:
            raise Expected(errors.InvalidInput, f"{sub.id} is not of version {request.version}")
        holder = request.holder
        if self._gives_eui64(sub, holder):
            eui = eui64_of(sub.spec.cidr, holder.mac)
            if address is not None and address != eui:
                raise Expected(errors.AllocationOnAutoAddressSubnet, f"{sub.id} gives {holder.mac:x} its EUI-64")
            named = address is not None
            self._take_specific(sub, eui, request, grant, held, pooled=False, named=named)
        elif address is None:
            value = sub.lowest_free(held[sub.id])
            if value is None:
                raise Expected(errors.IpAddressGenerationFailure, f"{sub.id} has no free address")
            held[sub.id].add(value)
            grant.items.append((sub, value, True))
        else:
            self._take_specific(sub, address, request, grant, held, pooled=True, named=True)

    def _resolve(self, entry: FixedIp, serving: list[ModelSubnet]) -> tuple[ModelSubnet, int | None]:
        """The subnet (among those serving the holder) and address an entry names."""
        address = None if entry.ip_address is None else ipaddress.ip_address(entry.ip_address)
        if entry.subnet_id is not None:
            sub = self.by_id.get(entry.subnet_id)
            if sub is None or sub not in serving:
                raise Expected(errors.InvalidInput, f"{entry.subnet_id} is not on the network")
            if address is not None and (address.version != sub.version or address not in sub.net):
                raise Expected(errors.InvalidIpForSubnet, f"{address} is not in {sub.id}")
            return sub, None if address is None else int(address)
        if address is None:
            raise Expected(errors.InvalidInput, "an entry with neither subnet nor address")
        for sub in serving:
            if address.version == sub.version and address in sub.net:
                return sub, int(address)
        raise Expected(errors.InvalidIpForNetwork, f"{address} is in no subnet of the network")

    def _gives_eui64(self, sub: ModelSubnet, holder: Holder) -> bool:
        return sub.auto and holder.mac is not None and holder.device_owner not in ROUTERS

    def _take_specific(
        self,
        sub: ModelSubnet,
        value: int,
        request: AddressRequest,
        grant: _Got,
        held: dict[str, set[int]],
        *,
        pooled: bool,
        named: bool,
    ) -> None:
        """``value`` exactly, if the rules let the holder have it. ``named``: the
        caller wrote the address (an EUI-64 derived from the MAC is not named)."""
        router = request.holder.device_owner in ROUTERS
        net = sub.net
        if net.version == 4 and net.prefixlen <= 30 and value in (int(net.network_address), int(net.broadcast_address)):
            raise Expected(errors.InvalidIpForSubnet, "an IPv4 network or broadcast address")
        if net.version == 6 and value == int(net.network_address) and not router and net.prefixlen <= 126:
            raise Expected(errors.InvalidIpForSubnet, "the subnet-router anycast address, not to a router")
        if sub.is_excluded(value) and not (request.admin and named):
            raise Expected(errors.IpAddressExcludedByPolicy, f"{_ip(value, sub.version)} is excluded")
        if value == sub.gateway and not router:
            raise Expected(errors.IpAddressAlreadyAllocated, "the gateway, not to a router")
        if value in held[sub.id]:
            raise Expected(errors.IpAddressAlreadyAllocated, f"{_ip(value, sub.version)} is held")
        held[sub.id].add(value)
        grant.items.append((sub, value, pooled))

    # --- automatic addresses ---------------------------------------------------------

    def eligible(self, request: AddressRequest) -> list[ModelSubnet]:
        return [sub for sub in self.subnets if sub.serves(request.holder) and request.version in (None, sub.version)]

    def preference(self, request: AddressRequest, version: int, used: dict[str, int]) -> list[ModelSubnet]:
        """The subnets of ``version`` that give the holder pool addresses, in the order
        to try: stateful before auto-address ones (which give pool addresses only to a
        holder without a MAC), then reserved (service_types) before general ones, then the fullest first (by the counters the caller read;
        an empty pool counts as full), then in creation order."""
        holder = request.holder
        no_pool_on_auto = holder.mac is not None or holder.device_owner in ROUTERS
        candidates = [
            sub for sub in self.eligible(request) if sub.version == version and not (sub.auto and no_pool_on_auto)
        ]

        def fullness(sub: ModelSubnet) -> float:
            return used[sub.id] / sub.capacity if sub.capacity else 1.0

        return sorted(
            candidates,
            key=lambda sub: (sub.auto, not sub.spec.service_types, -fullness(sub), self.subnets.index(sub)),
        )

    def _automatic(
        self, pairs: list[tuple[AddressRequest, _Got]], held: dict[str, set[int]], used: dict[str, int]
    ) -> None:
        for request, grant in pairs:
            for sub in self.eligible(request):
                if self._gives_eui64(sub, request.holder):
                    eui = eui64_of(sub.spec.cidr, request.holder.mac)
                    self._take_specific(sub, eui, request, grant, held, pooled=False, named=False)
        for version in (4, 6):
            self._serve(version, [(r, g) for r, g in pairs if _wants(r, g, version)], held, used)
        for request, grant in pairs:
            self._check(request, grant)

    def _serve(
        self, version: int, pairs: list[tuple[AddressRequest, _Got]], held: dict[str, set[int]], used: dict[str, int]
    ) -> None:
        """Requests that try the same subnets in the same order are served together,
        in request order, subnet by subnet (the docstring's "one batch per subnet")."""
        batches: dict[tuple[str, ...], list[_Got]] = {}
        order: dict[tuple[str, ...], list[ModelSubnet]] = {}
        for request, grant in pairs:
            subnets = self.preference(request, version, used)
            if subnets:
                key = tuple(sub.id for sub in subnets)
                batches.setdefault(key, []).append(grant)
                order[key] = subnets
        for key, waiting in batches.items():
            waiting = list(waiting)
            for sub in order[key]:
                while waiting and (value := sub.lowest_free(held[sub.id])) is not None:
                    held[sub.id].add(value)
                    waiting.pop(0).items.append((sub, value, True))

    def _check(self, request: AddressRequest, grant: _Got) -> None:
        eligible = self.eligible(request)
        if request.one_required and not grant.items:
            if not eligible:
                raise Expected(errors.InvalidInput, "one address required, no subnet to take it from")
            raise Expected(errors.IpAddressGenerationFailure, "one address required, none free")
        if not eligible and any(request.version in (None, sub.version) for sub in self.subnets):
            raise Expected(errors.IpAddressGenerationFailureNoMatchingSubnet, "every subnet reserved for others")
        strategy = request.strategy
        if strategy == Strategy.NEUTRON:
            stateful = {sub.version for sub in eligible if not sub.auto}
            missing = stateful - grant.versions(pooled_only=True)
            if missing:
                raise Expected(errors.IpAddressGenerationFailure, f"NEUTRON: no pooled IPv{min(missing)} address")
        elif strategy == Strategy.BOTH_REQUIRED:
            if grant.versions() != {4, 6}:
                raise Expected(errors.IpAddressGenerationFailure, "BOTH_REQUIRED without both families")
        elif eligible and not grant.items:
            raise Expected(errors.IpAddressGenerationFailure, f"{strategy}: no address at all")


def _wants(request: AddressRequest, grant: _Got, version: int) -> bool:
    """Whether the strategy asks for a pool address of ``version`` now (IPv4 is served first).

    NEUTRON: one pool address per family, whatever EUI-64 addresses it has.
    ANY: one pool address in all, IPv4 first; an EUI-64 address counts for IPv6.
    BOTH, BOTH_REQUIRED: one address per family; an EUI-64 address counts for IPv6.
    """
    if request.strategy == Strategy.NEUTRON:
        return version not in grant.versions(pooled_only=True)
    if version in grant.versions():
        return False
    return not (request.strategy == Strategy.ANY and grant.pooled())


# --- strategies ----------------------------------------------------------------------
#
# The drawing is written as plain functions over a few strategies built once:
# building strategies inside every draw (sampled_from, lists, composites) costs
# more than running the decision does, and the suite must stay fast.

_INDEX = st.integers(0, 2**16)
_BOOL = st.booleans()


def _pick(draw: st.DrawFn, options: Sequence[Any]) -> Any:
    """One of ``options``; shrinks towards the first."""
    return options[draw(_INDEX) % len(options)]


def _between(draw: st.DrawFn, lo: int, hi: int) -> int:
    """An integer of [lo, hi]; shrinks towards lo."""
    return lo + draw(_INDEX) % (hi - lo + 1)


def _usable(net: addressing.IPNetwork) -> tuple[int, int]:
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.max_prefixlen - net.prefixlen >= 2:
        first, last = first + 1, (last - 1 if net.version == 4 else last)
    return first, last


def _gateway(draw: st.DrawFn, net: addressing.IPNetwork) -> str | None:
    """Neutron's default (IPv4 .1, none on a /32; IPv6 the network address), none, or another."""
    first, last = _usable(net)
    default = None if net.version == 4 and net.prefixlen == 32 else int(net.network_address) + (net.version == 4)
    choice = _pick(draw, ["default", "default", "none", "inside"])
    if choice == "none" or (choice == "default" and default is None):
        return None
    value = default if choice == "default" else _between(draw, first, min(last, first + 20))
    return str(_ip(value, net.version))


def _pools(draw: st.DrawFn, net: addressing.IPNetwork, gateway: str | None) -> tuple[tuple[str, str], ...]:
    """The usable range (sometimes trimmed at either end) minus the gateway."""
    first, last = _usable(net)
    if last - first < 64 and draw(_BOOL):
        first, last = first + _between(draw, 0, 2), last - _between(draw, 0, 2)
    ranges = [(first, last)] if first <= last else []
    if gateway is not None:
        value = int(ipaddress.ip_address(gateway))
        ranges = _subtract(ranges, [(value, value)])
    return tuple((str(_ip(lo, net.version)), str(_ip(hi, net.version))) for lo, hi in ranges)


def _small_exclusions(draw: st.DrawFn, net: addressing.IPNetwork) -> tuple[str, ...]:
    """One or two CIDRs inside a small subnet."""
    size = min(net.num_addresses, 64)
    out = set()
    for _ in range(_between(draw, 1, 2)):
        start = net.network_address + _between(draw, 0, size - 1)
        out.add(str(ipaddress.ip_network(f"{start}/{_between(draw, net.prefixlen, net.max_prefixlen)}", strict=False)))
    return tuple(sorted(out))


def _big_exclusions(draw: st.DrawFn, net: addressing.IPNetwork) -> tuple[str, ...]:
    """On a /64: a CIDR around the pool's start, one MAC's EUI-64, or the upper
    half, where the EUI-64 of every MAC drawn lies (its universal/local bit,
    flipped, is set)."""
    kind = _pick(draw, ["start", "eui", "upper-half"])
    if kind == "start":
        return (
            str(
                ipaddress.ip_network(
                    f"{net.network_address + _between(draw, 0, 8)}/{_between(draw, 124, 128)}", strict=False
                )
            ),
        )
    if kind == "eui":
        return (f"{_ip(eui64_of(str(net), _pick(draw, MACS)), 6)}/128",)
    return (str(list(net.subnets(prefixlen_diff=1))[1]),)


def _held(draw: st.DrawFn, spec: SubnetSpec) -> tuple[str, ...]:
    """What earlier transactions took: nothing, a few addresses (the gateway
    perhaps, by a router), or the whole pool; on a /64 a few near its start
    and perhaps a MAC's EUI-64."""
    net = spec.net
    first, last = _usable(net)
    values: set[int] = set()
    if net.num_addresses > 256:
        values = {_between(draw, first, first + 6) for _ in range(_between(draw, 0, 3))}
        if draw(_BOOL):
            values.add(eui64_of(spec.cidr, _pick(draw, MACS)))
    else:
        kind = _pick(draw, ["none", "some", "some", "none", "some", "full"])
        if kind == "full":
            values = {v for lo, hi in ModelSubnet(spec).pool for v in range(lo, hi + 1)}
        elif kind == "some":
            values = {_between(draw, first, last) for _ in range(_between(draw, 1, 4))}
        if spec.gateway_ip is not None and kind != "none" and draw(_BOOL):
            values.add(int(ipaddress.ip_address(spec.gateway_ip)))
    return tuple(str(_ip(v, net.version)) for v in sorted(values))


def draw_subnet(draw: st.DrawFn, index: int, kind: str | None = None) -> SubnetSpec:
    """IPv4 with a small pool (/31 and /32 too), stateful IPv6 (small, or a /64),
    or an auto-address /64 (``kind`` "v4", "v6" or "auto", drawn if None); some
    reserved by ``service_types``, some with IP policy exclusions, some full."""
    kind = kind or _pick(draw, ["v4", "v4", "v6", "auto"])
    modes: tuple[str | None, str | None] = (None, None)
    if kind == "v4":
        net = ipaddress.ip_network(f"10.{index}.0.0/{_pick(draw, [28, 29, 26, 29, 30, 28, 31, 32])}")
    elif kind == "v6":
        net = ipaddress.ip_network(f"2001:db8:{index}::/{_pick(draw, [124, 120, 125, 126, 124, 64])}")
        modes = _pick(draw, [(None, None), ("dhcpv6-stateful", "dhcpv6-stateful"), (None, "dhcpv6-stateful")])
    else:
        net = ipaddress.ip_network(f"2001:db8:{index}::/64")
        modes = _pick(draw, [("slaac", "slaac"), (None, "slaac"), ("dhcpv6-stateless", "dhcpv6-stateless")])
    gateway = _gateway(draw, net)
    exclude: tuple[str, ...] = ()
    if draw(_BOOL):
        exclude = _big_exclusions(draw, net) if net.num_addresses > 256 else _small_exclusions(draw, net)
    service_types: tuple[str, ...] = ()
    if _between(draw, 0, 3) == 0:
        service_types = tuple(sorted({_pick(draw, SERVICE_TYPES) for _ in range(_between(draw, 1, 2))}))
    spec = SubnetSpec(index, str(net), gateway, _pools(draw, net, gateway), exclude, *modes, service_types)
    return dataclasses.replace(spec, held=_held(draw, spec))


def draw_network(draw: st.DrawFn, max_subnets: int = 4) -> tuple[SubnetSpec, ...]:
    """0 to ``max_subnets`` subnets (rarely none), in creation order."""
    count = _pick(draw, [1, 2, 2, 3, 3, 4, 0, 1, 2, 3, 4, 1, 2, 3, 4][: max_subnets * 3 + 3] or [0])
    return tuple(draw_subnet(draw, index) for index in range(1, min(count, max_subnets) + 1))


def _address_in(draw: st.DrawFn, spec: SubnetSpec, mac: int | None) -> str:
    """An address of ``spec`` a caller might name: in its pool mostly, else
    its network or last address, gateway, a held or excluded one, an EUI-64
    (the holder's or another MAC's)."""
    net = spec.net
    first, last = _usable(net)
    choices = ["pool", "pool", "pool", "random", "network", "last", "eui"]
    choices += ["gateway"] * (spec.gateway_ip is not None)
    choices += ["held"] * bool(spec.held) + ["excluded"] * bool(spec.exclude)
    choice = _pick(draw, choices)
    if choice == "held":
        return _pick(draw, spec.held)
    if choice == "network":
        value = int(net.network_address)
    elif choice == "last":
        value = int(net.broadcast_address)
    elif choice == "gateway":
        value = int(ipaddress.ip_address(spec.gateway_ip or 0))
    elif choice == "excluded":
        value = _cidr_range(_pick(draw, spec.exclude))[0]
    elif choice == "eui" and net.version == 6:
        value = eui64_of(spec.cidr, mac if mac is not None and draw(_BOOL) else _pick(draw, MACS))
    elif choice == "pool" and spec.pools:
        value = int(ipaddress.ip_address(spec.pools[0][0])) + _between(draw, 0, 5)
    else:
        value = _between(draw, first, min(last, first + 40))
    return str(_ip(min(value, int(net.broadcast_address)), net.version))


def _entry(draw: st.DrawFn, specs: Sequence[SubnetSpec], mac: int | None) -> FixedIp:
    """A ``fixed_ips`` entry: mostly one that fits the network, sometimes one that does not."""
    kind = _pick(draw, ["subnet"] * 6 + ["address"] * 4 + ["both"] * 4 + ["stray", "neither", "missing"])
    if not specs and kind in ("subnet", "address", "both"):
        kind = _pick(draw, ["stray", "neither", "missing"])
    if kind == "neither":
        return FixedIp()
    if kind == "missing":
        return FixedIp(subnet_id=MISSING_SUBNET)
    if kind == "stray":
        return FixedIp(ip_address=_pick(draw, OUTSIDE))
    spec = _pick(draw, specs)
    if kind == "subnet":
        return FixedIp(subnet_id=spec.id)
    address = _address_in(draw, spec, mac)
    if kind == "address":
        return FixedIp(ip_address=address)
    other = _pick(draw, specs) if _between(draw, 0, 3) == 0 else spec
    return FixedIp(subnet_id=other.id, ip_address=address)


def draw_request(draw: st.DrawFn, specs: Sequence[SubnetSpec], name: str) -> RequestSpec:
    """A holder (port or none, MAC or none, any device owner) and what it asks:
    entries (none, or up to three) or a strategy, a version limit sometimes."""
    mac = _pick(draw, [None, *MACS])
    holder = Holder(
        port_id=_pick(draw, [name, name, None]), project_id="project", mac=mac, device_owner=_pick(draw, OWNERS)
    )
    fixed_ips = None
    if _between(draw, 0, 9) < 4:
        fixed_ips = tuple(_entry(draw, specs, mac) for _ in range(_pick(draw, [1, 1, 2, 0, 3])))
    return RequestSpec(
        holder=holder,
        fixed_ips=fixed_ips,
        strategy=_pick(draw, [Strategy.NEUTRON, Strategy.NEUTRON, Strategy.ANY, Strategy.BOTH, Strategy.BOTH_REQUIRED]),
        version=_pick(draw, [None, None, None, 4, 6]),
        admin=draw(_BOOL),
        one_required=_between(draw, 0, 5) == 0,
    )


def draw_calls(
    draw: st.DrawFn, specs: Sequence[SubnetSpec], max_calls: int = 3, max_requests: int = 4
) -> tuple[tuple[RequestSpec, ...], ...]:
    """1 to ``max_calls`` calls of 1 to ``max_requests`` requests each (mostly few)."""
    calls = []
    for c in range(_between(draw, 1, max_calls)):
        count = min(_pick(draw, [1, 1, 2, 2, 3, 4]), max_requests)
        calls.append(tuple(draw_request(draw, specs, f"port-{c}-{k}") for k in range(count)))
    return tuple(calls)


@st.composite
def scenarios(draw: st.DrawFn, max_subnets: int = 4, max_calls: int = 3, max_requests: int = 4) -> Scenario:
    """A network and the calls made on it."""
    specs = draw_network(draw, max_subnets)
    return Scenario(specs, draw_calls(draw, specs, max_calls, max_requests))
