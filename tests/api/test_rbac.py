"""RBAC policies over HTTP (Neutron's /v2.0/rbac-policies): networks shared with
one project or everyone, external networks, security groups, the 409s of
access still in use, and the CLI and openstacksdk on the same server."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_openstack_cli import osc, osc_json
from tests.api.test_sdk_workflows import connect
from tests.api.test_wire import error_of, make_network, make_subnet
from tests.dbs import selected_backends


def project_client(api_server) -> httpx.Client:
    """A member of a fresh project whose id is UUID-like (as Keystone's; Neutron
    refuses other target projects)."""
    project_id = uuid.uuid4().hex
    client = httpx.Client(
        base_url=api_server.url, timeout=30, headers={"X-Project-Id": project_id, "X-Roles": "member"}
    )
    client.project_id = project_id  # type: ignore[attr-defined]
    return client


@pytest.fixture
def owner(api_server):
    with project_client(api_server) as client:
        yield client


@pytest.fixture
def guest(api_server):
    with project_client(api_server) as client:
        yield client


@pytest.fixture
def stranger(api_server):
    with project_client(api_server) as client:
        yield client


def policy(client, object_id: str, target: str, action: str = "access_as_shared", object_type: str = "network"):
    body = {"object_type": object_type, "object_id": object_id, "action": action, "target_tenant": target}
    return client.post("/v2.0/rbac-policies", json={"rbac_policy": body})


def created(response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()["rbac_policy"]


def network_ids(client, **params) -> set[str]:
    r = client.get("/v2.0/networks", params=params)
    assert r.status_code == 200, r.text
    return {n["id"] for n in r.json()["networks"]}


def test_policy_shape_visibility_update_and_delete(owner, guest, stranger):
    net = make_network(owner)
    rule = created(policy(owner, net["id"], guest.project_id))
    assert rule.pop("links")  # Quark's permanent links, on every view
    assert rule == {
        "id": rule["id"],
        "project_id": owner.project_id,
        "tenant_id": owner.project_id,
        "object_type": "network",
        "object_id": net["id"],
        "action": "access_as_shared",
        "target_tenant": guest.project_id,
    }
    # The policy is its maker's: others (the target included) do not see it.
    shown = owner.get(f"/v2.0/rbac-policies/{rule['id']}").json()["rbac_policy"]
    assert {k: v for k, v in shown.items() if k != "links"} == rule
    assert error_of(guest.get(f"/v2.0/rbac-policies/{rule['id']}"), 404) == "RbacPolicyNotFound"
    assert [
        p["id"] for p in owner.get("/v2.0/rbac-policies", params={"object_id": net["id"]}).json()["rbac_policies"]
    ] == [rule["id"]]
    assert guest.get("/v2.0/rbac-policies").json()["rbac_policies"] == []
    # Only the target changes.
    r = owner.put(f"/v2.0/rbac-policies/{rule['id']}", json={"rbac_policy": {"target_tenant": stranger.project_id}})
    assert r.status_code == 200, r.text
    assert r.json()["rbac_policy"]["target_tenant"] == stranger.project_id
    r = owner.put(f"/v2.0/rbac-policies/{rule['id']}", json={"rbac_policy": {"action": "access_as_external"}})
    assert error_of(r, 400) == "HTTPBadRequest"
    assert owner.delete(f"/v2.0/rbac-policies/{rule['id']}").status_code == 204
    assert error_of(owner.get(f"/v2.0/rbac-policies/{rule['id']}"), 404) == "RbacPolicyNotFound"


def test_bad_policies_are_refused_and_change_nothing(owner, guest, admin):
    net = make_network(owner)
    assert error_of(policy(owner, net["id"], guest.project_id, object_type="subnet"), 400) == "InvalidInput"
    refused = policy(owner, net["id"], guest.project_id, action="access_as_readonly")
    assert error_of(refused, 400) == "InvalidActionForType"
    assert error_of(policy(owner, net["id"], "not a project"), 400) == "InvalidInput"
    # Another project's network: Neutron's 400, seen or not.
    assert error_of(policy(guest, net["id"], guest.project_id), 400) == "InvalidInput"
    assert error_of(policy(owner, str(uuid.uuid4()), guest.project_id), 400) == "InvalidInput"
    # '*' is for admins (restrict_wildcard).
    assert error_of(policy(owner, net["id"], "*"), 403) == "PolicyNotAuthorized"
    created(policy(owner, net["id"], guest.project_id))
    # A policy is a change of its network (Neutron: revises_on_change).
    assert owner.get(f"/v2.0/networks/{net['id']}").json()["network"]["revision_number"] == net["revision_number"] + 1
    assert error_of(policy(owner, net["id"], guest.project_id), 409) == "DuplicateRbacPolicy"
    listed = admin.get("/v2.0/rbac-policies", params={"object_id": net["id"]}).json()["rbac_policies"]
    assert len(listed) == 1


def test_targeted_project_sees_the_network_its_subnets_and_makes_ports(owner, guest, stranger):
    net = make_network(owner)
    subnet = make_subnet(owner, net["id"], "10.91.0.0/24")
    assert net["id"] not in network_ids(guest)
    assert error_of(guest.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}), 404) == "NetworkNotFound"
    created(policy(owner, net["id"], guest.project_id))
    # The target sees it shared; a stranger still sees nothing; the owner sees it unshared.
    seen = guest.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert seen["shared"] is True and seen["subnets"] == [subnet["id"]]
    assert owner.get(f"/v2.0/networks/{net['id']}").json()["network"]["shared"] is False
    assert error_of(stranger.get(f"/v2.0/networks/{net['id']}"), 404) == "NetworkNotFound"
    assert net["id"] in network_ids(guest, shared="true")
    assert net["id"] not in network_ids(guest, shared="false")
    assert net["id"] in network_ids(owner, shared="false")
    assert net["id"] not in network_ids(stranger)
    assert guest.get(f"/v2.0/subnets/{subnet['id']}").status_code == 200
    assert error_of(stranger.get(f"/v2.0/subnets/{subnet['id']}"), 404) == "SubnetNotFound"
    # The targeted project's port on it.
    r = guest.post("/v2.0/ports", json={"port": {"network_id": net["id"]}})
    assert r.status_code == 201, r.text
    assert r.json()["port"]["project_id"] == guest.project_id


def test_removing_a_policy_in_use_is_409_until_the_ports_go(owner, guest):
    net = make_network(owner)
    make_subnet(owner, net["id"], "10.92.0.0/24")
    rule = created(policy(owner, net["id"], guest.project_id))
    port = guest.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    assert error_of(owner.delete(f"/v2.0/rbac-policies/{rule['id']}"), 409) == "RbacPolicyInUse"
    other = uuid.uuid4().hex
    r = owner.put(f"/v2.0/rbac-policies/{rule['id']}", json={"rbac_policy": {"target_tenant": other}})
    assert error_of(r, 409) == "RbacPolicyInUse"
    assert owner.get(f"/v2.0/rbac-policies/{rule['id']}").json()["rbac_policy"]["target_tenant"] == guest.project_id
    assert guest.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert owner.delete(f"/v2.0/rbac-policies/{rule['id']}").status_code == 204
    assert net["id"] not in network_ids(guest)


def test_shared_true_is_the_wildcard_policy(admin, owner, guest):
    net = make_network(admin, shared=True, project_id=owner.project_id)
    wildcard = admin.get("/v2.0/rbac-policies", params={"object_id": net["id"]}).json()["rbac_policies"]
    assert [(p["action"], p["target_tenant"]) for p in wildcard] == [("access_as_shared", "*")]
    assert net["id"] in network_ids(guest, shared="true")
    make_subnet(owner, net["id"], "10.93.0.0/24")
    port = guest.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    # Unsharing while another project's port is on it: 409, nothing changed.
    r = admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"shared": False}})
    assert error_of(r, 409) == "InvalidSharedSetting"
    assert error_of(admin.delete(f"/v2.0/rbac-policies/{wildcard[0]['id']}"), 409) == "RbacPolicyInUse"
    # A targeted policy keeps that project's port legitimate: now unsharing works.
    created(policy(owner, net["id"], guest.project_id))
    r = admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"shared": False}})
    assert r.status_code == 200, r.text
    assert owner.get(f"/v2.0/networks/{net['id']}").json()["network"]["shared"] is False
    assert guest.get(f"/v2.0/networks/{net['id']}").json()["network"]["shared"] is True
    left = admin.get("/v2.0/rbac-policies", params={"object_id": net["id"]}).json()["rbac_policies"]
    assert [p["target_tenant"] for p in left] == [guest.project_id]
    assert guest.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    # Deleting the network takes its policies.
    assert admin.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert admin.get("/v2.0/rbac-policies", params={"object_id": net["id"]}).json()["rbac_policies"] == []


def test_access_as_external_makes_the_network_external_for_its_target(admin, owner, guest, stranger):
    net = make_network(admin, project_id=owner.project_id)
    make_subnet(admin, net["id"], "10.94.0.0/24")
    rule = created(policy(admin, net["id"], guest.project_id, action="access_as_external"))
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["router:external"] is True
    seen = guest.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert seen["router:external"] is True and seen["shared"] is False
    assert net["id"] in network_ids(guest, **{"router:external": "true"})
    assert net["id"] not in network_ids(stranger)
    # External, not shared: no ports of the target's own on it (403), but its router's gateway.
    assert error_of(guest.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}), 403) == "PolicyNotAuthorized"
    r = guest.post("/v2.0/routers", json={"router": {"name": "gw", "external_gateway_info": {"network_id": net["id"]}}})
    assert r.status_code == 201, r.text
    router = r.json()["router"]
    assert error_of(admin.delete(f"/v2.0/rbac-policies/{rule['id']}"), 409) == "RbacPolicyInUse"
    assert guest.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    assert admin.delete(f"/v2.0/rbac-policies/{rule['id']}").status_code == 204
    # The last external policy gone: not external any more (Neutron).
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["router:external"] is False


def test_security_group_shared_with_a_project(owner, guest, stranger):
    group = owner.post("/v2.0/security-groups", json={"security_group": {"name": "web"}}).json()["security_group"]
    net = make_network(guest)
    make_subnet(guest, net["id"], "10.95.0.0/24")
    body = {"port": {"network_id": net["id"], "security_groups": [group["id"]]}}
    assert error_of(guest.post("/v2.0/ports", json=body), 404) == "SecurityGroupNotFound"
    rule = created(policy(owner, group["id"], guest.project_id, object_type="security_group"))
    assert error_of(policy(owner, group["id"], stranger.project_id, "access_as_external", "security_group"), 400)
    seen = guest.get(f"/v2.0/security-groups/{group['id']}").json()["security_group"]
    assert seen["shared"] is True
    assert group["id"] in {
        g["id"] for g in guest.get("/v2.0/security-groups", params={"shared": "true"}).json()["security_groups"]
    }
    assert error_of(stranger.get(f"/v2.0/security-groups/{group['id']}"), 404) == "SecurityGroupNotFound"
    port = guest.post("/v2.0/ports", json=body)
    assert port.status_code == 201, port.text
    assert error_of(owner.delete(f"/v2.0/rbac-policies/{rule['id']}"), 409) == "RbacPolicyInUse"
    assert guest.delete(f"/v2.0/ports/{port.json()['port']['id']}").status_code == 204
    assert owner.delete(f"/v2.0/rbac-policies/{rule['id']}").status_code == 204
    assert error_of(guest.get(f"/v2.0/security-groups/{group['id']}"), 404) == "SecurityGroupNotFound"


def test_rbac_policy_quota(owner, admin):
    net = make_network(owner)
    r = admin.put(f"/v2.0/quotas/{owner.project_id}", json={"quota": {"rbac_policy": 1}})
    assert r.status_code == 200, r.text
    created(policy(owner, net["id"], uuid.uuid4().hex))
    assert error_of(policy(owner, net["id"], uuid.uuid4().hex), 409) == "OverQuota"
    assert len(owner.get("/v2.0/rbac-policies").json()["rbac_policies"]) == 1


def test_openstack_cli(api_server, admin, request):
    # The CLI is slow to start (seconds a command on this machine) and its requests are
    # openstacksdk's, which the next test runs on every database: once, on the first.
    if request.node.callspec.params["api_server"] != selected_backends()[0]:
        pytest.skip("the CLI runs on the first selected backend; the SDK test covers every database")
    # It resolves --target-project through Keystone (absent in noauth):
    # --target-all-projects is the wildcard, as an admin makes it.
    net = make_network(admin)
    made = osc_json(
        api_server,
        *("network", "rbac", "create", "--type", "network", "--action", "access_as_shared"),
        *("--target-all-projects", net["id"]),
    )
    assert made["target_project_id"] == "*" and made["object_id"] == net["id"]
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["shared"] is True
    assert made["id"] in {row["ID"] for row in osc_json(api_server, "network", "rbac", "list")}
    osc(api_server, "network", "rbac", "delete", made["id"])
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["shared"] is False
    assert admin.get("/v2.0/rbac-policies", params={"object_id": net["id"]}).json()["rbac_policies"] == []


def test_openstacksdk(api_server, owner):
    conn = connect(api_server.url, owner.project_id)
    target = uuid.uuid4().hex
    mine = conn.network.create_network(name=f"rbac-{uuid.uuid4().hex[:8]}")
    rule = conn.network.create_rbac_policy(
        object_type="network", object_id=mine.id, action="access_as_shared", target_project_id=target
    )
    assert rule.target_project_id == target
    assert [p.id for p in conn.network.rbac_policies(object_id=mine.id)] == [rule.id]
    other = uuid.uuid4().hex
    assert conn.network.update_rbac_policy(rule, target_project_id=other).target_project_id == other
    conn.network.delete_rbac_policy(rule)
    assert list(conn.network.rbac_policies(object_id=mine.id)) == []


def test_default_external_network_keeps_its_wildcard_external_policy(admin):
    """As Neutron's: the wildcard access_as_external policy of the default
    external network (is_default) may neither go nor move (409
    RbacPolicyInUse); once it is not the default, it may."""
    net = make_network(admin, **{"router:external": True})
    wildcard = admin.get(
        "/v2.0/rbac-policies",
        params={"object_id": net["id"], "action": "access_as_external", "target_tenant": "*"},
    ).json()["rbac_policies"]
    assert len(wildcard) == 1
    url = f"/v2.0/rbac-policies/{wildcard[0]['id']}"
    on = admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"is_default": True}})
    assert on.status_code == 200, on.text
    try:
        assert error_of(admin.delete(url), 409) == "RbacPolicyInUse"
        moved = admin.put(url, json={"rbac_policy": {"target_tenant": uuid.uuid4().hex}})
        assert error_of(moved, 409) == "RbacPolicyInUse"
        assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["router:external"] is True
        # another project's own external policy may still go
        other = created(policy(admin, net["id"], uuid.uuid4().hex, action="access_as_external"))
        assert admin.delete(f"/v2.0/rbac-policies/{other['id']}").status_code == 204
    finally:
        off = admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"is_default": False}})
        assert off.status_code == 200, off.text
    assert admin.delete(url).status_code == 204
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["router:external"] is False


def test_floating_ips_of_the_default_external_network_outlive_a_refused_wildcard_delete(admin, tenant):
    """Tempest's test_update_floatingip_bumps_revision met NetworkNotFound: an
    earlier test had deleted the default external network's wildcard
    access_as_external policy, so projects no longer saw the network. Refused
    now, a project still makes and updates floating IPs from it."""
    net = make_network(admin, **{"router:external": True})
    make_subnet(admin, net["id"], f"10.{uuid.uuid4().int % 200 + 20}.77.0/24")
    wildcard = admin.get(
        "/v2.0/rbac-policies", params={"object_id": net["id"], "action": "access_as_external", "target_tenant": "*"}
    ).json()["rbac_policies"][0]
    assert admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"is_default": True}}).status_code == 200
    try:
        assert error_of(admin.delete(f"/v2.0/rbac-policies/{wildcard['id']}"), 409) == "RbacPolicyInUse"
        made = tenant.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": net["id"]}})
        assert made.status_code == 201, made.text
        fip = made.json()["floatingip"]
        updated = tenant.put(f"/v2.0/floatingips/{fip['id']}", json={"floatingip": {"description": "d"}})
        assert updated.status_code == 200, updated.text
        assert updated.json()["floatingip"]["revision_number"] > fip["revision_number"]
        assert tenant.delete(f"/v2.0/floatingips/{fip['id']}").status_code == 204
    finally:
        assert admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"is_default": False}}).status_code == 200
