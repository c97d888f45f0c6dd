"""Quark's /v2.0/routes against a real server, on every database: CRUD,
validation against the subnet, duplicates, the limit, the one set of routes
shared with the subnet's host_routes, project scoping, and bulk create that
leaves nothing behind when an item fails.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.rowcounts import row_counts
from tests.api.test_wire import error_of, make_network, make_subnet


@pytest.fixture
def http(api_server):
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


def create_route(http, headers=None, **body) -> httpx.Response:
    return http.post("/v2.0/routes", json={"route": body}, headers=headers or {})


def host_routes(http, subnet_id: str) -> list[dict]:
    return http.get(f"/v2.0/subnets/{subnet_id}").json()["subnet"]["host_routes"]


def test_route_crud_and_host_routes(http):
    net = make_network(http)
    sub = make_subnet(http, net["id"], "10.70.0.0/24")
    r = create_route(http, subnet_id=sub["id"], cidr="192.168.10.0/24", gateway="10.70.0.254")
    assert r.status_code == 201, r.text
    route = r.json()["route"]
    assert (route["cidr"], route["gateway"], route["subnet_id"]) == ("192.168.10.0/24", "10.70.0.254", sub["id"])
    assert route["project_id"] == sub["project_id"] == route["tenant_id"]
    assert host_routes(http, sub["id"]) == [{"destination": "192.168.10.0/24", "nexthop": "10.70.0.254"}]
    assert http.get(f"/v2.0/subnets/{sub['id']}").json()["subnet"]["revision_number"] > sub["revision_number"]
    assert http.get(f"/v2.0/routes/{route['id']}").json()["route"] == route

    second = create_route(http, subnet_id=sub["id"], cidr="0.0.0.0/0", gateway="10.70.0.1").json()["route"]
    listed = http.get("/v2.0/routes", params={"subnet_id": sub["id"], "sort_key": "cidr"}).json()["routes"]
    assert [x["cidr"] for x in listed] == ["0.0.0.0/0", "192.168.10.0/24"]
    # The cidr filter is normalised (.7/24 -> .0/24). Other tests' subnets on this shared server
    # may hold a route to the same CIDR (test_route_limit's 192.168.10.0/24): ours is among them.
    by_cidr = http.get("/v2.0/routes", params={"cidr": "192.168.10.7/24"}).json()["routes"]
    assert route["id"] in [x["id"] for x in by_cidr] and {x["cidr"] for x in by_cidr} == {"192.168.10.0/24"}

    updated = http.put(f"/v2.0/routes/{route['id']}", json={"route": {"gateway": "10.70.0.253"}})
    assert updated.status_code == 200 and updated.json()["route"]["gateway"] == "10.70.0.253"
    assert updated.json()["route"]["revision_number"] == 1
    moved = http.put(f"/v2.0/routes/{route['id']}", json={"route": {"cidr": "192.168.20.0/24"}}).json()["route"]
    assert moved["cidr"] == "192.168.20.0/24"
    assert host_routes(http, sub["id"]) == [
        {"destination": "192.168.20.0/24", "nexthop": "10.70.0.253"},
        {"destination": "0.0.0.0/0", "nexthop": "10.70.0.1"},
    ]
    clash = http.put(f"/v2.0/routes/{route['id']}", json={"route": {"cidr": "0.0.0.0/0"}})
    assert error_of(clash, 409) == "DuplicateRouteConflict"
    stale = http.put(
        f"/v2.0/routes/{route['id']}",
        json={"route": {"gateway": "10.70.0.9"}},
        headers={"If-Match": "revision_number=0"},
    )
    assert error_of(stale, 412) == "HTTPPreconditionFailed"
    assert (
        error_of(http.put(f"/v2.0/routes/{route['id']}", json={"route": {"subnet_id": sub["id"]}}), 400)
        == "HTTPBadRequest"
    )

    assert http.delete(f"/v2.0/routes/{second['id']}").status_code == 204
    assert error_of(http.get(f"/v2.0/routes/{second['id']}"), 404) == "RouteNotFound"
    assert error_of(http.delete(f"/v2.0/routes/{second['id']}"), 404) == "RouteNotFound"
    assert host_routes(http, sub["id"]) == [{"destination": "192.168.20.0/24", "nexthop": "10.70.0.253"}]


def test_route_validation(http):
    net = make_network(http)
    sub = make_subnet(http, net["id"], "10.71.0.0/24")
    sub6 = make_subnet(http, net["id"], "2001:db8:71::/64", version=6)
    cases = [
        ({"cidr": "not-a-cidr", "gateway": "10.71.0.9"}, 400, "InvalidCIDR"),
        ({"cidr": "2001:db8::/32", "gateway": "10.71.0.9"}, 400, "InvalidRoute"),
        ({"cidr": "192.168.0.0/16", "gateway": "10.72.0.9"}, 400, "InvalidRoute"),  # outside the subnet
        ({"cidr": "192.168.0.0/16", "gateway": "10.71.0.0"}, 400, "InvalidRoute"),  # network address
        ({"cidr": "192.168.0.0/16", "gateway": "10.71.0.255"}, 400, "InvalidRoute"),  # broadcast
        ({"cidr": "192.168.0.0/16", "gateway": "2001:db8:71::1"}, 400, "InvalidRoute"),
        ({"cidr": "192.168.0.0/16", "gateway": "nope"}, 400, "HTTPBadRequest"),
        ({"cidr": "192.168.0.0/16"}, 400, "HTTPBadRequest"),
    ]
    for body, status, kind in cases:
        assert error_of(create_route(http, subnet_id=sub["id"], **body), status) == kind, body
    missing = create_route(http, subnet_id=str(uuid.uuid4()), cidr="192.168.0.0/16", gateway="10.71.0.9")
    assert error_of(missing, 404) == "SubnetNotFound"
    # Host bits are cleared, as for subnet host_routes; a second route to the destination is a 409.
    ok = create_route(http, subnet_id=sub["id"], cidr="192.168.1.7/16", gateway="10.71.0.9").json()["route"]
    assert ok["cidr"] == "192.168.0.0/16"
    dup = create_route(http, subnet_id=sub["id"], cidr="192.168.0.0/16", gateway="10.71.0.10")
    assert error_of(dup, 409) == "DuplicateRouteConflict"
    v6 = create_route(http, subnet_id=sub6["id"], cidr="2001:DB8:99::/48", gateway="2001:db8:71::1").json()["route"]
    assert v6["cidr"] == "2001:db8:99::/48"


def test_subnet_host_routes_are_route_rows(http, api_server):
    net = make_network(http)
    sub = make_subnet(
        http,
        net["id"],
        "10.73.0.0/24",
        host_routes=[
            {"destination": "192.168.1.0/24", "nexthop": "10.73.0.5"},
            {"destination": "192.168.2.0/24", "nexthop": "10.73.0.6"},
        ],
    )
    rows = {x["cidr"]: x for x in http.get("/v2.0/routes", params={"subnet_id": sub["id"]}).json()["routes"]}
    assert set(rows) == {"192.168.1.0/24", "192.168.2.0/24"}
    # A subnet update replaces the set: unchanged routes keep their ids, changed ones are updated.
    r = http.put(
        f"/v2.0/subnets/{sub['id']}",
        json={
            "subnet": {
                "host_routes": [
                    {"destination": "192.168.1.0/24", "nexthop": "10.73.0.5"},
                    {"destination": "192.168.3.0/24", "nexthop": "10.73.0.7"},
                ]
            }
        },
    )
    assert r.status_code == 200, r.text
    after = {x["cidr"]: x for x in http.get("/v2.0/routes", params={"subnet_id": sub["id"]}).json()["routes"]}
    assert set(after) == {"192.168.1.0/24", "192.168.3.0/24"}
    assert after["192.168.1.0/24"]["id"] == rows["192.168.1.0/24"]["id"]
    dup = http.put(
        f"/v2.0/subnets/{sub['id']}",
        json={
            "subnet": {
                "host_routes": [
                    {"destination": "192.168.9.0/24", "nexthop": "10.73.0.5"},
                    {"destination": "192.168.9.0/24", "nexthop": "10.73.0.6"},
                ]
            }
        },
    )
    assert error_of(dup, 409) == "DuplicateRouteConflict"
    assert len(host_routes(http, sub["id"])) == 2
    # Routes go with their subnet.
    assert http.delete(f"/v2.0/subnets/{sub['id']}").status_code == 204
    assert http.get("/v2.0/routes", params={"subnet_id": sub["id"]}).json()["routes"] == []
    assert row_counts(api_server.database_url, net["id"])["routes"] == 0


def test_route_limit(api_server, http):
    net = make_network(http)
    sub = make_subnet(http, net["id"], "10.74.0.0/24")
    for i in range(20):  # max_subnet_host_routes
        assert create_route(http, subnet_id=sub["id"], cidr=f"192.168.{i}.0/24", gateway="10.74.0.9").status_code == 201
    over = create_route(http, subnet_id=sub["id"], cidr="192.168.100.0/24", gateway="10.74.0.9")
    assert error_of(over, 400) == "HostRoutesExhausted"
    assert len(host_routes(http, sub["id"])) == 20


def test_bulk_create_is_all_or_nothing(http, api_server):
    net = make_network(http)
    sub = make_subnet(http, net["id"], "10.75.0.0/24")
    create_route(http, subnet_id=sub["id"], cidr="172.16.0.0/16", gateway="10.75.0.3")
    before = row_counts(api_server.database_url, net["id"])
    bulk = {
        "routes": [
            {"subnet_id": sub["id"], "cidr": "172.17.0.0/16", "gateway": "10.75.0.3"},
            {"subnet_id": sub["id"], "cidr": "172.18.0.0/16", "gateway": "10.75.0.3"},
            {"subnet_id": sub["id"], "cidr": "172.16.0.0/16", "gateway": "10.75.0.4"},  # taken: fails third
        ]
    }
    assert error_of(http.post("/v2.0/routes", json=bulk), 409) == "DuplicateRouteConflict"
    assert row_counts(api_server.database_url, net["id"]) == before
    assert host_routes(http, sub["id"]) == [{"destination": "172.16.0.0/16", "nexthop": "10.75.0.3"}]
    ok = http.post("/v2.0/routes", json={"routes": bulk["routes"][:2]})
    assert ok.status_code == 201 and [x["cidr"] for x in ok.json()["routes"]] == ["172.17.0.0/16", "172.18.0.0/16"]
    assert len(host_routes(http, sub["id"])) == 3


def test_routes_are_project_scoped(http):
    alice = {"X-Project-Id": f"alice-{uuid.uuid4().hex[:6]}", "X-Roles": "member"}
    bob = {"X-Project-Id": f"bob-{uuid.uuid4().hex[:6]}", "X-Roles": "member"}
    net = http.post("/v2.0/networks", json={"network": {"name": "rt"}}, headers=alice).json()["network"]
    sub = http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.76.0.0/24"}},
        headers=alice,
    ).json()["subnet"]
    route = create_route(http, alice, subnet_id=sub["id"], cidr="192.168.0.0/16", gateway="10.76.0.9")
    assert route.status_code == 201, route.text
    rid = route.json()["route"]["id"]
    # (other tests' routes on shared networks may be listed: this test's own are what count)
    assert rid not in [x["id"] for x in http.get("/v2.0/routes", headers=bob).json()["routes"]]
    assert error_of(http.get(f"/v2.0/routes/{rid}", headers=bob), 404) == "RouteNotFound"
    assert error_of(http.delete(f"/v2.0/routes/{rid}", headers=bob), 404) == "RouteNotFound"
    assert (
        error_of(create_route(http, bob, subnet_id=sub["id"], cidr="172.16.0.0/12", gateway="10.76.0.9"), 404)
        == "SubnetNotFound"
    )
    # A shared network's routes are visible to everyone, writable by the owner only.
    assert http.put(f"/v2.0/networks/{net['id']}", json={"network": {"shared": True}}).status_code == 200
    assert rid in [x["id"] for x in http.get("/v2.0/routes", headers=bob).json()["routes"]]
    assert (
        error_of(create_route(http, bob, subnet_id=sub["id"], cidr="172.16.0.0/12", gateway="10.76.0.9"), 403)
        == "PolicyNotAuthorized"
    )
    assert (
        error_of(http.put(f"/v2.0/routes/{rid}", json={"route": {"gateway": "10.76.0.8"}}, headers=bob), 403)
        == "PolicyNotAuthorized"
    )
    assert error_of(http.delete(f"/v2.0/routes/{rid}", headers=bob), 403) == "PolicyNotAuthorized"
    assert http.delete(f"/v2.0/routes/{rid}", headers=alice).status_code == 204
