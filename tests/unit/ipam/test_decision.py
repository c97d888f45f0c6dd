"""The IP allocation decision (``quark.ipam.decision``) over the in-memory store.

- Property tests: random networks (none to four subnets: small IPv4 pools,
  stateful IPv6, SLAAC, reserved by ``service_types``, with IP-policy
  exclusions, full) and random calls of several requests, checked against an
  independent model of the rules (``decision_model.py``) and against
  invariants stated directly: every address in its subnet, automatic ones in
  its pool, none twice, all or nothing.
- Properties of each strategy and rule on their own, with draws aimed at them.
- Table-driven tests of the pure rules (``resolve_entry``, ``check_specific``,
  ``takes_eui64``, ``eligible``, ``family``, ``Grant``).
- Two rules the model found broken, now kept: the IPv6 subnet-router
  anycast address for router ports only, and no excluded EUI-64 address to
  an admin who did not name it.

Example counts are set per test (no deadline: a loaded CI machine says
nothing about correctness); the draws are cheap but not free (Hypothesis's
own cost per draw dominates), so the counts keep the file to a few seconds.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Coroutine, Sequence
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from quark import errors
from quark.ipam import decision
from quark.ipam.decision import Grant, check_specific, eligible, family, resolve_entry, takes_eui64
from quark.ipam.requests import AddressRequest, Allocation, FixedIp, Holder, Strategy
from tests.unit.ipam.decision_model import (
    MACS,
    NETWORK_ID,
    OWNERS,
    ROUTERS,
    Expected,
    Model,
    ModelSubnet,
    RequestSpec,
    Scenario,
    SubnetSpec,
    current_subnets,
    draw_calls,
    draw_network,
    draw_subnet,
    eui64_of,
    memory_subnet,
    scenarios,
    seeded_store,
)
from tests.unit.ipam.memory_store import MemoryStore, MemorySubnet

MODEL_EXAMPLES = 200
RULE_EXAMPLES = 60
COMPUTE = "compute:nova"
ROUTER = "network:router_interface"
MAC = 0xFA163E123456


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits (the in-memory store does not) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("the coroutine waited on something: the in-memory store never should")


def allocate(store: MemoryStore, requests: Sequence[AddressRequest]) -> list[list[Allocation]]:
    """``decision.allocate`` in a transaction of the store (rolled back if it raises)."""
    with store.transaction():
        return run_sync(decision.allocate(store, None, requests))


def pairs(allocations: Sequence[Allocation]) -> list[tuple[str, str]]:
    return sorted((a.subnet_id, a.address) for a in allocations)


# --- the model property ----------------------------------------------------------------


def play(scenario: Scenario, model: Model) -> None:
    """Make the scenario's calls on the in-memory store, each checked against the model."""
    specs = scenario.subnets
    store = seeded_store(specs)
    for call in scenario.calls:
        for spec in specs:
            assert store.used(spec.id) == model.used(spec.id), "the usage counter counts every address held"
        subnets = current_subnets(specs, store)
        requests = [request.bind(subnets) for request in call]
        before = {spec.id: store.held_ints(spec.id) for spec in specs}
        try:
            expected: list[list[tuple[str, str]]] | Expected = model.answer(requests)
        except Expected as refusal:
            expected = refusal
        try:
            got = allocate(store, requests)
        except errors.QuarkError as exc:
            assert isinstance(expected, Expected), f"raised {exc!r}; the model grants {expected}"
            assert type(exc) is expected.error, f"raised {exc!r}; the model expects {expected}"
            assert {spec.id: store.held_ints(spec.id) for spec in specs} == before, "a call that raises takes nothing"
            event(f"refused: {type(exc).__name__}")
            continue
        assert not isinstance(expected, Expected), f"granted {got}; the model expects {expected}"
        check_invariants(specs, requests, got, before)
        assert [pairs(allocations) for allocations in got] == expected
        event(f"granted: {sum(map(len, got))} address(es) to {len(got)} request(s)")


def check_invariants(
    specs: Sequence[SubnetSpec],
    requests: Sequence[AddressRequest],
    got: Sequence[Sequence[Allocation]],
    before: dict[str, frozenset[int]],
) -> None:
    """What holds of any granted call, whatever the strategy: stated without the model's prediction."""
    subnets = {spec.id: ModelSubnet(spec) for spec in specs}
    seen: set[tuple[str, int]] = set()
    for request, allocations in zip(requests, got):
        named = {entry.ip_address for entry in request.fixed_ips or ()}
        for allocation in allocations:
            sub = subnets[allocation.subnet_id]
            value = int(ipaddress.ip_address(allocation.address))
            assert ipaddress.ip_address(allocation.address) in sub.net, f"{allocation} outside its subnet"
            assert allocation.port_id == request.holder.port_id
            eui = sub.auto and request.holder.mac is not None and value == eui64_of(sub.spec.cidr, request.holder.mac)
            if allocation.address not in named and not eui:
                assert sub.in_pool(value), f"{allocation} handed out automatically but outside the pool"
                assert not sub.is_excluded(value), f"{allocation} handed out automatically but excluded"
            assert (sub.id, value) not in seen, f"{allocation} granted twice"
            assert value not in before[sub.id], f"{allocation} was held already"
            seen.add((sub.id, value))


