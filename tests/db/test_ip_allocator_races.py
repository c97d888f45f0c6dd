"""The IP allocator under concurrency, on every database (quark.ipam.ip_allocator).

- An explicit request for an address just ahead of the cursor, racing a batch
  of automatic allocations: on PostgreSQL it can land between the batch's
  probe of the window and its insert; the insert's IntegrityError becomes a
  RetryRequest and Database.run_write re-runs the transaction. On MariaDB
  (the explicit insert's foreign-key check waits for the subnet row the
  cursor holder has locked) and SQLite (one writer at a time) it waits
  instead. Either way no address is given twice and nobody fails while
  addresses remain.
- Reuse under contention: many allocators at once, released addresses past
  their quarantine (SKIP LOCKED on PostgreSQL and MariaDB): each is reused
  exactly once, quarantined ones never, and the usage counters equal the
  live allocations.

Several "processes" are several service stacks over one database, each with
its own connection pool and allocator state, on one clock the test controls.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random

import pytest
from sqlalchemy import func, select

from quark import errors
from quark.api.app import prepare_database
from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.services.common.listing import ListQuery
from quark.services.registry import build_services
from tests.clock import Clock

ADMIN = Context.admin()
REUSE_AFTER = 3600
RACE_WINDOW = 5.0  # seconds the batch waits, between probe and insert, for the explicit request
a = models.ip_allocations


class Quark:
    """One Quark process: services over the shared test database, on the test's clock."""

    def __init__(self, url: str, clock: Clock, subnets: list[str]) -> None:
        self.made_subnets = subnets  # shared by the test's processes, for the clean-up
        self.settings = Settings(ipam_reuse_after=REUSE_AFTER)
        self.db = Database(url, pool_size=3, max_overflow=3)
        self.services = build_services(self.db, self.settings, clock=clock)
        self.ips = self.services.ports.ips

    async def subnet(self, cidr: str) -> str:
        net = await self.services.networks.create(ADMIN, {"name": "ip-races"})
        sub = await self.services.subnets.create(ADMIN, {"network_id": net["id"], "ip_version": 4, "cidr": cidr})
        self.made_subnets.append(sub["id"])
        return sub["id"]

    @staticmethod
    async def row(conn, subnet_id: str):
        return (await conn.execute(select(models.subnets).where(models.subnets.c.id == subnet_id))).one()

    async def allocate_many(self, subnet_id: str, ports: list[str]) -> list[str]:
        async def work(conn):
            got = await self.ips.allocate_many(conn, await self.row(conn, subnet_id), [(p, "p") for p in ports])
            return [allocation.address for allocation in got]

        return await self.db.run_write(work)

    async def allocate_specific(self, subnet_id: str, address: str, port_id: str) -> str:
        async def work(conn):
            sub = await self.row(conn, subnet_id)
            got = await self.ips.allocate_specific(conn, sub, ipaddress.ip_address(address), port_id, "p")
            return got.address

        return await self.db.run_write(work)

    async def release(self, port_id: str) -> None:
        await self.db.run_write(lambda conn: self.ips.release_port(conn, port_id))

    async def cursor(self, subnet_id: str) -> ipaddress.IPv4Address | None:
        async with self.db.read() as conn:
            key = await conn.scalar(select(models.subnets.c.next_ip_key).where(models.subnets.c.id == subnet_id))
        return None if key is None else ipaddress.IPv4Address(int(key, 16))

    async def held(self, subnet_id: str) -> list[str]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(a.c.address).where(a.c.subnet_id == subnet_id, a.c.deallocated.is_(False)))
            return list(rows.scalars())

    async def release_everything(self) -> None:
        """Release what the test's made-up holders hold, so that the shared database
        stays consistent for whole-database checks (`quark ipam check`) of other tests."""

        async def work(conn):
            held = select(a.c.id).where(a.c.subnet_id.in_(self.made_subnets), a.c.deallocated.is_(False))
            await self.ips.release_allocations(conn, list((await conn.execute(held)).scalars()))

        await self.db.run_write(work)

    async def counted(self, subnet_id: str) -> tuple[int, int]:
        """(sum of the usage counter's shards, used_ips of /network-ip-availabilities)."""
        async with self.db.read() as conn:
            shards = await conn.scalar(
                select(func.sum(models.ip_usage.c.used)).where(models.ip_usage.c.subnet_id == subnet_id)
            )
        for net in await self.services.availability.list(ADMIN, ListQuery()):
            for sub in net["subnet_ip_availability"]:
                if sub["subnet_id"] == subnet_id:
                    return int(shards), sub["used_ips"]
        raise AssertionError("subnet missing from the availability")


