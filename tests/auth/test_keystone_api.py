"""Quark's own Keystone auth against a real Keystone: who a token says the caller
is, and nothing a client's headers say; 401 without a valid token."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from quark.agent.auth import agent_auth
from quark.agent.client import AgentApiClient, ApiError

pytestmark = pytest.mark.slow


def client(server, keystone, cloud: str | None, **headers: str) -> httpx.Client:
    if cloud is not None:
        headers["X-Auth-Token"] = keystone.token(cloud)
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def create_network(http: httpx.Client, **attrs) -> dict:
    resp = http.post("/v2.0/networks", json={"network": {"name": f"ks-{uuid.uuid4().hex[:8]}", **attrs}})
    assert resp.status_code == 201, resp.text
    return resp.json()["network"]


def test_versions_need_no_token(keystone_server):
    resp = httpx.get(keystone_server.url + "/")
    assert resp.status_code == 200
    assert resp.json()["versions"][0]["id"] == "v2.0"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_token(keystone_server, path):
    resp = httpx.get(keystone_server.url + path)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "ok"
    # The unauthenticated probe's access line names no project.
    rid = resp.headers["x-openstack-request-id"]
    deadline = time.time() + 5  # the access line is written as the response ends
    while not any(f'"GET {path}" 200' in line and "project=-" in line for line in _lines_of(keystone_server, rid)):
        assert time.time() < deadline, _lines_of(keystone_server, rid)
        time.sleep(0.05)


def _lines_of(server, request_id: str) -> list[str]:
    return [line for line in server.log_text().splitlines() if f"[{request_id}]" in line]


@pytest.mark.parametrize("path", ["/v2.0/", "/v2.0/networks", "/v2.0/extensions", "/v2.0/hosts/h1/desired_state"])
@pytest.mark.parametrize("token", [None, "not-a-real-token"])
def test_missing_or_bad_token_is_401(keystone_server, path, token):
    headers = {"X-Auth-Token": token} if token else {}
    # A client's identity headers alone count for nothing.
    resp = httpx.get(keystone_server.url + path, headers={**headers, "X-Project-Id": "p", "X-Roles": "admin"})
    assert resp.status_code == 401, resp.text
    assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")
    assert resp.json()["NeutronError"]["type"] == "HTTPUnauthorized"
    assert resp.headers["x-openstack-request-id"].startswith("req-")


def test_headerless_post_is_not_admin(keystone_server):
    resp = httpx.post(keystone_server.url + "/v2.0/networks", json={"network": {"name": "x", "shared": True}})
    assert resp.status_code == 401


def test_member_owns_what_it_creates_and_alt_does_not_see_it(keystone_server, keystone):
    demo = keystone.project_id("demo-member")
    with client(keystone_server, keystone, "demo-member") as member:
        net = create_network(member)
    assert net["project_id"] == demo and net["tenant_id"] == demo
    with client(keystone_server, keystone, "alt-member") as alt:
        assert alt.get(f"/v2.0/networks/{net['id']}").status_code == 404
        assert net["id"] not in {n["id"] for n in alt.get("/v2.0/networks").json()["networks"]}
        own = create_network(alt)
        assert own["project_id"] == keystone.project_id("alt-member") != demo
    with client(keystone_server, keystone, "demo-reader") as reader:
        assert reader.get(f"/v2.0/networks/{net['id']}").json()["network"]["project_id"] == demo
    with client(keystone_server, keystone, "admin") as admin:
        seen = {n["id"] for n in admin.get("/v2.0/networks").json()["networks"]}
        assert {net["id"], own["id"]} <= seen


def test_forged_identity_headers_do_not_count(keystone_server, keystone):
    alt_project = keystone.project_id("alt-member")
    with client(keystone_server, keystone, "alt-member") as alt:
        secret = create_network(alt)
    forged = {
        "X-Project-Id": alt_project,
        "X-Tenant-Id": alt_project,
        "X-Roles": "admin",
        "X-Identity-Status": "Confirmed",
        "X-User-Id": "someone",
        "X-Service-Roles": "service",
        "X-Is-Admin-Project": "True",
    }
    with client(keystone_server, keystone, "demo-member", **forged) as member:
        net = create_network(member)
        assert net["project_id"] == keystone.project_id("demo-member")
        # not admin: another project's network stays invisible, a shared network is refused
        assert member.get(f"/v2.0/networks/{secret['id']}").status_code == 404
        resp = member.post("/v2.0/networks", json={"network": {"name": "forged", "shared": True}})
        assert resp.status_code == 403, resp.text


def test_service_role_comes_from_the_token(keystone_server, keystone):
    """Nova's token carries the service role: it may bind a port, a member may not."""
    with client(keystone_server, keystone, "admin") as admin:
        net = create_network(admin, project_id=keystone.project_id("nova"))
    body = {"port": {"network_id": net["id"], "binding:host_id": "compute-1"}}
    with client(keystone_server, keystone, "nova") as nova:
        resp = nova.post("/v2.0/ports", json=body)
        assert resp.status_code == 201, resp.text
        assert resp.json()["port"]["binding:host_id"] == "compute-1"
    with client(keystone_server, keystone, "demo-member") as member:
        own = create_network(member)
        resp = member.post("/v2.0/ports", json={"port": {"network_id": own["id"], "binding:host_id": "compute-1"}})
        assert resp.status_code == 403, resp.text