@settings(max_examples=MODEL_EXAMPLES, deadline=None)
@given(scenario=scenarios())
def test_decision_matches_model(scenario):
    play(scenario, Model(scenario.subnets))


# --- each strategy and rule on its own -------------------------------------------------


def without_entries(
    call: Sequence[RequestSpec], strategy: Strategy, one_required: bool | None
) -> tuple[RequestSpec, ...]:
    """The call's requests, asking by ``strategy`` (and ``one_required`` unless None) instead."""
    return tuple(
        dataclasses.replace(
            r, fixed_ips=None, strategy=strategy, one_required=r.one_required if one_required is None else one_required
        )
        for r in call
    )


@st.composite
def automatic_calls(draw, strategy: Strategy, max_requests: int = 3, one_required: bool | None = None) -> Scenario:
    """A network and one call of requests without entries, all with ``strategy``
    (and ``one_required`` as given, or drawn if None)."""
    specs = draw_network(draw)
    (call,) = draw_calls(draw, specs, max_calls=1, max_requests=max_requests)
    return Scenario(specs, (without_entries(call, strategy, one_required),))


@st.composite
def dual_stack_calls(
    draw, strategy: Strategy, max_requests: int = 3, one_required: bool | None = None, fill_v4: bool = False
) -> Scenario:
    """Like ``automatic_calls``, on a network of an IPv4 and an IPv6 subnet
    (stateful or auto-address) and up to two more; with ``fill_v4`` the IPv4
    subnets are sometimes all full."""
    kinds = ["v4", draw(st.sampled_from(["v6", "auto"]))]
    kinds += [draw(st.sampled_from(["v4", "v6", "auto"])) for _ in range(draw(st.integers(0, 2)))]
    specs = tuple(draw_subnet(draw, index, kind) for index, kind in enumerate(kinds, start=1))
    if fill_v4 and draw(st.booleans()):
        specs = tuple(fill(s) if s.version == 4 else s for s in specs)
    (call,) = draw_calls(draw, specs, max_calls=1, max_requests=max_requests)
    return Scenario(specs, (without_entries(call, strategy, one_required),))


def fill(spec: SubnetSpec) -> SubnetSpec:
    """The subnet with every pool address held."""
    pool = ModelSubnet(spec).pool
    everything = {ipaddress.ip_address(v) for lo, hi in pool for v in range(lo, hi + 1)}
    everything |= {ipaddress.ip_address(a) for a in spec.held}
    return dataclasses.replace(spec, held=tuple(str(a) for a in sorted(everything)))


def single_outcome(scenario: Scenario) -> tuple[MemoryStore, list[AddressRequest], Any]:
    """The store, the bound requests of the scenario's only call, and what the call gave or raised."""
    store = seeded_store(scenario.subnets)
    requests = [r.bind(current_subnets(scenario.subnets, store)) for r in scenario.calls[0]]
    try:
        return store, requests, allocate(store, requests)
    except errors.QuarkError as exc:
        return store, requests, exc


def has_room(spec: SubnetSpec, store: MemoryStore) -> bool:
    return ModelSubnet(spec).lowest_free(set(store.held_ints(spec.id))) is not None


def versions(allocations: Sequence[Allocation]) -> list[int]:
    return sorted(ipaddress.ip_address(a.address).version for a in allocations)


def eui64_allocations(request: AddressRequest, allocations: Sequence[Allocation]) -> list[Allocation]:
    mac = request.holder.mac
    subnets = {sub.id: sub for sub in request.subnets}
    return [
        a
        for a in allocations
        if mac is not None
        and subnets[a.subnet_id].ip_version == 6
        and int(ipaddress.ip_address(a.address)) == eui64_of(subnets[a.subnet_id].cidr, mac)
    ]


