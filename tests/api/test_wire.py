"""The HTTP contract on the wire (httpx): status codes, Neutron error bodies
and their exact types, discovery, request ids, `.json`, 405s, bulk rollback.
"""

from __future__ import annotations

import uuid

import httpx
import pytest


@pytest.fixture
def http(api_server):
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"NeutronError"}
    assert set(body["NeutronError"]) == {"type", "message", "detail"}
    assert body["NeutronError"]["message"]
    return body["NeutronError"]["type"]


def make_network(http, **extra) -> dict:
    r = http.post("/v2.0/networks", json={"network": {"name": f"wire-{uuid.uuid4().hex[:8]}", **extra}})
    assert r.status_code == 201, r.text
    return r.json()["network"]


def make_subnet(http, network_id: str, cidr: str, version: int = 4, **extra) -> dict:
    r = http.post(
        "/v2.0/subnets", json={"subnet": {"network_id": network_id, "ip_version": version, "cidr": cidr, **extra}}
    )
    assert r.status_code == 201, r.text
    return r.json()["subnet"]


def test_discovery(http, api_server):
    root = http.get("/").json()
    assert root["versions"][0]["id"] == "v2.0"
    assert root["versions"][0]["links"][0]["href"] == f"{api_server.url}/v2.0/"
    assert http.post("/").status_code == 405
    resources = {r["collection"] for r in http.get("/v2.0/").json()["resources"]}
    assert {"networks", "subnets", "ports"} <= resources
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert {"binding", "standard-attr-tag", "pagination", "mac_address_ranges"} <= aliases
    assert http.get("/v2.0/extensions/binding").json()["extension"]["alias"] == "binding"
    assert error_of(http.get("/v2.0/extensions/nope"), 404) == "ExtensionNotFound"
    assert http.get("/openapi.json").json()["openapi"].startswith("3.")


def test_every_response_has_a_request_id(http):
    for response in (http.get("/v2.0/networks"), http.get("/v2.0/networks/missing")):
        assert response.headers["x-openstack-request-id"].startswith("req-")


def test_json_suffix_and_codes(http):
    net = make_network(http)
    assert http.get(f"/v2.0/networks/{net['id']}.json").json()["network"]["id"] == net["id"]
    assert http.get("/v2.0/networks.json").status_code == 200
    assert http.put("/v2.0/networks", json={}).status_code == 405
    assert http.post(f"/v2.0/networks/{net['id']}", json={}).status_code == 405
    delete_with_body = http.request("DELETE", f"/v2.0/networks/{net['id']}", json={"network": {}})
    assert error_of(delete_with_body, 400) == "HTTPBadRequest"
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert error_of(http.get(f"/v2.0/networks/{net['id']}"), 404) == "NetworkNotFound"
    assert error_of(http.get("/v2.0/ports/not-a-uuid"), 404) == "PortNotFound"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(b"", "body required", id="empty"),
        pytest.param(b"{not json", "Malformed", id="malformed"),
        pytest.param(b'{"net": {}}', "Unable to find 'network'", id="wrapper"),
        pytest.param(b'{"network": {"bogus": 1}}', "Unrecognized attribute(s) 'bogus'", id="unknown"),
        pytest.param(b'{"network": {"status": "DOWN"}}', "not allowed in POST", id="read-only"),
        pytest.param(b'{"network": {"admin_state_up": "maybe"}}', "Invalid input for admin_state_up", id="invalid"),
    ],
)
def test_body_checks(http, body, fragment):
    response = http.post("/v2.0/networks", content=body)
    assert error_of(response, 400) == "HTTPBadRequest"
    assert fragment in response.json()["NeutronError"]["message"]


