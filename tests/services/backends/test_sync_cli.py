"""``quark backend sync`` as a process over every database: exit 1 and the drift
(missing, extra, stale) while there is some; ``--repair`` repairs it, exit 0;
``--json`` is the same report; an unknown ``--driver`` exits 2."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

from tests.servers import QUARK
from tests.services.backends.test_sync import GHOST, behind_quarks_back, held, options, realised


async def backend_sync(url: str, path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QUARK_BACKEND_DRIVER_OPTIONS": json.dumps(options(path)), "QUARK_LOG_LEVEL": "warning"}
    return await asyncio.to_thread(
        subprocess.run,
        [QUARK, "backend", "sync", "--database-url", url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_backend_sync_reports_drift_and_repairs_it(make_env, tmp_path):
    path = tmp_path / "backend.db"
    env = await make_env(backend_driver_options=options(path))
    net, ports, worker = await realised(env, n_ports=2)
    await worker.close()
    clean = await backend_sync(env.url, path)
    assert clean.returncode == 0, clean.stderr
    assert "driver statefile: in sync" in clean.stdout and "port: 2 checked, 0 missing" in clean.stdout

    behind_quarks_back(path, "DELETE FROM objects WHERE id = ?", ports[0]["id"])
    behind_quarks_back(path, "DELETE FROM objects WHERE id = ?", net["id"])
    behind_quarks_back(path, "INSERT INTO objects VALUES ('subnet', ?, 0, '{}')", GHOST)
    found = await backend_sync(env.url, path, "--json")
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    kinds = report["drivers"]["statefile"]["kinds"]
    assert report["drift"] and kinds["port"]["missing"] == [ports[0]["id"]]
    assert kinds["network"]["missing"] == [net["id"]] and kinds["subnet"]["extra"] == [GHOST]
    assert ("port", ports[0]["id"]) not in held(path)

    text = await backend_sync(env.url, path, "--driver", "statefile")
    assert text.returncode == 1 and f"missing {ports[0]['id']}" in text.stdout
    assert "port: 2 checked, 1 missing, 0 extra, 0 stale" in text.stdout

    repaired = await backend_sync(env.url, path, "--repair", "--json")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    entry = json.loads(repaired.stdout)["drivers"]["statefile"]
    assert entry["kinds"]["port"]["repaired"] == 1 and not entry["remaining"]["drift"]
    now = held(path)
    assert ("port", ports[0]["id"]) in now and ("network", net["id"]) in now and ("subnet", GHOST) not in now
    assert (await backend_sync(env.url, path)).returncode == 0


async def test_an_unknown_driver_exits_2(make_env, tmp_path):
    env = await make_env()
    done = await backend_sync(env.url, tmp_path / "b.db", "--driver", "no-such-driver")
    assert done.returncode == 2 and "no such driver" in done.stderr