def auto_subnet(sub: Any) -> bool:
    return sub.ip_version == 6 and {"slaac", "dhcpv6-stateless"} & {sub.ipv6_ra_mode, sub.ipv6_address_mode} != set()


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(scenario=st.one_of(automatic_calls(Strategy.ANY, 1), dual_stack_calls(Strategy.ANY, 1, fill_v4=True)))
def test_any_gives_one_pool_address_ipv4_first(scenario):
    _, (request,), outcome = single_outcome(scenario)
    specs = {spec.id: spec for spec in scenario.subnets}
    before = seeded_store(scenario.subnets)
    reachable = [specs[sub.id] for sub in eligible(request) if has_room(specs[sub.id], before)]
    holder = request.holder
    pool_giving = [s for s in reachable if not (s.auto and (holder.mac is not None or holder.device_owner in ROUTERS))]
    if isinstance(outcome, errors.QuarkError):
        assert isinstance(outcome, errors.Conflict | errors.InvalidInput), outcome
        if isinstance(outcome, errors.IpAddressGenerationFailure):
            assert not pool_giving, f"{outcome!r} though {[s.id for s in pool_giving]} had room"
        event(f"ANY refused: {type(outcome).__name__}")
        return
    (allocations,) = outcome
    pooled = [a for a in allocations if a not in eui64_allocations(request, allocations)]
    assert len(pooled) <= 1, f"ANY gives one pool address at most: {pooled}"
    if any(s.version == 4 for s in pool_giving):
        assert versions(pooled) == [4], f"IPv4 first: {pooled}"
    elif pool_giving and not eui64_allocations(request, allocations):
        assert versions(pooled) == [6]
    event(f"ANY got {versions(pooled)} pooled + {len(allocations) - len(pooled)} EUI-64")


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(
    scenario=st.one_of(
        automatic_calls(Strategy.BOTH_REQUIRED, one_required=False),
        dual_stack_calls(Strategy.BOTH_REQUIRED, one_required=False),
    )
)
def test_both_required_gets_both_families_or_409(scenario):
    _, _, outcome = single_outcome(scenario)
    if isinstance(outcome, errors.QuarkError):
        assert isinstance(outcome, errors.Conflict), f"BOTH_REQUIRED refuses with a 409: {outcome!r}"
        event(type(outcome).__name__)
        return
    for allocations in outcome:
        assert set(versions(allocations)) == {4, 6}, allocations
    event("granted")


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(scenario=st.one_of(automatic_calls(Strategy.NEUTRON, 1), dual_stack_calls(Strategy.NEUTRON, 1)))
def test_neutron_gives_one_pool_address_per_stateful_family_and_every_eui64(scenario):
    _, (request,), outcome = single_outcome(scenario)
    holder = request.holder
    candidates = eligible(request)
    if isinstance(outcome, errors.QuarkError):
        event(type(outcome).__name__)
        return
    (allocations,) = outcome
    euis = eui64_allocations(request, allocations)
    pooled = [a for a in allocations if a not in euis]
    stateful = {sub.ip_version for sub in candidates if not auto_subnet(sub)}
    assert set(versions(pooled)) >= stateful, f"one pool address per stateful family {stateful}: {pooled}"
    assert len(versions(pooled)) == len(set(versions(pooled))), f"one per family, not more: {pooled}"
    gets_eui = holder.mac is not None and holder.device_owner not in ROUTERS
    expected_euis = {sub.id for sub in candidates if auto_subnet(sub)} if gets_eui else set()
    assert {a.subnet_id for a in euis} == expected_euis, "an EUI-64 address on every auto-address subnet"
    event(f"NEUTRON: {len(pooled)} pooled, {len(euis)} EUI-64")


@st.composite
def ipv4_networks(draw) -> Scenario:
    """Two to four IPv4 subnets open to all, and one request for an IPv4 address
    by a strategy that asks no more than that."""
    count = draw(st.integers(2, 4))
    specs = tuple(
        dataclasses.replace(draw_subnet(draw, index, "v4"), service_types=()) for index in range(1, count + 1)
    )
    strategy = draw(st.sampled_from([Strategy.NEUTRON, Strategy.ANY, Strategy.BOTH]))
    holder = Holder("port", "project", draw(st.sampled_from([None, *MACS])), COMPUTE)
    return Scenario(specs, ((RequestSpec(holder, None, strategy, 4, draw(st.booleans()), False),),))


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(scenario=ipv4_networks())
def test_fullest_subnet_with_room_first(scenario):
    _, _, outcome = single_outcome(scenario)
    before = seeded_store(scenario.subnets)
    with_room = [s for s in scenario.subnets if has_room(s, before)]
    if isinstance(outcome, errors.QuarkError):
        assert not with_room and isinstance(outcome, errors.IpAddressGenerationFailure), outcome
        return
    (allocations,) = outcome
    if not with_room:
        assert not allocations
        return

    def fullness(spec: SubnetSpec) -> float:
        sub = ModelSubnet(spec)
        return before.used(spec.id) / sub.capacity

    fullest = max(with_room, key=lambda s: (fullness(s), -s.index))
    assert [a.subnet_id for a in allocations] == [fullest.id], [(s.id, fullness(s)) for s in with_room]
    event(f"{len(with_room)} subnets with room")


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(data=st.data())
def test_one_required_with_no_eligible_subnet_is_invalid_input(data):
    scenario = data.draw(scenarios(max_calls=1, max_requests=1))
    (spec,) = scenario.calls[0]
    request = RequestSpec(spec.holder, None, Strategy.ANY, spec.version, spec.admin, True)
    _, (bound,), outcome = single_outcome(Scenario(scenario.subnets, ((request,),)))
    if not eligible(bound):
        assert type(outcome) is errors.InvalidInput, outcome
    else:
        assert not isinstance(outcome, errors.InvalidInput), outcome
    event(f"eligible subnets: {len(eligible(bound))}")


# --- explicit addresses ----------------------------------------------------------------


def one_subnet(
    cidr: str, gateway: str | None, *, exclude: tuple[str, ...] = (), held: tuple[str, ...] = ()
) -> SubnetSpec:
    """A subnet for explicit requests (which never draw from its pool: it has none)."""
    return SubnetSpec(1, cidr, gateway, (), exclude, held=held)


