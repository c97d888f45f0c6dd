"""RBAC policies on subnet pools and address scopes over HTTP (Neutron's
``rbac-subnetpool``, ``rbac-address-scope``): a targeted project sees the pool
and takes subnets from it, sees the scope and puts its pools in it; another
project sees neither; removing a policy still in use is 409; ``shared: true``
is the wildcard policy and ``shared`` follows the policies."""

from __future__ import annotations

import uuid

from tests.api.test_rbac import created, guest, owner, policy, stranger  # noqa: F401 (fixtures)
from tests.api.test_subnet_pools import make_pool, pool_subnet
from tests.api.test_wire import error_of

POOL = "subnetpool"
SCOPE = "address_scope"


def make_scope(client, **attrs) -> dict:
    body = {"name": f"s-{uuid.uuid4().hex[:6]}", "ip_version": 4, **attrs}
    r = client.post("/v2.0/address-scopes", json={"address_scope": body})
    assert r.status_code == 201, r.text
    return r.json()["address_scope"]


def ids(client, collection: str, **params) -> set[str]:
    r = client.get(f"/v2.0/{collection}", params=params)
    assert r.status_code == 200, r.text
    return {row["id"] for row in r.json()[collection.replace("-", "_")]}


def test_pool_shared_with_one_project(owner, guest, stranger):  # noqa: F811
    pool = make_pool(owner, ["10.120.0.0/16"], default_prefixlen=24)
    assert error_of(pool_subnet(guest, pool["id"]), 404) == "SubnetPoolNotFound"
    rule = created(policy(owner, pool["id"], guest.project_id, object_type=POOL))
    assert rule["object_type"] == POOL
    assert error_of(policy(owner, pool["id"], stranger.project_id, "access_as_external", POOL), 400)
    # The target sees it shared; the owner unshared (no wildcard); a stranger not at all.
    assert guest.get(f"/v2.0/subnetpools/{pool['id']}").json()["subnetpool"]["shared"] is True
    assert owner.get(f"/v2.0/subnetpools/{pool['id']}").json()["subnetpool"]["shared"] is False
    assert pool["id"] in ids(guest, "subnetpools", shared="true")
    assert pool["id"] not in ids(guest, "subnetpools", shared="false")
    assert pool["id"] in ids(owner, "subnetpools", shared="false")
    assert pool["id"] not in ids(stranger, "subnetpools")
    assert error_of(stranger.get(f"/v2.0/subnetpools/{pool['id']}"), 404) == "SubnetPoolNotFound"
    assert error_of(pool_subnet(stranger, pool["id"]), 404) == "SubnetPoolNotFound"
    # The target allocates from it; then the policy is in use.
    r = pool_subnet(guest, pool["id"])
    assert r.status_code == 201, r.text
    subnet = r.json()["subnet"]
    assert subnet["cidr"].startswith("10.120.") and subnet["project_id"] == guest.project_id
    assert error_of(owner.delete(f"/v2.0/rbac-policies/{rule['id']}"), 409) == "RbacPolicyInUse"
    moved = owner.put(f"/v2.0/rbac-policies/{rule['id']}", json={"rbac_policy": {"target_tenant": uuid.uuid4().hex}})
    assert error_of(moved, 409) == "RbacPolicyInUse"
    assert guest.delete(f"/v2.0/subnets/{subnet['id']}").status_code == 204
    assert owner.delete(f"/v2.0/rbac-policies/{rule['id']}").status_code == 204
    assert error_of(guest.get(f"/v2.0/subnetpools/{pool['id']}"), 404) == "SubnetPoolNotFound"
    assert error_of(pool_subnet(guest, pool["id"]), 404) == "SubnetPoolNotFound"


