"""Backend sync over the ``statefile`` driver (a backend in a SQLite file outside
Quark's database), on every database: drift made behind Quark's back is
reported per type (missing, extra, stale) and repaired; resources are read a
page at a time with ranges that cover each id once; what has a job in flight
is pending, not drift; the periodic sync's job is a lease one worker wins."""

from __future__ import annotations

import asyncio
from contextlib import closing
from datetime import timedelta

from sqlalchemy import insert, select

from quark.db.jobs_model import jobs
from quark.drivers import statefile
from quark.drivers.base import SyncBatch
from quark.services.backends import periodic
from quark.services.backends.outbox import job_row
from quark.services.backends.sync import Syncer, drivers_in_use
from quark.services.backends.worker import Worker
from tests.services.backends.test_outbox import drain
from tests.services.conftest import ADMIN

GHOST = "ffffffff-0000-4000-8000-000000000000"


def options(path) -> dict:
    return {"statefile": {"path": str(path)}}


def held(path) -> dict[tuple[str, str], int]:
    with closing(statefile.connect(str(path))) as conn:
        return {(k, i): r for k, i, r in conn.execute("SELECT kind, id, revision FROM objects")}


def behind_quarks_back(path, sql: str, *args) -> None:
    conn = statefile.connect(str(path))
    try:
        conn.execute(sql, args)
    finally:
        conn.close()


async def realised(env, n_ports: int = 3) -> tuple[dict, list[dict], Worker]:
    """A statefile network with a subnet and ports, every job run: the backend holds them."""
    net = await env.network(network_plugin="statefile")
    await env.subnet(net["id"], "10.0.0.0/24")
    ports = [await env.port(net["id"]) for _ in range(n_ports)]
    worker = Worker(env.services)
    await drain(worker)
    return net, ports, worker


async def test_drift_from_outside_is_reported_then_repaired(make_env, tmp_path):
    path = tmp_path / "backend.db"
    env = await make_env(backend_driver_options=options(path))
    net, ports, worker = await realised(env)
    assert {("port", p["id"]) for p in ports} <= held(path).keys()
    behind_quarks_back(path, "DELETE FROM objects WHERE id = ?", ports[0]["id"])
    behind_quarks_back(path, "UPDATE objects SET revision = -1 WHERE id = ?", ports[1]["id"])
    behind_quarks_back(path, "INSERT INTO objects VALUES ('port', ?, 3, '{}')", GHOST)
    before = held(path)
    driver = worker.driver("statefile")

    report = await Syncer(env.services).sync(driver, repair=False)
    assert report.drift
    port = report.kinds["port"]
    assert (port.missing, port.stale, port.extra, port.repaired) == ([ports[0]["id"]], [ports[1]["id"]], [GHOST], 0)
    assert port.checked == 3 and not report.kinds["network"].drift and not report.kinds["subnet"].drift
    assert held(path) == before  # a report changes nothing
    assert "port: 1 missing, 1 extra, 1 stale" in report.summary()

    repaired = await Syncer(env.services).sync(driver, repair=True)
    assert repaired.repaired == 3
    after = held(path)
    assert after[("port", ports[0]["id"])] == ports[0]["revision_number"]
    assert after[("port", ports[1]["id"])] == ports[1]["revision_number"]
    assert ("port", GHOST) not in after
    assert not (await Syncer(env.services).sync(driver, repair=False)).drift
    await worker.close()


async def test_pages_cover_every_id_once_and_no_page_sees_anothers_rows_as_extra(make_env, tmp_path):
    path = tmp_path / "backend.db"
    env = await make_env(backend_driver_options=options(path))
    _, ports, worker = await realised(env, n_ports=7)
    behind_quarks_back(path, "INSERT INTO objects VALUES ('port', ?, 3, '{}')", GHOST)
    driver = worker.driver("statefile")
    batches: list[SyncBatch] = []
    real_sync = driver.sync

    async def spy(resources, repair=False):
        batches.append(resources)
        return await real_sync(resources, repair)

    driver.sync = spy  # type: ignore[method-assign]
    report = await Syncer(env.services, page_size=2).sync(driver, repair=False)
    port_batches = [b for b in batches if b.kind == "port"]
    assert len(port_batches) == 4 and all(len(b) <= 2 for b in port_batches)
    seen = [c.resource_id for b in port_batches for c in b]
    assert sorted(seen) == sorted(p["id"] for p in ports)  # each once
    assert port_batches[0].after is None and port_batches[-1].until is None
    assert all(a.until == b.after for a, b in zip(port_batches, port_batches[1:], strict=False))  # contiguous
    assert all(c.body["revision_number"] == c.revision and c.operation == "create" for b in batches for c in b)
    assert report.kinds["port"].extra == [GHOST] and not report.kinds["port"].missing  # once, no false extras
    await worker.close()


async def test_a_resource_with_a_job_in_flight_is_pending_not_drift(make_env, tmp_path):
    path = tmp_path / "backend.db"
    env = await make_env(backend_driver_options=options(path))
    net, _, worker = await realised(env, n_ports=1)
    fresh = await env.port(net["id"])  # its create job is queued: the backend has not got it yet
    report = await Syncer(env.services).sync(worker.driver("statefile"), repair=False)
    assert report.kinds["port"].pending == [fresh["id"]] and not report.drift
    await worker.close()