def ask(spec: SubnetSpec, address: str, *, owner: str = COMPUTE, admin: bool = False, mac: int | None = None) -> Any:
    """One request for exactly ``address`` on a network of ``spec`` alone: its allocations, or the error."""
    store = seeded_store([spec])
    request = AddressRequest(
        Holder("port", "project", mac, owner),
        NETWORK_ID,
        [memory_subnet(spec, store.used(spec.id))],
        fixed_ips=(FixedIp(spec.id, address),),
        admin=admin,
    )
    try:
        return pairs(allocate(store, [request])[0])
    except errors.QuarkError as exc:
        return type(exc)


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(
    prefix=st.integers(24, 32),
    offset=st.integers(0, 255),
    owner=st.sampled_from(OWNERS),
    admin=st.booleans(),
    excluded=st.booleans(),
)
@example(prefix=30, offset=0, owner=COMPUTE, admin=True, excluded=False)  # the network address
@example(prefix=30, offset=3, owner=ROUTER, admin=True, excluded=False)  # the broadcast address
@example(prefix=31, offset=0, owner=COMPUTE, admin=False, excluded=False)  # RFC 3021
@example(prefix=24, offset=1, owner=ROUTER, admin=False, excluded=False)  # the gateway, to a router
@example(prefix=24, offset=1, owner=COMPUTE, admin=True, excluded=False)  # the gateway, to anyone else
@example(prefix=24, offset=9, owner=COMPUTE, admin=False, excluded=True)  # excluded, not an admin
@example(prefix=24, offset=9, owner=COMPUTE, admin=True, excluded=True)  # excluded, an admin
def test_explicit_ipv4_address_rules(prefix, offset, owner, admin, excluded):
    """Network and broadcast (but on /31, /32) are a 400; an excluded address a 409
    but to an admin; the gateway a 409 but to a router port."""
    net = ipaddress.ip_network(f"10.9.0.0/{prefix}")
    address = net.network_address + offset % net.num_addresses
    gateway = None if prefix == 32 else str(net.network_address + 1)
    exclude = (f"{address}/32",) if excluded else ()
    got = ask(one_subnet(str(net), gateway, exclude=exclude), str(address), owner=owner, admin=admin)
    if prefix <= 30 and address in (net.network_address, net.broadcast_address):
        assert got is errors.InvalidIpForSubnet
    elif excluded and not admin:
        assert got is errors.IpAddressExcludedByPolicy
    elif str(address) == gateway and owner not in ROUTERS:
        assert got is errors.IpAddressAlreadyAllocated
    else:
        assert got == [("sub-1", str(address))]
    event(got.__name__ if isinstance(got, type) else "granted")


def test_explicit_address_already_held_is_409():
    spec = one_subnet("10.9.0.0/29", "10.9.0.1", held=("10.9.0.4",))
    assert ask(spec, "10.9.0.4") is errors.IpAddressAlreadyAllocated
    assert ask(spec, "10.9.0.5") == [("sub-1", "10.9.0.5")]


SLAAC = SubnetSpec(
    1,
    "2001:db8:5::/64",
    "2001:db8:5::",
    (("2001:db8:5::1", "2001:db8:5::ffff:ffff:ffff:ffff"),),
    ra_mode="slaac",
    address_mode="slaac",
)


@pytest.mark.parametrize(
    ("owner", "mac", "address", "expected"),
    [
        pytest.param(
            COMPUTE,
            MAC,
            "2001:db8:5:0:f816:3eff:fe12:3456",
            [("sub-1", "2001:db8:5:0:f816:3eff:fe12:3456")],
            id="own-eui64",
        ),
        pytest.param(COMPUTE, MAC, "2001:db8:5::99", errors.AllocationOnAutoAddressSubnet, id="another-address"),
        pytest.param(COMPUTE, None, "2001:db8:5::99", [("sub-1", "2001:db8:5::99")], id="no-mac-any-address"),
        pytest.param(ROUTER, MAC, "2001:db8:5::99", [("sub-1", "2001:db8:5::99")], id="router-any-address"),
        pytest.param(ROUTER, MAC, "2001:db8:5::", [("sub-1", "2001:db8:5::")], id="router-gateway"),
        pytest.param(COMPUTE, None, "2001:db8:5::", errors.InvalidIpForSubnet, id="gateway-not-router"),
    ],
)
def test_explicit_address_on_auto_address_subnet(owner, mac, address, expected):
    assert ask(SLAAC, address, owner=owner, mac=mac) == expected


EMPTY_POOL = SubnetSpec(2, "10.9.1.0/29", "10.9.1.1", (("10.9.1.2", "10.9.1.6"),), ("10.9.1.0/29",))
STATEFUL = SubnetSpec(3, "2001:db8:8::/124", "2001:db8:8::", (("2001:db8:8::1", "2001:db8:8::f"),))
RESERVED = SubnetSpec(4, "10.9.2.0/29", "10.9.2.1", (("10.9.2.2", "10.9.2.6"),), service_types=("network:dhcp",))


