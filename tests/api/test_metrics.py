"""GET /metrics: Prometheus text summed over a two-worker server's processes."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server

BACKEND = "postgresql" if "postgresql" in selected_backends() else selected_backends()[0]
MISSING = 7  # GETs of networks that do not exist: 404 on the route /v2.0/networks/{id}
PORTS = 6  # port creates: 201 on /v2.0/ports


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    with migrated_database(BACKEND, tmp_path_factory) as url:
        with quark_server(url, workers=2, env={"QUARK_IPAM_REUSE_AFTER": "0"}) as server:
            yield server


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    response = httpx.get(url + "/metrics", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def fresh_connection(url: str, **headers) -> httpx.Client:
    """No keep-alive: every request a new connection, so both workers get some."""
    return httpx.Client(base_url=url, timeout=30, headers=headers, limits=httpx.Limits(max_keepalive_connections=0))


def until(check, timeout: float = 5.0):
    """A request is counted as its response ends: the last ones may land a moment after the client saw them."""
    deadline = time.time() + timeout
    while True:
        result = check()
        if result[0] or time.time() > deadline:
            return result
        time.sleep(0.1)


def served_by(server, request_ids: list[str]) -> set[str]:
    """The worker processes whose access lines name these requests."""
    lines = server.log_text().splitlines()
    return {line.split()[2] for line in lines for rid in request_ids if f"[{rid}]" in line}


def test_request_counts_and_latencies_are_summed_over_the_workers(two_workers):
    before = scrape(two_workers.url)
    project = f"m-{uuid.uuid4().hex[:8]}"
    with fresh_connection(two_workers.url, **{"X-Project-Id": project, "X-Roles": "member"}) as client:
        ids = []
        for _ in range(MISSING):
            response = client.get(f"/v2.0/networks/{uuid.uuid4()}")
            assert response.status_code == 404
            ids.append(response.headers["x-openstack-request-id"])
        net = client.post("/v2.0/networks", json={"network": {"name": project}}).json()["network"]
        subnet = {"network_id": net["id"], "cidr": "10.9.0.0/24", "ip_version": 4}
        assert client.post("/v2.0/subnets", json={"subnet": subnet}).status_code == 201
        for _ in range(PORTS):
            response = client.post("/v2.0/ports", json={"port": {"network_id": net["id"]}})
            assert response.status_code == 201, response.text
            ids.append(response.headers["x-openstack-request-id"])
        # The kernel hands each new connection to whichever worker accepts first: on a
        # busy machine one may take them all for a while. More 404s until both served.
        missing = MISSING
        while len(served_by(two_workers, ids)) < 2 and missing < MISSING + 200:
            response = client.get(f"/v2.0/networks/{uuid.uuid4()}")
            assert response.status_code == 404
            ids.append(response.headers["x-openstack-request-id"])
            missing += 1
            time.sleep(0.02)

    def settled():
        after = scrape(two_workers.url)
        count = {
            key: value(after, "quark_http_requests_total", **labels)
            - value(before, "quark_http_requests_total", **labels)
            for key, labels in {
                "missing": {"method": "GET", "route": "/v2.0/networks/{id}", "status": "404"},
                "ports": {"method": "POST", "route": "/v2.0/ports", "status": "201"},
            }.items()
        }
        return count == {"missing": missing, "ports": PORTS}, count, after

    ok, count, after = until(settled)
    assert ok, count
    # The latency histogram counts the same requests (404s and creates alike).
    show = {"method": "GET", "route": "/v2.0/networks/{id}"}
    create = {"method": "POST", "route": "/v2.0/ports"}
    for labels, n in ((show, missing), (create, PORTS)):
        name = "quark_http_request_duration_seconds_count"
        assert value(after, name, **labels) - value(before, name, **labels) == n
        inf = "quark_http_request_duration_seconds_bucket"
        assert value(after, inf, le="+Inf", **labels) - value(before, inf, le="+Inf", **labels) == n
    allocations = "quark_ip_allocation_duration_seconds_count"
    assert value(after, allocations) - value(before, allocations) >= PORTS
    # Labels are route templates, never raw paths (no id in any route label).
    routes = {dict(labels).get("route") for (name, labels) in after if name == "quark_http_requests_total"}
    assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", r or "") for r in routes), routes
    assert value(after, "quark_db_pool_connections_in_use") >= 0
    assert ("quark_db_transaction_retries_total", frozenset()) in after
    # Both workers served (the access lines name their process): the counts above are sums.
    pids = served_by(two_workers, ids)
    assert len(pids) == 2, pids


def test_unmatched_paths_share_one_label(two_workers):
    before = scrape(two_workers.url)
    with fresh_connection(two_workers.url) as client:
        for n in range(3):
            assert client.get(f"/no/such/{uuid.uuid4()}/{n}").status_code == 404
    labels = {"method": "GET", "route": "unmatched", "status": "404"}

    def settled():
        after = scrape(two_workers.url)
        delta = value(after, "quark_http_requests_total", **labels) - value(
            before, "quark_http_requests_total", **labels
        )
        return delta == 3, delta

    ok, delta = until(settled)
    assert ok, delta
