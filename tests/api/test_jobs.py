"""``/v2.0/jobs`` and ``X-Quark-Job-Id`` against a real server on every database
(docs/jobs.md): a write on a network whose driver needs backend work answers
its job's id; the job is its project's (another project's is a 404, admins see
all); bulk creates have a parent job with sub-jobs; agent networks make none;
an unknown network_plugin is a 400 that changes nothing."""

from __future__ import annotations

import uuid

from tests.api.rowcounts import row_counts
from tests.api.test_wire import error_of, make_subnet

HEADER = "X-Quark-Job-Id"


def backend_network(admin, project_id: str) -> tuple[dict, str]:
    body = {"network": {"name": f"jobs-{uuid.uuid4().hex[:8]}", "project_id": project_id, "network_plugin": "fault"}}
    response = admin.post("/v2.0/networks", json=body)
    assert response.status_code == 201, response.text
    return response.json()["network"], response.headers[HEADER]


def test_a_write_answers_its_job_which_only_its_project_sees(admin, tenant, api_server):
    network, job_id = backend_network(admin, tenant.project_id)
    assert network["network_plugin"] == "fault"
    job = tenant.get(f"/v2.0/jobs/{job_id}").json()["job"]
    assert (job["resource_type"], job["resource_id"], job["operation"]) == ("network", network["id"], "create")
    assert (job["status"], job["progress"], job["attempts"], job["driver"]) == ("queued", 0, 0, "fault")
    assert job["project_id"] == tenant.project_id and job["revision"] == 0
    other = {"X-Project-Id": f"t-{uuid.uuid4().hex[:8]}", "X-Roles": "member"}
    assert error_of(admin.get(f"/v2.0/jobs/{job_id}", headers=other), 404) == "JobNotFound"
    assert admin.get("/v2.0/jobs", headers=other, params={"resource_id": network["id"]}).json()["jobs"] == []

    make_subnet(tenant, network["id"], "10.77.0.0/24")
    single = tenant.post("/v2.0/ports", json={"port": {"network_id": network["id"]}})
    assert single.status_code == 201, single.text
    single_job = tenant.get(f"/v2.0/jobs/{single.headers[HEADER]}").json()["job"]
    assert (single_job["resource_id"], single_job["operation"]) == (single.json()["port"]["id"], "create")
    response = tenant.post(
        "/v2.0/ports", json={"ports": [{"network_id": network["id"]}, {"network_id": network["id"]}]}
    )
    assert response.status_code == 201, response.text
    parent = tenant.get(f"/v2.0/jobs/{response.headers[HEADER]}").json()["job"]
    assert parent["operation"] == "bulk" and len(parent["sub_jobs"]) == 2 and parent["resource_id"] is None
    ports = {p["id"] for p in response.json()["ports"]}
    subs = tenant.get("/v2.0/jobs", params={"parent_id": parent["id"]}).json()["jobs"]
    assert {j["resource_id"] for j in subs} == ports and {j["id"] for j in subs} == set(parent["sub_jobs"])

    port_id = sorted(ports)[0]
    updated = tenant.put(f"/v2.0/ports/{port_id}", json={"port": {"name": "renamed"}})
    assert updated.status_code == 200, updated.text
    update_job = tenant.get(f"/v2.0/jobs/{updated.headers[HEADER]}").json()["job"]
    assert (update_job["operation"], update_job["revision"]) == ("update", 1)
    deleted = tenant.delete(f"/v2.0/ports/{port_id}")
    assert deleted.status_code == 204 and deleted.headers[HEADER]

    listed = tenant.get(
        "/v2.0/jobs", params={"resource_id": port_id, "sort_key": "created_at", "fields": ["id", "operation"]}
    ).json()["jobs"]
    assert [set(j) for j in listed] == [{"id", "operation"}] * 3
    assert sorted(j["operation"] for j in listed) == ["create", "delete", "update"]
    first = tenant.get("/v2.0/jobs", params={"limit": 4, "sort_key": "id"}).json()
    assert len(first["jobs"]) == 4 and any(link["rel"] == "next" for link in first["jobs_links"])
    rest = tenant.get("/v2.0/jobs", params={"limit": 100, "sort_key": "id", "marker": first["jobs"][-1]["id"]})
    paged = [j["id"] for j in first["jobs"] + rest.json()["jobs"]]
    assert paged == sorted(paged) and len(paged) == len(set(paged)) == 9
    seen_by_admin = admin.get("/v2.0/jobs", params={"project_id": tenant.project_id}).json()["jobs"]
    # network, subnet, the network's update (its revision moved with the subnet), port, bulk, 2 ports, update, delete
    assert len(seen_by_admin) == 1 + 1 + 1 + 1 + 1 + 2 + 1 + 1


def test_agent_networks_make_no_job(tenant):
    response = tenant.post("/v2.0/networks", json={"network": {"name": "agent-net"}})
    assert response.status_code == 201 and HEADER not in response.headers
    assert tenant.get("/v2.0/jobs", params={"resource_id": response.json()["network"]["id"]}).json()["jobs"] == []


def test_an_unknown_network_plugin_is_a_400_that_changes_nothing(admin, api_server):
    before = row_counts(api_server.database_url)
    body = {"network": {"name": "bad-plugin", "network_plugin": "no-such-driver"}}
    assert error_of(admin.post("/v2.0/networks", json=body), 400) == "InvalidInput"
    assert row_counts(api_server.database_url) == before
    assert admin.get("/v2.0/networks", params={"name": "bad-plugin"}).json()["networks"] == []


def test_a_member_may_not_choose_the_driver_and_jobs_are_read_only(tenant):
    body = {"network": {"name": "x", "network_plugin": "fault"}}
    assert tenant.post("/v2.0/networks", json=body).status_code == 403
    assert tenant.post("/v2.0/jobs", json={"job": {}}).status_code in (404, 405)
    assert tenant.delete(f"/v2.0/jobs/{uuid.uuid4()}").status_code in (404, 405)