def test_scope_shared_with_one_project(owner, guest, stranger):  # noqa: F811
    scope = make_scope(owner)
    body = {"prefixes": ["10.121.0.0/16"], "address_scope_id": scope["id"]}
    assert error_of(guest.post("/v2.0/subnetpools", json={"subnetpool": {"name": "g", **body}}), 404)
    rule = created(policy(owner, scope["id"], guest.project_id, object_type=SCOPE))
    assert guest.get(f"/v2.0/address-scopes/{scope['id']}").json()["address_scope"]["shared"] is True
    assert owner.get(f"/v2.0/address-scopes/{scope['id']}").json()["address_scope"]["shared"] is False
    assert scope["id"] in ids(guest, "address-scopes", shared="true")
    assert scope["id"] not in ids(stranger, "address-scopes")
    assert error_of(stranger.get(f"/v2.0/address-scopes/{scope['id']}"), 404) == "AddressScopeNotFound"
    refused = stranger.post("/v2.0/subnetpools", json={"subnetpool": {"name": "s", **body}})
    assert error_of(refused, 404) == "AddressScopeNotFound"
    # The target's pool joins the scope; the policy is then in use.
    pool = make_pool(guest, body["prefixes"], address_scope_id=scope["id"])
    assert pool["address_scope_id"] == scope["id"]
    # A pool in a scope is shared only with projects the scope is shared with (Neutron).
    refused = policy(guest, pool["id"], stranger.project_id, object_type=POOL)
    assert error_of(refused, 400) == "RbacPolicyInitError"
    assert guest.get("/v2.0/rbac-policies").json()["rbac_policies"] == []
    created(policy(owner, scope["id"], stranger.project_id, object_type=SCOPE))
    created(policy(guest, pool["id"], stranger.project_id, object_type=POOL))
    assert pool["id"] in ids(stranger, "subnetpools")
    assert error_of(owner.delete(f"/v2.0/rbac-policies/{rule['id']}"), 409) == "RbacPolicyInUse"
    assert guest.delete(f"/v2.0/subnetpools/{pool['id']}").status_code == 204
    assert owner.delete(f"/v2.0/rbac-policies/{rule['id']}").status_code == 204
    assert error_of(guest.get(f"/v2.0/address-scopes/{scope['id']}"), 404) == "AddressScopeNotFound"


def test_shared_true_is_the_wildcard_policy(admin, owner, guest):  # noqa: F811
    pool = make_pool(admin, ["10.122.0.0/16"], shared=True, project_id=owner.project_id, default_prefixlen=24)
    scope = make_scope(admin, project_id=owner.project_id)
    for object_id in (pool["id"], scope["id"]):
        found = admin.get("/v2.0/rbac-policies", params={"object_id": object_id}).json()["rbac_policies"]
        assert [(p["action"], p["target_tenant"]) for p in found] == (
            [("access_as_shared", "*")] if object_id == pool["id"] else []
        )
    wildcard = admin.get("/v2.0/rbac-policies", params={"object_id": pool["id"]}).json()["rbac_policies"][0]
    assert pool["id"] in ids(guest, "subnetpools", shared="true")
    subnet = pool_subnet(guest, pool["id"]).json()["subnet"]
    assert error_of(admin.delete(f"/v2.0/rbac-policies/{wildcard['id']}"), 409) == "RbacPolicyInUse"
    assert guest.delete(f"/v2.0/subnets/{subnet['id']}").status_code == 204
    assert admin.delete(f"/v2.0/rbac-policies/{wildcard['id']}").status_code == 204
    # The wildcard gone: not shared any more, in the same transaction.
    assert admin.get(f"/v2.0/subnetpools/{pool['id']}").json()["subnetpool"]["shared"] is False
    assert pool["id"] not in ids(guest, "subnetpools")
    # A wildcard policy made through the API is ``shared: true``; sharing a scope by update too.
    created(policy(admin, pool["id"], "*", object_type=POOL))
    assert owner.get(f"/v2.0/subnetpools/{pool['id']}").json()["subnetpool"]["shared"] is True
    r = admin.put(f"/v2.0/address-scopes/{scope['id']}", json={"address_scope": {"shared": True}})
    assert r.status_code == 200 and r.json()["address_scope"]["shared"] is True, r.text
    found = admin.get("/v2.0/rbac-policies", params={"object_id": scope["id"]}).json()["rbac_policies"]
    assert [p["target_tenant"] for p in found] == ["*"]
    assert scope["id"] in ids(guest, "address-scopes")
    # Deleting the objects takes their policies.
    assert admin.delete(f"/v2.0/subnetpools/{pool['id']}").status_code == 204
    assert admin.delete(f"/v2.0/address-scopes/{scope['id']}").status_code == 204
    for object_id in (pool["id"], scope["id"]):
        assert admin.get("/v2.0/rbac-policies", params={"object_id": object_id}).json()["rbac_policies"] == []


def test_extensions_and_other_projects_objects(owner, guest):  # noqa: F811
    aliases = {e["alias"] for e in owner.get("/v2.0/extensions").json()["extensions"]}
    assert {"rbac-subnetpool", "rbac-address-scope"} <= aliases
    pool = make_pool(owner, ["10.123.0.0/16"])
    scope = make_scope(owner)
    # Another project's pool or scope is not the guest's to share (Neutron's 400).
    assert error_of(policy(guest, pool["id"], guest.project_id, object_type=POOL), 400) == "InvalidInput"
    assert error_of(policy(guest, scope["id"], guest.project_id, object_type=SCOPE), 400) == "InvalidInput"
    assert error_of(policy(owner, pool["id"], "*", object_type=POOL), 403) == "PolicyNotAuthorized"
    assert owner.get("/v2.0/rbac-policies", params={"object_type": POOL}).json()["rbac_policies"] == []
