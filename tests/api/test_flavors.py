"""Service flavors and service profiles (alias ``flavors``, docs/flavors.md)
against a real server on every database, with httpx and openstacksdk: admin
CRUD, Neutron's errors, bindings through ``/v2.0/flavors/{id}/service_profiles``,
readers may list flavors but not profiles, filters / sorting / fields / pages."""

from __future__ import annotations

import uuid

import httpx
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from openstack.connection import Connection

from tests.api.test_wire import error_of

MEMBER = {"X-Project-Id": "flavor-member", "X-Roles": "member"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_flavor(admin: httpx.Client, **extra) -> dict:
    body = {"name": unique("fl"), "service_type": "L3_ROUTER_NAT", **extra}
    r = admin.post("/v2.0/flavors", json={"flavor": body})
    assert r.status_code == 201, r.text
    return r.json()["flavor"]


def make_profile(admin: httpx.Client, **extra) -> dict:
    body = {"description": unique("sp"), "metainfo": '{"data": "value"}', **extra}
    r = admin.post("/v2.0/service_profiles", json={"service_profile": body})
    assert r.status_code == 201, r.text
    return r.json()["service_profile"]


def test_extension_is_advertised(admin):
    aliases = {e["alias"] for e in admin.get("/v2.0/extensions").json()["extensions"]}
    assert "flavors" in aliases


def test_flavor_crud(admin):
    flavor = make_flavor(admin, description="best", enabled=False)
    assert {k: flavor[k] for k in ("description", "service_type", "enabled", "service_profiles")} == {
        "description": "best",
        "service_type": "L3_ROUTER_NAT",
        "enabled": False,
        "service_profiles": [],
    }
    updated = admin.put(f"/v2.0/flavors/{flavor['id']}", json={"flavor": {"name": "renamed", "enabled": True}})
    assert updated.status_code == 200 and updated.json()["flavor"]["name"] == "renamed"
    assert admin.get(f"/v2.0/flavors/{flavor['id']}").json()["flavor"]["enabled"] is True
    # service_type is create-only.
    assert admin.put(f"/v2.0/flavors/{flavor['id']}", json={"flavor": {"service_type": "FLAVORS"}}).status_code == 400
    assert admin.delete(f"/v2.0/flavors/{flavor['id']}").status_code == 204
    assert error_of(admin.get(f"/v2.0/flavors/{flavor['id']}"), 404) == "FlavorNotFound"
    assert error_of(admin.delete(f"/v2.0/flavors/{flavor['id']}"), 404) == "FlavorNotFound"


def test_flavor_errors(admin):
    refused = admin.post("/v2.0/flavors", json={"flavor": {"name": "x", "service_type": "NOT_A_SERVICE"}})
    assert error_of(refused, 400) == "InvalidServiceType"
    assert admin.post("/v2.0/flavors", json={"flavor": {"name": "x"}}).status_code == 400  # service_type required


def test_service_profile_crud_and_errors(admin):
    profile = make_profile(admin, enabled=False)
    assert profile["driver"] == "" and profile["metainfo"] == '{"data": "value"}' and profile["flavors"] == []
    assert profile["enabled"] is False
    empty = admin.post("/v2.0/service_profiles", json={"service_profile": {"description": "x"}})
    assert error_of(empty, 400) == "ServiceProfileEmpty"
    driver = admin.post("/v2.0/service_profiles", json={"service_profile": {"driver": "some.Driver"}})
    assert error_of(driver, 404) == "ServiceProfileDriverNotFound"
    updated = admin.put(f"/v2.0/service_profiles/{profile['id']}", json={"service_profile": {"description": "new"}})
    assert updated.status_code == 200 and updated.json()["service_profile"]["description"] == "new"
    assert admin.delete(f"/v2.0/service_profiles/{profile['id']}").status_code == 204
    assert error_of(admin.get(f"/v2.0/service_profiles/{profile['id']}"), 404) == "ServiceProfileNotFound"


def test_bindings(admin):
    flavor, profile = make_flavor(admin), make_profile(admin)
    path = f"/v2.0/flavors/{flavor['id']}/service_profiles"
    bound = admin.post(path, json={"service_profile": {"id": profile["id"]}})
    assert bound.status_code == 201, bound.text
    assert bound.json() == {"service_profile": {"id": profile["id"]}}
    assert admin.get(f"/v2.0/flavors/{flavor['id']}").json()["flavor"]["service_profiles"] == [profile["id"]]
    assert admin.get(f"/v2.0/service_profiles/{profile['id']}").json()["service_profile"]["flavors"] == [flavor["id"]]
    shown = admin.get(f"{path}/{profile['id']}")
    assert shown.json() == {"service_profile": {"service_profile_id": profile["id"], "flavor_id": flavor["id"]}}
    again = admin.post(path, json={"service_profile": {"id": profile["id"]}})
    assert error_of(again, 409) == "FlavorServiceProfileBindingExists"
    # A bound profile is in use.
    in_use = admin.delete(f"/v2.0/service_profiles/{profile['id']}")
    assert error_of(in_use, 409) == "ServiceProfileInUse"
    changed = admin.put(f"/v2.0/service_profiles/{profile['id']}", json={"service_profile": {"enabled": False}})
    assert error_of(changed, 409) == "ServiceProfileInUse"
    # Unknown pieces.
    missing = admin.post(path, json={"service_profile": {"id": str(uuid.uuid4())}})
    assert error_of(missing, 404) == "ServiceProfileNotFound"
    no_flavor = admin.post(
        f"/v2.0/flavors/{uuid.uuid4()}/service_profiles", json={"service_profile": {"id": profile["id"]}}
    )
    assert error_of(no_flavor, 404) == "FlavorNotFound"
    assert admin.post(path, json={"service_profile": {}}).status_code == 400
    # Unbind; then the profile may go.
    assert admin.delete(f"{path}/{profile['id']}").status_code == 204
    assert error_of(admin.delete(f"{path}/{profile['id']}"), 404) == "FlavorServiceProfileBindingNotFound"
    assert error_of(admin.get(f"{path}/{profile['id']}"), 404) == "FlavorServiceProfileBindingNotFound"
    assert admin.delete(f"/v2.0/service_profiles/{profile['id']}").status_code == 204
    # Deleting a flavor takes its bindings with it.
    other = make_profile(admin)
    admin.post(path, json={"service_profile": {"id": other["id"]}}).raise_for_status()
    assert admin.delete(f"/v2.0/flavors/{flavor['id']}").status_code == 204
    assert admin.get(f"/v2.0/service_profiles/{other['id']}").json()["service_profile"]["flavors"] == []


def test_members_read_flavors_but_change_nothing(admin, api_server):
    flavor, profile = make_flavor(admin), make_profile(admin)
    with httpx.Client(base_url=api_server.url, timeout=30, headers=MEMBER) as member:
        assert member.get(f"/v2.0/flavors/{flavor['id']}").status_code == 200
        assert member.post("/v2.0/flavors", json={"flavor": {"service_type": "FLAVORS"}}).status_code == 403
        assert member.put(f"/v2.0/flavors/{flavor['id']}", json={"flavor": {"name": "x"}}).status_code in (403, 404)
        assert member.delete(f"/v2.0/flavors/{flavor['id']}").status_code in (403, 404)
        assert member.get("/v2.0/service_profiles", params={"id": profile["id"]}).json()["service_profiles"] == []
        assert member.get(f"/v2.0/service_profiles/{profile['id']}").status_code == 404
        bind = member.post(
            f"/v2.0/flavors/{flavor['id']}/service_profiles", json={"service_profile": {"id": profile["id"]}}
        )
        assert bind.status_code == 403
    assert admin.get(f"/v2.0/flavors/{flavor['id']}").json()["flavor"]["service_profiles"] == []


def test_filters_sorting_fields_and_pages(admin):
    tag = unique("page")
    made = [make_flavor(admin, name=f"{tag}-{i}", enabled=i % 2 == 0) for i in range(3)]
    got = admin.get("/v2.0/flavors", params={"name": made[1]["name"], "fields": ["id", "name"]}).json()["flavors"]
    assert got == [{"id": made[1]["id"], "name": made[1]["name"]}]
    ids = {f["id"] for f in made}
    listed = admin.get("/v2.0/flavors", params={"sort_key": "name", "sort_dir": "desc", "fields": "id"}).json()
    ours = [f["id"] for f in listed["flavors"] if f["id"] in ids]
    assert ours == [made[2]["id"], made[1]["id"], made[0]["id"]]
    enabled = admin.get("/v2.0/flavors", params={"enabled": "false", "fields": "id"}).json()["flavors"]
    assert {f["id"] for f in enabled} & ids == {made[1]["id"]}
    page = admin.get("/v2.0/flavors", params={"limit": 1, "sort_key": "id"}).json()
    assert len(page["flavors"]) == 1 and any(link["rel"] == "next" for link in page["flavors_links"])


def test_openstacksdk_flavors_and_profiles(api_server):
    conn = Connection(session=ks_session.Session(auth=noauth.NoAuth(endpoint=api_server.url)))
    flavor = conn.network.create_flavor(name=unique("sdk"), service_type="FLAVORS")
    profile = conn.network.create_service_profile(description="sdk", metainfo='{"a": 1}')
    conn.network.associate_flavor_with_service_profile(flavor, profile)
    assert conn.network.get_flavor(flavor.id).service_profile_ids == [profile.id]
    conn.network.disassociate_flavor_from_service_profile(flavor, profile)
    conn.network.delete_service_profile(profile)
    conn.network.delete_flavor(flavor)
    assert conn.network.find_flavor(flavor.name) is None