@pytest.mark.parametrize(
    ("entries", "version", "expected"),
    [
        pytest.param((), None, [], id="no-entries-no-addresses"),
        pytest.param(
            (FixedIp("sub-3"), FixedIp("sub-3")),
            None,
            [("sub-3", "2001:db8:8::1"), ("sub-3", "2001:db8:8::2")],
            id="one-subnet-twice",
        ),
        pytest.param((FixedIp("sub-3"),), 4, errors.InvalidInput, id="subnet-of-another-version"),
        pytest.param((FixedIp(ip_address="2001:db8:8::5"),), 4, errors.InvalidInput, id="address-of-another-version"),
        pytest.param((FixedIp("sub-2"),), None, errors.IpAddressGenerationFailure, id="subnet-with-empty-pool"),
        pytest.param((FixedIp("sub-4"),), None, errors.InvalidInput, id="subnet-reserved-for-others"),
        pytest.param(
            (FixedIp(ip_address="10.9.2.3"),), None, errors.InvalidIpForNetwork, id="address-reserved-for-others"
        ),
        pytest.param((FixedIp(ip_address="10.9.1.3"),), None, errors.IpAddressExcludedByPolicy, id="excluded-address"),
        pytest.param(
            (FixedIp("sub-1"),), None, [("sub-1", "2001:db8:5:0:f816:3eff:fe12:3456")], id="auto-subnet-gives-eui64"
        ),
        pytest.param(
            (FixedIp("sub-3", "2001:db8:8::9"), FixedIp(ip_address="2001:db8:8::9")),
            None,
            errors.IpAddressAlreadyAllocated,
            id="same-address-twice",
        ),
    ],
)
def test_explicit_entries(entries, version, expected):
    """Explicit entries are served exactly (no strategy), only from subnets serving the
    holder's owner, or the call raises."""
    specs = [SLAAC, EMPTY_POOL, STATEFUL, RESERVED]
    store = seeded_store(specs)
    request = AddressRequest(
        Holder("port", "project", MAC, COMPUTE),
        NETWORK_ID,
        current_subnets(specs, store),
        fixed_ips=entries,
        version=version,
    )
    if isinstance(expected, type):
        with pytest.raises(expected):
            allocate(store, [request])
        assert all(not store.held_ints(spec.id) for spec in specs), "nothing taken"
        return
    assert pairs(allocate(store, [request])[0]) == expected


# --- rules the model found broken, now kept ------------------------------------------


@pytest.mark.parametrize("gateway", ["2001:db8:6::1", None], ids=["gateway-elsewhere", "no-gateway"])
def test_ipv6_anycast_address_is_for_routers_only(gateway):
    spec = one_subnet("2001:db8:6::/64", gateway)
    assert ask(spec, "2001:db8:6::", owner=ROUTER) == [("sub-1", "2001:db8:6::")]
    assert ask(spec, "2001:db8:6::", owner=COMPUTE) is errors.InvalidIpForSubnet


EXCLUDED_EUI64 = SubnetSpec(
    1,
    "2001:db8:7::/64",
    "2001:db8:7::",
    (("2001:db8:7::1", "2001:db8:7::ffff:ffff:ffff:ffff"),),
    exclude=("2001:db8:7:0:f816:3eff:fe12:3456/128",),
    ra_mode="slaac",
    address_mode="slaac",
)


@pytest.mark.parametrize("entries", [None, (FixedIp(subnet_id="sub-1"),)], ids=["no-entries", "subnet-entry"])
def test_excluded_eui64_is_not_handed_out_automatically_even_to_an_admin(entries):
    store = seeded_store([EXCLUDED_EUI64])
    subnets = [memory_subnet(EXCLUDED_EUI64, 0)]
    holder = Holder("port", "project", MAC, COMPUTE)
    for admin in (False, True):
        request = AddressRequest(holder, NETWORK_ID, subnets, fixed_ips=entries, admin=admin)
        with pytest.raises(errors.IpAddressExcludedByPolicy):
            allocate(store, [request])


def test_excluded_eui64_named_by_an_admin_is_granted():
    """The other side of the test above: an admin who names the address gets it."""
    named = AddressRequest(
        Holder("port", "project", MAC, COMPUTE),
        NETWORK_ID,
        [memory_subnet(EXCLUDED_EUI64, 0)],
        fixed_ips=(FixedIp(ip_address="2001:db8:7:0:f816:3eff:fe12:3456"),),
        admin=True,
    )
    assert pairs(allocate(seeded_store([EXCLUDED_EUI64]), [named])[0]) == [
        ("sub-1", "2001:db8:7:0:f816:3eff:fe12:3456")
    ]


# --- the pure rules, table by table ---------------------------------------------------


