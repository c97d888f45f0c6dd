"""Idempotency-Key claims and answers as the services see them: the answer is
written in the create's transaction, a retry replays it, another body is
refused, a running claim is refused until its lease ends and is then taken
over (the first holder can no longer create), expiry and purge, projects.

Over HTTP (headers, status codes, bulk, instances, concurrency, a killed
worker and a lost database) in tests/api/test_idempotency*.py."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest
from sqlalchemy import select

from quark import errors
from quark.context import Context, IdempotencyClaim
from quark.db import models
from quark.services.common.idempotency import Replay, key_hash
from tests.services.conftest import member

k = models.idempotency_keys
p = models.ports


def keyed(ctx: Context, claim: IdempotencyClaim) -> Context:
    claim.render = lambda views: orjson.dumps({"ports": views}).decode()
    return dataclasses.replace(ctx, idempotency=claim)


async def own_subnet(env, ctx: Context) -> str:
    net, _ = await env.network_with_subnet("10.9.0.0/24", ctx)
    return net["id"]


async def claim(env, ctx: Context, key: str = "k1", fingerprint: str = "f1") -> IdempotencyClaim:
    got = await env.services.idempotency.claim(ctx.project_id, key, fingerprint)
    assert isinstance(got, IdempotencyClaim)
    return got


async def test_the_answer_is_written_with_the_ports_and_replayed(env):
    ctx = member()
    network_id = await own_subnet(env, ctx)
    first = await claim(env, ctx)
    views = await env.services.ports.create_bulk(keyed(ctx, first), [{"network_id": network_id}])
    assert first.recorded
    row = (await env.read(select(k)))[0]
    assert row.status == 201 and row.key_hash == key_hash("k1") and row.project_id == ctx.project_id
    assert orjson.loads(row.body)["ports"][0]["id"] == views[0]["id"]

    before = await env.snapshot()
    again = await env.services.idempotency.claim(ctx.project_id, "k1", "f1")
    assert again == Replay(201, row.body)
    assert await env.snapshot() == before  # a replay writes nothing


async def test_the_same_key_with_another_request_is_refused(env):
    ctx = member()
    await claim(env, ctx)
    with pytest.raises(errors.IdempotencyKeyReused):
        await env.services.idempotency.claim(ctx.project_id, "k1", "another body")


async def test_a_running_claim_is_409_until_its_lease_ends_then_taken_over(make_env):
    env = await make_env(idempotency_lease=30)
    ctx = member()
    network_id = await own_subnet(env, ctx)
    first = await claim(env, ctx)
    with pytest.raises(errors.IdempotencyKeyInFlight) as running:
        await env.services.idempotency.claim(ctx.project_id, "k1", "f1")
    assert running.value.kwargs["retry_after"] == 1
    env.clock.advance(29)
    with pytest.raises(errors.IdempotencyKeyInFlight):  # still within the lease
        await env.services.idempotency.claim(ctx.project_id, "k1", "f1")

    env.clock.advance(2)  # the first holder's worker died, say
    second = await claim(env, ctx)
    assert second.token != first.token
    # The first holder wakes up: its transaction cannot record, so it creates nothing.
    await env.refused(
        errors.IdempotencyKeyInFlight, env.services.ports.create_bulk(keyed(ctx, first), [{"network_id": network_id}])
    )
    views = await env.services.ports.create_bulk(keyed(ctx, second), [{"network_id": network_id}])
    assert await env.count(p, p.c.project_id == ctx.project_id) == 1
    replay = await env.services.idempotency.claim(ctx.project_id, "k1", "f1")
    assert isinstance(replay, Replay) and orjson.loads(replay.body)["ports"][0]["id"] == views[0]["id"]


async def test_a_failed_create_stores_nothing_and_its_release_frees_the_key(env):
    ctx = member()
    first = await claim(env, ctx)
    with pytest.raises(errors.NetworkNotFound):
        await env.services.ports.create_bulk(keyed(ctx, first), [{"network_id": "no-such-network"}])
    assert not first.recorded
    await env.services.idempotency.release(first)
    assert await env.count(k) == 0
    await claim(env, ctx)  # a retry does the work


async def test_a_release_never_drops_an_answer(env):
    ctx = member()
    network_id = await own_subnet(env, ctx)
    first = await claim(env, ctx)
    await env.services.ports.create_bulk(keyed(ctx, first), [{"network_id": network_id}])
    await env.services.idempotency.release(first)  # e.g. the commit's answer was lost, then the release ran
    assert isinstance(await env.services.idempotency.claim(ctx.project_id, "k1", "f1"), Replay)


async def test_projects_have_their_own_keys(env):
    one, two = member(), member()
    await claim(env, one)
    await claim(env, two, fingerprint="another body")  # same key, another project: independent
    assert await env.count(k) == 2


async def test_keys_expire_lazily_and_by_the_purge(make_env):
    env = await make_env(idempotency_key_retention=3600)
    ctx = member()
    network_id = await own_subnet(env, ctx)
    first = await claim(env, ctx, "old")
    await env.services.ports.create_bulk(keyed(ctx, first), [{"network_id": network_id}])
    await claim(env, ctx, "other")
    env.clock.advance(1800)
    await claim(env, ctx, "young")
    env.clock.advance(1800)
    # "old" expired: it is a new key again, even with another body.
    assert isinstance(await env.services.idempotency.claim(ctx.project_id, "old", "f2"), IdempotencyClaim)
    assert await env.services.idempotency.purge() == 1  # "other"; "young" and the new "old" stay
    assert {row.key_hash for row in await env.read(select(k))} == {key_hash("young"), key_hash("old")}


async def test_concurrent_first_uses_make_one_claim(env):
    ctx = member()
    outcomes = await asyncio.gather(
        *(env.services.idempotency.claim(ctx.project_id, "race", "f") for _ in range(5)), return_exceptions=True
    )
    claims = [o for o in outcomes if isinstance(o, IdempotencyClaim)]
    assert len(claims) == 1, outcomes
    assert all(isinstance(o, errors.IdempotencyKeyInFlight) for o in outcomes if o not in claims)


async def test_batched_single_creates_each_record_their_own_answer(make_env):
    env = await make_env(port_create_batch=64)
    ctx = member()
    network_id = await own_subnet(env, ctx)
    claims = [await claim(env, ctx, f"b{i}") for i in range(6)]
    views = await asyncio.gather(
        *(env.services.ports.create_bulk(keyed(ctx, c), [{"network_id": network_id}]) for c in claims)
    )
    for c, view in zip(claims, views):
        replay = await env.services.idempotency.claim(ctx.project_id, f"b{claims.index(c)}", "f1")
        assert isinstance(replay, Replay)
        assert [port["id"] for port in orjson.loads(replay.body)["ports"]] == [view[0]["id"]]
    assert await env.count(p, p.c.project_id == ctx.project_id) == 6
    assert env.services.ports.batcher is not None and env.services.ports.batcher.batched_requests >= 2


async def test_each_process_purges_expired_keys_periodically(make_env):
    env = await make_env(idempotency_key_retention=60, idempotency_purge_interval=0.05)
    await claim(env, member())
    env.clock.advance(61)
    stop = asyncio.Event()
    task = asyncio.create_task(env.services.idempotency.run(stop))
    for _ in range(100):
        if not await env.count(k):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert await env.count(k) == 0


async def test_an_answer_kept_after_the_commit_is_replayed_and_never_overwrites_one(env):
    ctx = member()
    first = await claim(env, ctx)
    await env.services.idempotency.keep_answer(first, 201, '{"x": 1}')
    await env.services.idempotency.keep_answer(first, 201, '{"x": 2}')  # answered: the first answer stays
    assert await env.services.idempotency.claim(ctx.project_id, "k1", "f1") == Replay(201, '{"x": 1}')
