"""``GET /v2.0/service-providers`` (alias ``service-type``): the installed
backend drivers, each a provider of the core resources and of routers, the
deployment's ``backend_driver`` the default; over HTTP and with openstacksdk."""

from __future__ import annotations

from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from openstack.connection import Connection

from quark.drivers import loading


def test_every_installed_driver_provides_core_and_l3_and_agent_is_the_default(admin):
    body = admin.get("/v2.0/service-providers").json()
    got = {(p["service_type"], p["name"]): p["default"] for p in body["service_providers"]}
    expected = {(kind, name): name == "agent" for kind in ("CORE", "L3_ROUTER_NAT") for name in loading.names()}
    assert got == expected
    assert ("L3_ROUTER_NAT", "agent") in got and ("CORE", "unmanaged") in got


def test_filters_and_fields(admin):
    body = admin.get("/v2.0/service-providers", params={"service_type": "L3_ROUTER_NAT", "fields": "name"}).json()
    assert sorted(p["name"] for p in body["service_providers"]) == sorted(loading.names())
    assert all(list(p) == ["name"] for p in body["service_providers"])
    body = admin.get("/v2.0/service-providers", params={"name": "no-such-driver"}).json()
    assert body == {"service_providers": []}


def test_a_member_may_list_them_and_the_alias_is_advertised(tenant, admin):
    assert tenant.get("/v2.0/service-providers").status_code == 200
    aliases = {e["alias"] for e in admin.get("/v2.0/extensions").json()["extensions"]}
    assert "service-type" in aliases


def test_openstacksdk_lists_them(api_server):
    conn = Connection(session=ks_session.Session(auth=noauth.NoAuth(endpoint=api_server.url)))
    providers = list(conn.network.service_providers())
    assert {(p.service_type, p.name) for p in providers} >= {("CORE", "agent"), ("L3_ROUTER_NAT", "agent")}
    assert [p.name for p in providers if p.is_default and p.service_type == "CORE"] == ["agent"]
