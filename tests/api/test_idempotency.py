"""Idempotency-Key over HTTP, on every database: a retry replays the first
answer and creates nothing, another body is a 422, a bad key a 400, a
concurrent retry a 409 (or the replay), projects are independent, a failed
request is never the stored answer; single, bulk and /v2.0/instances.

Crashes and lost databases under load: tests/api/test_idempotency_chaos.py."""

from __future__ import annotations

import threading
import uuid

import httpx

from tests.api.rowcounts import row_counts
from tests.api.test_metrics import scrape, until, value

KEY = "Idempotency-Key"


def new_key() -> str:
    return f'"{uuid.uuid4()}"'


def network_with_subnet(client: httpx.Client, cidr: str = "10.20.0.0/24") -> str:
    net = client.post("/v2.0/networks", json={"network": {"name": f"i-{uuid.uuid4().hex[:8]}"}})
    assert net.status_code == 201, net.text
    network_id = net.json()["network"]["id"]
    subnet = client.post("/v2.0/subnets", json={"subnet": {"network_id": network_id, "ip_version": 4, "cidr": cidr}})
    assert subnet.status_code == 201, subnet.text
    return network_id


def counted(server, before, expected: dict[tuple[str, str], float]) -> None:
    """The idempotency metrics grew by ``expected`` ({(name, reason): delta}; reason "" for none)."""

    def deltas():
        after = scrape(server.url)
        got = {}
        for name, reason in expected:
            labels = {"reason": reason} if reason else {}
            got[(name, reason)] = value(after, name, **labels) - value(before, name, **labels)
        return got == expected, got

    ok, got = until(deltas)
    assert ok, got


