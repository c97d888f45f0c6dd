"""What the API edge adds per request: Quark without and with rate limits (Redis store) and Idempotency-Key.

One `quark serve --workers 2` per configuration, each on its own fresh
PostgreSQL database, all started together; every request comes from one
member project (not exempt), so each goes through the edge being measured.
The limits are set far above what the run sends: nothing is refused, the
cost of the check is what differs. Per round and configuration, ``--clients``
keep-alive connections send:

1. ``GET /v2.0/networks/{id}`` (``--gets`` per client), then
2. single-port ``POST /v2.0/ports`` (``--ports`` per client),

each workload run on every configuration in turn, round after round. Each prints p50/p99 of every
workload; the last lines are the p99 each configuration adds to the first.
The rate-limit middleware's own time is measured inside the servers: the
``quark_rate_limit_check_duration_seconds`` histogram of each limited server
(every worker), scraped before and after the load, gives its p50/p99 per
request (interpolated within the histogram's buckets) and the share of
requests it served within 0.2 ms. "rate limits" is the default (local leases);
"rate limits (exact)" sets ``rate_limit_lease = 0`` (one EVALSHA per request).
The check is also timed alone, ``--clients`` concurrent tasks in this process.

    .venv/bin/python bench/edge_overhead.py
    .venv/bin/python bench/edge_overhead.py --only "baseline,rate limits,rate limits (exact)"
    .venv/bin/python bench/edge_overhead.py --rounds 5 --gets 500 --ports 100

To compare another edge feature, add a ``Config`` to ``configurations()``:
the server's environment and, if it needs them, headers of each request
(for example an ``Idempotency-Key`` on every port create).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from prometheus_client.parser import text_string_to_metric_families

from quark.ratelimits.gcra import Rate, RedisGcra
from quark.ratelimits.limiter import WRITES, RateLimiter

PROJECT_HEADERS = {"X-Project-Id": "bench-edge", "X-Roles": "member"}
NEVER_REFUSED = "1000000000"  # requests per period: the check runs, nothing is refused
CHECK_METRIC = "quark_rate_limit_check_duration_seconds"
WAITS_METRIC = "quark_rate_limit_store_waits"
TARGET_MS = 0.2


def no_headers(workload: str) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Config:
    """One server to measure: its settings (``QUARK_*``) and each request's own headers."""

    label: str
    env: dict[str, str] = field(default_factory=dict)
    request_headers: Callable[[str], dict[str, str]] = no_headers


def configurations(redis_url: str) -> list[Config]:
    """The first is the baseline the others are compared with."""
    limits = {
        "QUARK_RATE_LIMIT_REDIS_URL": redis_url,
        "QUARK_RATE_LIMIT_READS": NEVER_REFUSED,
        "QUARK_RATE_LIMIT_WRITES": NEVER_REFUSED,
        "QUARK_RATE_LIMIT_ALLOCATIONS": NEVER_REFUSED,
        # A loaded machine can take longer than the default 0.1 s: such a check would be
        # served unlimited (fail-open) and leave its cost out of the figures.
        "QUARK_RATE_LIMIT_REDIS_TIMEOUT": "2",
    }
    # Five servers of two workers share one PostgreSQL (max_connections 100 by default):
    # each worker's pool stays at 6 + 2 so that they all fit (a full server answers 503).
    pools = {"QUARK_DB_POOL_SIZE": "6", "QUARK_DB_MAX_OVERFLOW": "2"}
    limits = {**limits, **pools}
    return [
        Config("baseline", pools),
        Config("rate limits", limits),
        Config("rate limits (exact)", {**limits, "QUARK_RATE_LIMIT_LEASE": "0"}),
        Config("idempotency keys", pools, fresh_key),
        Config("rate limits + keys", limits, fresh_key),
    ]


def fresh_key(workload: str) -> dict[str, str]:
    """A new Idempotency-Key on every create (a first attempt: the claim, the answer
    written in the create's transaction); reads carry none."""
    return {"Idempotency-Key": uuid.uuid4().hex} if workload == WORKLOADS[1] else {}


@dataclass
class Workload:
    label: str
    method: str
    path: str
    body: dict | None
    per_client: int