def subnet(
    sid: str,
    cidr: str,
    *,
    gateway: str | None = None,
    pools: tuple[tuple[str, str], ...] = (),
    excluded: tuple[tuple[str, str], ...] = (),
    service_types: tuple[str, ...] = (),
    modes: tuple[str | None, str | None] = (None, None),
    used: int = 0,
) -> MemorySubnet:
    return MemorySubnet(
        id=sid,
        network_id=NETWORK_ID,
        ip_version=ipaddress.ip_network(cidr).version,
        cidr=cidr,
        gateway_ip=gateway,
        allocation_pools=pools,
        excluded_ranges=excluded,
        service_types=service_types,
        ipv6_ra_mode=modes[0],
        ipv6_address_mode=modes[1],
        used=used,
    )


V4 = subnet("v4", "10.0.0.0/24", gateway="10.0.0.1", pools=(("10.0.0.2", "10.0.0.254"),))
V4B = subnet("v4b", "10.0.1.0/24", gateway="10.0.1.1", pools=(("10.0.1.2", "10.0.1.254"),))
V6 = subnet("v6", "2001:db8::/64", gateway="2001:db8::", pools=(("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff"),))
SL = subnet(
    "sl",
    "2001:db8:1::/64",
    gateway="2001:db8:1::",
    pools=(("2001:db8:1::1", "2001:db8:1::ffff:ffff:ffff:ffff"),),
    modes=("slaac", "slaac"),
)
NETWORK = [V4, V4B, V6, SL]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(FixedIp(subnet_id="v4b"), ("v4b", None), id="subnet"),
        pytest.param(FixedIp("v4", "10.0.0.7"), ("v4", "10.0.0.7"), id="subnet-and-address"),
        pytest.param(FixedIp(ip_address="10.0.1.7"), ("v4b", "10.0.1.7"), id="address-finds-its-subnet"),
        pytest.param(FixedIp(ip_address="2001:db8:1::7"), ("sl", "2001:db8:1::7"), id="ipv6-address"),
        pytest.param(FixedIp("v4", "10.0.1.7"), errors.InvalidIpForSubnet, id="address-of-another-subnet"),
        pytest.param(FixedIp("v4", "2001:db8::7"), errors.InvalidIpForSubnet, id="address-of-another-version"),
        pytest.param(FixedIp(subnet_id="nope"), errors.InvalidInput, id="unknown-subnet"),
        pytest.param(FixedIp("nope", "10.0.0.7"), errors.InvalidInput, id="unknown-subnet-before-address"),
        pytest.param(FixedIp(ip_address="192.168.0.7"), errors.InvalidIpForNetwork, id="address-in-no-subnet"),
        pytest.param(FixedIp(), errors.InvalidInput, id="neither"),
    ],
)
def test_resolve_entry(entry, expected):
    if isinstance(expected, type):
        with pytest.raises(expected):
            resolve_entry(entry, NETWORK, NETWORK_ID)
        return
    sub, address = resolve_entry(entry, NETWORK, NETWORK_ID)
    assert (sub.id, None if address is None else str(address)) == expected


EXCLUDING = subnet(
    "x", "10.0.0.0/24", gateway="10.0.0.1", excluded=(("10.0.0.1", "10.0.0.1"), ("10.0.0.8", "10.0.0.11"))
)


@pytest.mark.parametrize(
    ("sub", "address", "admin", "router", "expected"),
    [
        pytest.param(V4, "10.0.0.7", False, False, None, id="ordinary"),
        pytest.param(V4, "10.0.0.0", True, True, errors.InvalidIpForSubnet, id="v4-network"),
        pytest.param(V4, "10.0.0.255", True, True, errors.InvalidIpForSubnet, id="v4-broadcast"),
        pytest.param(
            subnet("s30", "10.0.0.4/30"), "10.0.0.7", True, True, errors.InvalidIpForSubnet, id="v4-/30-broadcast"
        ),
        pytest.param(subnet("s31", "10.0.0.4/31"), "10.0.0.4", False, False, None, id="v4-/31-first"),
        pytest.param(subnet("s31", "10.0.0.4/31"), "10.0.0.5", False, False, None, id="v4-/31-second"),
        pytest.param(subnet("s32", "10.0.0.4/32"), "10.0.0.4", False, False, None, id="v4-/32"),
        pytest.param(EXCLUDING, "10.0.0.9", False, False, errors.IpAddressExcludedByPolicy, id="excluded"),
        pytest.param(EXCLUDING, "10.0.0.9", True, False, None, id="excluded-admin"),
        pytest.param(EXCLUDING, "10.0.0.12", False, False, None, id="just-past-exclusion"),
        pytest.param(V4, "10.0.0.1", True, False, errors.IpAddressAlreadyAllocated, id="gateway"),
        pytest.param(V4, "10.0.0.1", False, True, None, id="gateway-router"),
        pytest.param(EXCLUDING, "10.0.0.1", False, False, errors.IpAddressExcludedByPolicy, id="excluded-gateway"),
        pytest.param(EXCLUDING, "10.0.0.1", True, False, errors.IpAddressAlreadyAllocated, id="excluded-gateway-admin"),
        pytest.param(V6, "2001:db8::", False, False, errors.InvalidIpForSubnet, id="v6-anycast-gateway"),
        pytest.param(V6, "2001:db8::ffff:ffff:ffff:ffff", False, False, None, id="v6-last-is-no-broadcast"),
    ],
)
def test_check_specific(sub, address, admin, router, expected):
    if expected is None:
        check_specific(sub, ipaddress.ip_address(address), admin=admin, router=router)
        return
    with pytest.raises(expected):
        check_specific(sub, ipaddress.ip_address(address), admin=admin, router=router)


