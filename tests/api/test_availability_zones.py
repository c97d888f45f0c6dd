"""Availability zones (``availability_zone``, ``availability_zone_filter``,
``network_availability_zone``, ``router_availability_zone``;
docs/availability_zones.md) on the dataplane server (agents go down fast), on
every database, with httpx and openstacksdk.

Zones come from the agents' reports: DHCP agents' zones are ``network`` zones,
L3 agents' ``router`` zones, ``available`` while one agent there is admin-up.
Hints must name known zones of the kind (404 ``AvailabilityZoneNotFound``, as
Neutron); a network's zones are its DHCP agents', a router's its L3 agent's,
and the schedulers put them in the hinted zones.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from openstack.connection import Connection

from tests.api.test_wire import error_of

READER = {"X-Project-Id": "az-reader", "X-Roles": "reader"}


@pytest.fixture
def http(dataplane_server):
    with httpx.Client(base_url=dataplane_server.url, timeout=30) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def report(http: httpx.Client, host: str, agent_type: str, zone: str | None) -> dict:
    body = {"host": host, "agent_type": agent_type, "binary": "quark", "availability_zone": zone}
    r = http.post("/v2.0/agents/report", json={"agent": body})
    assert r.status_code == 200, r.text
    return r.json()["agent"]


def zones(http: httpx.Client, **params) -> list[dict]:
    """The zones listed, without Quark's ``links`` (docs/links.md)."""
    r = http.get("/v2.0/availability_zones", params=params)
    assert r.status_code == 200, r.text
    return [{k: v for k, v in z.items() if k != "links"} for z in r.json()["availability_zones"]]


def test_extensions_are_advertised(http):
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert {
        "availability_zone",
        "availability_zone_filter",
        "network_availability_zone",
        "router_availability_zone",
    } <= aliases


def test_zones_come_from_dhcp_and_l3_agents(http):
    za, zb, zl2 = unique("za"), unique("zb"), unique("zl2")
    report(http, unique("h"), "DHCP agent", za)
    down = report(http, unique("h"), "L3 agent", zb)
    report(http, unique("h"), "Quark L2 agent", zl2)  # not a zone of anything
    assert http.put(f"/v2.0/agents/{down['id']}", json={"agent": {"admin_state_up": False}}).status_code == 200
    got = zones(http, name=[za, zb, zl2])
    assert got == [
        {"name": za, "resource": "network", "state": "available"},
        {"name": zb, "resource": "router", "state": "unavailable"},
    ]
    # Filters (availability_zone_filter), fields, sorting.
    assert zones(http, name=[za, zb], resource="router") == [{"name": zb, "resource": "router", "state": "unavailable"}]
    assert zones(http, name=[za, zb], state="available") == [{"name": za, "resource": "network", "state": "available"}]
    assert zones(http, name=[za, zb], fields="name", sort_key="name", sort_dir="desc") == [{"name": zb}, {"name": za}]
    assert zones(http, name=[za, zb], resource="nothing") == []
    # Quark: each zone's self link shows it.
    shown = http.get(f"/v2.0/availability_zones/{za}")
    assert shown.status_code == 200 and shown.json()["availability_zone"]["state"] == "available"
    assert error_of(http.get(f"/v2.0/availability_zones/{zl2}"), 404) == "AvailabilityZoneNotFound"
    # A second, admin-up L3 agent in the zone makes it available.
    report(http, unique("h"), "L3 agent", zb)
    assert zones(http, name=zb) == [{"name": zb, "resource": "router", "state": "available"}]


def test_any_reader_may_list_zones(http):
    za = unique("za")
    report(http, unique("h"), "DHCP agent", za)
    got = http.get("/v2.0/availability_zones", params={"name": za, "fields": ["name", "state"]}, headers=READER)
    assert got.status_code == 200 and got.json()["availability_zones"] == [{"name": za, "state": "available"}]


