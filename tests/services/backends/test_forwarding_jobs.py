"""Port forwardings reach a backend driver through jobs of their own (``port_forwarding``),
written in the change's transaction, on every database, with the ``statefile`` driver as
the deployment's: the driver is given the backend view (the floating IP's address and
router, the raw port ranges, the revision); the cascade of the internal port's delete
writes a delete job; sync reports a forwarding missing from the backend."""

from __future__ import annotations

from sqlalchemy import select

from quark.db.jobs_model import jobs
from quark.services.backends.sync import Syncer
from quark.services.backends.worker import Worker
from tests.services.backends.test_outbox import drain
from tests.services.backends.test_sync import behind_quarks_back, held, options
from tests.services.l3.test_port_forwardings import make_world


async def test_forwarding_jobs_carry_the_backend_view_and_follow_every_change(make_env, tmp_path):
    path = tmp_path / "backend.db"
    env = await make_env(backend_driver="statefile", backend_driver_options=options(path))
    ctx, _, _, port, router, fip = await make_world(env)
    service, worker = env.services.port_forwardings, Worker(env.services)
    address = port["fixed_ips"][0]["ip_address"]
    attrs = {"protocol": "tcp", "internal_port_id": port["id"], "internal_ip_address": address,
             "external_port_range": "2000:2001", "internal_port_range": "3000:3001"}  # fmt: skip
    pf = await service.create_in_fip(ctx, fip["id"], attrs)
    assert ctx.jobs.get(pf["id"])  # the request is told its job
    await drain(worker)
    view = await env.services.by_collection("port_forwardings").get(ctx, pf["id"])
    assert view["floating_ip_address"] == fip["floating_ip_address"] and view["router_id"] == router["id"]
    assert (view["external_port_start"], view["external_port_end"], view["internal_port_start"]) == (2000, 2001, 3000)
    assert view["project_id"] == ctx.project_id and view["revision_number"] == 0
    assert held(path)[("port_forwarding", pf["id"])] == 0

    await service.update_in_fip(ctx, fip["id"], pf["id"], {"description": "ssh"})
    await drain(worker)
    assert held(path)[("port_forwarding", pf["id"])] == 1

    behind_quarks_back(path, "DELETE FROM objects WHERE id = ?", pf["id"])
    report = await Syncer(env.services).sync(worker.driver("statefile"), repair=False)
    assert report.kinds["port_forwarding"].missing == [pf["id"]]
    await Syncer(env.services).sync(worker.driver("statefile"), repair=True)
    assert held(path)[("port_forwarding", pf["id"])] == 1

    await env.services.ports.delete(ctx, port["id"])  # the forwarding goes with its port: a delete job
    await drain(worker)
    assert ("port_forwarding", pf["id"]) not in held(path)
    operations = await env.db.run_write(
        lambda conn: conn.scalars(select(jobs.c.operation).where(jobs.c.resource_id == pf["id"]))
    )
    assert sorted(operations) == ["create", "delete", "update"]  # one job each (the update not coalesced: run)
    await worker.close()