def error_type(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["NeutronError"]["type"]


def test_a_retry_replays_the_first_answer_and_creates_nothing(tenant, api_server):
    network_id = network_with_subnet(tenant)
    body = {"port": {"network_id": network_id, "name": "web"}}
    key = new_key()
    before = scrape(api_server.url)
    first = tenant.post("/v2.0/ports", json=body, headers={KEY: key})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    counts = row_counts(api_server.database_url, network_id)

    # The same request, its body spelt otherwise (key order): the same request.
    again = tenant.post("/v2.0/ports", content=b'{"port": {"name": "web", "network_id": "%s"}}' % network_id.encode())
    assert again.status_code == 201  # without the key: a second port
    counts_after_unkeyed = row_counts(api_server.database_url, network_id)
    assert counts_after_unkeyed["ports"] == counts["ports"] + 1

    replay = tenant.post(
        "/v2.0/ports",
        content=b'{"port": {"name": "web", "network_id": "%s"}}' % network_id.encode(),
        headers={KEY: key, "Content-Type": "application/json"},
    )
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert replay.content == first.content
    assert row_counts(api_server.database_url, network_id) == counts_after_unkeyed
    counted(api_server, before, {("quark_idempotent_replays_total", ""): 1})


def test_the_same_key_with_another_body_is_422_and_changes_nothing(tenant, api_server):
    network_id = network_with_subnet(tenant)
    key = new_key()
    assert tenant.post("/v2.0/ports", json={"port": {"network_id": network_id}}, headers={KEY: key}).status_code == 201
    counts = row_counts(api_server.database_url, network_id)
    before = scrape(api_server.url)
    other = tenant.post("/v2.0/ports", json={"port": {"network_id": network_id, "name": "x"}}, headers={KEY: key})
    assert error_type(other, 422) == "IdempotencyKeyReused"
    # Another path with the same key and body is another request too.
    assert error_type(tenant.post("/v2.0/networks", json={"port": {"network_id": network_id}}, headers={KEY: key}), 422)
    assert row_counts(api_server.database_url, network_id) == counts
    counted(api_server, before, {("quark_idempotency_refusals_total", "key_reused"): 2})


def test_a_bad_key_is_400_and_changes_nothing(tenant, api_server):
    network_id = network_with_subnet(tenant)
    counts = row_counts(api_server.database_url, network_id)
    before = scrape(api_server.url)
    for bad in ("x" * 256, '"unterminated', '""'):
        response = tenant.post("/v2.0/ports", json={"port": {"network_id": network_id}}, headers={KEY: bad})
        assert error_type(response, 400) == "InvalidIdempotencyKey", bad
    assert row_counts(api_server.database_url, network_id) == counts
    counted(api_server, before, {("quark_idempotency_refusals_total", "invalid_key"): 3})


def test_concurrent_retries_make_one_port(tenant, api_server):
    network_id = network_with_subnet(tenant)
    key, body = new_key(), {"port": {"network_id": network_id}}
    barrier, answers = threading.Barrier(8), []
    before = scrape(api_server.url)

    def send() -> None:
        with httpx.Client(base_url=api_server.url, headers=dict(tenant.headers), timeout=30) as client:
            barrier.wait()
            answers.append(client.post("/v2.0/ports", json=body, headers={KEY: key}))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = [r for r in answers if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    replayed = [r for r in answers if r.status_code == 201 and "idempotent-replayed" in r.headers]
    running = [r for r in answers if r.status_code == 409]
    assert len(created) == 1 and len(created) + len(replayed) + len(running) == 8, [r.text for r in answers]
    assert all(r.json() == created[0].json() for r in replayed)
    for response in running:
        assert error_type(response, 409) == "IdempotencyKeyInFlight"
        assert int(response.headers["retry-after"]) >= 1
    assert row_counts(api_server.database_url, network_id)["ports"] == 1
    final = tenant.post("/v2.0/ports", json=body, headers={KEY: key})
    assert final.headers["idempotent-replayed"] == "true" and final.json() == created[0].json()
    counted(
        api_server,
        before,
        {
            ("quark_idempotency_refusals_total", "in_flight"): len(running),
            ("quark_idempotent_replays_total", ""): len(replayed) + 1,
        },
    )


def test_projects_have_their_own_keys(api_server):
    key, names = new_key(), []
    for _ in range(2):
        project = f"t-{uuid.uuid4().hex[:10]}"
        headers = {"X-Project-Id": project, "X-Roles": "member", KEY: key}
        response = httpx.post(f"{api_server.url}/v2.0/networks", json={"network": {"name": "n"}}, headers=headers)
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
        assert response.json()["network"]["project_id"] == project
        names.append(response.json()["network"]["id"])
    assert names[0] != names[1]


def test_a_failed_create_is_not_the_answer(tenant, admin, api_server):
    network_id = network_with_subnet(tenant)
    key, body = new_key(), {"port": {"network_id": network_id}}
    assert admin.put(f"/v2.0/quotas/{tenant.project_id}", json={"quota": {"port": 0}}).status_code == 200
    assert error_type(tenant.post("/v2.0/ports", json=body, headers={KEY: key}), 409) == "OverQuota"
    assert error_type(tenant.post("/v2.0/ports", json=body, headers={KEY: key}), 409) == "OverQuota"  # done again
    assert admin.put(f"/v2.0/quotas/{tenant.project_id}", json={"quota": {"port": 10}}).status_code == 200
    created = tenant.post("/v2.0/ports", json=body, headers={KEY: key})
    assert created.status_code == 201 and "idempotent-replayed" not in created.headers
    assert tenant.post("/v2.0/ports", json=body, headers={KEY: key}).json() == created.json()
    assert row_counts(api_server.database_url, network_id)["ports"] == 1


def test_a_bulk_create_is_replayed_whole(tenant, api_server):
    network_id = network_with_subnet(tenant)
    key, body = new_key(), {"ports": [{"network_id": network_id, "name": f"p{i}"} for i in range(5)]}
    first = tenant.post("/v2.0/ports", json=body, headers={KEY: key})
    assert first.status_code == 201 and len(first.json()["ports"]) == 5
    replay = tenant.post("/v2.0/ports", json=body, headers={KEY: key})
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
    assert row_counts(api_server.database_url, network_id)["ports"] == 5


def test_an_instance_is_provisioned_once(tenant, api_server):
    network_id = network_with_subnet(tenant)
    device = str(uuid.uuid4())
    key = new_key()
    body = {"instance": {"device_id": device, "ports": [{"network_id": network_id}, {"network_id": network_id}]}}
    first = tenant.post("/v2.0/instances", json=body, headers={KEY: key})
    assert first.status_code == 201, first.text
    replay = tenant.post("/v2.0/instances", json=body, headers={KEY: key})
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert row_counts(api_server.database_url, network_id)["ports"] == 2


def test_ip_addresses_and_security_groups_are_keyed_too(admin, tenant, api_server):
    network_id = network_with_subnet(admin, "10.21.0.0/24")
    body = {"ip_address": {"network_id": network_id, "version": 4, "type": "fixed"}}
    key = new_key()
    first = admin.post("/v2.0/ip_addresses", json=body, headers={KEY: key})
    assert first.status_code == 201, first.text
    assert admin.post("/v2.0/ip_addresses", json=body, headers={KEY: key}).json() == first.json()
    assert row_counts(api_server.database_url, network_id)["live_allocations"] == 1

    group = {"security_group": {"name": "g"}}
    made = tenant.post("/v2.0/security-groups", json=group, headers={KEY: key})  # the admin's key: another project
    assert made.status_code == 201 and "idempotent-replayed" not in made.headers
    assert tenant.post("/v2.0/security-groups", json=group, headers={KEY: key}).json() == made.json()
    listed = tenant.get("/v2.0/security-groups", params={"name": "g"}).json()["security_groups"]
    assert [g["id"] for g in listed] == [made.json()["security_group"]["id"]]
