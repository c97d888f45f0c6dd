"""The long-polls' shared generation feed (issue 21, "Thousands of hosts"):
idle waiters cost one reading per interval per process, not one per waiter;
a change wakes the waiters of the hosts it concerns and no others; a waiter
never takes a reading that started before its own read."""

from __future__ import annotations

import asyncio

import pytest

from quark.services.dataplane import generation_feed, hoststate
from quark.services.dataplane.generation_feed import GenerationFeed
from tests.services.conftest import ADMIN


async def test_idle_waiters_share_one_reading_per_interval(env, monkeypatch):
    """60 hosts' requests held for ~0.6 s: the old design read 60 generations
    every 0.1 s (~360 reads); the feed reads the change log once per 0.1 s."""
    readings = []
    real_gate = generation_feed.gate

    async def counted(conn):
        readings.append(1)
        return await real_gate(conn)

    monkeypatch.setattr(generation_feed, "gate", counted)
    hosts = env.services.hosts
    docs = [await hosts.desired_state(ADMIN, f"idle-{i}") for i in range(60)]
    polls = [hosts.desired_state(ADMIN, d["host"], d["generation"], 1) for d in docs]
    started = asyncio.get_running_loop().time()
    answers = await asyncio.gather(*polls)
    held = asyncio.get_running_loop().time() - started
    assert held >= 0.9, "the polls returned with nothing changed"
    assert all(a["generation"] == d["generation"] for a, d in zip(answers, docs, strict=True))
    # one reading per interval (plus slack for a slow machine), whatever the waiters
    assert 1 <= len(readings) <= held / generation_feed.GenerationFeed(env.services.db).interval + 3
    assert hosts.feed.waiting == 0


async def test_a_change_wakes_only_its_host(env):
    feed = GenerationFeed(env.services.db, interval=0.05)

    async def now(host: str) -> int:
        async with env.services.db.read() as conn:
            return await hoststate.generation(conn, host)

    a, b = await now("feed-a"), await now("feed-b")
    wait_a = asyncio.create_task(feed.wait("feed-a", False, a, 10))
    wait_b = asyncio.create_task(feed.wait("feed-b", False, b, 1.0))
    await asyncio.sleep(0.3)
    assert not wait_a.done() and not wait_b.done()

    async def change(conn):
        await hoststate.bump(conn, ["feed-a"])

    await env.services.db.run_write(change)
    assert await asyncio.wait_for(wait_a, 5) is True
    assert await wait_b is False, "a change of another host woke this one"
    await feed.close()


async def test_a_dhcp_change_does_not_wake_the_l2_waiter(env):
    feed = GenerationFeed(env.services.db, interval=0.05)
    l2 = asyncio.create_task(feed.wait("feed-c", False, 0, 0.8))
    dhcp = asyncio.create_task(feed.wait("feed-c", True, 0, 10))
    await asyncio.sleep(0.2)

    async def change(conn):
        await hoststate.bump(conn, ["feed-c"], dhcp=True)

    await env.services.db.run_write(change)
    assert await asyncio.wait_for(dhcp, 5) is True
    assert await l2 is False
    await feed.close()


@pytest.mark.parametrize("fresh_number, woken", [(3, False), (4, True)])
async def test_a_reading_started_before_the_waiter_is_not_taken(fresh_number, woken):
    """A waiter arriving when 4 readings had started takes reading 4 onwards:
    reading 3 may hold a snapshot older than the waiter's own read."""
    feed = GenerationFeed(db=None)  # type: ignore[arg-type]  # no reading runs: published by hand
    feed._started = 4
    feed._ensure_running = lambda: None  # type: ignore[method-assign]
    waiting = asyncio.create_task(feed.wait("h", False, 7, 0.3))
    await asyncio.sleep(0)
    feed._publish(fresh_number, {"h": (8, 0)})
    assert await waiting is woken