@pytest.mark.parametrize(
    ("modes", "mac", "owner", "expected"),
    [
        pytest.param(("slaac", "slaac"), MAC, COMPUTE, True, id="slaac"),
        pytest.param(("slaac", None), MAC, COMPUTE, True, id="ra-slaac-only"),
        pytest.param((None, "slaac"), MAC, "", True, id="address-slaac-only"),
        pytest.param(("dhcpv6-stateless", "dhcpv6-stateless"), MAC, COMPUTE, True, id="stateless"),
        pytest.param(("slaac", "slaac"), None, COMPUTE, False, id="no-mac"),
        pytest.param(("slaac", "slaac"), MAC, ROUTER, False, id="router-interface"),
        pytest.param(("slaac", "slaac"), MAC, "network:router_gateway", False, id="router-gateway"),
        pytest.param(("slaac", "slaac"), MAC, "network:dhcp", True, id="dhcp-port"),
        pytest.param(("dhcpv6-stateful", "dhcpv6-stateful"), MAC, COMPUTE, False, id="stateful"),
        pytest.param((None, None), MAC, COMPUTE, False, id="no-mode"),
    ],
)
def test_takes_eui64(modes, mac, owner, expected):
    sub = subnet("s", "2001:db8:2::/64", modes=modes)
    assert takes_eui64(sub, Holder("p", "project", mac, owner)) is expected
    assert takes_eui64(subnet("s4", "10.0.0.0/24"), Holder("p", "project", mac, owner)) is False


DHCP_ONLY = subnet("dhcp", "10.0.2.0/24", service_types=("network:dhcp",))
FIP_OR_ROUTER = subnet("fip", "10.0.3.0/24", service_types=("network:floatingip", "network:router_gateway"))
NOVA_WITH_DHCP = dataclasses.replace(subnet("nova", "10.0.4.0/24", service_types=("compute:nova",)), enable_dhcp=True)


@pytest.mark.parametrize(
    ("owner", "version", "expected"),
    [
        pytest.param(COMPUTE, None, ["v4", "v6", "sl"], id="compute-unreserved-only"),
        pytest.param("network:dhcp", None, ["v4", "dhcp", "v6", "sl"], id="dhcp-gets-its-subnet"),
        pytest.param("network:router_gateway", None, ["v4", "fip", "v6", "sl"], id="one-of-two-types"),
        pytest.param("network:dhcp", 4, ["v4", "dhcp"], id="version-4"),
        pytest.param(COMPUTE, 6, ["v6", "sl"], id="version-6"),
        pytest.param("", None, ["v4", "v6", "sl"], id="no-owner"),
        pytest.param(COMPUTE, 4, ["v4", "nova"], id="compute-its-subnet"),
        pytest.param("network:dhcp", 4, ["v4", "dhcp", "nova"], id="dhcp-any-subnet-with-dhcp"),
    ],
)
def test_eligible(owner, version, expected):
    subnets = [V4, DHCP_ONLY, FIP_OR_ROUTER, V6, SL]
    if expected[-1] == "nova":
        subnets.append(NOVA_WITH_DHCP)
    request = AddressRequest(Holder("p", "project", None, owner), NETWORK_ID, subnets, version=version)
    assert [sub.id for sub in eligible(request)] == expected


def sized(sid: str, used: int, *, pool: int = 10, cidr_index: int = 0, auto: bool = False) -> MemorySubnet:
    if auto:
        return subnet(
            sid,
            f"2001:db8:{cidr_index}::/64",
            pools=((f"2001:db8:{cidr_index}::1", f"2001:db8:{cidr_index}::{pool:x}"),),
            modes=("slaac", "slaac"),
            used=used,
        )
    base = f"10.1.{cidr_index}"
    pools = ((f"{base}.1", f"{base}.{pool}"),) if pool else ()
    return subnet(sid, f"{base}.0/24", pools=pools, used=used)