@pytest.fixture
async def quark(database_url):
    """``await quark()``: a started Quark process (prepared as ``quark serve`` does)."""
    clock = Clock()
    started: list[Quark] = []
    subnets: list[str] = []

    async def start() -> Quark:
        process = Quark(database_url, clock, subnets)
        await prepare_database(process.db, process.settings)
        started.append(process)
        return process

    start.clock = clock  # type: ignore[attr-defined]
    yield start
    if started:
        await started[0].release_everything()
    for process in started:
        await process.db.dispose()


def pool(cidr: str) -> set[str]:
    """Addresses of a subnet's default pool: all hosts but the gateway (the first)."""
    return {str(ip) for ip in list(ipaddress.ip_network(cidr).hosts())[1:]}


async def assert_counted(process: Quark, subnet_id: str, expected: int) -> None:
    held = await process.held(subnet_id)
    assert len(held) == len(set(held)) == expected
    assert await process.counted(subnet_id) == (expected, expected)


# --- explicit requests versus the cursor ------------------------------------------------


async def test_an_explicit_request_inside_the_probed_window_never_yields_a_duplicate(quark, monkeypatch):
    batcher, client = await quark(), await quark()
    subnet_id = await batcher.subnet("10.171.0.0/24")
    assert await batcher.allocate_many(subnet_id, ["a0", "a1"]) == ["10.171.0.2", "10.171.0.3"]  # cursor at .4
    target = "10.171.0.6"  # inside the next batch's window .4 - .8
    probe = batcher.ips._taken_between
    explicit: list[asyncio.Task] = []
    landed_in_window: list[bool] = []

    async def probe_then_let_the_explicit_request_in(conn, subnet, first, last):
        taken = await probe(conn, subnet, first, last)
        if not explicit:
            explicit.append(asyncio.create_task(client.allocate_specific(subnet_id, target, "explicit")))
            done, _ = await asyncio.wait(explicit, timeout=RACE_WINDOW)
            landed_in_window.append(bool(done))
        return taken

    monkeypatch.setattr(batcher.ips, "_taken_between", probe_then_let_the_explicit_request_in)
    got = await batcher.allocate_many(subnet_id, [f"b{i}" for i in range(5)])
    (outcome,) = await asyncio.gather(*explicit, return_exceptions=True)

    if batcher.db.dialect == "postgresql":
        # The explicit insert committed inside the window (its foreign-key check
        # takes KEY SHARE, which the cursor's FOR NO KEY UPDATE allows): the batch's
        # insert collided, and the transaction was run again around it.
        assert landed_in_window == [True]
        assert outcome == target
        assert batcher.db.retries == 1
        assert got == ["10.171.0.4", "10.171.0.5", "10.171.0.7", "10.171.0.8", "10.171.0.9"]
    else:
        # SQLite: one writer at a time. MariaDB: the foreign-key check of the explicit
        # insert waits for the subnet row the batch holds. The batch wins the address.
        assert landed_in_window == [False]
        assert isinstance(outcome, errors.IpAddressAlreadyAllocated), outcome
        assert batcher.db.retries == 0
        assert got == [f"10.171.0.{i}" for i in range(4, 9)]
    await assert_counted(batcher, subnet_id, 8 if outcome == target else 7)


