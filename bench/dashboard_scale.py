"""The dashboard's pages at a million addresses (docs/dashboard.md).

One database (PostgreSQL by default) gets an IPv4 /12 subnet holding
``--fill`` allocations (1,000,000 by default; one in a hundred released and
still quarantined), a /16 with 65,000, ``--subnets`` small /24 subnets (the
overview's pages), and as many MACs handed out from the default range —
bulk-written as the allocator would have left them (bench/alloc_latency.py's
fill). Then a real `quark serve` answers, as the admin, each page
``--samples`` times: the overview (25 subnets: counters and the quarantine
counts; the MAC range's count of a million rows), the /12's top grid (too
large to count: pools only), a /20 of it (16 cells counted), a /24 of it
(256 addresses), the /16's top grid (65,000 rows grouped into 256 cells),
and a search by IP. The last lines are the medians and p95s in ms.

    .venv/bin/python bench/dashboard_scale.py
    .venv/bin/python bench/dashboard_scale.py --backend mariadb --fill 100000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from alloc_latency import best_states, make_subnet, prefill, prefill_macs

from quark.api.app import prepare_database
from quark.config import Settings
from quark.db import migrate
from quark.db.engine import Database
from quark.services.registry import build_services


async def fill(url: str, args) -> dict[str, str]:
    if args.backend == "sqlite":
        await asyncio.to_thread(migrate.upgrade, url)
    settings = Settings(database_url=url)
    db = Database(url, pool_size=4, max_overflow=4)
    services = build_services(db, settings)
    await prepare_database(db, settings)
    big = await make_subnet(services, "big", 4, "10.16.0.0/12")
    mid = await make_subnet(services, "mid", 4, "10.64.0.0/16")
    started = time.perf_counter()
    await prefill(db, url, big, best_states(args.fill), settings.ipam_reuse_after, analyze=False)
    await prefill(db, url, mid, best_states(65_000), settings.ipam_reuse_after, analyze=False)
    await prefill_macs(db, url, args.fill, settings.ipam_reuse_after)
    for i in range(args.subnets):
        await make_subnet(services, f"small-{i}", 4, f"10.200.{i}.0/24")
    print(f"filled in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    await db.dispose()
    harness.analyze(url)
    return {"big": big.id, "mid": mid.id}


def timed(client: httpx.Client, path: str, samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "mariadb", "sqlite"])
    parser.add_argument("--fill", type=int, default=1_000_000)
    parser.add_argument("--subnets", type=int, default=30)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    with harness.fresh_database(args.backend) as url:
        ids = asyncio.run(fill(url, args))
        pages = {
            "overview (25 subnets, MAC ranges)": "/dashboard",
            "heat map /12 (256 x /20, pools only)": f"/dashboard/subnets/{ids['big']}",
            "heat map /20 (16 x /24, counted)": f"/dashboard/subnets/{ids['big']}?prefix=10.16.0.0/20",
            "heat map /24 (256 addresses)": f"/dashboard/subnets/{ids['big']}?prefix=10.16.3.0/24",
            "heat map /16 (256 x /24, 65,000 rows)": f"/dashboard/subnets/{ids['mid']}",
            "search by IP": "/dashboard/search?q=10.16.3.7",
        }
        with harness.running_server(url, workers=1) as server, httpx.Client(base_url=server, timeout=60) as client:
            lines = []
            for name, path in pages.items():
                timed(client, path, 2)  # warm-up
                values = timed(client, path, args.samples)
                lines.append(f"{name:40s} {harness.summary(values)}")
    print(f"dashboard at {args.fill:,} allocations and MACs, {args.backend}, {harness.machine()}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
