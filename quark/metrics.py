"""Prometheus metrics: the metric objects every layer records into, and the exposition.

Foundation module: the API, services, IPAM and the database layer import the
objects below; nothing here imports Quark. ``quark serve`` gives each server
start a fresh private ``PROMETHEUS_MULTIPROC_DIR`` before the workers start,
so every worker writes its values there and whichever worker answers
``GET /metrics`` sums them all (``MultiProcessCollector``). Without that
variable (tests, an app run in-process) the process's own registry is served.
Whether the values are per-process files is fixed when this module is
imported, so ``render`` reads the same place the metrics write.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import generate_latest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROC_DIR = os.environ.get(MULTIPROC_ENV) or None  # as prometheus_client saw it at import
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of a request no route matched (or refused before routing)

HTTP_REQUESTS = Counter(
    "quark_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "quark_http_request_duration_seconds",
    "Time from a request's arrival to its end, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
DB_POOL_IN_USE = Gauge(
    "quark_db_pool_connections_in_use",
    "Database connections checked out of the SQLAlchemy pools (summed over live processes).",
    multiprocess_mode="livesum",
)
DB_TRANSACTION_RETRIES = Counter(
    "quark_db_transaction_retries_total",
    "Transactions re-run after a deadlock, serialization failure, lock timeout or lost connection.",
)
DB_LAGGING_READS = Counter(
    "quark_db_lag_tolerant_reads_total",
    "Reads that may lag (lists, watches, availability, dashboard) with a read replica configured, "
    "by where they ran: replica, or primary (replica down, too far behind, or behind the client's writes).",
    ["target"],
)
IP_ALLOCATION_DURATION = Histogram(
    "quark_ip_allocation_duration_seconds",
    "Time of one IpAllocator.allocate call (every address of one or more ports).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
QUOTA_REFUSALS = Counter(
    "quark_quota_refusals_total",
    "Creates refused because they would take a project over its quota (OverQuota), by resource.",
    ["resource"],
)
RATE_LIMIT_REFUSALS = Counter(
    "quark_rate_limit_refusals_total",
    "Requests refused with 429 because a project's rate limit was spent, by class (reads, writes, allocations).",
    ["class"],
)
RATE_LIMIT_STORE_ERRORS = Counter(
    "quark_rate_limit_store_errors_total",
    "Rate-limit checks that failed in the store (Redis unreachable, timed out): those requests were served unlimited.",
)
RATE_LIMIT_STORE_WAITS = Counter(
    "quark_rate_limit_store_waits_total",
    "Limited requests that waited for Redis: every request of an exactly checked class, "
    "and a leased class's requests that found this worker's lease empty.",
)
RATE_LIMIT_CHECK_DURATION = Histogram(
    "quark_rate_limit_check_duration_seconds",
    "What the rate-limit middleware adds to a limited request (its check, headers and 429; not the route): "
    "its CPU time, or its wall time when the request waited for Redis.",
    buckets=(0.00001, 0.000025, 0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.001, 0.0025, 0.01, 0.1),
)
IDEMPOTENT_REPLAYS = Counter(
    "quark_idempotent_replays_total",
    "Creates answered with the stored answer of their Idempotency-Key (Idempotent-Replayed: true).",
)
IDEMPOTENCY_REFUSALS = Counter(
    "quark_idempotency_refusals_total",
    "Keyed creates refused because of their Idempotency-Key, by reason: invalid_key (400), "
    "key_reused (422: another body), in_flight (409: the first request still runs).",
    ["reason"],
)
LONG_POLL_WATCHERS = Gauge(
    "quark_long_poll_watchers",
    "Agents' long-polls waiting now, by document (desired_state, dhcp_state).",
    ["document"],
    multiprocess_mode="livesum",
)
NOVA_OUTBOX_DEPTH = Gauge(
    "quark_nova_events_outbox_pending",
    "Nova events waiting in the outbox (pending), as the event dispatcher last counted them.",
    multiprocess_mode="livemax",
)


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """One request's counter and latency (called once per request, by the API middleware)."""
    method = method if method in HTTP_METHODS else "other"
    route = route or UNMATCHED
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def _directory() -> str | None:
    """Where the values are files: the variable's value now (prometheus_client opens each file
    then), provided it was set when the values class was chosen (import)."""
    return os.environ.get(MULTIPROC_ENV) or None if MULTIPROC_DIR is not None else None


def render() -> tuple[bytes, str]:
    """The exposition text of every process's metrics, and its content type."""
    directory = _directory()
    if directory is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_processes() -> None:
    """Drop the live gauges of processes that are gone (a worker uvicorn restarted)."""
    directory = _directory()
    if directory is None:
        return
    for name in os.listdir(directory):
        if not (name.startswith("gauge_live") and name.endswith(".db")):
            continue
        pid = name[: -len(".db")].rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), directory)


def process_exiting() -> None:
    """This process stops: its live gauges no longer count."""
    directory = _directory()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), directory)
