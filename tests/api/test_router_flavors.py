"""l3-flavors against a real server on every database: routers made with a
flavor (``flavor_id``), as neutron-tempest-plugin's RoutersFlavorTestCase
(a member sees the flavor and makes routers with it, the flavor in use cannot
be deleted, a flavor with ``distributed`` is 400), Neutron's refusals of a
flavor that cannot serve, ``next_providers``, and openstacksdk's router
``flavor_id``."""

from __future__ import annotations

import uuid

import httpx
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from openstack.connection import Connection

from tests.api.test_flavors import make_flavor, make_profile
from tests.api.test_wire import error_of

SINGLE_NODE = "neutron.services.l3_router.service_providers.single_node.SingleNodeDriver"


def member() -> dict:
    return {"X-Project-Id": f"rflav-{uuid.uuid4().hex[:8]}", "X-Roles": "member"}


def l3_flavor(admin: httpx.Client, driver: str = SINGLE_NODE, **extra) -> dict:
    flavor = make_flavor(admin, **extra)
    profile = make_profile(admin, driver=driver, metainfo="")
    bound = admin.post(
        f"/v2.0/flavors/{flavor['id']}/service_profiles", json={"service_profile": {"id": profile["id"]}}
    )
    assert bound.status_code == 201, bound.text
    return flavor


def router(client: httpx.Client, headers: dict | None = None, **body) -> httpx.Response:
    return client.post("/v2.0/routers", json={"router": {"name": "flavored", **body}}, headers=headers or {})


def test_member_creates_routers_with_flavors(admin):
    assert "l3-flavors" in {e["alias"] for e in admin.get("/v2.0/extensions").json()["extensions"]}
    special, premium = l3_flavor(admin), l3_flavor(admin, driver="agent")
    headers = member()
    seen = admin.get("/v2.0/flavors", params={"id": special["id"]}, headers=headers).json()["flavors"]
    assert [f["name"] for f in seen] == [special["name"]]
    for flavor in (special, premium):
        made = router(admin, headers, flavor_id=flavor["id"])
        assert made.status_code == 201, made.text
        assert made.json()["router"]["flavor_id"] == flavor["id"]
        shown = admin.get(f"/v2.0/routers/{made.json()['router']['id']}", headers=headers).json()["router"]
        assert shown["flavor_id"] == flavor["id"]
    plain = router(admin, headers).json()["router"]
    assert plain["flavor_id"] is None
    listed = admin.get("/v2.0/routers", params={"flavor_id": special["id"]}, headers=headers).json()["routers"]
    assert len(listed) == 1 and listed[0]["flavor_id"] == special["id"]
    # flavor_id is create-only, as Neutron's
    moved = admin.put(f"/v2.0/routers/{plain['id']}", json={"router": {"flavor_id": special["id"]}}, headers=headers)
    assert moved.status_code == 400, moved.text


def test_flavor_in_use_cannot_be_deleted(admin):
    flavor = l3_flavor(admin)
    made = router(admin, member(), flavor_id=flavor["id"]).json()["router"]
    assert error_of(admin.delete(f"/v2.0/flavors/{flavor['id']}"), 409) == "FlavorInUse"
    assert admin.delete(f"/v2.0/routers/{made['id']}").status_code == 204
    assert admin.delete(f"/v2.0/flavors/{flavor['id']}").status_code == 204


def test_flavor_with_flags_is_bad_request(admin):
    flavor = l3_flavor(admin)
    assert router(admin, flavor_id=flavor["id"], distributed=True).status_code == 400


