"""What RBAC policies cost a list: ``GET /v2.0/networks`` as a member with
10,000 networks in the database, without policies and with 1,000 of them.

A real ``quark serve`` (one worker) on a fresh PostgreSQL database. The
networks are written by SQL (100 projects of 100 networks; the member owns
100). Then, on the same engine and server:

1. no policies: the member lists its 100 networks;
2. 1,000 policies on other projects' networks (20 wildcard ``access_as_shared``
   — their ``shared`` column set, as the API keeps it —, 50 targeted at the
   member, 930 at projects that own nothing): the member lists 170 networks;
   a member no policy targets lists 120 (its 100 and the 20 wildcard ones),
   and ``shared=true`` as the first member (its 70 shared ones);
3. the same member, ``fields=id``: almost no rendering; and the visibility
   statement alone (the ids the member may see), timed through the driver
   without HTTP, with and without the policies.

Visibility is one WHERE clause with an EXISTS on the policies' unique
index, so the cost should follow the rows answered, not the policies stored.

    .venv/bin/python bench/rbac_lists.py --rounds 100
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import analyze, fresh_database, machine, running_server, summary

NETWORKS = """
INSERT INTO networks (id, project_id, name, admin_state_up, status, shared, router_external, mtu,
    port_security_enabled, network_type, dns_domain, availability_zone_hints, ipam_strategy,
    description, created_at, updated_at, revision_number)
SELECT md5('net' || g)::uuid::text, md5('p' || (g % 100)), 'n' || g, true, 'ACTIVE', false, false, 1450,
    true, 'local', '', '[]', 'NEUTRON', '', now(), now(), 0
FROM generate_series(0, 9999) AS g;
"""
# Policy g names network g*10+1 (never the members' own: owners g*10+1 mod 100).
POLICIES = """
INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_project)
SELECT md5('rbac' || g)::uuid::text, md5('p' || ((g * 10 + 1) % 100)), 'network',
    md5('net' || (g * 10 + 1))::uuid::text, 'access_as_shared',
    CASE WHEN g % 50 = 0 THEN '*' WHEN g % 20 = 1 THEN md5('p0') ELSE md5('q' || (g % 100)) END
FROM generate_series(0, 999) AS g;
UPDATE networks SET shared = true WHERE id IN
    (SELECT object_id FROM rbac_policies WHERE target_project = '*');
"""


def psql(url: str, sql: str) -> None:
    name = url.rsplit("/", 1)[1].split("?")[0]
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-d", name, "-c", sql], check=True)


def member(base: str, project: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=120, headers={"X-Project-Id": project, "X-Roles": "member"})


def timed(client: httpx.Client, rounds: int, params: dict) -> tuple[list[float], int]:
    for _ in range(5):  # warm-up: statement caches, plans
        client.get("/v2.0/networks", params=params)
    times, count = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get("/v2.0/networks", params=params)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        count = len(response.json()["networks"])
    return times, count


def sql_times(url: str, project: str, rounds: int) -> tuple[list[float], int]:
    """The visibility statement alone (ids of what the member may see), through the
    server's driver: the database's share of a list."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    from quark.db import models
    from quark.services.core import network_rbac

    n = models.networks
    stmt = select(n.c.id).where(network_rbac.visible(project)).order_by(n.c.id)

    async def run() -> tuple[list[float], int]:
        engine = create_async_engine(url)
        times, count = [], 0
        async with engine.connect() as conn:
            for i in range(rounds + 5):
                started = time.perf_counter()
                count = len((await conn.execute(stmt)).all())
                if i >= 5:
                    times.append((time.perf_counter() - started) * 1000)
        await engine.dispose()
        return times, count

    return asyncio.run(run())


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    print(machine())
    lines = []
    with fresh_database("postgresql") as url, running_server(url, workers=1) as base:
        psql(url, NETWORKS)
        analyze(url)
        first, untargeted = member(base, md5("p0")), member(base, md5("p3"))
        with first, untargeted:
            results = {"no policies": timed(first, args.rounds, {})}
            results["no policies, the SQL alone"] = sql_times(url, md5("p0"), args.rounds)
            psql(url, POLICIES)
            analyze(url)
            for label, client, params in (
                ("1,000 policies", first, {}),
                ("1,000 policies, a member none targets", untargeted, {}),
                ("1,000 policies, shared=true", first, {"shared": "true"}),
                ("1,000 policies, fields=id", first, {"fields": "id"}),
            ):
                results[label] = timed(client, args.rounds, params)
            results["1,000 policies, the SQL alone"] = sql_times(url, md5("p0"), args.rounds)
            # The no-policy figure again, after: the same server, warm (fields=id too).
            psql(url, "DELETE FROM rbac_policies; UPDATE networks SET shared = false;")
            analyze(url)
            for label, params in (("no policies (again)", {}), ("no policies, fields=id", {"fields": "id"})):
                results[label] = timed(first, args.rounds, params)
    for label, (times, count) in results.items():
        per_row = sorted(times)[len(times) // 2] / max(count, 1) * 1000
        lines.append(f"  {label:<40} {count:>4} networks: {summary(times)} ({per_row:.0f} µs per network at p50)")
    print(f"GET /v2.0/networks as a member, 10,000 networks, PostgreSQL, {args.rounds} rounds each")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
