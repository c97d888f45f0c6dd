"""Segment allocation ranges and network segment ids against a real server, on
every database: range CRUD and its 400/409s, project networks getting a VNI
from the seeded range, provider networks taking ids from ranges, exhaustion
(503 NoNetworkAvailable), release on network delete and reuse, explicit ids.

Ranges are global, so every test uses its own physical network name.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_wire import error_of

MEMBER = {"X-Project-Id": "seg-member", "X-Roles": "member"}


@pytest.fixture
def http(api_server):
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


def physnet() -> str:
    return f"phys-{uuid.uuid4().hex[:8]}"


def create_range(http, **body) -> httpx.Response:
    return http.post("/v2.0/segment_allocation_ranges", json={"segment_allocation_range": body})


def vlan_network(http, physical_network: str, seg_id: int | None = None) -> httpx.Response:
    body = {"name": "seg", "provider:network_type": "vlan", "provider:physical_network": physical_network}
    if seg_id is not None:
        body["provider:segmentation_id"] = seg_id
    return http.post("/v2.0/networks", json={"network": body})


def test_seeded_range_and_project_networks(http):
    ranges = http.get("/v2.0/segment_allocation_ranges", params={"network_type": "vxlan"}).json()
    seeded = [x for x in ranges["segment_allocation_ranges"] if x["name"] == "default"]
    assert seeded and (seeded[0]["minimum"], seeded[0]["maximum"]) == (1, 65535)
    assert seeded[0]["physical_network"] is None and seeded[0]["size"] == 65535
    nets = [
        http.post("/v2.0/networks", json={"network": {"name": "p"}}, headers=MEMBER).json()["network"] for _ in range(5)
    ]
    admin_views = [http.get(f"/v2.0/networks/{n['id']}").json()["network"] for n in nets]
    ids = [v["provider:segmentation_id"] for v in admin_views]
    assert all(v["provider:network_type"] == "vxlan" and v["provider:physical_network"] is None for v in admin_views)
    assert all(isinstance(i, int) and 1 <= i <= 65535 for i in ids) and len(set(ids)) == 5
    assert "provider:segmentation_id" not in nets[0]  # admin-only attribute
    before = http.get(f"/v2.0/segment_allocation_ranges/{seeded[0]['id']}").json()["segment_allocation_range"]
    assert before["allocated"] >= 5
    for net in nets:
        assert http.delete(f"/v2.0/networks/{net['id']}", headers=MEMBER).status_code == 204


def test_range_crud_and_validation(http):
    phys = physnet()
    r = create_range(http, network_type="vlan", physical_network=phys, minimum=100, maximum=199, name="r1")
    assert r.status_code == 201, r.text
    rng = r.json()["segment_allocation_range"]
    assert {
        k: rng[k] for k in ("network_type", "physical_network", "minimum", "maximum", "size", "allocated", "name")
    } == {
        "network_type": "vlan",
        "physical_network": phys,
        "minimum": 100,
        "maximum": 199,
        "size": 100,
        "allocated": 0,
        "name": "r1",
    }
    assert http.get(f"/v2.0/segment_allocation_ranges/{rng['id']}").json()["segment_allocation_range"] == rng
    listed = http.get("/v2.0/segment_allocation_ranges", params={"physical_network": phys}).json()
    assert [x["id"] for x in listed["segment_allocation_ranges"]] == [rng["id"]]
    renamed = http.put(
        f"/v2.0/segment_allocation_ranges/{rng['id']}", json={"segment_allocation_range": {"name": "r2"}}
    )
    assert renamed.status_code == 200 and renamed.json()["segment_allocation_range"]["name"] == "r2"
    fixed = http.put(
        f"/v2.0/segment_allocation_ranges/{rng['id']}", json={"segment_allocation_range": {"maximum": 300}}
    )
    assert error_of(fixed, 400) == "HTTPBadRequest"

    cases = [
        ({"network_type": "vlan", "minimum": 1, "maximum": 2}, "InvalidInput"),  # no physnet
        ({"network_type": "vxlan", "physical_network": phys, "minimum": 1, "maximum": 2}, "InvalidInput"),
        ({"network_type": "vlan", "physical_network": phys, "minimum": 0, "maximum": 2}, "InvalidInput"),
        ({"network_type": "vlan", "physical_network": phys, "minimum": 4000, "maximum": 4095}, "InvalidInput"),
        ({"network_type": "vxlan", "minimum": 1, "maximum": 2**24}, "InvalidInput"),
        ({"network_type": "vlan", "physical_network": phys, "minimum": 300, "maximum": 200}, "InvalidInput"),
        ({"network_type": "gre", "minimum": 1, "maximum": 2}, "HTTPBadRequest"),
        ({"network_type": "vlan", "physical_network": phys, "minimum": "x", "maximum": 2}, "HTTPBadRequest"),
        ({"network_type": "vlan", "physical_network": phys, "maximum": 2}, "HTTPBadRequest"),
    ]
    for body, kind in cases:
        assert error_of(create_range(http, **body), 400) == kind, body
    overlap = create_range(http, network_type="vlan", physical_network=phys, minimum=199, maximum=250)
    assert error_of(overlap, 409) == "SegmentAllocationRangeOverlap"
    other = create_range(http, network_type="vlan", physical_network=physnet(), minimum=150, maximum=160)
    assert other.status_code == 201  # another physical network does not overlap
    adjacent = create_range(http, network_type="vlan", physical_network=phys, minimum=200, maximum=210)
    assert adjacent.status_code == 201

    listed = http.get("/v2.0/segment_allocation_ranges", headers=MEMBER)
    assert listed.status_code == 200 and listed.json() == {"segment_allocation_ranges": []}
    as_member = http.post(
        "/v2.0/segment_allocation_ranges",
        headers=MEMBER,
        json={"segment_allocation_range": {"network_type": "vxlan", "minimum": 1, "maximum": 2}},
    )
    assert error_of(as_member, 403) == "PolicyNotAuthorized"

    for rid in (
        rng["id"],
        other.json()["segment_allocation_range"]["id"],
        adjacent.json()["segment_allocation_range"]["id"],
    ):
        assert http.delete(f"/v2.0/segment_allocation_ranges/{rid}").status_code == 204
    assert error_of(http.get(f"/v2.0/segment_allocation_ranges/{rng['id']}"), 404) == "SegmentAllocationRangeNotFound"


def test_provider_networks_take_ids_from_ranges_until_exhausted(http):
    phys = physnet()
    assert error_of(vlan_network(http, phys), 503) == "NoNetworkAvailable"  # no range for it
    rng = create_range(http, network_type="vlan", physical_network=phys, minimum=10, maximum=13).json()[
        "segment_allocation_range"
    ]
    explicit = vlan_network(http, phys, 12).json()["network"]  # inside the range: held, skipped by the cursor
    assert explicit["provider:segmentation_id"] == 12
    got = [vlan_network(http, phys).json()["network"] for _ in range(3)]
    assert [n["provider:segmentation_id"] for n in got] == [10, 11, 13]
    assert all(n["provider:physical_network"] == phys and n["mtu"] == 1500 for n in got)
    full = vlan_network(http, phys)
    assert error_of(full, 503) == "NoNetworkAvailable"
    assert error_of(vlan_network(http, phys, 11), 409) == "SegmentationIdInUse"
    assert http.get(f"/v2.0/segment_allocation_ranges/{rng['id']}").json()["segment_allocation_range"]["allocated"] == 4

    in_use = http.delete(f"/v2.0/segment_allocation_ranges/{rng['id']}")
    assert error_of(in_use, 409) == "SegmentAllocationRangeInUse"

    # Release on delete, then reuse (never a second holder).
    assert http.delete(f"/v2.0/networks/{got[1]['id']}").status_code == 204
    again = vlan_network(http, phys).json()["network"]
    assert again["provider:segmentation_id"] == 11
    assert error_of(vlan_network(http, phys), 503) == "NoNetworkAvailable"
    assert http.delete(f"/v2.0/networks/{explicit['id']}").status_code == 204
    assert vlan_network(http, phys, 12).status_code == 201  # a released id may be asked for explicitly

    # Outside every range: allowed for admins, held too.
    outside = vlan_network(http, phys, 3000)
    assert outside.status_code == 201 and outside.json()["network"]["provider:segmentation_id"] == 3000
    assert error_of(vlan_network(http, phys, 3000), 409) == "SegmentationIdInUse"
    assert http.delete(f"/v2.0/networks/{outside.json()['network']['id']}").status_code == 204
    assert vlan_network(http, phys, 3000).status_code == 201


def test_explicit_vxlan_ids_and_member_networks(http):
    vni = 16_000_000 + int(uuid.uuid4().int % 700_000)  # outside the seeded range
    body = {"name": "vx", "provider:network_type": "vxlan", "provider:segmentation_id": vni}
    first = http.post("/v2.0/networks", json={"network": body})
    assert first.status_code == 201 and first.json()["network"]["provider:segmentation_id"] == vni
    assert error_of(http.post("/v2.0/networks", json={"network": body}), 409) == "SegmentationIdInUse"
    assert http.delete(f"/v2.0/networks/{first.json()['network']['id']}").status_code == 204
    assert http.post("/v2.0/networks", json={"network": body}).status_code == 201
    member = http.post("/v2.0/networks", json={"network": body}, headers=MEMBER)
    assert error_of(member, 403) == "PolicyNotAuthorized"
