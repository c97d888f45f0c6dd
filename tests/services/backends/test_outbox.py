"""The outbox: jobs written in the transaction of each change, for drivers that
need backend work; network_plugin checked at create; the worker's order,
coalescing, retries, permanent failures and lease takeover, over a fault-
injecting driver, on every database."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from quark import errors
from quark.db.jobs_model import jobs
from quark.services.backends import claims
from quark.services.backends.worker import Worker, precise_now
from tests.services.conftest import ADMIN

FAULT = {"fault": {"failure_rate": 0.3, "latency": 0.005, "seed": 7}}


async def all_jobs(env) -> list:
    return await env.read(select(jobs).order_by(jobs.c.seq))


async def drain(worker: Worker, rounds: int = 400) -> None:
    """Run rounds until no job is left queued or running (retry delays are short)."""
    for _ in range(rounds):
        if not await worker.run_once():
            pending = await worker.services.jobs.db.run_write(
                lambda conn: conn.scalar(select(jobs.c.id).where(jobs.c.status.in_(("queued", "running"))).limit(1))
            )
            if pending is None:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("jobs left after the rounds")


async def test_agent_networks_write_no_jobs(make_env):
    env = await make_env()
    net, _ = await env.network_with_subnet()
    assert net["network_plugin"] == "agent"
    await env.port(net["id"])
    assert await all_jobs(env) == []


async def test_unknown_driver_is_refused_and_nothing_written(make_env):
    env = await make_env()
    before = await env.snapshot()
    await env.refused(errors.InvalidInput, env.network(network_plugin="no-such-driver"))
    assert await env.snapshot() == before


async def test_jobs_are_written_with_each_change(make_env):
    env = await make_env()
    net = await env.network(network_plugin="fault")
    await env.subnet(net["id"], "10.0.0.0/24")
    ctx = ADMIN.__class__.admin()
    ports = await env.services.ports.create_bulk(ctx, [{"network_id": net["id"]}, {"network_id": net["id"]}])
    await env.services.ports.update(ADMIN, ports[0]["id"], {"name": "x"})
    await env.services.ports.delete(ADMIN, ports[1]["id"])
    rows = await all_jobs(env)
    seen = [(r.resource_type, r.operation, r.revision) for r in rows if r.operation != "bulk"]
    assert seen[:2] == [("network", "create", 0), ("subnet", "create", 0)]
    assert ("port", "update", 1) in seen and ("port", "delete", 0) in seen
    bulk = [r for r in rows if r.operation == "bulk"]
    assert len(bulk) == 1 and bulk[0].total == 2
    assert ctx.jobs["*"] == bulk[0].id and {ports[0]["id"], ports[1]["id"]} <= set(ctx.jobs)
    assert all(r.driver == "fault" and r.status == "queued" for r in rows if r.operation != "bulk")


async def test_many_changes_with_faults_all_succeed_once_in_order(make_env):
    env = await make_env(backend_driver_options=FAULT, worker_retry_delay=0.01, worker_max_attempts=50)
    net = await env.network(network_plugin="fault")
    await env.subnet(net["id"], "10.0.0.0/24")
    ports = await env.services.ports.create_bulk(ADMIN, [{"network_id": net["id"]} for _ in range(12)])
    for port in ports[:6]:
        await env.services.ports.update(ADMIN, port["id"], {"name": "a"})
        await env.services.ports.update(ADMIN, port["id"], {"name": "b"})
    for port in ports[6:9]:
        await env.services.ports.delete(ADMIN, port["id"])
    worker = Worker(env.services, seed=1)
    await drain(worker)
    rows = await all_jobs(env)
    assert {r.status for r in rows} == {"succeeded"}, [(r.operation, r.status, r.last_error) for r in rows]
    driver = worker.driver("fault")
    calls: dict[str, list] = defaultdict(list)
    for change in driver.calls:
        calls[change.resource_id].append((change.operation, change.revision))
    for port in ports[:6]:  # created once; the two updates coalesced into the newest revision
        assert calls[port["id"]] == [("create", 2), ("update", 2)] or calls[port["id"]] == [
            ("create", 0),
            ("update", 2),
        ]
    for port in ports[6:9]:  # the delete after the create, never before
        assert [op for op, _ in calls[port["id"]]] in (["create", "delete"], ["delete"])
    for port in ports[9:]:
        assert [op for op, _ in calls[port["id"]]] == ["create"]
    superseded = [r for r in rows if r.superseded_by]
    assert len(superseded) == 6
    bulk = [r for r in rows if r.operation == "bulk"][0]
    assert (bulk.done, bulk.failed, bulk.status) == (12, 0, "succeeded")
    assert any(r.attempts > 1 for r in rows), "the failure rate made some retries"


async def test_a_permanent_failure_fails_the_job_and_errors_the_port(make_env):
    env = await make_env(backend_driver_options={"fault": {"permanent_rate": 1.0}})
    net = await env.network(network_plugin="fault")
    port = await env.port(net["id"])
    await drain(Worker(env.services))
    job = [r for r in await all_jobs(env) if r.resource_id == port["id"]][0]
    assert job.status == "failed" and "injected permanent failure" in job.last_error
    assert (await env.services.ports.get(ADMIN, port["id"]))["status"] == "ERROR"
    assert (await env.services.networks.get(ADMIN, net["id"]))["status"] == "ERROR"


async def test_a_dead_workers_job_is_taken_over_after_its_lease(make_env):
    env = await make_env(worker_lease=5.0)
    net = await env.network(network_plugin="fault")
    now = precise_now()
    taken = await env.db.run_write(lambda conn: claims.claim(conn, now, 10, 5.0, "dead-worker"))
    assert [r.resource_id for r in taken] == [net["id"]]
    # Within the lease no other worker takes it; after it, one does.
    assert await env.db.run_write(lambda conn: claims.claim(conn, now + timedelta(seconds=1), 10, 5.0, "b")) == []
    later = Worker(env.services, clock=lambda: precise_now() + timedelta(seconds=6))
    assert await later.run_once() == 1
    # The dead worker's late outcome is not recorded over the new owner's.
    dead = Worker(env.services)
    dead.token = "dead-worker"
    await dead.record(taken[0], "failed", "late")
    row = (await all_jobs(env))[0]
    assert (row.status, row.attempts, row.last_error) == ("succeeded", 2, "")


async def test_two_workers_never_run_one_job(make_env):
    env = await make_env(backend_driver_options={"fault": {"latency": 0.02}})
    net = await env.network(network_plugin="fault")
    await env.subnet(net["id"], "10.0.0.0/24")
    await env.services.ports.create_bulk(ADMIN, [{"network_id": net["id"]} for _ in range(20)])
    a, b = Worker(env.services), Worker(env.services)
    b.drivers["fault"] = a.driver("fault")  # one driver object: its calls are every call
    await asyncio.gather(drain(a), drain(b))
    job_ids = [c.job_id for c in a.driver("fault").calls]
    assert len(job_ids) == len(set(job_ids)) == 23  # network, subnet, the network's update, 20 ports


async def test_groups_rules_and_routers_follow_the_deployments_driver(make_env):
    env = await make_env(backend_driver="fault")
    group = await env.services.security_groups.create(ADMIN, {"name": "g"})
    rule = await env.services.security_group_rules.create(
        ADMIN, {"security_group_id": group["id"], "direction": "ingress", "protocol": "tcp", "ethertype": "IPv4"}
    )
    await env.services.security_group_rules.delete(ADMIN, rule["id"])
    router = await env.services.routers.create(ADMIN, {"name": "r"})
    await env.services.routers.update(ADMIN, router["id"], {"name": "r2"})
    await env.services.routers.delete(ADMIN, router["id"])
    rows = await all_jobs(env)
    of_group = [(r.operation, r.revision) for r in rows if r.resource_id == group["id"]]
    # a rule added or removed is an update of its group, at the group's new revision
    assert of_group == [("create", 0), ("update", 1), ("update", 2)]
    assert [(r.operation, r.revision) for r in rows if r.resource_id == router["id"]] == [
        ("create", 0),
        ("update", 1),
        ("delete", 1),
    ]
    assert {r.driver for r in rows} == {"fault"}
    default = [r for r in rows if r.resource_type == "security_group" and r.resource_id != group["id"]]
    assert [(r.operation, r.revision) for r in default] == [("create", 0)]  # the project's default group, made lazily
