"""One contract for both ``AddressStore`` implementations: the database's
``IpAllocator`` (on every backend) and the tests' in-memory store
(``tests/unit/ipam/memory_store.py``), which the decision's property tests
run on. What one store does, the other must do on the same scenario:

- ``allocate_specific`` takes exactly the address, once (then 409), and
  counts it;
- ``allocate_many`` hands out the lowest free pool addresses (nothing ever
  released: no reuse, and the pools small enough for the cursor, not random
  draws), skipping held and excluded ones, one per owner in order, fewer
  when the pool runs out, none from an empty pool;
- with a ``usage`` dict the counters change only when ``add_usage`` writes it;
- ``decision.allocate`` over either store gives the same allocations, or the
  same error, and a call that raises leaves nothing behind.

Each store gets a fresh network per test; the databases are created for this
module and dropped after it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from quark import errors
from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.ipam import decision
from quark.ipam.requests import AddressRequest, Allocation, FixedIp, Holder, Strategy
from quark.services.core.ports.network_tree import subnets_of
from quark.services.core.segment_ranges import ensure_seed_ranges
from quark.services.registry import build_services
from tests.dbs import migrated_database, selected_backends
from tests.unit.ipam.decision_model import (
    Expected,
    Model,
    RequestSpec,
    Scenario,
    SubnetSpec,
    current_subnets,
    draw_calls,
    draw_network,
    seeded_store,
)

ADMIN = Context.admin()
MAC = 0xFA163E123456
# A huge pool is drawn from at random by the database's store; the contract
# (lowest free first) holds for pools the cursor walks, so the scenarios keep
# their pools to this many addresses.
SMALL_POOL = 255
# Examples of the random contract test per store: each makes a network of up
# to three subnets through the services.
CONTRACT_EXAMPLES = 20

# work(store, conn): what a test does inside one transaction of a store
Work = Callable[[Any, Any], Awaitable[Any]]


# --- the two stores behind one harness ---------------------------------------------------


class MemoryHarness:
    """The in-memory store; subnet ids are the specs' own."""

    name = "memory"

    def __init__(self) -> None:
        self.specs: list[SubnetSpec] = []
        self.store = seeded_store([])
        self.network_id = "net-model"

    async def network(self, specs: Sequence[SubnetSpec]) -> None:
        self.specs = list(specs)
        self.store = seeded_store(specs)

    async def subnets(self) -> list[Any]:
        return current_subnets(self.specs, self.store)

    def real_id(self, spec_id: str) -> str:
        return spec_id

    def spec_id(self, real_id: str) -> str:
        return real_id

    async def run(self, work: Work) -> Any:
        with self.store.transaction():
            return await work(self.store, None)

    async def used(self, spec_id: str) -> int:
        return self.store.used(spec_id)

    async def close(self) -> None:
        return None