def setup(url: str, config: Config) -> str:
    """The project's network (with a /16 for the ports); its id."""
    with httpx.Client(base_url=url, headers=PROJECT_HEADERS, timeout=60) as client:
        response = client.post("/v2.0/networks", json={"network": {"name": "edge"}}).raise_for_status()
        limited = "x-ratelimit-limit" in response.headers
        assert limited == ("QUARK_RATE_LIMIT_REDIS_URL" in config.env), f"{config.label}: rate limited {limited}"
        net = response.json()["network"]
        subnet = {"network_id": net["id"], "cidr": "10.0.0.0/16", "ip_version": 4}
        client.post("/v2.0/subnets", json={"subnet": subnet}).raise_for_status()
        return net["id"]


WORKLOADS = ("GET network", "port create")


def workloads(network_id: str, args) -> list[Workload]:
    return [
        Workload(WORKLOADS[0], "GET", f"/v2.0/networks/{network_id}", None, args.gets),
        Workload(WORKLOADS[1], "POST", "/v2.0/ports", {"port": {"network_id": network_id}}, args.ports),
    ]


async def run(url: str, config: Config, work: Workload, clients: int, warmup: int) -> tuple[list[float], int]:
    """Latencies (ms) after each client's ``warmup`` requests, and the count of error answers."""
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        conn = harness.HttpConnection(url, PROJECT_HEADERS)
        try:
            for i in range(warmup + work.per_client):
                started = time.perf_counter()
                status, _ = await conn.request(work.method, work.path, work.body, config.request_headers(work.label))
                elapsed = (time.perf_counter() - started) * 1000
                errors += status >= 400
                if i >= warmup:
                    latencies.append(elapsed)
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors


async def check_latencies(redis_url: str, clients: int, count: int, lease: int) -> tuple[list[float], float]:
    """The rate-limit check alone: latencies (ms) of one write's check (``lease`` 0: one
    EVALSHA each), ``clients`` at a time, and this process's CPU per check (ms)."""
    limiter = RateLimiter(RedisGcra(redis_url, timeout=1.0), {WRITES: Rate(10**9, 60)}, lease=lease)
    project, latencies = f"bench-{uuid.uuid4().hex[:8]}", []
    cpu = time.process_time()

    async def client() -> None:
        for _ in range(count):
            started = time.perf_counter()
            outcome = await limiter.check(project, [WRITES])
            latencies.append((time.perf_counter() - started) * 1000)
            assert outcome is not None and outcome.allowed, "the store did not answer"

    await asyncio.gather(*(client() for _ in range(clients)))
    cpu = (time.process_time() - cpu) * 1000 / (clients * count)
    await limiter.close()
    return latencies, cpu


