"""The MAC allocator (quark.ipam.mac_allocator) on every database: ranges handed
out in order and once, reuse only after the quarantine and oldest first,
``do_not_use`` ranges, blocks reserved ahead and given back, explicit MACs,
exhaustion (``None`` from the allocator, ``MacAddressGenerationFailure`` from
a port create) and concurrent allocators, in tasks and in processes.

The allocator draws from *every* usable range of the database, so these tests
need a database whose ranges they control: the module makes its own on each
backend (``mac_database``), and each test starts from no MAC range at all and
prepares it as ``quark serve`` does (``prepare_database``: the default range,
here a small one chosen by the test, and the seed segment ranges).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from sqlalchemy import delete, func, select

from quark import errors
from quark.api.app import prepare_database
from quark.api.faults import status_for
from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.db.mac_usage_model import mac_range_usage
from quark.ipam.mac_allocator import BLOCK_SIZE
from quark.services.common.listing import ListQuery
from quark.services.registry import build_services
from tests.clock import Clock
from tests.dbs import migrated_database, selected_backends

ADMIN = Context.admin()
REUSE_AFTER = 3600
BASE = 0x020000000000  # 02:00:00:00:00:00, a locally administered unicast MAC
m = models.mac_allocations
r = models.mac_address_ranges


class Quark:
    """One Quark process over the module's database: its own services, hence its
    own MAC blocks, on the clock the test controls."""

    def __init__(self, url: str, clock: Clock, default_range: str) -> None:
        self.settings = Settings(ipam_reuse_after=REUSE_AFTER, default_mac_range=default_range)
        self.db = Database(url, pool_size=4, max_overflow=4)
        self.services = build_services(self.db, self.settings, clock=clock)
        self.macs = self.services.ports.macs

    async def allocate(self) -> tuple[int, bool] | None:
        return await self.db.run_write(lambda conn: self.macs.allocate(conn))

    async def allocate_until_none(self) -> list[tuple[int, bool]]:
        out = []
        while (got := await self.allocate()) is not None:
            out.append(got)
            assert len(out) <= 4096, "the allocator never runs out"
        return out

    async def release(self, address: int) -> None:
        await self.db.run_write(lambda conn: self.macs.release(conn, address))

    async def record(self, address: int) -> bool:
        return await self.db.run_write(lambda conn: self.macs.record_explicit(conn, address))

    async def held(self) -> list[int]:
        async with self.db.read() as conn:
            return list((await conn.execute(select(m.c.address).where(m.c.deallocated.is_(False)))).scalars())

    async def cursor(self, first: int) -> int | None:
        async with self.db.read() as conn:
            return await conn.scalar(select(r.c.next_address).where(r.c.first_address == first))

    async def add_range(self, cidr: str, *, do_not_use: bool = False) -> dict:
        return await self.services.mac_ranges.create(ADMIN, {"cidr": cidr, "do_not_use": do_not_use})

    async def network(self) -> str:
        return (await self.services.networks.create(ADMIN, {"name": "macs"}))["id"]

    async def port(self, network_id: str, **attrs) -> dict:
        return await self.services.ports.create(ADMIN, {"network_id": network_id, **attrs})


def mac(value: int) -> str:
    return value.to_bytes(6, "big").hex(":")


def span(first: int, count: int) -> list[int]:
    return list(range(first, first + count))


@pytest.fixture(scope="module", params=selected_backends())
def mac_database(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        yield url


@pytest.fixture
async def quark(mac_database):
    """``await quark(default_range)``: a started Quark process; the first call of a
    test begins from a database without MAC ranges, later ones are more processes."""
    clock = Clock()
    started: list[Quark] = []
    cleaner = Database(mac_database)
    async with cleaner.write() as conn:
        await conn.execute(delete(m))
        await conn.execute(delete(r))
        await conn.execute(delete(mac_range_usage))
    await cleaner.dispose()

    async def start(default_range: str = "02:00:00:00:00:00/45") -> Quark:
        process = Quark(mac_database, clock, default_range)
        await prepare_database(process.db, process.settings)
        started.append(process)
        return process

    start.clock = clock  # type: ignore[attr-defined]
    yield start
    for process in started:
        await process.db.dispose()


# --- ranges, order, exhaustion ---------------------------------------------------------


async def test_a_range_is_handed_out_in_order_each_mac_once_then_none(quark):
    q = await quark("02:00:00:00:00:00/45")  # 8 MACs
    got = await q.allocate_until_none()
    assert got == [(address, False) for address in span(BASE, 8)]
    assert sorted(await q.held()) == span(BASE, 8)
    assert await q.cursor(BASE) is None  # walked to the end
    assert await q.allocate() is None  # and stays exhausted


async def test_every_usable_range_is_used_before_the_allocator_gives_up(quark):
    q = await quark("02:00:00:00:00:00/46")  # 4
    await q.add_range("02:00:00:00:01:00/47")  # 2 more
    got = await q.allocate_until_none()
    assert sorted(address for address, _ in got) == span(BASE, 4) + span(BASE + 0x100, 2)
    assert not any(reused for _, reused in got)


async def test_exhaustion_through_a_port_create_is_mac_generation_failure_and_writes_nothing(quark):
    q = await quark("02:00:00:00:00:00/47")  # 2 MACs
    network_id = await q.network()
    ports = [await q.port(network_id) for _ in range(2)]
    assert sorted(p["mac_address"] for p in ports) == [mac(BASE), mac(BASE + 1)]
    with pytest.raises(errors.MacAddressGenerationFailure) as failure:
        await q.port(network_id, name="one too many")
    assert status_for(failure.value) == 503  # a ServiceUnavailable: Neutron answers 503 too
    with pytest.raises(errors.MacAddressGenerationFailure):
        await q.services.ports.create_bulk(ADMIN, [{"network_id": network_id}, {"network_id": network_id}])
    async with q.db.read() as conn:
        count = await conn.scalar(select(func.count()).where(models.ports.c.network_id == network_id))
    assert count == 2  # the failed creates left no port behind
    # An explicit MAC outside every range is not the allocator's business: still possible.
    assert (await q.port(network_id, mac_address="02:aa:00:00:00:01"))["mac_address"] == "02:aa:00:00:00:01"


# --- quarantine and reuse ----------------------------------------------------------------


async def test_a_released_mac_comes_back_only_after_the_quarantine(quark):
    q = await quark("02:00:00:00:00:00/45")  # 8 MACs
    clock = quark.clock
    taken = [address for address, _ in [await q.allocate() for _ in range(6)]]
    assert taken == span(BASE, 6)
    await q.release(taken[3])
    clock.advance(10)
    await q.release(taken[1])
    clock.advance(REUSE_AFTER - 11)  # one second short of the first quarantine's end
    assert await q.allocate() == (BASE + 6, False)  # a fresh MAC, not the released one
    clock.advance(1)
    assert await q.allocate() == (taken[3], True)
    assert await q.allocate() == (BASE + 7, False)  # taken[1] is still quarantined
    assert await q.allocate() is None  # nothing fresh left, nothing out of quarantine
    clock.advance(10)
    assert await q.allocate() == (taken[1], True)
    assert await q.allocate() is None
    assert sorted(await q.held()) == span(BASE, 8)


async def test_released_macs_are_reused_oldest_first_across_ranges(quark):
    q = await quark("02:00:00:00:00:00/46")  # A: 4
    await q.add_range("02:00:00:00:01:00/46")  # B: 4
    assert len(await q.allocate_until_none()) == 8
    order = [BASE + 0x102, BASE + 1, BASE + 0x100, BASE + 3]  # B, A, B, A: neither by range nor by value
    for address in order:
        await q.release(address)
        quark.clock.advance(1)
    quark.clock.advance(REUSE_AFTER)
    assert [await q.allocate() for _ in range(5)] == [(address, True) for address in order] + [None]


# --- do_not_use --------------------------------------------------------------------------


async def test_do_not_use_ranges_are_never_drawn_from(quark):
    big = "02:00:00:00:04:00/38"  # 1024 MACs: more than one block
    first = BASE + 0x400
    a = await quark(big)
    b = await quark(big)  # a second process
    assert await a.allocate() == (first, False)  # a claims the block first .. first+255
    assert await b.allocate() == (first + BLOCK_SIZE, False)  # b the next one
    usable = await a.add_range("02:00:00:00:10:00/46")
    await a.add_range("02:00:00:00:20:00/46", do_not_use=True)
    ranges = await a.services.mac_ranges.list(ADMIN, ListQuery())
    flagged = next(item for item in ranges if item["first_address"] == mac(first))
    await a.services.mac_ranges.update(ADMIN, flagged["id"], {"do_not_use": True})
    await a.release(first)
    quark.clock.advance(REUSE_AFTER + 1)  # past the quarantine: still never reused from a flagged range

    got_a = await a.allocate_until_none()
    assert sorted(address for address, _ in got_a) == span(BASE + 0x1000, 4)  # only the usable range
    assert usable["first_address"] == mac(BASE + 0x1000)
    # b claimed its block before the flag: what it had left may still go out (at most a
    # block, as documented), but b never claims from the flagged range again.
    got_b = await b.allocate_until_none()
    assert {address for address, _ in got_b} <= set(span(first + BLOCK_SIZE + 1, BLOCK_SIZE - 1))
    assert await a.cursor(first) == first + 2 * BLOCK_SIZE  # no claim after the flag
    assert await a.cursor(BASE + 0x2000) == BASE + 0x2000  # created do_not_use: never claimed
    held = await a.held()
    assert first not in held  # the released MAC of the flagged range stayed released
    assert not [address for address in held if address >= BASE + 0x2000]


# --- blocks reserved ahead -------------------------------------------------------------


async def test_unused_reserved_macs_go_back_and_are_handed_out_next_never_twice(quark):
    q = await quark("02:00:00:00:00:00/44")  # 16 MACs
    async with q.macs.reserve(3) as reservation:
        reserved = [address for _, address in reservation.items]
        assert reserved == span(BASE, 3)
        assert await q.allocate() == (BASE, False)  # the transaction takes one of them
    async with q.macs.reserve(2) as again:
        assert [address for _, address in again.items] == span(BASE + 1, 2)  # the two it did not take
        assert [await q.allocate() for _ in range(2)] == [(BASE + 1, False), (BASE + 2, False)]
    rest = await q.allocate_until_none()
    assert [address for address, _ in rest] == span(BASE + 3, 13)
    assert sorted(await q.held()) == span(BASE, 16)  # all sixteen, each once


async def test_a_re_run_transaction_takes_the_same_reserved_macs(quark):
    q = await quark("02:00:00:00:00:00/44")
    attempts: list[list[int]] = []

    async def work(conn):
        got = [(await q.macs.allocate(conn))[0] for _ in range(2)]
        attempts.append(got)
        if len(attempts) == 1:
            raise errors.RetryRequest()
        return got

    assert await q.services.ports.run_creating([{}, {}], work) == span(BASE, 2)
    assert attempts == [span(BASE, 2), span(BASE, 2)]
    assert q.db.retries == 1
    assert sorted(await q.held()) == span(BASE, 2)
    assert await q.allocate() == (BASE + 2, False)  # nothing skipped, nothing given twice


async def test_concurrent_reservations_in_one_process_are_disjoint(quark):
    q = await quark("02:00:00:00:00:00/40")  # 256 MACs

    async def request(count: int) -> list[int]:
        async with q.macs.reserve(count):
            return await q.db.run_write(lambda conn: _allocate_n(q, conn, count))

    results = await asyncio.gather(*[request(1 + i % 3) for i in range(40)])
    handed = [address for result in results for address in result]
    assert len(handed) == len(set(handed)) == sum(1 + i % 3 for i in range(40))
    assert sorted(await q.held()) == sorted(handed)


async def _allocate_n(q: Quark, conn, count: int) -> list[int]:
    out = []
    for _ in range(count):
        got = await q.macs.allocate(conn)
        assert got is not None
        out.append(got[0])
    return out


async def test_a_failed_request_loses_none_of_its_reserved_macs(quark):
    q = await quark("02:00:00:00:00:00/46")  # 4 MACs
    full = await q.network()
    await q.services.subnets.create(ADMIN, {"network_id": full, "ip_version": 4, "cidr": "10.77.0.0/30"})  # 1 address
    await q.port(full)
    for _ in range(3):  # each of these takes a MAC in a transaction that then rolls back
        with pytest.raises(errors.IpAddressGenerationFailure):
            await q.port(full)
    empty = await q.network()
    assert len([await q.port(empty) for _ in range(3)]) == 3  # three MACs were never handed out


# --- explicit MACs -------------------------------------------------------------------


async def test_an_explicit_mac_is_never_handed_out_while_held(quark):
    q = await quark("02:00:00:00:00:00/45")  # 8
    assert await q.allocate() == (BASE, False)  # this process now holds BASE+1 .. BASE+7 in its block
    assert await q.record(BASE + 3) is True
    assert await q.record(BASE + 3) is False  # held: nobody else records it
    assert await q.record(0x02AA00000001) is False  # outside every range: nothing to record
    got = await q.allocate_until_none()
    assert [address for address, _ in got] == [BASE + i for i in (1, 2, 4, 5, 6, 7)]
    await q.release(BASE + 3)
    assert await q.record(BASE + 3) is True  # a released MAC is taken back at once, quarantine or not
    assert sorted(await q.held()) == span(BASE, 8)
    assert 0x02AA00000001 not in await q.held()


async def test_an_explicit_mac_on_a_port_is_held_by_it_and_released_with_it(quark):
    q = await quark("02:00:00:00:00:00/46")  # 4
    explicit = await q.port(await q.network(), mac_address=mac(BASE + 2))
    other = await q.network()
    automatic = [await q.port(other) for _ in range(3)]
    assert sorted(p["mac_address"] for p in automatic) == [mac(BASE), mac(BASE + 1), mac(BASE + 3)]
    with pytest.raises(errors.MacAddressGenerationFailure):
        await q.port(other)
    await q.services.ports.delete(ADMIN, explicit["id"])
    with pytest.raises(errors.MacAddressGenerationFailure):  # released, but quarantined
        await q.port(other)
    quark.clock.advance(REUSE_AFTER)
    assert (await q.port(other))["mac_address"] == mac(BASE + 2)


# --- concurrency ----------------------------------------------------------------------


async def test_concurrent_allocators_never_hand_out_one_mac_twice(quark):
    """Three processes (own blocks, own connection pools), four tasks each; a
    quarter of the MACs handed out before were released and are past their
    quarantine, so reuse (SKIP LOCKED on PostgreSQL and MariaDB) races too."""
    processes = [await quark("02:00:00:00:00:00/38") for _ in range(3)]  # 1024 MACs
    first = [address for address, _ in [await processes[0].allocate() for _ in range(40)]]
    released = first[::4]
    for address in released:
        await processes[0].release(address)
    quark.clock.advance(REUSE_AFTER)

    async def task(process: Quark) -> list[tuple[int, bool]]:
        out = []
        for _ in range(25):
            async with process.macs.reserve(1):
                got = await process.allocate()
            assert got is not None
            out.append(got)
        return out

    results = await asyncio.gather(*[task(p) for p in processes for _ in range(4)])
    handed = [got for result in results for got in result]
    addresses = [address for address, _ in handed]
    assert len(addresses) == len(set(addresses)) == 300
    assert sorted(address for address, reused in handed if reused) == sorted(released)  # each reused once
    assert not set(addresses) & (set(first) - set(released))  # nothing still held is handed out
    assert sorted(await processes[0].held()) == sorted(set(first) | set(addresses))


def _allocate_in_a_process(url: str, count: int, start_at: float) -> tuple[list[int | None], list[int]]:
    """A process of its own: ``count`` allocations as port creates make them (reserve, then one
    transaction); what it got, and the MACs left unused in its block at the end."""

    async def run() -> tuple[list[int | None], list[int]]:
        db = Database(url, pool_size=2, max_overflow=2)
        macs = build_services(db, Settings(ipam_reuse_after=REUSE_AFTER)).ports.macs
        out: list[int | None] = []
        try:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            for _ in range(count):
                async with macs.reserve(1):
                    got = await db.run_write(lambda conn: macs.allocate(conn))
                out.append(None if got is None else got[0])
        finally:
            await db.dispose()
        return out, [address for _, address in macs._block]

    return asyncio.run(run())


async def test_several_processes_exhaust_a_range_exactly_with_no_mac_twice(quark):
    q = await quark("02:00:00:00:00:00/38")  # 1024 MACs: four blocks
    workers, each = 4, 300
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        start_at = time.time() + 5  # let every process import and connect first
        futures = [
            asyncio.wrap_future(pool.submit(_allocate_in_a_process, q.db.url.render_as_string(False), each, start_at))
            for _ in range(workers)
        ]
        results = await asyncio.gather(*futures)
    handed = [address for result, _ in results for address in result if address is not None]
    # A process that ends with MACs of its last block unused skips them (by
    # design, see quark.ipam.mac_allocator); which process claims how many
    # blocks depends on how the processes happen to run.
    left = [address for _, leftover in results for address in leftover]
    assert len(handed) == len(set(handed))  # nothing twice
    assert sorted(handed + left) == span(BASE, 1024)  # exhausted exactly: every MAC handed out or still held
    for result, _ in results:  # a process runs out only once the range has
        assert None not in result or set(result[result.index(None) :]) == {None}
    assert sorted(await q.held()) == sorted(handed)


async def test_a_range_created_over_a_port_s_explicit_mac_does_not_hand_that_mac_to_its_network(quark):
    q = await quark("02:00:00:00:00:00/47")  # 2 MACs, used up on another network
    elsewhere = await q.network()
    assert len([await q.port(elsewhere) for _ in range(2)]) == 2
    network_id = await q.network()
    await q.port(network_id, mac_address=mac(BASE + 0x500))  # outside every range: not recorded
    await q.add_range("02:00:00:00:05:00/47")  # now it is inside one
    port = await q.port(network_id)  # the new range's first MAC is the explicit one
    assert port["mac_address"] == mac(BASE + 0x501)
