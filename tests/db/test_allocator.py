"""The DB-backed IP allocator on every database: uniqueness, pools, IP-policy
exclusions, exhaustion at capacity, quarantine and reuse with a controlled clock.
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.services.common.listing import ListQuery
from quark.services.registry import build_services
from tests.clock import Clock
from tests.dbs import prepare

ADMIN = Context.admin()
REUSE_AFTER = 3600


class Env:
    """Services over one database with a clock the test controls; ``open()``
    makes one over a database prepared as `quark serve` prepares it."""

    def __init__(self, url: str) -> None:
        self.clock = Clock()
        self.settings = Settings(ipam_reuse_after=REUSE_AFTER)
        self.db = Database(url, pool_size=2, max_overflow=2)
        self.services = build_services(self.db, self.settings, clock=self.clock)
        self.ips = self.services.ports.ips

    @classmethod
    async def open(cls, url: str) -> Env:
        env = cls(url)
        try:
            await prepare(env.db, env.settings)
        except BaseException:
            await env.db.dispose()
            raise
        return env

    async def subnet(self, cidr: str, version: int = 4, exclude: list[str] | None = None, **extra) -> str:
        net = await self.services.networks.create(ADMIN, {"name": "alloc-test"})
        sub = await self.services.subnets.create(
            ADMIN, {"network_id": net["id"], "ip_version": version, "cidr": cidr, **extra}
        )
        if exclude:
            await self.services.ip_policies.create(ADMIN, {"subnet_ids": [sub["id"]], "exclude": exclude})
        return sub["id"]

    async def row(self, conn, subnet_id: str):
        return (await conn.execute(select(models.subnets).where(models.subnets.c.id == subnet_id))).one()

    async def allocate(self, subnet_id: str, port_id: str) -> str | None:
        async def work(conn):
            got = await self.ips.allocate_any(conn, await self.row(conn, subnet_id), port_id, "p")
            return got.address if got else None

        return await self.db.run_write(work)

    async def allocate_specific(self, subnet_id: str, address: str, port_id: str) -> str:
        async def work(conn):
            sub = await self.row(conn, subnet_id)
            return (await self.ips.allocate_specific(conn, sub, ipaddress.ip_address(address), port_id, "p")).address

        return await self.db.run_write(work)

    async def release(self, port_id: str) -> None:
        async def work(conn):
            await self.ips.release_port(conn, port_id)

        await self.db.run_write(work)

    async def availability(self, subnet_id: str) -> dict:
        nets = await self.services.availability.list(ADMIN, ListQuery())
        for net in nets:
            for sub in net["subnet_ip_availability"]:
                if sub["subnet_id"] == subnet_id:
                    return sub
        raise AssertionError("subnet missing from availability")


@pytest.fixture
async def env(database_url):
    environment = await Env.open(database_url)
    yield environment
    await environment.db.dispose()


async def test_exhaustion_exactly_at_capacity_with_policy(env):
    # 10.1.0.0/28: usable .1-.14, gateway .1 -> pool .2-.14 (13); policy drops .4-.5 -> 11.
    subnet_id = await env.subnet("10.1.0.0/28", exclude=["10.1.0.4/31"])
    got = [await env.allocate(subnet_id, f"port-{i}") for i in range(11)]
    assert None not in got
    assert len(set(got)) == 11
    allowed = {f"10.1.0.{i}" for i in range(2, 15)} - {"10.1.0.4", "10.1.0.5"}
    assert set(got) == allowed
    assert await env.allocate(subnet_id, "one-too-many") is None
    availability = await env.availability(subnet_id)
    assert availability == {**availability, "total_ips": 11, "used_ips": 11}


async def test_release_is_quarantined_then_reused_before_fresh(env):
    subnet_id = await env.subnet("10.2.0.0/24")
    first = await env.allocate(subnet_id, "a")
    second = await env.allocate(subnet_id, "b")
    assert (first, second) == ("10.2.0.2", "10.2.0.3")
    await env.release("a")
    # Inside the quarantine: a fresh address, not the released one.
    assert await env.allocate(subnet_id, "c") == "10.2.0.4"
    env.clock.advance(REUSE_AFTER + 1)
    # After it: the released address comes back before fresh ones.
    assert await env.allocate(subnet_id, "d") == "10.2.0.2"
    assert (await env.availability(subnet_id))["used_ips"] == 3


async def test_reuse_passes_over_released_addresses_left_outside_the_pools(env):
    # The reuse lookup reads the oldest released rows without the pool condition
    # and checks the pools itself; the oldest here lies outside them.
    subnet_id = await env.subnet("10.9.0.0/24", allocation_pools=[{"start": "10.9.0.2", "end": "10.9.0.10"}])
    assert [await env.allocate(subnet_id, p) for p in ("a", "b")] == ["10.9.0.2", "10.9.0.3"]
    await env.release("a")  # .2, released first: first in the reuse order
    env.clock.advance(1)
    await env.release("b")  # .3
    await env.services.subnets.update(
        ADMIN, subnet_id, {"allocation_pools": [{"start": "10.9.0.3", "end": "10.9.0.10"}]}
    )
    env.clock.advance(REUSE_AFTER + 1)
    assert await env.allocate(subnet_id, "c") == "10.9.0.3"  # reused; not .2 (outside), not .4 (fresh)
    assert await env.allocate(subnet_id, "d") == "10.9.0.4"  # .2 stays out


async def test_explicit_request_ignores_quarantine_but_not_holders(env):
    from quark import errors

    subnet_id = await env.subnet("10.3.0.0/29")  # pool .2-.6
    taken = [await env.allocate(subnet_id, f"p{i}") for i in range(5)]
    assert await env.allocate(subnet_id, "late") is None
    await env.release("p0")
    assert await env.allocate(subnet_id, "late") is None  # quarantined for automatic allocation
    assert await env.allocate_specific(subnet_id, taken[0], "explicit") == taken[0]
    with pytest.raises(errors.IpAddressAlreadyAllocated):
        await env.allocate_specific(subnet_id, taken[1], "thief")


async def test_ipv6_slash64_random_allocation_is_unique_and_in_pool(env):
    subnet_id = await env.subnet("2001:db8:77::/64", version=6)
    got = [await env.allocate(subnet_id, f"v6-{i}") for i in range(40)]
    assert len(set(got)) == 40
    net = ipaddress.ip_network("2001:db8:77::/64")
    for address in got:
        ip = ipaddress.ip_address(address)
        assert ip in net and ip != net.network_address  # never the subnet-router anycast


async def test_batch_allocation_skips_explicit_addresses_ahead_of_cursor(env):
    subnet_id = await env.subnet("10.4.0.0/27")  # pool .2-.30
    for address in ("10.4.0.3", "10.4.0.4", "10.4.0.9"):
        await env.allocate_specific(subnet_id, address, f"explicit-{address}")

    async def batch(conn):
        sub = await env.row(conn, subnet_id)
        return await env.ips.allocate_many(conn, sub, [(f"b{i}", "p") for i in range(10)])

    got = [a.address for a in await env.db.run_write(batch)]
    assert got == [f"10.4.0.{i}" for i in (2, 5, 6, 7, 8, 10, 11, 12, 13, 14)]


async def test_cursor_skips_explicit_run_that_crosses_an_exclusion(env):
    # Found by the model test: explicit .7 and (excluded) .8 ahead of the cursor
    # made the walk skip .12, the first free address after the exclusion.
    subnet_id = await env.subnet("10.5.0.0/28", exclude=["10.5.0.8/30"])
    assert [await env.allocate(subnet_id, f"p{i}") for i in range(5)] == [f"10.5.0.{i}" for i in range(2, 7)]
    await env.allocate_specific(subnet_id, "10.5.0.7", "explicit-7")
    await env.allocate_specific(subnet_id, "10.5.0.8", "explicit-8")
    assert [await env.allocate(subnet_id, f"q{i}") for i in range(4)] == ["10.5.0.12", "10.5.0.13", "10.5.0.14", None]


# --- property: a random sequence of operations against a model ----------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("any"), st.integers(0, 0)),
        st.tuples(st.just("specific"), st.integers(0, 15)),
        st.tuples(st.just("release"), st.integers(0, 15)),
        st.tuples(st.just("advance"), st.sampled_from([60, REUSE_AFTER + 1])),
    ),
    min_size=1,
    max_size=40,
)


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_allocator_matches_model(database_url, ops):
    asyncio.run(_run_model(database_url, ops))


async def _run_model(url: str, ops) -> None:
    from quark import errors

    env = await Env.open(url)
    try:
        # 10.9.0.0/28 with pool .2-.14 and .8/30 excluded: 9 automatic addresses.
        subnet_id = await env.subnet("10.9.0.0/28", exclude=["10.9.0.8/30"])
        allowed = {f"10.9.0.{i}" for i in range(2, 15)} - {f"10.9.0.{i}" for i in range(8, 12)}
        held: dict[str, str] = {}  # address -> port
        released: dict[str, datetime] = {}
        counter = 0
        for op, arg in ops:
            counter += 1
            port = f"port-{counter}"
            if op == "any":
                got = await env.allocate(subnet_id, port)
                # Only pool addresses come back automatically: a released gateway
                # (.1) or excluded address was only ever held by explicit request.
                reusable = {
                    a
                    for a, t in released.items()
                    if a in allowed and env.clock.now - t >= timedelta(seconds=REUSE_AFTER)
                }
                never_used = allowed - set(held) - set(released)
                if got is None:
                    assert not reusable and not (never_used & allowed), (held, released)
                else:
                    assert got in allowed and got not in held
                    if got in released:
                        assert got in reusable
                    else:
                        assert not reusable, "released addresses past quarantine come before fresh ones"
                    held[got] = port
                    released.pop(got, None)
            elif op == "specific":
                address = f"10.9.0.{arg}"
                if arg in (0, 15):
                    continue  # network/broadcast are refused before the allocator
                if address in held:
                    with pytest.raises(errors.IpAddressAlreadyAllocated):
                        await env.allocate_specific(subnet_id, address, port)
                else:
                    assert await env.allocate_specific(subnet_id, address, port) == address
                    held[address] = port
                    released.pop(address, None)
            elif op == "release":
                address = f"10.9.0.{arg}"
                if address in held:
                    await env.release(held.pop(address))
                    released[address] = env.clock.now
            else:
                env.clock.advance(arg)
            assert (await env.availability(subnet_id))["used_ips"] == len(held)
    finally:
        await env.db.dispose()


# --- property: random pools and exclusions, filled to exhaustion ---------------------

SHAPES = st.tuples(
    st.integers(26, 29),  # IPv4 prefix length: 64 .. 8 addresses
    st.lists(st.tuples(st.integers(0, 63), st.integers(30, 32)), max_size=3),  # excluded CIDRs (offset, prefix)
    st.integers(0, 3),  # explicit allocations made before the automatic ones
)


# Shapes every run covers, whatever the draw: a pool wholly excluded (capacity 0,
# with explicit requests asked for), a pool with no exclusion, exclusions that
# overlap, and more explicit requests than addresses.
@example(shape=(29, [(0, 30), (4, 30)], 2))
@example(shape=(29, [], 0))
@example(shape=(28, [(2, 31), (2, 32), (12, 30)], 3))
@example(shape=(29, [(2, 31), (4, 31)], 3))
@hsettings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=SHAPES)
def test_fill_to_exhaustion_matches_capacity(database_url, shape):
    asyncio.run(_fill(database_url, shape))


def _excluded_cidrs(base: ipaddress.IPv4Network, exclusions: list[tuple[int, int]]) -> list[str]:
    """The drawn (offset, prefix) exclusions as CIDRs inside ``base`` (offsets wrap)."""
    cidrs = {
        ipaddress.ip_network(f"{base.network_address + (offset % base.num_addresses)}/{plen}", strict=False)
        for offset, plen in exclusions
    }
    return sorted(str(cidr) for cidr in cidrs)


async def _fill(url: str, shape) -> None:
    """Explicit requests from the top of the pool, then automatic ones until the
    allocator says none is left: exactly the allowed addresses, each once. Then
    one release, which the count sees and automatic allocation may not reuse
    yet. A pool wholly excluded has capacity 0: nothing is handed out (explicit
    requests are not made: none of its addresses is allowed) and both counts
    stay 0."""
    prefix, exclusions, explicit = shape
    env = await Env.open(url)
    try:
        base = ipaddress.ip_network(f"10.{60 + prefix}.0.0/{prefix}")
        excluded_nets = _excluded_cidrs(base, exclusions)
        subnet_id = await env.subnet(str(base), exclude=excluded_nets or None)
        reserved = {base.network_address, base.broadcast_address, base.network_address + 1}  # gateway .1
        excluded = {ip for net in excluded_nets for ip in ipaddress.ip_network(net)}
        allowed = {str(ip) for ip in base if ip not in reserved and ip not in excluded}
        capacity = len(allowed)
        availability = await env.availability(subnet_id)
        assert (availability["total_ips"], availability["used_ips"]) == (capacity, 0)
        held: dict[str, str] = {}  # port -> address
        for i, address in enumerate(sorted(allowed, key=ipaddress.ip_address, reverse=True)[:explicit]):
            held[f"explicit-{i}"] = await env.allocate_specific(subnet_id, address, f"explicit-{i}")
        while True:
            port = f"auto-{len(held)}"
            got = await env.allocate(subnet_id, port)
            if got is None:
                break
            assert got in allowed, got  # inside the pools, never reserved or excluded
            held[port] = got
            assert len(held) <= capacity
        addresses = list(held.values())
        assert len(addresses) == len(set(addresses)) == capacity  # never a duplicate; exhausted exactly at capacity
        availability = await env.availability(subnet_id)
        assert availability["used_ips"] == capacity == availability["total_ips"]  # used + free = capacity
        if capacity == 0:
            return  # nothing held, so nothing to release
        first_port = next(iter(held))
        await env.release(first_port)
        assert (await env.availability(subnet_id))["used_ips"] == capacity - 1
        assert await env.allocate(subnet_id, "during-quarantine") is None  # released, but quarantined
    finally:
        await env.db.dispose()