class DatabaseHarness:
    """The database's ``IpAllocator``: networks and subnets made by the services,
    exclusions by an IP policy, held addresses by ``allocate_specific``."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.db = Database(url, pool_size=2, max_overflow=2)
        self.services = build_services(self.db, Settings())
        self.ips = self.services.ports.ips
        self.ids: dict[str, str] = {}
        self.network_id = ""

    async def network(self, specs: Sequence[SubnetSpec]) -> None:
        net = await self.services.networks.create(ADMIN, {"name": "store-contract"})
        self.network_id, self.ids = net["id"], {}
        for spec in specs:
            self.ids[spec.id] = await self._subnet(spec)
        rows = {row.id: row for row in await self.subnets()}

        async def seed(conn: Any) -> None:
            for spec in specs:
                for address in spec.held:
                    await self.ips.allocate_specific(
                        conn, rows[self.ids[spec.id]], ipaddress.ip_address(address), "seed", "seed"
                    )

        await self.db.run_write(seed)

    async def _subnet(self, spec: SubnetSpec) -> str:
        attrs: dict[str, Any] = {
            "network_id": self.network_id,
            "ip_version": spec.version,
            "cidr": spec.cidr,
            "gateway_ip": spec.gateway_ip,
            "allocation_pools": [{"start": lo, "end": hi} for lo, hi in spec.pools],
            "enable_dhcp": spec.enable_dhcp,
            "service_types": list(spec.service_types),
        }
        attrs.update({k: v for k, v in (("ipv6_ra_mode", spec.ra_mode), ("ipv6_address_mode", spec.address_mode)) if v})
        subnet_id = (await self.services.subnets.create(ADMIN, attrs))["id"]
        if spec.exclude:
            await self.services.ip_policies.create(ADMIN, {"subnet_ids": [subnet_id], "exclude": list(spec.exclude)})
        return subnet_id

    async def subnets(self) -> list[Any]:
        return await self.db.run_write(lambda conn: subnets_of(conn, self.network_id))

    def real_id(self, spec_id: str) -> str:
        return self.ids.get(spec_id, spec_id)

    def spec_id(self, real_id: str) -> str:
        return next(spec for spec, real in self.ids.items() if real == real_id)

    async def run(self, work: Work) -> Any:
        return await self.db.run_write(lambda conn: work(self.ips, conn))

    async def used(self, spec_id: str) -> int:
        u = models.ip_usage

        async def read(conn: Any) -> int:
            query = select(func.coalesce(func.sum(u.c.used), 0)).where(u.c.subnet_id == self.real_id(spec_id))
            return int(await conn.scalar(query))

        return await self.db.run_write(read)

    async def close(self) -> None:
        await self.db.dispose()


Harness = MemoryHarness | DatabaseHarness


@pytest.fixture(scope="module", params=["memory", *selected_backends()])
def store_kind(request, tmp_path_factory):
    """("memory", None), or a backend and the URL of a database made for this module."""
    if request.param == "memory":
        yield request.param, None
        return
    with migrated_database(request.param, tmp_path_factory) as url:
        yield request.param, url


async def open_harness(kind: str, url: str | None) -> Harness:
    if url is None:
        return MemoryHarness()
    harness = DatabaseHarness(kind, url)
    await ensure_seed_ranges(harness.db, "vxlan:1:65535")  # networks need segmentation ids
    return harness


@pytest.fixture
async def harness(store_kind):
    opened = await open_harness(*store_kind)
    yield opened
    await opened.close()


def subnet_spec(index: int, cidr: str, *, pools: tuple[tuple[str, str], ...] | None = None, **extra: Any) -> SubnetSpec:
    """A subnet with Neutron's default gateway and (unless given) pool."""
    net = ipaddress.ip_network(cidr)
    gateway = str(net.network_address + (1 if net.version == 4 else 0))
    if pools is None:
        last = net.broadcast_address - (1 if net.version == 4 else 0)
        pools = ((str(net.network_address + (2 if net.version == 4 else 1)), str(last)),)
    return SubnetSpec(index, cidr, gateway, pools, **extra)


async def subnet_row(harness: Harness, spec_id: str) -> Any:
    real = harness.real_id(spec_id)
    return next(row for row in await harness.subnets() if row.id == real)


def addresses(allocations: Sequence[Allocation]) -> list[str]:
    return [a.address for a in allocations]


# --- the calls of the protocol --------------------------------------------------------


async def test_specific_address_is_taken_once_and_counted(harness):
    await harness.network([subnet_spec(1, "10.61.0.0/29")])
    row = await subnet_row(harness, "sub-1")
    # Outside the pool (the gateway): the store takes any address of the subnet it is given.
    got = await harness.run(
        lambda store, conn: store.allocate_specific(conn, row, ipaddress.ip_address("10.61.0.1"), "p1", "proj")
    )
    assert (harness.spec_id(got.subnet_id), got.address, got.port_id) == ("sub-1", "10.61.0.1", "p1")
    with pytest.raises(errors.IpAddressAlreadyAllocated):
        await harness.run(
            lambda store, conn: store.allocate_specific(conn, row, ipaddress.ip_address("10.61.0.1"), "p2", "proj")
        )
    assert await harness.used("sub-1") == 1


async def test_many_hands_out_the_lowest_free_pool_addresses_in_owner_order(harness):
    # Pool .2-.14 of a /28, .8-.11 excluded by a policy, .3 and .5 held already.
    spec = subnet_spec(1, "10.62.0.0/28", exclude=("10.62.0.8/30",), held=("10.62.0.3", "10.62.0.5"))
    await harness.network([spec])
    row = await subnet_row(harness, "sub-1")
    owners = [(f"p{i}", "proj") for i in range(6)]
    got = await harness.run(lambda store, conn: store.allocate_many(conn, row, owners))
    assert addresses(got) == ["10.62.0.2", "10.62.0.4", "10.62.0.6", "10.62.0.7", "10.62.0.12", "10.62.0.13"]
    assert [a.port_id for a in got] == [port for port, _ in owners]
    assert await harness.used("sub-1") == 2 + 6