async def test_explicit_requests_ahead_of_the_cursor_race_automatic_batches(quark):
    """Automatic batches of 4 and explicit requests for one of the next forty
    addresses, from five processes at once, until the /24 is full."""
    autos = [await quark() for _ in range(3)]
    clients = [await quark() for _ in range(2)]
    cidr = "10.172.0.0/24"
    subnet_id = await autos[0].subnet(cidr)
    last = ipaddress.IPv4Address("10.172.0.254")

    async def automatic(process: Quark, name: str) -> list[str]:
        got: list[str] = []
        while True:
            batch = await process.allocate_many(subnet_id, [f"{name}-{len(got) + i}" for i in range(4)])
            got += batch
            if len(batch) < 4:
                return got
            await asyncio.sleep(0.002)  # room for the explicit requests, even where writers queue (SQLite)

    async def explicit(process: Quark, name: str, seed: int) -> tuple[list[str], int]:
        rng, won, lost = random.Random(seed), [], 0
        for attempt in range(2000):
            cursor = await process.cursor(subnet_id)
            if cursor is None:
                return won, lost
            address = min(cursor + rng.randrange(40), last)
            try:
                won.append(await process.allocate_specific(subnet_id, str(address), f"{name}-{attempt}"))
            except errors.IpAddressAlreadyAllocated:
                lost += 1  # someone holds it: a correct answer, not a failure
        raise AssertionError("the cursor never reached the end of the pool")

    results = await asyncio.gather(
        *[automatic(p, f"auto{i}-{k}") for i, p in enumerate(autos) for k in range(2)],
        *[explicit(p, f"explicit{i}-{k}", 10 * i + k) for i, p in enumerate(clients) for k in range(2)],
    )
    automatic_got = [address for result in results[:6] for address in result]
    explicit_won = [address for won, _ in results[6:] for address in won]
    everything = automatic_got + explicit_won
    assert len(everything) == len(set(everything))  # never one address twice
    assert set(everything) == pool(cidr)  # and every one handed out: no request failed while any remained
    assert explicit_won, "the explicit requests never won an address: the race was not exercised"
    await assert_counted(autos[0], subnet_id, 253)


# --- reuse under contention -------------------------------------------------------------


async def test_released_addresses_are_each_reused_once_under_contention(quark):
    processes = [await quark() for _ in range(4)]
    cidr = "10.173.0.0/26"  # pool .2 - .62: 61 addresses
    subnet_id = await processes[0].subnet(cidr)
    filled = await processes[0].allocate_many(subnet_id, [f"fill-{i}" for i in range(61)])
    assert set(filled) == pool(cidr)
    reusable = {filled[i]: f"fill-{i}" for i in range(0, 61, 3)}  # 21 addresses
    for port_id in reusable.values():
        await processes[0].release(port_id)
    quark.clock.advance(REUSE_AFTER)
    quarantined = {filled[i]: f"fill-{i}" for i in range(1, 61, 12)}  # released later: still quarantined
    for port_id in quarantined.values():
        await processes[0].release(port_id)

    async def take_until_none(process: Quark, name: str, batch: int) -> list[str]:
        got: list[str] = []
        while True:
            more = await process.allocate_many(subnet_id, [f"{name}-{len(got) + i}" for i in range(batch)])
            got += more
            if len(more) < batch:
                return got

    results = await asyncio.gather(
        *[take_until_none(p, f"t{i}-{k}", 1 + k % 2) for i, p in enumerate(processes) for k in range(3)]
    )
    handed = [address for result in results for address in result]
    assert len(handed) == len(set(handed))  # no address twice
    assert sorted(handed) == sorted(reusable)  # each past its quarantine reused exactly once
    assert not set(handed) & set(quarantined)  # the quarantined ones not at all
    await assert_counted(processes[0], subnet_id, 61 - len(quarantined))


async def test_an_address_a_failed_transaction_had_taken_is_reused_by_a_process_that_looked_meanwhile(quark):
    process = await quark()
    if process.db.dialect == "sqlite":
        pytest.skip("one writer at a time: no lookup runs while another transaction holds a released row")
    cidr = "10.174.0.0/29"  # pool .2 - .6
    subnet_id = await process.subnet(cidr)
    await process.allocate_many(subnet_id, [f"p{i}" for i in range(5)])
    await process.release("p0")  # 10.174.0.2
    quark.clock.advance(REUSE_AFTER)
    took, finish = asyncio.Event(), asyncio.Event()

    async def doomed(conn):
        got = await process.ips.allocate_any(conn, await process.row(conn, subnet_id), "doomed", "p")
        assert got is not None and got.address == "10.174.0.2"
        took.set()
        await finish.wait()
        raise RuntimeError("the request fails after its allocation")

    task = asyncio.create_task(process.db.run_write(doomed))
    await took.wait()
    assert await process.allocate_many(subnet_id, ["meanwhile"]) == []  # .2 is held (locked) right now
    finish.set()
    with pytest.raises(RuntimeError):
        await task
    # The address is free again and past its quarantine; the process that looked
    # while it was locked should hand it out (any other process does).
    assert await process.allocate_many(subnet_id, ["after"]) == ["10.174.0.2"]
