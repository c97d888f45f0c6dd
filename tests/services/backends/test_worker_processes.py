"""``quark worker`` processes over one database (every backend): a worker
killed with SIGKILL in the middle of its calls leaves its jobs to another,
which finishes every one after the lease, and no call is done twice. The
fault driver records each call's start and success in one file shared by the
processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import select

from quark.db.jobs_model import jobs
from tests.servers import QUARK
from tests.services.conftest import ADMIN


def start_worker(url: str, record: Path, lease: float, **fault) -> subprocess.Popen:
    options = {"fault": {"record_path": str(record), **fault}}
    env = {
        **os.environ,
        "QUARK_BACKEND_DRIVER_OPTIONS": json.dumps(options),
        "QUARK_WORKER_LEASE": str(lease),
        "QUARK_WORKER_CALL_TIMEOUT": str(lease - 0.5),
        "QUARK_LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [QUARK, "worker", "--database-url", url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def lines(record: Path) -> list[dict]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line]


async def test_a_killed_workers_jobs_are_finished_by_another_once(make_env, tmp_path):
    env = await make_env()
    net = await env.network(network_plugin="fault")
    await env.subnet(net["id"], "10.0.0.0/24")
    await env.services.ports.create_bulk(ADMIN, [{"network_id": net["id"]} for _ in range(6)])
    record = tmp_path / "calls.jsonl"
    first = start_worker(env.url, record, lease=3.0, hang_rate=1.0)  # every call hangs: killed mid-call
    second = None
    try:
        deadline = time.monotonic() + 30
        while not any(line["phase"] == "start" for line in lines(record)):
            assert time.monotonic() < deadline and first.poll() is None, "the first worker never called"
            await asyncio.sleep(0.1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        started_by_first = {line["job"] for line in lines(record) if line["pid"] == first.pid}
        second = start_worker(env.url, record, lease=3.0)
        while True:
            rows = await env.read(select(jobs).where(jobs.c.operation != "bulk"))
            if rows and all(r.status == "succeeded" for r in rows):
                break
            assert time.monotonic() < deadline + 30, [(r.status, r.last_error) for r in rows]
            await asyncio.sleep(0.2)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    done = [line["job"] for line in lines(record) if line["phase"] == "done"]
    assert sorted(done) == sorted(r.id for r in rows)  # every job once, none twice
    assert started_by_first and all(line["pid"] == second.pid for line in lines(record) if line["phase"] == "done")
    retaken = [r for r in rows if r.id in started_by_first]
    assert retaken and all(r.attempts == 2 for r in retaken)


async def test_worker_once_runs_the_due_jobs_and_exits(make_env, tmp_path):
    env = await make_env()
    net = await env.network(network_plugin="fault")
    await env.subnet(net["id"], "10.0.0.0/24")
    record = tmp_path / "calls.jsonl"
    options = json.dumps({"fault": {"record_path": str(record)}})
    done = await asyncio.to_thread(
        subprocess.run,
        [QUARK, "worker", "--once", "--database-url", env.url],
        env={**os.environ, "QUARK_BACKEND_DRIVER_OPTIONS": options, "QUARK_LOG_LEVEL": "warning"},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    rows = await env.read(select(jobs).order_by(jobs.c.seq))
    # the network's create, the subnet's, and the network's update (its revision moved with the subnet)
    assert [(r.resource_type, r.operation, r.status) for r in rows] == [
        ("network", "create", "succeeded"),
        ("subnet", "create", "succeeded"),
        ("network", "update", "succeeded"),
    ]
    # two resources: their jobs may run side by side, each job called once
    assert sorted((line["kind"], line["phase"]) for line in lines(record)) == [
        ("network", "done"),
        ("network", "done"),
        ("network", "start"),
        ("network", "start"),
        ("subnet", "done"),
        ("subnet", "start"),
    ]