def test_subnet_errors(http):
    net = make_network(http)
    sid = net["id"]
    cases = [
        ({"cidr": "10.50.0.5/24"}, 400, "InvalidInput"),
        ({"cidr": "2001:db8::/64"}, 400, "InvalidInput"),  # version mismatch
        (
            {"cidr": "10.50.0.0/24", "allocation_pools": [{"start": "10.50.0.9", "end": "10.50.0.2"}]},
            400,
            "InvalidAllocationPool",
        ),
        (
            {"cidr": "10.50.0.0/24", "allocation_pools": [{"start": "10.50.1.2", "end": "10.50.1.9"}]},
            400,
            "OutOfBoundsAllocationPool",
        ),
        (
            {
                "cidr": "10.50.0.0/24",
                "allocation_pools": [
                    {"start": "10.50.0.2", "end": "10.50.0.9"},
                    {"start": "10.50.0.5", "end": "10.50.0.20"},
                ],
            },
            409,
            "OverlappingAllocationPools",
        ),
        (
            {
                "cidr": "10.50.0.0/24",
                "gateway_ip": "10.50.0.5",
                "allocation_pools": [{"start": "10.50.0.2", "end": "10.50.0.9"}],
            },
            409,
            "GatewayConflictWithAllocationPools",
        ),
        (
            {"cidr": "10.50.0.0/24", "dns_nameservers": [f"10.0.0.{i}" for i in range(6)]},
            400,
            "DNSNameServersExhausted",
        ),
    ]
    for extra, status, kind in cases:
        response = http.post("/v2.0/subnets", json={"subnet": {"network_id": sid, "ip_version": 4, **extra}})
        assert error_of(response, status) == kind, extra
    missing = http.post(
        "/v2.0/subnets", json={"subnet": {"network_id": str(uuid.uuid4()), "ip_version": 4, "cidr": "10.50.0.0/24"}}
    )
    assert error_of(missing, 404) == "NetworkNotFound"
    make_subnet(http, sid, "10.50.0.0/24")
    overlap = http.post(
        "/v2.0/subnets", json={"subnet": {"network_id": sid, "ip_version": 4, "cidr": "10.50.0.128/25"}}
    )
    assert error_of(overlap, 400) == "InvalidInput"
    assert http.get("/v2.0/subnets", params={"network_id": sid}).json()["subnets"][0]["cidr"] == "10.50.0.0/24"


def test_port_address_errors(http):
    net = make_network(http)
    sub = make_subnet(http, net["id"], "10.51.0.0/29")  # pool .2-.6
    other = make_network(http)
    other_sub = make_subnet(http, other["id"], "10.52.0.0/24")

    def port(fixed_ips):
        return http.post("/v2.0/ports", json={"port": {"network_id": net["id"], "fixed_ips": fixed_ips}})

    assert error_of(port([{"subnet_id": sub["id"], "ip_address": "10.52.0.5"}]), 400) == "InvalidIpForSubnet"
    assert error_of(port([{"ip_address": "192.0.2.1"}]), 400) == "InvalidIpForNetwork"
    assert error_of(port([{"subnet_id": other_sub["id"]}]), 400) == "InvalidInput"
    assert port([{"ip_address": "10.51.0.3"}]).status_code == 201
    assert error_of(port([{"ip_address": "10.51.0.3"}]), 409) == "IpAddressAlreadyAllocated"
    for _ in range(4):
        assert port([{"subnet_id": sub["id"]}]).status_code == 201
    assert error_of(port([{"subnet_id": sub["id"]}]), 409) == "IpAddressGenerationFailure"
    assert error_of(http.delete(f"/v2.0/networks/{net['id']}"), 409) == "NetworkInUse"
    assert error_of(http.delete(f"/v2.0/subnets/{sub['id']}"), 409) == "SubnetInUse"


def test_bulk_create_is_all_or_nothing(http):
    net = make_network(http)
    make_subnet(http, net["id"], "10.53.0.0/24")
    assert (
        http.post(
            "/v2.0/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.53.0.9"}]}}
        ).status_code
        == 201
    )
    before = http.get("/v2.0/ports", params={"network_id": net["id"]}).json()["ports"]
    bulk = {
        "ports": [
            {"network_id": net["id"], "name": "bulk-1"},
            {"network_id": net["id"], "name": "bulk-2"},
            {"network_id": net["id"], "name": "bulk-3", "fixed_ips": [{"ip_address": "10.53.0.9"}]},
        ]
    }
    assert error_of(http.post("/v2.0/ports", json=bulk), 409) == "IpAddressAlreadyAllocated"
    after = http.get("/v2.0/ports", params={"network_id": net["id"]}).json()["ports"]
    assert [p["id"] for p in after] == [p["id"] for p in before]
    # The addresses the failed bulk had taken are free: the next port gets the first of them.
    fresh = http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    assert fresh["fixed_ips"][0]["ip_address"] == "10.53.0.2"
    ok = http.post("/v2.0/ports", json={"ports": [{"network_id": net["id"], "name": n} for n in ("a", "b")]})
    assert ok.status_code == 201 and [p["name"] for p in ok.json()["ports"]] == ["a", "b"]
    assert error_of(http.post("/v2.0/ports", json={"ports": []}), 400) == "HTTPBadRequest"