def test_network_hints_must_name_network_zones(http):
    za, zr = unique("za"), unique("zr")
    report(http, unique("h"), "DHCP agent", za)
    report(http, unique("h"), "L3 agent", zr)
    name = unique("net")
    for hints, status, wire_type in (
        ([unique("nowhere")], 404, "AvailabilityZoneNotFound"),
        ([zr], 404, "AvailabilityZoneNotFound"),  # a router zone is not a network zone
        ([za, za], 400, "HTTPBadRequest"),  # Neutron: "Invalid input for availability_zone_hints"
        (za, 400, "HTTPBadRequest"),
        ([f"z{i:03}-{'x' * 20}" for i in range(12)], 400, "InvalidInput"),  # over Neutron's 255 characters
    ):
        refused = http.post("/v2.0/networks", json={"network": {"name": name, "availability_zone_hints": hints}})
        assert error_of(refused, status) == wire_type, hints
    assert http.get("/v2.0/networks", params={"name": name}).json()["networks"] == []
    made = http.post("/v2.0/networks", json={"network": {"name": name, "availability_zone_hints": [za]}})
    assert made.status_code == 201, made.text
    assert made.json()["network"]["availability_zone_hints"] == [za]
    assert made.json()["network"]["availability_zones"] == []  # no DHCP agent serves it yet
    # Not writable after create (Neutron's allow_put False).
    net_id = made.json()["network"]["id"]
    put = http.put(f"/v2.0/networks/{net_id}", json={"network": {"availability_zone_hints": []}})
    assert put.status_code == 400
    # Not a sort key in Quark (a JSON list): a 400, not a database error.
    assert http.get("/v2.0/networks", params={"sort_key": "availability_zone_hints"}).status_code == 400


def test_dhcp_goes_to_the_hinted_zone_and_the_network_reports_it(http):
    za, zb = unique("za"), unique("zb")
    # Two live DHCP agents; the unhinted one sorts first and has no load.
    report(http, "a-" + unique("h"), "DHCP agent", zb)
    hinted_host = "z-" + unique("h")
    report(http, hinted_host, "DHCP agent", za)
    net = http.post("/v2.0/networks", json={"network": {"name": unique("n"), "availability_zone_hints": [za]}}).json()
    sub = http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["network"]["id"], "ip_version": 4, "cidr": "10.91.0.0/24"}},
    )
    assert sub.status_code == 201, sub.text
    net_id = net["network"]["id"]
    ports = http.get("/v2.0/ports", params={"network_id": net_id, "device_owner": "network:dhcp"}).json()["ports"]
    assert [p["binding:host_id"] for p in ports] == [hinted_host]
    assert http.get(f"/v2.0/networks/{net_id}").json()["network"]["availability_zones"] == [za]
    listed = http.get("/v2.0/networks", params={"id": net_id, "fields": "availability_zones"}).json()["networks"]
    assert listed == [{"availability_zones": [za]}]


def test_router_hints_and_zones(http):
    zr, zother = unique("zr"), unique("zo")
    report(http, "a-" + unique("h"), "L3 agent", zother)
    hinted_host = "z-" + unique("h")
    report(http, hinted_host, "L3 agent", zr)
    refused = http.post("/v2.0/routers", json={"router": {"name": "r", "availability_zone_hints": [unique("no")]}})
    assert error_of(refused, 404) == "AvailabilityZoneNotFound"
    made = http.post("/v2.0/routers", json={"router": {"name": unique("r"), "availability_zone_hints": [zr]}})
    assert made.status_code == 201, made.text
    router = made.json()["router"]
    assert router["availability_zone_hints"] == [zr]
    assert router["availability_zones"] == [zr]  # scheduled onto the L3 agent of the hinted zone
    assert http.get(f"/v2.0/routers/{router['id']}").json()["router"]["availability_zones"] == [zr]
    plain = http.post("/v2.0/routers", json={"router": {"name": unique("r")}}).json()["router"]
    assert plain["availability_zone_hints"] == []


def test_openstacksdk_lists_zones_and_sets_hints(dataplane_server, http):
    za = unique("za")
    report(http, unique("h"), "DHCP agent", za)
    conn = Connection(session=ks_session.Session(auth=noauth.NoAuth(endpoint=dataplane_server.url)))
    assert (za, "network", "available") in {(z.name, z.resource, z.state) for z in conn.network.availability_zones()}
    net = conn.network.create_network(name=unique("sdk"), availability_zone_hints=[za])
    assert conn.network.get_network(net.id).availability_zone_hints == [za]