def test_flavors_that_cannot_serve_a_router(admin):
    missing = router(admin, flavor_id=str(uuid.uuid4()))
    assert error_of(missing, 404) == "FlavorNotFound"
    other = make_flavor(admin, service_type="FLAVORS")
    assert error_of(router(admin, flavor_id=other["id"]), 400) == "InvalidFlavorServiceType"
    disabled = l3_flavor(admin, enabled=False)
    assert error_of(router(admin, flavor_id=disabled["id"]), 503) == "FlavorDisabled"
    unbound = make_flavor(admin)
    assert error_of(router(admin, flavor_id=unbound["id"]), 404) == "FlavorServiceProfileBindingNotFound"
    meta_only = make_flavor(admin)
    profile = make_profile(admin)  # metainfo, no driver: no provider
    admin.post(f"/v2.0/flavors/{meta_only['id']}/service_profiles", json={"service_profile": {"id": profile["id"]}})
    assert error_of(router(admin, flavor_id=meta_only["id"]), 404) == "ServiceProfileDriverNotFound"
    off = make_flavor(admin)
    off_profile = make_profile(admin, driver=SINGLE_NODE, enabled=False)
    admin.post(f"/v2.0/flavors/{off['id']}/service_profiles", json={"service_profile": {"id": off_profile["id"]}})
    assert error_of(router(admin, flavor_id=off["id"]), 503) == "ServiceProfileDisabled"
    # Neutron's own L3 driver paths only: another module path names no provider.
    refused = admin.post("/v2.0/service_profiles", json={"service_profile": {"driver": "neutron.services.x.Driver"}})
    assert error_of(refused, 404) == "ServiceProfileDriverNotFound"


def test_the_flavors_provider_sets_ha_and_distributed(admin):
    """Neutron's L3 driver controller: a router takes its flags from its flavor's
    provider (single node: neither, ha.HaDriver: ha, dvr.DvrDriver: distributed,
    dvrha.DvrHaDriver: both), and a request giving both a flavor and a flag is 400."""
    base = "neutron.services.l3_router.service_providers."
    expected = {
        "single_node.SingleNodeDriver": (False, False),
        "ha.HaDriver": (True, False),
        "dvr.DvrDriver": (False, True),
        "dvrha.DvrHaDriver": (True, True),
    }
    for driver, (ha, distributed) in expected.items():
        flavor = l3_flavor(admin, driver=base + driver)
        made = router(admin, flavor_id=flavor["id"])
        assert made.status_code == 201, made.text
        shown = admin.get(f"/v2.0/routers/{made.json()['router']['id']}").json()["router"]
        assert (shown["ha"], shown["distributed"], shown["flavor_id"]) == (ha, distributed, flavor["id"]), driver
        for flag in ("ha", "distributed"):
            both = router(admin, flavor_id=flavor["id"], **{flag: False})
            assert error_of(both, 400) == "BadRequest", both.text


def test_next_providers(admin):
    flavor = l3_flavor(admin)
    answer = admin.get(f"/v2.0/flavors/{flavor['id']}/next_providers")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"next_providers": [{"driver": SINGLE_NODE, "provider": "agent"}]}
    named = l3_flavor(admin, driver="unmanaged")
    assert admin.get(f"/v2.0/flavors/{named['id']}/next_providers").json()["next_providers"] == [
        {"driver": "unmanaged", "provider": "unmanaged"}
    ]
    unbound = make_flavor(admin)
    assert error_of(admin.get(f"/v2.0/flavors/{unbound['id']}/next_providers"), 404) == (
        "FlavorServiceProfileBindingNotFound"
    )
    assert error_of(admin.get(f"/v2.0/flavors/{uuid.uuid4()}/next_providers"), 404) == "FlavorNotFound"
    denied = admin.get(f"/v2.0/flavors/{flavor['id']}/next_providers", headers=member())
    assert denied.status_code == 403, denied.text


def test_openstacksdk_router_flavor(admin, api_server):
    flavor = l3_flavor(admin)
    conn = Connection(session=ks_session.Session(auth=noauth.NoAuth(endpoint=api_server.url)))
    made = conn.network.create_router(name="sdk-flavored", flavor_id=flavor["id"])
    assert made.flavor_id == flavor["id"]
    assert conn.network.get_router(made.id).flavor_id == flavor["id"]
    conn.network.delete_router(made)