def test_if_match_and_tags_on_the_wire(http):
    net = make_network(http)
    url = f"/v2.0/networks/{net['id']}"
    stale = http.put(url, json={"network": {"name": "x"}}, headers={"If-Match": "revision_number=99"})
    assert error_of(stale, 412) == "HTTPPreconditionFailed"
    bad = http.put(url, json={"network": {"name": "x"}}, headers={"If-Match": "revision_number=abc"})
    assert error_of(bad, 400) == "HTTPBadRequest"
    assert http.put(url + "/tags", json={"tags": ["a", "b"]}).json() == {"tags": ["a", "b"]}
    assert http.put(url + "/tags/c").status_code == 201
    assert http.get(url + "/tags/c").status_code == 204
    assert error_of(http.get(url + "/tags/zzz"), 404) == "TagNotFound"
    assert http.delete(url + "/tags/a").status_code == 204
    assert http.get(url + "/tags").json() == {"tags": ["b", "c"]}
    assert http.delete(url + "/tags").status_code == 204
    assert http.get(url).json()["network"]["tags"] == []
    assert http.get(url).json()["network"]["revision_number"] > net["revision_number"]


def test_admin_only_attributes(http):
    member = {"X-Project-Id": f"proj-{uuid.uuid4().hex[:6]}", "X-Roles": "member"}
    r = http.post("/v2.0/networks", json={"network": {"name": "m", "shared": True}}, headers=member)
    assert error_of(r, 403) == "PolicyNotAuthorized"
    own = http.post("/v2.0/networks", json={"network": {"name": "m"}}, headers=member).json()["network"]
    assert "provider:network_type" not in own
    assert own["project_id"] == own["tenant_id"] == member["X-Project-Id"]
    admin_view = http.get(f"/v2.0/networks/{own['id']}").json()["network"]
    assert admin_view["provider:network_type"] == "vxlan"
    assert http.get("/v2.0/mac_address_ranges", headers=member).json() == {"mac_address_ranges": []}
    assert (
        error_of(
            http.post(
                "/v2.0/mac_address_ranges", json={"mac_address_range": {"cidr": "aa:bb:cc:00:00:00/24"}}, headers=member
            ),
            403,
        )
        == "PolicyNotAuthorized"
    )


def test_fields_on_list_and_show(http):
    net = make_network(http)
    listed = http.get("/v2.0/networks", params=[("id", net["id"]), ("fields", "id"), ("fields", "name")]).json()
    assert listed["networks"] == [{"id": net["id"], "name": net["name"]}]
    shown = http.get(f"/v2.0/networks/{net['id']}", params={"fields": "mtu"}).json()["network"]
    assert shown == {"mtu": net["mtu"]}


def test_mac_address_ranges(http):
    r = http.post("/v2.0/mac_address_ranges", json={"mac_address_range": {"cidr": "AA:BB:CC:00:00:00/40"}})
    assert r.status_code == 201, r.text
    rng = r.json()["mac_address_range"]
    assert rng["first_address"] == "aa:bb:cc:00:00:00" and rng["size"] == 256
    overlap = http.post("/v2.0/mac_address_ranges", json={"mac_address_range": {"cidr": "AA:BB:CC:00:00:00/44"}})
    assert error_of(overlap, 409) == "MacAddressRangeOverlap"
    bad = http.post("/v2.0/mac_address_ranges", json={"mac_address_range": {"cidr": "nonsense"}})
    assert error_of(bad, 400) == "InvalidMacAddressRange"
    net = make_network(http)
    port = http.post(
        "/v2.0/ports", json={"port": {"network_id": net["id"], "mac_address": "aa:bb:cc:00:00:07", "fixed_ips": []}}
    ).json()["port"]
    held = http.get(f"/v2.0/mac_address_ranges/{rng['id']}").json()["mac_address_range"]
    assert held["allocated"] == 1
    assert error_of(http.delete(f"/v2.0/mac_address_ranges/{rng['id']}"), 409) == "MacAddressRangeInUse"
    assert http.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert http.delete(f"/v2.0/mac_address_ranges/{rng['id']}").status_code == 204