def check_buckets(url: str) -> dict[float, float]:
    """The servers' middleware-time histogram: cumulative count per upper bound (s); and
    under the key -1 the requests that waited for Redis."""
    text = httpx.get(f"{url}/metrics", headers=PROJECT_HEADERS, timeout=30).raise_for_status().text
    buckets = {}
    for family in text_string_to_metric_families(text):
        if family.name == CHECK_METRIC:
            buckets.update({float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")})
        if family.name == WAITS_METRIC:
            buckets[-1.0] = sum(s.value for s in family.samples if s.name.endswith("_total"))
    return buckets


def histogram_quantile(buckets: dict[float, float], q: float) -> float:
    """Prometheus's histogram_quantile (linear within a bucket), in ms."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    rank, lower, below = q / 100 * total, 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if math.isinf(bound):
                return math.inf  # beyond the last bucket
            return (lower + (bound - lower) * (rank - below) / max(buckets[bound] - below, 1e-9)) * 1000
        lower, below = bound, buckets[bound]
    return lower * 1000


def middleware_figures(before: dict[float, float], after: dict[float, float]) -> str:
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    waits = delta.pop(-1.0, 0.0)
    total = delta[math.inf]
    within = delta.get(TARGET_MS / 1000, 0.0) / total * 100 if total else 0.0
    last = max(b for b in delta if not math.isinf(b)) * 1000

    def shown(q: float) -> str:
        value = histogram_quantile(delta, q)
        return f"> {last:.0f} ms" if math.isinf(value) else f"{value:.3f} ms"

    return (
        f"p50 {shown(50)}  p99 {shown(99)}  "
        f"within {TARGET_MS} ms: {within:.2f}% of {total:.0f} requests; {waits:.0f} waited for Redis"
    )


def figures(values: list[float]) -> str:
    return f"p50 {harness.percentile(values, 50):6.2f} ms  p99 {harness.percentile(values, 99):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--gets", type=int, default=200, help="GETs per client per round")
    parser.add_argument("--ports", type=int, default=40, help="port creates per client per round")
    parser.add_argument("--warmup", type=int, default=5, help="requests per client per round not counted")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated configuration labels to run (the first is the baseline)")
    parser.add_argument("--redis-url", default=os.environ.get("QUARK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()

    configs = configurations(args.redis_url)
    if args.only:
        wanted = [label.strip() for label in args.only.split(",")]
        configs = [c for label in wanted for c in configs if c.label == label]
    with ExitStack() as stack:
        servers = {}
        for config in configs:
            database = stack.enter_context(harness.fresh_database("postgresql"))
            info: dict = {}
            url = stack.enter_context(harness.running_server(database, args.workers, env=config.env, info=info))
            servers[config.label] = (url, workloads(setup(url, config), args), harness.children_of(info["pid"]))
        limited = [c.label for c in configs if "QUARK_RATE_LIMIT_REDIS_URL" in c.env]
        buckets_before = {label: check_buckets(servers[label][0]) for label in limited}
        load0 = os.getloadavg()[0]
        results: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], float] = {}  # server CPU seconds (every worker)
        errors = dict.fromkeys((c.label for c in configs), 0)
        for round_ in range(args.rounds):
            for index in range(len(WORKLOADS)):
                for config in configs:  # interleaved: a burst of load elsewhere hits every side
                    url, works, pids = servers[config.label]
                    work = works[index]
                    before = harness.cpu_seconds(pids)
                    latencies, failed = asyncio.run(run(url, config, work, args.clients, args.warmup))
                    used = harness.cpu_seconds(pids) - before
                    cpu[(config.label, work.label)] = cpu.get((config.label, work.label), 0) + used
                    results.setdefault((config.label, work.label), []).extend(latencies)
                    errors[config.label] += failed
                    print(f"round {round_ + 1} {config.label:<12} {work.label:<12} {figures(latencies)}", flush=True)
        buckets_after = {label: check_buckets(servers[label][0]) for label in limited}
        checks = {
            (lease, n): asyncio.run(check_latencies(args.redis_url, n, args.gets, lease))
            for lease in (50, 0)
            for n in (1, args.clients)
        }
        load1 = os.getloadavg()[0]
    print(f"\n{harness.machine()}; load average {load0:.1f} -> {load1:.1f}")
    print(f"{args.workers} workers, {args.clients} clients, {args.rounds} rounds; errors {errors}")
    per_request = {}  # server CPU ms per request, warm-up requests included
    for (label, work), values in results.items():
        sent = len(values) + args.rounds * args.clients * args.warmup
        per_request[(label, work)] = cpu[(label, work)] * 1000 / sent
        print(f"{label:<12} {work:<12} {figures(values)}  server CPU {per_request[(label, work)]:.2f} ms/request")
    for (lease, n), (latencies, cpu) in checks.items():
        print(
            f"rate-limit check alone (lease {lease:>2}), {n:>2} at a time: {figures(latencies)}"
            f"  client CPU {cpu:.3f} ms/check"
        )
    for label in limited:
        print(
            f"rate-limit middleware in the servers, {label}: {middleware_figures(buckets_before[label], buckets_after[label])}"
        )
    base = configs[0].label
    for config in configs[1:]:
        for work in WORKLOADS:
            p99 = harness.percentile(results[(config.label, work)], 99)
            added = p99 - harness.percentile(results[(base, work)], 99)
            more_cpu = per_request[(config.label, work)] - per_request[(base, work)]
            print(
                f"added p99 {config.label} vs {base}, {work}: {added:+.2f} ms (server CPU {more_cpu:+.3f} ms/request)"
            )


if __name__ == "__main__":
    main()