async def test_only_drivers_needing_backend_work_are_synced_and_groups_only_by_the_default(make_env, tmp_path):
    path = tmp_path / "backend.db"
    env = await make_env(backend_driver_options=options(path))
    assert await drivers_in_use(env.db, "agent") == []
    await env.network()  # agent
    await env.network(network_plugin="statefile")
    await env.network(network_plugin="fault")  # needs backend work, but has no sync of its own
    assert await drivers_in_use(env.db, "agent") == ["statefile"]
    assert await drivers_in_use(env.db, "unmanaged") == ["statefile"]
    syncer = Syncer(env.services)
    assert syncer.kinds("statefile") == ("network", "subnet", "port")

    default = await make_env(backend_driver="statefile", backend_driver_options=options(tmp_path / "b2.db"))
    await default.network()
    group = await default.services.security_groups.create(ADMIN, {"name": "web"})
    worker = Worker(default.services)
    await drain(worker)
    behind_quarks_back(tmp_path / "b2.db", "DELETE FROM objects WHERE id = ?", group["id"])
    report = await Syncer(default.services).sync(worker.driver("statefile"), repair=False)
    assert report.kinds["security_group"].missing == [group["id"]]
    assert set(report.kinds) == {
        "network",
        "subnet",
        "port",
        "security_group",
        "router",
        "floatingip",
        "port_forwarding",
    }
    await worker.close()


async def test_the_database_is_not_held_while_the_driver_syncs(make_env, tmp_path):
    """A driver's sync may take long (a large backend): API writes go on meanwhile."""
    env = await make_env(backend_driver_options=options(tmp_path / "backend.db"))
    net, _, worker = await realised(env, n_ports=2)
    driver = worker.driver("statefile")
    real_sync = driver.sync
    written: list[str] = []

    async def slow(resources, repair=False):
        if len(written) < 3:  # writes while the sync is in the driver
            port = await asyncio.wait_for(env.port(net["id"]), 10)
            await asyncio.wait_for(env.services.networks.update(ADMIN, net["id"], {"name": "busy"}), 10)
            written.append(port["id"])
        return await real_sync(resources, repair)

    driver.sync = slow  # type: ignore[method-assign]
    await Syncer(env.services, page_size=1).sync(driver, repair=False)
    assert len(written) == 3
    await worker.close()


async def test_the_periodic_sync_runs_once_per_slot_and_repairs(make_env, tmp_path):
    path = tmp_path / "backend.db"
    env = await make_env(backend_driver_options=options(path), backend_sync_interval=60)
    _, ports, first = await realised(env, n_ports=2)
    second = Worker(env.services)
    behind_quarks_back(path, "DELETE FROM objects WHERE id = ?", ports[0]["id"])
    slot = periodic.slot_of(first.clock(), 60)
    await first.periodic.run_slot(slot)
    await second.periodic.run_slot(slot)  # the same slot: the first worker has it
    rows = await env.read(select(jobs).where(jobs.c.operation == "sync"))
    assert len(rows) == 1
    job = rows[0]
    assert (job.status, job.driver, job.resource_type, job.worker) == ("succeeded", "statefile", "backend", first.token)
    assert job.last_error == "drift port: 1 missing; repaired 1"
    assert ("port", ports[0]["id"]) in held(path)
    listed = await env.services.jobs.get(ADMIN, job.id)
    assert (listed["operation"], listed["progress"], listed["project_id"]) == ("sync", 100, "")

    await second.periodic.run_slot(slot + 1)  # the next slot: whichever worker comes first, here the second
    rows = await env.read(select(jobs).where(jobs.c.operation == "sync").order_by(jobs.c.seq))
    assert [(r.status, r.last_error, r.worker) for r in rows[1:]] == [("succeeded", "", second.token)]
    await first.close()
    await second.close()


async def test_a_running_sync_holds_the_lease_and_a_dead_ones_is_taken_over(make_env, tmp_path):
    env = await make_env(backend_driver_options=options(tmp_path / "backend.db"), worker_lease=60)
    await realised(env, n_ports=1)
    worker = Worker(env.services)
    now = worker.clock()
    other = job_row(
        now, project_id="", resource_type="backend", resource_id="", revision=0, operation="sync",
        driver="statefile", status="running", worker="elsewhere", lease_until=now + timedelta(seconds=30),
    )  # fmt: skip
    await env.db.run_write(lambda conn: conn.execute(insert(jobs).values(**other)))
    assert await worker.periodic.claim("statefile", 1) is None  # another worker syncs it now
    assert await worker.run_once() == 0  # and a sync job is never claimed as a resource's job

    later = Worker(env.services, clock=lambda: now + timedelta(seconds=31))
    assert await later.run_once() == 0  # not even once its lease expired
    assert await later.periodic.claim("statefile", 2) is not None
    dead = (await env.read(select(jobs).where(jobs.c.id == other["id"])))[0]
    assert (dead.status, dead.last_error) == ("failed", "the worker's lease expired")
    await worker.close()
    await later.close()


async def test_a_resource_created_during_the_sync_is_pending_and_kept(make_env, tmp_path):
    """Created (and realised by its job) after its page was read: the driver sees it as
    extra and the repair removes it; the sync sees it exists and writes it back."""
    path = tmp_path / "backend.db"
    env = await make_env(backend_driver_options=options(path))
    net, _, worker = await realised(env, n_ports=1)
    driver = worker.driver("statefile")
    real_sync = driver.sync
    born: list[dict] = []

    async def racing(resources, repair=False):
        if resources.kind == "port" and not born:
            born.append(await env.port(net["id"]))
            await drain(worker)  # its job ran: the backend has it, the page read before does not
        return await real_sync(resources, repair)

    driver.sync = racing  # type: ignore[method-assign]
    report = await Syncer(env.services).sync(driver, repair=True)
    port = report.kinds["port"]
    assert port.pending == [born[0]["id"]] and not port.extra and not report.drift
    assert held(path)[("port", born[0]["id"])] == born[0]["revision_number"]
    await worker.close()
