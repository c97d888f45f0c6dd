"""The GCRA script on the real Redis: bursts, refills, all-or-nothing, concurrency."""

from __future__ import annotations

import asyncio

import pytest

from quark.ratelimits.gcra import Rate, RedisGcra
from tests.redis_server import project, require_redis


@pytest.fixture
async def store():
    gcra = RedisGcra(require_redis(), timeout=2.0)
    yield gcra
    await gcra.close()


async def test_a_burst_of_the_limit_is_allowed_then_refused(store):
    who, rate = project(), Rate(5, 60)
    seen = [await store.hit(who, {"reads": rate}) for _ in range(6)]
    assert [allowed for allowed, _ in seen] == [True] * 5 + [False]
    assert [v["reads"].remaining for _, v in seen] == [4, 3, 2, 1, 0, 0]
    assert all(v["reads"].limit == 5 for _, v in seen)
    refused = seen[-1][1]["reads"]
    # one request back every 12 s; the whole burst back within 60 s
    assert 11 < refused.retry_after <= 12
    assert refused.retry_after < refused.reset <= 60
    assert all(v["reads"].retry_after == 0 for _, v in seen[:5])


async def test_the_budget_refills_at_the_rate(store):
    who, rate = project(), Rate(2, 0.4)  # one request every 0.2 s
    assert (await store.hit(who, {"writes": rate}))[0]
    assert (await store.hit(who, {"writes": rate}))[0]
    allowed, verdicts = await store.hit(who, {"writes": rate})
    assert not allowed
    await asyncio.sleep(verdicts["writes"].retry_after + 0.02)
    assert (await store.hit(who, {"writes": rate}))[0]
    assert not (await store.hit(who, {"writes": rate}))[0]


async def test_a_refused_class_charges_none_of_the_others(store):
    who = project()
    rates = {"writes": Rate(10, 60), "allocations": Rate(1, 60)}
    assert (await store.hit(who, rates))[0]
    allowed, verdicts = await store.hit(who, rates)
    assert not allowed
    assert verdicts["allocations"].retry_after > 0 and verdicts["writes"].retry_after == 0
    # writes alone: 9 left, the refused request took none
    allowed, verdicts = await store.hit(who, {"writes": rates["writes"]})
    assert allowed and verdicts["writes"].remaining == 8


async def test_projects_and_classes_are_counted_apart(store):
    first, second, rate = project(), project(), Rate(1, 60)
    assert (await store.hit(first, {"reads": rate}))[0]
    assert not (await store.hit(first, {"reads": rate}))[0]
    assert (await store.hit(second, {"reads": rate}))[0]
    assert (await store.hit(first, {"writes": rate}))[0]


async def test_concurrent_requests_from_many_clients_never_exceed_the_limit(store):
    """Ten separate clients (as ten worker processes would be) share one budget."""
    who, rate = project(), Rate(20, 60)
    stores = [RedisGcra(require_redis(), 2.0) for _ in range(10)]
    try:
        results = await asyncio.gather(*(s.hit(who, {"writes": rate}) for s in stores for _ in range(5)))
    finally:
        for s in stores:
            await s.close()
    assert sum(allowed for allowed, _ in results) == 20
    remaining = sorted(v["writes"].remaining for allowed, v in results if allowed)
    assert remaining == list(range(20))  # each grant saw its own count: no two read the same state


async def test_keys_expire_once_the_budget_is_whole_again(store):
    who = project()
    await store.hit(who, {"reads": Rate(10, 2)})
    ttl_ms = await store.client.pttl(store.key(who, "reads"))
    assert 0 < ttl_ms <= 201  # the one request's interval (0.2 s), then the key is gone
