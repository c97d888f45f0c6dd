"""Address scopes over HTTP on every database (Neutron's ``address-scope``):
the scope's attributes, pools joining scopes (IP version, no overlap within a
scope, re-checked when a pool changes scope), networks showing their scopes,
and a scope in use that cannot go."""

from __future__ import annotations

import uuid

import httpx

from tests.api.test_subnet_pools import make_network, make_pool, pool_subnet


def _error(response: httpx.Response) -> str:
    return response.json()["NeutronError"]["type"]


def make_scope(client: httpx.Client, version: int = 4, **attrs) -> dict:
    body = {"name": f"s-{uuid.uuid4().hex[:6]}", "ip_version": version, **attrs}
    r = client.post("/v2.0/address-scopes", json={"address_scope": body})
    assert r.status_code == 201, r.text
    return r.json()["address_scope"]


def test_scope_view_and_rules(admin, tenant) -> None:
    scope = make_scope(tenant, 6)
    assert scope["ip_version"] == 6 and scope["shared"] is False
    assert scope["project_id"] == tenant.project_id and scope["tags"] == []
    assert tenant.get(f"/v2.0/address-scopes/{scope['id']}").json()["address_scope"] == scope
    bad = tenant.post("/v2.0/address-scopes", json={"address_scope": {"name": "x", "ip_version": 5}})
    assert bad.status_code == 400
    assert tenant.post("/v2.0/address-scopes", json={"address_scope": {"name": "x"}}).status_code == 400
    shared = tenant.post("/v2.0/address-scopes", json={"address_scope": {"ip_version": 4, "shared": True}})
    assert shared.status_code == 403
    renamed = tenant.put(f"/v2.0/address-scopes/{scope['id']}", json={"address_scope": {"name": "renamed"}})
    assert renamed.json()["address_scope"]["name"] == "renamed"
    public = make_scope(admin, 4, shared=True)
    unshare = admin.put(f"/v2.0/address-scopes/{public['id']}", json={"address_scope": {"shared": False}})
    assert (unshare.status_code, _error(unshare)) == (400, "AddressScopeUpdateError")
    ids = {s["id"] for s in tenant.get("/v2.0/address-scopes").json()["address_scopes"]}
    assert {scope["id"], public["id"]} <= ids
    assert admin.delete(f"/v2.0/address-scopes/{public['id']}").status_code == 204
    assert tenant.delete(f"/v2.0/address-scopes/{scope['id']}").status_code == 204
    assert tenant.get(f"/v2.0/address-scopes/{scope['id']}").status_code == 404


def test_pools_of_one_scope_never_overlap(tenant) -> None:
    scope = make_scope(tenant)
    pool = make_pool(tenant, ["10.20.0.0/16"], address_scope_id=scope["id"])
    assert pool["address_scope_id"] == scope["id"]
    body = {"name": "x", "prefixes": ["10.20.128.0/24"], "address_scope_id": scope["id"]}
    clash = tenant.post("/v2.0/subnetpools", json={"subnetpool": body})
    assert (clash.status_code, _error(clash)) == (409, "AddressScopePrefixConflict")
    six = tenant.post(
        "/v2.0/subnetpools",
        json={"subnetpool": {"name": "x", "prefixes": ["2001:db8::/48"], "address_scope_id": scope["id"]}},
    )
    assert (six.status_code, _error(six)) == (400, "IllegalSubnetPoolIpVersionAssociationToAddressScope")
    # the same prefixes outside the scope are fine; joining the scope later is re-checked
    loose = make_pool(tenant, ["10.20.0.0/24"])
    join = tenant.put(f"/v2.0/subnetpools/{loose['id']}", json={"subnetpool": {"address_scope_id": scope["id"]}})
    assert (join.status_code, _error(join)) == (409, "AddressScopePrefixConflict")
    other = make_pool(tenant, ["10.21.0.0/16"], address_scope_id=scope["id"])
    grow = tenant.put(f"/v2.0/subnetpools/{other['id']}/add_prefixes", json={"prefixes": ["10.20.5.0/24"]})
    assert (grow.status_code, _error(grow)) == (409, "AddressScopePrefixConflict")
    leave = tenant.put(f"/v2.0/subnetpools/{other['id']}", json={"subnetpool": {"address_scope_id": None}})
    assert leave.status_code == 200 and leave.json()["subnetpool"]["address_scope_id"] is None
    in_use = tenant.delete(f"/v2.0/address-scopes/{scope['id']}")
    assert (in_use.status_code, _error(in_use)) == (409, "AddressScopeInUse")
    assert tenant.delete(f"/v2.0/subnetpools/{pool['id']}").status_code == 204
    assert tenant.delete(f"/v2.0/address-scopes/{scope['id']}").status_code == 204


def test_networks_show_their_scopes(tenant) -> None:
    scope = make_scope(tenant)
    pool = make_pool(tenant, ["10.22.0.0/16"], default_prefixlen=24, address_scope_id=scope["id"])
    network = make_network(tenant)
    shown = tenant.get(f"/v2.0/networks/{network}").json()["network"]
    assert shown["ipv4_address_scope"] is None and shown["ipv6_address_scope"] is None
    assert pool_subnet(tenant, pool["id"], network).status_code == 201
    shown = tenant.get(f"/v2.0/networks/{network}").json()["network"]
    assert shown["ipv4_address_scope"] == scope["id"] and shown["ipv6_address_scope"] is None
    listed = tenant.get("/v2.0/networks", params={"id": network}).json()["networks"]
    assert listed[0]["ipv4_address_scope"] == scope["id"]
    # another pool of the same scope may serve the network; one of another scope may not
    sibling = make_pool(tenant, ["10.24.0.0/16"], default_prefixlen=24, address_scope_id=scope["id"])
    assert pool_subnet(tenant, sibling["id"], network).status_code == 201
    elsewhere = make_pool(tenant, ["10.25.0.0/16"], default_prefixlen=24, address_scope_id=make_scope(tenant)["id"])
    refused = pool_subnet(tenant, elsewhere["id"], network)
    assert (refused.status_code, _error(refused)) == (400, "NetworkAddressScopeAffinityError")


def test_other_projects_cannot_use_a_private_scope(tenant, api_server) -> None:
    scope = make_scope(tenant)
    with httpx.Client(
        base_url=api_server.url, headers={"X-Project-Id": f"o-{uuid.uuid4().hex[:8]}", "X-Roles": "member"}
    ) as other:
        assert other.get(f"/v2.0/address-scopes/{scope['id']}").status_code == 404
        r = other.post(
            "/v2.0/subnetpools",
            json={"subnetpool": {"name": "x", "prefixes": ["10.23.0.0/16"], "address_scope_id": scope["id"]}},
        )
        assert (r.status_code, _error(r)) == (404, "AddressScopeNotFound")
