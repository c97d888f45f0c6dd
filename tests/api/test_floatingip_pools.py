"""Floating IP pools (Neutron's ``floatingip-pools``) against a real server on
every database: ``GET /v2.0/floatingip_pools`` (and ``/floatingip-pools``)
lists the IPv4 subnets of the external networks the caller sees, as
``{subnet_id, subnet_name, network_id, cidr, project_id, tenant_id}`` with the
caller's project; filters, ``fields``; read only; a floating IP comes from the
pool it names; advertised and in /openapi.json."""

from __future__ import annotations

import uuid

from tests.api.test_wire import make_network, make_subnet

URL = "/v2.0/floatingip_pools"


def pools_of(client, **params) -> dict[str, dict]:
    r = client.get(URL, params=params)
    assert r.status_code == 200, r.text
    return {p["subnet_id"]: p for p in r.json()["floatingip_pools"]}


def test_pools_are_the_ipv4_subnets_of_visible_external_networks(admin, tenant):
    ext = make_network(admin, **{"router:external": True})
    octet = uuid.uuid4().int % 200 + 20
    one = make_subnet(admin, ext["id"], f"172.{octet}.1.0/24", name="pool-one")
    two = make_subnet(admin, ext["id"], f"172.{octet}.2.0/24", name="pool-two")
    v6 = make_subnet(admin, ext["id"], f"2001:db8:{octet:x}::/64", version=6)
    internal = make_network(admin)
    hidden = make_subnet(admin, internal["id"], f"172.{octet}.3.0/24")
    # external for another project only: not the tenant's pool
    private = make_network(admin)
    private_subnet = make_subnet(admin, private["id"], f"172.{octet}.4.0/24")
    body = {"object_type": "network", "object_id": private["id"], "action": "access_as_external"}
    body["target_tenant"] = uuid.uuid4().hex
    assert admin.post("/v2.0/rbac-policies", json={"rbac_policy": body}).status_code == 201

    seen = pools_of(tenant)
    assert {one["id"], two["id"]} <= set(seen)
    assert not {v6["id"], hidden["id"], private_subnet["id"]} & set(seen)
    assert seen[one["id"]] == {
        "subnet_id": one["id"],
        "subnet_name": "pool-one",
        "network_id": ext["id"],
        "cidr": f"172.{octet}.1.0/24",
        "project_id": tenant.project_id,
        "tenant_id": tenant.project_id,
        "links": seen[one["id"]]["links"],
    }
    assert private_subnet["id"] in pools_of(admin)
    # the hyphenated path, filters and fields
    assert set(pools_of(tenant, network_id=ext["id"])) == {one["id"], two["id"]}
    hyphen = tenant.get("/v2.0/floatingip-pools", params={"network_id": ext["id"], "subnet_name": "pool-two"})
    assert [p["subnet_id"] for p in hyphen.json()["floatingip_pools"]] == [two["id"]]
    narrow = tenant.get(URL, params={"subnet_id": one["id"], "fields": "cidr"}).json()["floatingip_pools"]
    assert narrow == [{"cidr": f"172.{octet}.1.0/24"}]
    assert pools_of(tenant, project_id="someone-else") == {}

    # a floating IP from the pool it names
    r = tenant.post(
        "/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext["id"], "subnet_id": two["id"]}}
    )
    assert r.status_code == 201, r.text
    assert r.json()["floatingip"]["floating_ip_address"].startswith(f"172.{octet}.2.")


def test_read_only_advertised_and_documented(admin, tenant):
    assert tenant.post(URL, json={"floatingip_pool": {}}).status_code == 405
    assert admin.delete(f"{URL}/{uuid.uuid4()}").status_code == 405
    aliases = {e["alias"] for e in tenant.get("/v2.0/extensions").json()["extensions"]}
    assert "floatingip-pools" in aliases
    paths = admin.get("/openapi.json").json()["paths"]
    assert set(paths[URL]) == {"get"} and set(paths["/v2.0/floatingip-pools"]) == {"get"}