async def test_many_returns_fewer_when_the_pool_runs_out_then_none(harness):
    await harness.network([subnet_spec(1, "2001:db8:63::/125")])  # pool ::1-::7
    row = await subnet_row(harness, "sub-1")
    got = await harness.run(lambda store, conn: store.allocate_many(conn, row, [(f"p{i}", "proj") for i in range(9)]))
    assert addresses(got) == [f"2001:db8:63::{i}" for i in range(1, 8)]
    assert await harness.run(lambda store, conn: store.allocate_many(conn, row, [("late", "proj")])) == []
    assert await harness.used("sub-1") == 7


async def test_many_from_an_empty_pool_gives_nothing_and_notes_nothing(harness):
    await harness.network([subnet_spec(1, "10.64.0.0/29", exclude=("10.64.0.0/29",))])
    row = await subnet_row(harness, "sub-1")
    usage: dict[str, int] = {}
    assert await harness.run(lambda store, conn: store.allocate_many(conn, row, [("p", "proj")], usage)) == []
    assert usage == {}
    assert await harness.used("sub-1") == 0


async def test_usage_is_noted_then_written_by_add_usage(harness):
    await harness.network([subnet_spec(1, "10.65.0.0/29"), subnet_spec(2, "10.65.1.0/29")])
    first, second = await subnet_row(harness, "sub-1"), await subnet_row(harness, "sub-2")

    async def noted(store: Any, conn: Any) -> dict[str, int]:
        usage: dict[str, int] = {}
        await store.allocate_many(conn, first, [("a", "proj"), ("b", "proj")], usage)
        await store.allocate_many(conn, second, [("c", "proj")], usage)
        await store.allocate_many(conn, first, [("d", "proj")], usage)
        return usage

    usage = await harness.run(noted)
    assert {harness.spec_id(sid): n for sid, n in usage.items()} == {"sub-1": 3, "sub-2": 1}
    assert (await harness.used("sub-1"), await harness.used("sub-2")) == (0, 0), "nothing counted before add_usage"
    await harness.run(lambda store, conn: store.add_usage(conn, usage))
    assert (await harness.used("sub-1"), await harness.used("sub-2")) == (3, 1)


# --- the decision over either store ----------------------------------------------------

V4 = subnet_spec(1, "10.66.0.0/29")  # pool .2-.6
V6 = subnet_spec(2, "2001:db8:66::/124", ra_mode="dhcpv6-stateful", address_mode="dhcpv6-stateful")  # ::1-::f
SLAAC = subnet_spec(
    3, "2001:db8:67::/64", pools=(("2001:db8:67::1", "2001:db8:67::ff"),), ra_mode="slaac", address_mode="slaac"
)


def request(harness: Harness, subnets: Sequence[Any], holder: Holder, **kwargs: Any) -> AddressRequest:
    entries = kwargs.pop("fixed_ips", None)
    if entries is not None:
        entries = tuple(
            FixedIp(None if e.subnet_id is None else harness.real_id(e.subnet_id), e.ip_address) for e in entries
        )
    return AddressRequest(holder, harness.network_id, subnets, fixed_ips=entries, **kwargs)


def spec_pairs(harness: Harness, allocations: Sequence[Allocation]) -> list[tuple[str, str]]:
    return sorted((harness.spec_id(a.subnet_id), a.address) for a in allocations)


async def test_decision_gives_the_same_allocations_on_either_store(harness):
    await harness.network([V4, V6, SLAAC])
    subnets = await harness.subnets()
    requests = [
        request(
            harness,
            subnets,
            Holder("explicit", "proj"),
            fixed_ips=(FixedIp("sub-1"), FixedIp(ip_address="2001:db8:66::5")),
        ),
        request(harness, subnets, Holder("neutron", "proj", MAC, "compute:nova")),
        request(harness, subnets, Holder(None, "proj"), strategy=Strategy.ANY),
    ]
    got = await harness.run(lambda store, conn: decision.allocate(store, conn, requests))
    assert [spec_pairs(harness, allocations) for allocations in got] == [
        [("sub-1", "10.66.0.2"), ("sub-2", "2001:db8:66::5")],
        [("sub-1", "10.66.0.3"), ("sub-2", "2001:db8:66::1"), ("sub-3", "2001:db8:67:0:f816:3eff:fe12:3456")],
        [("sub-1", "10.66.0.4")],
    ]
    assert [await harness.used(s) for s in ("sub-1", "sub-2", "sub-3")] == [3, 2, 1]