def test_system_scoped_admin_token(keystone_server, keystone):
    with client(keystone_server, keystone, "system-admin") as system:
        resp = system.get("/v2.0/networks")
    assert resp.status_code == 200, resp.text


async def test_agent_as_service_user_reaches_desired_state(keystone_server, keystone, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(keystone.clouds_yaml))
    host = f"ks-host-{uuid.uuid4().hex[:6]}"
    async with AgentApiClient(keystone_server.url, auth=agent_auth("quark-service", {})) as agent:
        reported = await agent.report(
            host=host, agent_type="Quark L2 agent", binary="quark-agent", configurations={}, start_flag=True
        )
        assert reported["host"] == host and reported["alive"] is True
        state = await agent.desired_state(host, wait=0)
        assert "generation" in state, state
    async with AgentApiClient(keystone_server.url) as anonymous:
        with pytest.raises(ApiError) as refused:
            await anonymous.desired_state(host, wait=0)
        assert refused.value.status == 401


async def test_agent_gets_a_new_token_after_a_401(keystone_server, keystone, monkeypatch):
    """A token the API refuses (expired, revoked) is replaced and the request sent again."""
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(keystone.clouds_yaml))
    auth = agent_auth("quark-service", {})
    assert auth is not None
    first = auth.service.token()
    auth.service.session.auth.auth_ref._auth_token = "revoked-token"
    async with AgentApiClient(keystone_server.url, auth=auth) as agent:
        state = await agent.desired_state("nowhere", wait=0)
    assert "generation" in state
    assert auth.service.token() not in ("revoked-token", "")
    assert first


def test_service_token_is_renewed_before_it_expires(keystone):
    """A token about to expire is replaced before it is sent (keystoneauth1's renewal)."""
    import datetime

    from quark.keystone import from_cloud

    service = from_cloud("quark-service", keystone.clouds_yaml)
    first = service.token()
    assert service.token() == first and not service.needs_keystone()  # kept while valid
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=60)
    service.session.auth.auth_ref._data["token"]["expires_at"] = soon.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert service.needs_keystone()
    renewed = service.token()
    assert renewed != first and not service.needs_keystone()


def test_metrics_need_no_token(keystone_server):
    resp = httpx.get(keystone_server.url + "/metrics")
    assert resp.status_code == 200, resp.text
    assert "quark_http_requests_total" in resp.text
