"""The periodic backend sync of running ``quark worker`` processes, against a real
server on every database: a port deleted from the backend behind Quark's back
is back within the sync interval; each sync is a job in ``/v2.0/jobs``
(operation ``sync``, admins only) with the drift it repaired; two workers never
run one slot's sync twice."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from datetime import datetime

from quark.services.backends import periodic
from tests.api.test_wire import make_subnet
from tests.servers import QUARK
from tests.services.backends.test_sync import behind_quarks_back, held, options

INTERVAL = 2.0


def start_worker(database_url: str, path) -> subprocess.Popen:
    env = {
        **os.environ,
        "QUARK_BACKEND_DRIVER_OPTIONS": json.dumps(options(path)),
        "QUARK_BACKEND_SYNC_INTERVAL": str(INTERVAL),
        "QUARK_LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [QUARK, "worker", "--database-url", database_url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_port_deleted_from_the_backend_is_back_within_the_interval(admin, tenant, api_server, tmp_path):
    path = tmp_path / "backend.db"
    body = {"network": {"name": f"sync-{uuid.uuid4().hex[:8]}", "network_plugin": "statefile"}}
    network = admin.post("/v2.0/networks", json=body).json()["network"]
    make_subnet(admin, network["id"], "10.78.0.0/24")
    ports = [admin.post("/v2.0/ports", json={"port": {"network_id": network["id"]}}).json()["port"] for _ in range(3)]
    workers = [start_worker(api_server.database_url, path) for _ in range(2)]
    try:
        wanted = {("port", p["id"]) for p in ports}
        wait_for(lambda: path.exists() and wanted <= held(path).keys(), 60, "the jobs never reached the backend")
        wait_for(lambda: sync_jobs(admin), 3 * INTERVAL + 30, "no sync job")  # the workers' first syncs ran
        lost = ports[1]["id"]
        behind_quarks_back(path, "DELETE FROM objects WHERE id = ?", lost)
        gone_at = time.monotonic()
        wait_for(lambda: ("port", lost) in held(path), INTERVAL + 10, "the port never came back")
        assert time.monotonic() - gone_at < INTERVAL + 3  # by the next slot's sync (plus a busy machine's slack)
        # the slot's sync that found the port missing and put it back (it may have met other drift too:
        # the network's update job of the subnet create can still be in flight on a loaded machine)
        repairing = wait_for(
            lambda: [j for j in sync_jobs(admin) if "port: 1 missing" in (j["last_error"] or "")], 20, "job"
        )
        assert "repaired" in repairing[0]["last_error"], repairing[0]
    finally:
        for proc in workers:
            proc.terminate()
            proc.wait(15)
    job = repairing[0]
    assert (job["status"], job["resource_type"], job["progress"], job["resource_id"]) == (
        "succeeded",
        "backend",
        100,
        None,
    )
    assert admin.get(f"/v2.0/jobs/{job['id']}").json()["job"]["operation"] == "sync"
    assert tenant.get("/v2.0/jobs", params={"operation": "sync"}).json()["jobs"] == []  # admins only
    assert tenant.get(f"/v2.0/jobs/{job['id']}").status_code == 404
    for each in sync_jobs(admin):  # one job per slot, whichever worker won it: its id is the slot's
        started = datetime.fromisoformat(each["started_at"].rstrip("Z")).replace(tzinfo=None)
        slot = periodic.slot_of(started, INTERVAL)
        # claimed in its slot; on a busy machine it may start just after the slot ended
        assert each["id"] in {periodic.job_id("statefile", s) for s in (slot, slot - 1)}, (each, slot)


def sync_jobs(admin) -> list[dict]:
    params = {"operation": "sync", "driver": "statefile"}
    return admin.get("/v2.0/jobs", params=params).json()["jobs"]
