"""Neutron's quota API over HTTP: shapes, status codes and error bodies for
admins and members, defaults from the server's settings, update, reset,
details, the extensions, and a create over the limit (409 OverQuota, a
bulk refused whole).

The server here has its own defaults (``QUARK_QUOTA_*``) so that the
defaults shown can only come from the settings.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server

DEFAULTS = {
    "network": 100,
    "subnet": 100,
    "port": 17,
    "security_group": 10,
    "security_group_rule": 100,
    "floatingip": 0,
    "router": 10,
    "subnetpool": -1,
    "rbac_policy": 10,
    "address_group": -1,
}


@pytest.fixture(scope="module", params=selected_backends())
def server(request, tmp_path_factory):
    env = {"QUARK_QUOTA_PORT": "17", "QUARK_QUOTA_FLOATINGIP": "0"}
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(url, env=env) as srv:
            yield srv


@pytest.fixture
def admin(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def project_client(server, roles: str = "member") -> httpx.Client:
    project_id = f"q-{uuid.uuid4().hex[:10]}"
    client = httpx.Client(base_url=server.url, timeout=30, headers={"X-Project-Id": project_id, "X-Roles": roles})
    client.project_id = project_id  # type: ignore[attr-defined]
    return client


@pytest.fixture
def tenant(server):
    with project_client(server) as client:
        yield client


def error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"NeutronError"} and body["NeutronError"]["detail"] == ""
    return body["NeutronError"]


def test_the_extensions_are_advertised(admin):
    aliases = {e["alias"] for e in admin.get("/v2.0/extensions").json()["extensions"]}
    assert {"quotas", "quota_details", "quota-check-limit", "quota-check-limit-default"} <= aliases
    assert admin.get("/v2.0/extensions/quotas").json()["extension"]["name"] == "Quota management support"
    paths = admin.get("/openapi.json").json()["paths"]
    assert set(paths["/v2.0/quotas/{project_id}"]) == {"get", "put", "delete"}
    assert "/v2.0/quotas/{project_id}/details" in paths


def test_a_member_reads_its_own_quotas_and_the_defaults(tenant):
    own = tenant.project_id
    r = tenant.get(f"/v2.0/quotas/{own}")
    assert (r.status_code, r.json()) == (200, {"quota": DEFAULTS})
    r = tenant.get(f"/v2.0/quotas/{own}/default")
    assert (r.status_code, r.json()) == (200, {"quota": DEFAULTS})
    r = tenant.get(f"/v2.0/quotas/{own}/details")
    assert r.status_code == 200
    assert r.json()["quota"]["port"] == {"limit": 17, "used": 0, "reserved": 0}
    assert set(r.json()["quota"]) == set(DEFAULTS)
    assert tenant.get("/v2.0/quotas/project").json() == {"project": {"project_id": own}}
    assert tenant.get("/v2.0/quotas/tenant").json() == {"tenant": {"tenant_id": own}}


def test_a_member_may_not_read_others_nor_change_anything(tenant):
    other = f"q-{uuid.uuid4().hex[:10]}"
    own = tenant.project_id
    assert error(tenant.get(f"/v2.0/quotas/{other}"), 403) == {
        "type": "PolicyNotAuthorized",
        "message": "(rule:get_quota) is disallowed by policy.",
        "detail": "",
    }
    assert error(tenant.get(f"/v2.0/quotas/{other}/default"), 403)["type"] == "PolicyNotAuthorized"
    assert error(tenant.get("/v2.0/quotas"), 403)["type"] == "PolicyNotAuthorized"
    details = error(tenant.get(f"/v2.0/quotas/{other}/details"), 403)
    assert details["type"] == "AdminRequired"
    assert details["message"] == (
        "User does not have admin privileges: Only admin is authorized to access quotas for another project."
    )
    denied = error(tenant.put(f"/v2.0/quotas/{own}", json={"quota": {"port": 1000}}), 403)
    assert denied["message"] == "(rule:update_quota) is disallowed by policy."
    # refused before the body is looked at, as Neutron
    assert error(tenant.put(f"/v2.0/quotas/{own}", json={"nonsense": 1}), 403)["type"] == "PolicyNotAuthorized"
    assert error(tenant.delete(f"/v2.0/quotas/{own}"), 403)["message"] == "(rule:delete_quota) is disallowed by policy."
    assert tenant.get(f"/v2.0/quotas/{own}").json()["quota"]["port"] == 17


def test_a_project_manager_reads_any_project_s_quotas_but_changes_none(server, tenant):
    """Neutron's get_quota is admin or project manager, checked against the caller's
    own project; update_quota and delete_quota are admin only."""
    with project_client(server, "manager,member,reader") as manager:
        other = tenant.project_id
        assert manager.get(f"/v2.0/quotas/{other}").json()["quota"]["port"] == 17
        assert manager.get(f"/v2.0/quotas/{other}/default").status_code == 200
        assert manager.get("/v2.0/quotas").status_code == 200
        denied = error(manager.put(f"/v2.0/quotas/{manager.project_id}", json={"quota": {"port": 1000}}), 403)
        assert denied["message"] == "(rule:update_quota) is disallowed by policy."
        assert error(manager.delete(f"/v2.0/quotas/{other}"), 403)["type"] == "PolicyNotAuthorized"


def test_an_admin_updates_lists_and_resets(admin, tenant):
    project = tenant.project_id
    r = admin.put(f"/v2.0/quotas/{project}", json={"quota": {"network": 5, "port": "30"}})
    assert (r.status_code, r.json()) == (200, {"quota": {**DEFAULTS, "network": 5, "port": 30}})
    assert tenant.get(f"/v2.0/quotas/{project}").json()["quota"]["port"] == 30

    listed = [q for q in admin.get("/v2.0/quotas").json()["quotas"] if q["project_id"] == project]
    assert listed == [{**DEFAULTS, "network": 5, "port": 30, "project_id": project, "tenant_id": project}]

    r = admin.delete(f"/v2.0/quotas/{project}")
    assert (r.status_code, r.content) == (204, b"")
    assert admin.get(f"/v2.0/quotas/{project}").json() == {"quota": DEFAULTS}
    assert all(q["project_id"] != project for q in admin.get("/v2.0/quotas").json()["quotas"])
    assert error(admin.delete(f"/v2.0/quotas/{project}"), 404) == {
        "type": "TenantQuotaNotFound",
        "message": f"Quota for tenant {project} could not be found.",
        "detail": "",
    }


def test_bad_update_bodies(admin):
    project = f"q-{uuid.uuid4().hex[:10]}"
    url = f"/v2.0/quotas/{project}"
    assert (
        error(admin.put(url, json={"quota": {"l2_gateway": 1}}), 400)["message"]
        == "Unrecognized attribute(s) 'l2_gateway'"
    )
    assert error(admin.put(url, json={"quota": {"port": -2}}), 400)["message"] == (
        "Invalid input for port. Reason: '-2' is too small - must be at least '-1'."
    )
    assert "is not an integer" in error(admin.put(url, json={"quota": {"port": "many"}}), 400)["message"]
    assert error(admin.put(url, json={"port": 1}), 400)["message"] == "Unable to find 'quota' in request body"
    # No POST on the collection: 405 naming what it does serve, as for any method a path lacks.
    refused = admin.post("/v2.0/quotas", json={"quota": {}})
    assert error(refused, 405)["type"] == "HTTPMethodNotAllowed"
    assert refused.headers["Allow"] == "GET, HEAD"
    assert admin.get(url).json() == {"quota": DEFAULTS}  # nothing was set


def test_over_the_limit_is_a_409_and_a_bulk_fails_whole(admin, tenant):
    project = tenant.project_id
    net = tenant.post("/v2.0/networks", json={"network": {"name": "q"}}).json()["network"]
    r = tenant.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.8.0.0/24"}})
    assert r.status_code == 201, r.text
    assert admin.put(f"/v2.0/quotas/{project}", json={"quota": {"port": 3}}).status_code == 200
    port = {"network_id": net["id"]}
    assert tenant.post("/v2.0/ports", json={"ports": [port, port]}).status_code == 201

    over = error(tenant.post("/v2.0/ports", json={"ports": [port, port]}), 409)
    assert over == {"type": "OverQuota", "message": "Quota exceeded for resources: ['port'].", "detail": ""}
    assert len(tenant.get("/v2.0/ports", params={"network_id": net["id"]}).json()["ports"]) == 2  # none of the bulk

    assert tenant.post("/v2.0/ports", json={"port": port}).status_code == 201
    assert error(tenant.post("/v2.0/ports", json={"port": port}), 409)["type"] == "OverQuota"
    details = tenant.get(f"/v2.0/quotas/{project}/details").json()["quota"]
    assert details["port"] == {"limit": 3, "used": 3, "reserved": 0}
    assert (details["network"]["used"], details["subnet"]["used"]) == (1, 1)

    # below the usage: refused unless forced (Neutron's quota-check-limit, on by default)
    r = admin.put(f"/v2.0/quotas/{project}", json={"quota": {"port": 2, "check_limit": True}})
    assert error(r, 400)["message"] == "Quota limit 2 for port must be greater than or equal to already used 3"
    r = admin.put(f"/v2.0/quotas/{project}", json={"quota": {"port": 2, "force": True}})
    assert (r.status_code, r.json()["quota"]["port"]) == (200, 2)


def test_a_group_needs_room_for_its_two_egress_rules(admin, tenant):
    """Neutron refuses a security group whose default egress rules the rule quota
    cannot hold (neutron-tempest-plugin's insufficient rules quota test)."""
    project = tenant.project_id
    # the first group also makes the project's default group (4 rules, never refused)
    assert tenant.post("/v2.0/security-groups", json={"security_group": {"name": "a"}}).status_code == 201
    used = tenant.get(f"/v2.0/quotas/{project}/details").json()["quota"]["security_group_rule"]["used"]
    assert used == 6
    assert admin.put(f"/v2.0/quotas/{project}", json={"quota": {"security_group_rule": 7}}).status_code == 200
    over = error(tenant.post("/v2.0/security-groups", json={"security_group": {"name": "b"}}), 409)
    assert over["message"] == "Quota exceeded for resources: ['security_group_rule']."
    names = [g["name"] for g in tenant.get("/v2.0/security-groups").json()["security_groups"]]
    assert sorted(names) == ["a", "default"]  # nothing of the refused group
    assert admin.put(f"/v2.0/quotas/{project}", json={"quota": {"security_group_rule": 8}}).status_code == 200
    assert tenant.post("/v2.0/security-groups", json={"security_group": {"name": "b"}}).status_code == 201


def test_floating_ips_use_the_default_limit(admin, tenant):
    external = admin.post("/v2.0/networks", json={"network": {"name": "ext", "router:external": True}}).json()
    network_id = external["network"]["id"]
    subnet = {"network_id": network_id, "ip_version": 4, "cidr": "203.0.113.0/24", "enable_dhcp": False}
    assert admin.post("/v2.0/subnets", json={"subnet": subnet}).status_code == 201
    over = error(tenant.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": network_id}}), 409)
    assert over["message"] == "Quota exceeded for resources: ['floatingip']."


def test_openstacksdk_reads_updates_and_resets_quotas(server):
    from tests.api.test_sdk_workflows import connect

    admin = connect(server.url)
    project = f"q-{uuid.uuid4().hex[:10]}"
    member = connect(server.url, project)
    quota = admin.network.update_quota(project, ports=40, networks=3)
    assert (quota.ports, quota.networks, quota.floating_ips) == (40, 3, 0)
    shown = member.network.get_quota(project)
    assert (shown.ports, shown.subnets, shown.security_group_rules) == (40, 100, 100)
    detailed = member.network.get_quota(project, details=True)
    assert detailed.ports == {"limit": 40, "used": 0, "reserved": 0}
    assert admin.network.get_quota_default(project).ports == 17
    admin.network.delete_quota(project)
    assert admin.network.get_quota(project).ports == 17