@pytest.mark.parametrize(
    ("subnets", "mac", "owner", "version", "expected"),
    [
        pytest.param(
            [sized("a", 1, cidr_index=1), sized("b", 5, cidr_index=2), sized("c", 3, cidr_index=3)],
            None,
            COMPUTE,
            4,
            ["b", "c", "a"],
            id="fullest-first",
        ),
        pytest.param(
            [sized("b", 8, pool=20, cidr_index=1), sized("a", 5, cidr_index=2)],
            None,
            COMPUTE,
            4,
            ["a", "b"],
            id="share-not-count",
        ),
        pytest.param(
            [sized("a", 2, cidr_index=1), sized("b", 2, cidr_index=2)],
            None,
            COMPUTE,
            4,
            ["a", "b"],
            id="ties-in-creation-order",
        ),
        pytest.param(
            [sized("a", 9, cidr_index=1), sized("e", 0, pool=0, cidr_index=2)],
            None,
            COMPUTE,
            4,
            ["e", "a"],
            id="empty-pool-counts-as-full",
        ),
        pytest.param(
            [sized("s", 9, auto=True, cidr_index=1), sized("a", 0, cidr_index=2)],
            None,
            COMPUTE,
            4,
            ["a"],
            id="other-version-left-out",
        ),
        pytest.param(
            [
                sized("s", 9, auto=True, cidr_index=1),
                subnet("t", "2001:db8:9::/64", pools=(("2001:db8:9::1", "2001:db8:9::a"),), used=1),
            ],
            None,
            COMPUTE,
            6,
            ["t", "s"],
            id="auto-last-without-mac",
        ),
        pytest.param(
            [
                sized("s", 9, auto=True, cidr_index=1),
                subnet("t", "2001:db8:9::/64", pools=(("2001:db8:9::1", "2001:db8:9::a"),), used=1),
            ],
            MAC,
            COMPUTE,
            6,
            ["t"],
            id="no-auto-with-mac",
        ),
        pytest.param([sized("s", 9, auto=True, cidr_index=1)], None, ROUTER, 6, [], id="no-auto-for-router"),
    ],
)
def test_family(subnets, mac, owner, version, expected):
    assert [sub.id for sub in family(subnets, version, Holder("p", "project", mac, owner))] == expected


def grant_with(strategy: Strategy, *held: tuple[MemorySubnet, bool]) -> Grant:
    grant = Grant(AddressRequest(Holder("p", "project", MAC), NETWORK_ID, NETWORK, strategy=strategy))
    for sub, eui in held:
        grant.add(sub, Allocation(sub.id, "x"), eui64=eui)
    return grant


@pytest.mark.parametrize(
    ("strategy", "held", "wants"),
    [
        pytest.param(Strategy.NEUTRON, [], {4: True, 6: True}, id="neutron-nothing-yet"),
        pytest.param(Strategy.NEUTRON, [(SL, True)], {4: True, 6: True}, id="neutron-eui64-does-not-count"),
        pytest.param(Strategy.NEUTRON, [(V4, False)], {4: False, 6: True}, id="neutron-has-v4"),
        pytest.param(Strategy.ANY, [], {4: True, 6: True}, id="any-nothing-yet"),
        pytest.param(Strategy.ANY, [(V4, False)], {4: False, 6: False}, id="any-has-one"),
        pytest.param(Strategy.ANY, [(SL, True)], {4: True, 6: False}, id="any-eui64-counts-for-v6"),
        pytest.param(Strategy.BOTH, [(V4, False)], {4: False, 6: True}, id="both-has-v4"),
        pytest.param(Strategy.BOTH, [(SL, True)], {4: True, 6: False}, id="both-eui64-counts"),
        pytest.param(Strategy.BOTH_REQUIRED, [(V6, False)], {4: True, 6: False}, id="both-required-has-v6"),
        pytest.param(Strategy.BOTH_REQUIRED, [(V4, False), (SL, True)], {4: False, 6: False}, id="both-required-done"),
    ],
)
def test_grant_wants(strategy, held, wants):
    grant = grant_with(strategy, *held)
    assert {version: grant.wants(version) for version in (4, 6)} == wants


@pytest.mark.parametrize(
    ("strategy", "held", "candidates", "satisfied"),
    [
        pytest.param(Strategy.NEUTRON, [(V4, False)], [V4, V6], False, id="neutron-missing-stateful-v6"),
        pytest.param(Strategy.NEUTRON, [(V4, False)], [V4, SL], True, id="neutron-slaac-not-required"),
        pytest.param(
            Strategy.NEUTRON, [(V4, False), (SL, True)], [V4, V6, SL], False, id="neutron-eui64-is-not-stateful"
        ),
        pytest.param(Strategy.NEUTRON, [], [], True, id="neutron-no-subnets"),
        pytest.param(Strategy.ANY, [(V6, False)], [V4, V6], True, id="any-one-is-enough"),
        pytest.param(Strategy.ANY, [], [V4], False, id="any-nothing"),
        pytest.param(Strategy.ANY, [], [], True, id="any-no-subnets"),
        pytest.param(Strategy.BOTH, [(SL, True)], [V4, SL], True, id="both-one-is-enough"),
        pytest.param(Strategy.BOTH, [], [V4], False, id="both-nothing"),
        pytest.param(
            Strategy.BOTH_REQUIRED, [(V4, False), (SL, True)], [V4, SL], True, id="both-required-eui64-counts"
        ),
        pytest.param(Strategy.BOTH_REQUIRED, [(V4, False)], [V4], False, id="both-required-no-v6-subnet"),
        pytest.param(Strategy.BOTH_REQUIRED, [], [], False, id="both-required-no-subnets"),
    ],
)
def test_grant_satisfied(strategy, held, candidates, satisfied):
    assert grant_with(strategy, *held).satisfied(candidates) is satisfied
