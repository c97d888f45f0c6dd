"""``quark backend sync`` over many ports: its time and peak memory as ports grow.

Fills a fresh database (default SQLite) with N ports on a ``statefile``
network through the services (bulk creates of 500), puts them in the backend
file with ``quark backend sync --repair``, then times ``quark backend sync``
(no drift) and reads its peak RSS; run with several N to see whether memory
follows the page (``backend_sync_page``) or the ports. The last lines are the figures.

    .venv/bin/python bench/sync_scale.py --ports 5000 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness


async def fill(url: str, ports: int) -> None:
    from quark.api.app import prepare_database
    from quark.config import Settings
    from quark.context import Context
    from quark.db.engine import Database
    from quark.services.registry import build_services

    db = Database(url)
    settings = Settings(quota_port=-1)
    await prepare_database(db, settings)
    services = build_services(db, settings)
    admin = Context.admin()
    net = await services.networks.create(admin, {"name": "scale", "network_plugin": "statefile"})
    attrs = {"network_id": net["id"], "ip_version": 4, "cidr": "10.0.0.0/8"}
    await services.subnets.create(admin, attrs)
    for start in range(0, ports, 500):
        await services.ports.create_bulk(admin, [{"network_id": net["id"]}] * min(500, ports - start))
    await db.dispose()


def sync(url: str, path: Path, *args: str) -> tuple[float, float, int]:
    """Seconds, peak RSS (MiB) of the child, exit status."""
    env = {**os.environ, "QUARK_BACKEND_DRIVER_OPTIONS": json.dumps({"statefile": {"path": str(path)}})}
    start = time.perf_counter()
    argv = [harness.QUARK, "backend", "sync", "--database-url", url, *args]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=["postgresql", "mariadb", "sqlite"])
    parser.add_argument("--ports", type=int, nargs="+", default=[5000, 20000])
    args = parser.parse_args()
    lines = []
    for count in args.ports:
        with harness.fresh_database(args.backend) as url:
            if url.startswith("sqlite"):
                subprocess.run([harness.QUARK, "db", "upgrade", "--database-url", url], check=True, capture_output=True)
            asyncio.run(fill(url, count))
            path = Path(tempfile.mkdtemp(prefix="quark-sync-scale-")) / "backend.db"
            repair = sync(url, path, "--repair")
            check = sync(url, path)
            lines.append(
                f"ports={count} repair: {repair[0]:.1f}s exit={repair[2]}; "
                f"sync: {check[0]:.1f}s exit={check[2]} ({count / check[0]:.0f} ports/s); "
                f"peak RSS: repair {repair[1]:.0f} MiB, sync {check[1]:.0f} MiB"
            )
    print(f"# {harness.machine()}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
