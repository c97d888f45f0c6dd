"""Local leases: requests decided in the process, within the documented bounds.

A model store (the lease script's arithmetic in Python, on a clock the test
moves) shared by several limiters stands for Redis shared by several workers;
the last tests use the real Redis.
"""

from __future__ import annotations

import asyncio
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quark import metrics
from quark.ratelimits.gcra import Grant, Rate, RedisGcra
from quark.ratelimits.lease import lease_size
from quark.ratelimits.limiter import ALLOCATIONS, READS, WRITES, RateLimiter
from tests.redis_server import project, require_redis
from tests.servers import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ModelStore:
    """GCRA as the lease script computes it (seconds instead of µs), on ``clock``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.tats: dict[tuple[str, str], float] = {}
        self.leases = 0
        self.hits = 0

    async def lease(self, project_id: str, kind: str, rate: Rate, want: int) -> Grant:
        self.leases += 1
        now, interval = self.clock(), rate.period / rate.count
        tat = max(self.tats.get((project_id, kind), now), now)
        free = math.floor((now + rate.count * interval - tat) / interval + 1e-9)
        granted = min(want, free)
        if granted < 1:
            return Grant(0, 0, tat - now, tat + interval - rate.count * interval - now)
        self.tats[(project_id, kind)] = tat + granted * interval
        return Grant(granted, free - granted, tat + granted * interval - now, 0)

    async def hit(self, project_id, rates):
        raise AssertionError("leased classes never take the exact path")

    async def close(self) -> None:
        pass


def limiters(store, clock, workers: int, rates: dict[str, Rate], lease: int) -> list[RateLimiter]:
    return [RateLimiter(store, rates, clock=clock, lease=lease) for _ in range(workers)]


def test_lease_size_is_one_percent_of_the_budget_at_most_the_cap():
    assert [lease_size(Rate(n, 60), 50) for n in (5, 199, 200, 1200, 6000, 10**9)] == [0, 1, 2, 12, 50, 50]


async def test_requests_are_decided_locally_and_the_store_is_asked_once_per_half_lease():
    clock = Clock()
    store = ModelStore(clock)
    (limiter,) = limiters(store, clock, 1, {READS: Rate(6000, 60)}, lease=50)
    outcomes = []
    for _ in range(1000):
        outcomes.append(await limiter.check("p", [READS]))
        await asyncio.sleep(0)  # the background refill runs
    assert all(o is not None and o.allowed for o in outcomes)
    # the first lease of 50, then a top-up of ~25 every 25 requests
    assert 30 <= store.leases <= 45, store.leases
    remaining = [o.verdict.remaining for o in outcomes if o is not None]
    assert remaining[0] == 5999 and remaining[-1] == 5000
    assert remaining == sorted(remaining, reverse=True)
    await limiter.close()


async def test_a_refusal_is_answered_locally_until_its_retry_after():
    clock = Clock()
    store = ModelStore(clock)
    (limiter,) = limiters(store, clock, 1, {WRITES: Rate(200, 20)}, lease=50)  # lease of 2, one every 0.1 s
    seen = [await limiter.check("p", [WRITES]) for _ in range(205)]
    assert [o is not None and o.allowed for o in seen] == [True] * 200 + [False] * 5
    refused = seen[-1]
    assert refused is not None and refused.verdict.remaining == 0 and 0 < refused.verdict.retry_after <= 0.1 + 1e-6
    asked = store.leases
    assert (await limiter.check("p", [WRITES])).allowed is False  # type: ignore[union-attr]
    assert store.leases == asked  # not asked again before retry_after
    clock.now += 0.1 + 1e-6
    again = await limiter.check("p", [WRITES])
    assert again is not None and again.allowed and store.leases == asked + 1
    await limiter.close()


async def test_a_request_of_two_classes_spends_both_or_neither():
    clock = Clock()
    store = ModelStore(clock)
    rates = {WRITES: Rate(1000, 60), ALLOCATIONS: Rate(200, 60)}
    (limiter,) = limiters(store, clock, 1, rates, lease=50)
    seen = [await limiter.check("p", [WRITES, ALLOCATIONS]) for _ in range(210)]
    assert [o.allowed for o in seen if o is not None] == [True] * 200 + [False] * 10
    assert seen[-1] is not None and seen[-1].kind == ALLOCATIONS
    write = await limiter.check("p", [WRITES])
    assert write is not None and write.allowed and write.verdict.remaining == 1000 - 201
    await limiter.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workers=st.integers(1, 4),
    count=st.integers(200, 2000),
    cap=st.integers(2, 40),
    steps=st.lists(
        st.tuples(st.integers(0, 3), st.booleans(), st.sampled_from([0.0, 0.0, 0.001, 0.05])), min_size=1, max_size=400
    ),
)
def test_any_interleaving_stays_within_the_documented_bounds(workers, count, cap, steps):
    """Over a run of ``elapsed`` seconds, several workers together allow at most
    ``count + elapsed × rate + workers × size`` requests, never hold more than a
    lease each, and refuse only when at most ``workers × size`` sit unspent elsewhere."""
    rate = Rate(count, 10.0)
    size = lease_size(rate, cap)

    async def scenario() -> None:
        clock = Clock()
        store = ModelStore(clock)
        pool = limiters(store, clock, workers, {READS: rate}, lease=cap)
        start, allowed = clock.now, 0
        for worker, yield_now, advance in steps:
            clock.now += advance
            outcome = await pool[worker % workers].check("p", [READS])
            assert outcome is not None
            held = [lim.leases.budgets["p", READS].left for lim in pool if ("p", READS) in lim.leases.budgets]
            assert all(0 <= h <= size for h in held)
            if outcome.allowed:
                allowed += 1
            else:  # refused: the store had nothing left beyond what the workers hold unspent
                assert sum(held) <= workers * size
                assert outcome.verdict.retry_after > 0
            if yield_now:
                await asyncio.sleep(0)
        elapsed = clock.now - start
        assert allowed <= count + elapsed * count / rate.period + workers * size + 1
        for lim in pool:
            await lim.close()

    asyncio.run(scenario())


async def test_two_processes_share_one_budget_on_redis():
    """Two limiters (two workers' worth) leasing from the real Redis, concurrently."""
    url, who = require_redis(), project()
    rate = Rate(1000, 600)  # 1000 per 10 min: the run regains at most a couple
    pool = [RateLimiter(RedisGcra(url, 2.0), {READS: rate}, lease=10) for _ in range(2)]
    size = lease_size(rate, 10)

    async def client(limiter: RateLimiter) -> list[bool]:
        return [bool((o := await limiter.check(who, [READS])) and o.allowed) for _ in range(600)]

    results = await asyncio.gather(*(client(pool[i % 2]) for i in range(8)))
    allowed = sum(sum(r) for r in results)
    assert 1000 - 2 * size <= allowed <= 1000 + 2, allowed
    for limiter in pool:
        await limiter.close()


async def test_a_dead_store_under_leases_serves_unlimited_and_counts_once():
    dead = RedisGcra(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)  # nothing listens there
    limiter = RateLimiter(dead, {READS: Rate(10**6, 60)}, lease=50)
    before = metrics.RATE_LIMIT_STORE_ERRORS._value.get()
    assert [await limiter.check(project(), [READS]) for _ in range(20)] == [None] * 20
    assert metrics.RATE_LIMIT_STORE_ERRORS._value.get() == before + 1  # then left alone for a second
    await limiter.close()