async def test_a_call_that_raises_takes_nothing(harness):
    await harness.network([V4, V6])
    subnets = await harness.subnets()
    requests = [
        request(harness, subnets, Holder("first", "proj"), fixed_ips=(FixedIp("sub-1"),)),
        request(
            harness, subnets, Holder("second", "proj"), fixed_ips=(FixedIp(ip_address="2001:db8:66::"),)
        ),  # the gateway, the subnet-router anycast address: not for a compute port
    ]
    with pytest.raises(errors.InvalidIpForSubnet):
        await harness.run(lambda store, conn: decision.allocate(store, conn, requests))
    assert (await harness.used("sub-1"), await harness.used("sub-2")) == (0, 0)
    again = await harness.run(lambda store, conn: decision.allocate(store, conn, requests[:1]))
    assert spec_pairs(harness, again[0]) == [("sub-1", "10.66.0.2")], "the rolled-back address is free again"


# --- random scenarios: both stores agree with the model --------------------------------


def small_pools(spec: SubnetSpec) -> SubnetSpec:
    """The spec with its pool cut to ``SMALL_POOL`` addresses (and the gateway kept out of it)."""
    first = int(ipaddress.ip_address(spec.pools[0][0])) if spec.pools else None
    last = int(ipaddress.ip_address(spec.pools[-1][1])) if spec.pools else None
    if first is None or last is None or last - first < SMALL_POOL:
        return spec
    make = ipaddress.IPv4Address if spec.version == 4 else ipaddress.IPv6Address
    lo, hi = first, first + SMALL_POOL - 1
    gateway = None if spec.gateway_ip is None else int(ipaddress.ip_address(spec.gateway_ip))
    ranges = [(lo, hi)]
    if gateway is not None and lo <= gateway <= hi:
        ranges = [(a, b) for a, b in ((lo, gateway - 1), (gateway + 1, hi)) if a <= b]
    return dataclasses.replace(spec, pools=tuple((str(make(a)), str(make(b))) for a, b in ranges))


@st.composite
def contract_scenarios(draw) -> Scenario:
    specs = tuple(small_pools(spec) for spec in draw_network(draw, max_subnets=3))
    return Scenario(specs, draw_calls(draw, specs, max_calls=2, max_requests=3))


def bind(harness: Harness, spec: RequestSpec, subnets: Sequence[Any]) -> AddressRequest:
    """The request on the harness's network, its entries naming the store's subnet ids."""
    entries = spec.fixed_ips
    if entries is not None:
        entries = tuple(FixedIp(e.subnet_id and harness.real_id(e.subnet_id), e.ip_address) for e in entries)
    return dataclasses.replace(spec.bind(subnets, harness.network_id), fixed_ips=entries)


async def play(harness: Harness, scenario: Scenario) -> None:
    await harness.network(scenario.subnets)
    # The rules' "creation order" is the order the store lists the subnets in
    # (created_at, then id): Quark keeps whole seconds, so subnets made in the
    # same second come in the order of their random ids.
    listed = [harness.spec_id(row.id) for row in await harness.subnets()]
    model = Model(sorted(scenario.subnets, key=lambda spec: listed.index(spec.id)))
    for call in scenario.calls:
        subnets = await harness.subnets()
        for spec in scenario.subnets:
            assert await harness.used(spec.id) == model.used(spec.id)
        requests = [bind(harness, spec, subnets) for spec in call]
        try:
            expected: Any = model.answer([spec.bind([]) for spec in call])  # the model reads no rows
        except Expected as refusal:
            expected = refusal
        try:
            got = await harness.run(lambda store, conn, requests=requests: decision.allocate(store, conn, requests))
        except errors.QuarkError as exc:
            assert isinstance(expected, Expected) and type(exc) is expected.error, (exc, expected)
            continue
        assert not isinstance(expected, Expected), (got, expected)
        assert [spec_pairs(harness, allocations) for allocations in got] == expected


def test_random_calls_agree_with_the_model(store_kind):
    """Random networks and calls (as the decision's property tests draw them, pools
    kept small): the store's answers are the model's, on every store."""

    @settings(max_examples=CONTRACT_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(scenario=contract_scenarios())
    def check(scenario: Scenario) -> None:
        asyncio.run(run(scenario))

    async def run(scenario: Scenario) -> None:
        harness = await open_harness(*store_kind)
        try:
            await play(harness, scenario)
        finally:
            await harness.close()

    check()
