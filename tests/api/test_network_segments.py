"""Neutron's segments (``/v2.0/segments``) against a real server, on every
database: a network's first segment is a segment (stable id), extra segments
take ids from the same ranges and never clash, multi-provider ``segments`` on
networks, subnets on segments (routed networks: all or none), 409
``SegmentInUse``, network delete releasing every id, tags / revisions /
filters / sorting / pages / fields, Neutron's admin-only policy, openstacksdk
and the unmodified `openstack network segment` commands.

VLAN ids come from a range on a physical network of each test's own.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_openstack_cli import osc, osc_json
from tests.api.test_sdk_workflows import connect
from tests.api.test_wire import error_of

MEMBER = {"X-Project-Id": "segs-member", "X-Roles": "member"}


@pytest.fixture
def http(api_server):
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


def vlan_physnet(http, minimum: int = 100, maximum: int = 110) -> str:
    """A physical network of the test's own with a VLAN range."""
    physnet = f"segphys-{uuid.uuid4().hex[:8]}"
    body = {"network_type": "vlan", "physical_network": physnet, "minimum": minimum, "maximum": maximum}
    made = http.post("/v2.0/segment_allocation_ranges", json={"segment_allocation_range": body})
    assert made.status_code == 201, made.text
    return physnet


def network(http, **body) -> dict:
    answer = http.post("/v2.0/networks", json={"network": {"name": "segnet", **body}})
    assert answer.status_code == 201, answer.text
    return answer.json()["network"]


def vlan_network(http, physnet: str) -> dict:
    return network(http, **{"provider:network_type": "vlan", "provider:physical_network": physnet})


def create(http, **body) -> httpx.Response:
    return http.post("/v2.0/segments", json={"segment": body})


def made(http, **body) -> dict:
    answer = create(http, **body)
    assert answer.status_code == 201, answer.text
    return answer.json()["segment"]


def segments_of(http, network_id: str, **params) -> list[dict]:
    answer = http.get("/v2.0/segments", params={"network_id": network_id, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["segments"]


def subnet(http, network_id: str, cidr: str, **body) -> httpx.Response:
    return http.post(
        "/v2.0/subnets", json={"subnet": {"network_id": network_id, "ip_version": 4, "cidr": cidr, **body}}
    )


def test_every_network_has_its_first_segment(http):
    net = network(http)  # a project network: a VNI from the default range
    [first] = segments_of(http, net["id"])
    assert first["id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, f"quark:segment:{net['id']}"))
    assert (first["network_type"], first["physical_network"], first["segmentation_id"]) == (
        net["provider:network_type"],
        net["provider:physical_network"],
        net["provider:segmentation_id"],
    )
    assert first["segmentation_id"] is not None
    assert (first["name"], first["description"], first["revision_number"], first["tags"]) == (None, "", 0, [])
    assert first["created_at"] and first["updated_at"]
    assert "project_id" not in first and "tenant_id" not in first
    assert http.get(f"/v2.0/segments/{first['id']}").json()["segment"] == first
    assert "segments" not in http.get(f"/v2.0/networks/{net['id']}").json()["network"]  # one segment: provider:*


def test_extra_segments_share_the_allocation_and_show_on_the_network(http):
    physnet = vlan_physnet(http)
    net = vlan_network(http, physnet)
    assert net["provider:segmentation_id"] == 100
    second = made(http, network_id=net["id"], network_type="vlan", physical_network=physnet, name="rack2")
    assert (second["segmentation_id"], second["name"], second["network_id"]) == (101, "rack2", net["id"])
    explicit = made(http, network_id=net["id"], network_type="vlan", physical_network=physnet, segmentation_id=105)
    tunnel = made(http, network_id=net["id"], network_type="vxlan", description="overlay")
    assert tunnel["physical_network"] is None and tunnel["segmentation_id"] is not None
    # Ids never clash: not with the network's own, not with another network's, not with a segment's.
    for seg_id in (100, 101, 105):
        clash = create(
            http, network_id=net["id"], network_type="vlan", physical_network=physnet, segmentation_id=seg_id
        )
        assert error_of(clash, 409) == "SegmentationIdInUse"
        other = http.post(
            "/v2.0/networks",
            json={"network": {"provider:network_type": "vlan", "provider:physical_network": physnet,
                              "provider:segmentation_id": seg_id}},
        )  # fmt: skip
        assert error_of(other, 409) == "SegmentationIdInUse"
    # The range's cursor moved past the segments' ids: the next network gets 102.
    assert vlan_network(http, physnet)["provider:segmentation_id"] == 102
    flat = made(http, network_id=net["id"], network_type="flat", physical_network=physnet + "-flat")
    dup = create(http, network_id=network(http)["id"], network_type="flat", physical_network=physnet + "-flat")
    assert error_of(dup, 409) == "SegmentationIdInUse"

    shown = http.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert shown["segments"] == [
        {"provider:network_type": "vlan", "provider:physical_network": physnet, "provider:segmentation_id": 100},
        {"provider:network_type": "vlan", "provider:physical_network": physnet, "provider:segmentation_id": 101},
        {"provider:network_type": "vlan", "provider:physical_network": physnet, "provider:segmentation_id": 105},
        {"provider:network_type": "vxlan", "provider:physical_network": None,
         "provider:segmentation_id": tunnel["segmentation_id"]},
        {"provider:network_type": "flat", "provider:physical_network": physnet + "-flat",
         "provider:segmentation_id": None},
    ]  # fmt: skip
    # The network's provider attributes stay its first segment's (what agents and drivers realise).
    assert (shown["provider:network_type"], shown["provider:segmentation_id"]) == ("vlan", 100)
    listed = segments_of(http, net["id"])
    assert {s["id"] for s in listed} >= {second["id"], explicit["id"], tunnel["id"], flat["id"]} and len(listed) == 5


def test_filters_sorting_pages_and_fields(http):
    physnet = vlan_physnet(http)
    net = vlan_network(http, physnet)
    for seg_id in (107, 103, 109):
        made(http, network_id=net["id"], network_type="vlan", physical_network=physnet, segmentation_id=seg_id)
    made(http, network_id=net["id"], network_type="vxlan", name="tun")
    vlans = segments_of(http, net["id"], network_type="vlan", sort_key="segmentation_id", sort_dir="desc")
    assert [s["segmentation_id"] for s in vlans] == [109, 107, 103, 100]
    assert [s["name"] for s in segments_of(http, net["id"], name="tun")] == ["tun"]
    assert [s["segmentation_id"] for s in segments_of(http, net["id"], segmentation_id=107)] == [107]
    assert len(segments_of(http, net["id"], physical_network=physnet)) == 4
    page1 = segments_of(http, net["id"], sort_key="segmentation_id", sort_dir="asc", network_type="vlan", limit=2)
    assert [s["segmentation_id"] for s in page1] == [100, 103]
    page2 = segments_of(
        http,
        net["id"],
        sort_key="segmentation_id",
        sort_dir="asc",
        network_type="vlan",
        limit=2,
        marker=page1[-1]["id"],
    )
    assert [s["segmentation_id"] for s in page2] == [107, 109]
    narrow = segments_of(http, net["id"], fields=["id", "segmentation_id"], network_type="vlan")
    assert all(set(s) == {"id", "segmentation_id"} for s in narrow)


def test_update_tags_and_revisions(http):
    net = network(http)
    seg = made(http, network_id=net["id"], network_type="vxlan", name="a")
    url = f"/v2.0/segments/{seg['id']}"
    renamed = http.put(url, json={"segment": {"name": "b", "description": "d"}}).json()["segment"]
    assert (renamed["name"], renamed["description"], renamed["revision_number"]) == ("b", "d", 1)
    stale = http.put(url, json={"segment": {"name": "c"}}, headers={"If-Match": "revision_number=0"})
    assert error_of(stale, 412) == "HTTPPreconditionFailed"
    fixed = http.put(url, json={"segment": {"network_type": "vlan"}})
    assert error_of(fixed, 400) == "HTTPBadRequest"  # only name and description change
    assert http.put(f"{url}/tags/blue").status_code == 201
    assert http.get(url).json()["segment"]["tags"] == ["blue"]
    assert [s["id"] for s in segments_of(http, net["id"], tags="blue")] == [seg["id"]]


def test_bad_segments(http):
    net = network(http)
    cases = [
        ({"network_type": "flat"}, 400, "InvalidInput"),  # flat needs a physical network
        ({"network_type": "vlan"}, 400, "InvalidInput"),
        ({"network_type": "vlan", "physical_network": "p", "segmentation_id": 5000}, 400, "InvalidInput"),
        ({"network_type": "flat", "physical_network": "p", "segmentation_id": 5}, 400, "InvalidInput"),
        ({"network_type": "vxlan", "physical_network": "p"}, 400, "InvalidInput"),
        ({"network_type": "token-ring"}, 400, "HTTPBadRequest"),
        ({"network_type": "vxlan", "hosts": []}, 400, "HTTPBadRequest"),
    ]
    for body, status, kind in cases:
        assert error_of(create(http, network_id=net["id"], **body), status) == kind, body
    assert error_of(create(http, network_id=str(uuid.uuid4()), network_type="vxlan"), 404) == "NetworkNotFound"
    assert error_of(create(http, network_type="vxlan"), 400) == "HTTPBadRequest"  # network_id required
    assert error_of(http.get(f"/v2.0/segments/{uuid.uuid4()}"), 404) == "SegmentNotFound"
    assert segments_of(http, net["id"]) and len(segments_of(http, net["id"])) == 1  # nothing half-made


def test_subnets_on_segments_and_segment_in_use(http):
    physnet = vlan_physnet(http)
    net = vlan_network(http, physnet)
    [first] = segments_of(http, net["id"])
    second = made(http, network_id=net["id"], network_type="vlan", physical_network=physnet)
    on_second = subnet(http, net["id"], "10.61.1.0/24", segment_id=second["id"])
    assert on_second.status_code == 201, on_second.text
    assert on_second.json()["subnet"]["segment_id"] == second["id"]
    assert subnet(http, net["id"], "10.61.2.0/24", segment_id=first["id"]).status_code == 201
    # Routed networks: every subnet of the network on a segment, or none.
    assert error_of(subnet(http, net["id"], "10.61.3.0/24"), 400) == "SubnetsNotAllAssociatedWithSegments"
    other = network(http)
    [foreign] = segments_of(http, other["id"])
    assert error_of(subnet(http, net["id"], "10.61.4.0/24", segment_id=foreign["id"]), 400) == "NetworkIdsDontMatch"
    missing = subnet(http, net["id"], "10.61.5.0/24", segment_id=str(uuid.uuid4()))
    assert error_of(missing, 404) == "SegmentNotFound"
    assert subnet(http, other["id"], "10.61.6.0/24").status_code == 201
    assert error_of(subnet(http, other["id"], "10.61.7.0/24", segment_id=foreign["id"]), 400) == (
        "SubnetsNotAllAssociatedWithSegments"
    )
    listed = http.get("/v2.0/subnets", params={"segment_id": second["id"]}).json()["subnets"]
    assert [s["cidr"] for s in listed] == ["10.61.1.0/24"]

    in_use = http.delete(f"/v2.0/segments/{second['id']}")
    assert error_of(in_use, 409) == "SegmentInUse"
    assert on_second.json()["subnet"]["id"] in in_use.json()["NeutronError"]["message"]
    assert error_of(http.delete(f"/v2.0/segments/{first['id']}"), 409) == "SegmentInUse"  # the network's own
    assert http.delete(f"/v2.0/subnets/{on_second.json()['subnet']['id']}").status_code == 204
    assert http.delete(f"/v2.0/segments/{second['id']}").status_code == 204
    assert error_of(http.get(f"/v2.0/segments/{second['id']}"), 404) == "SegmentNotFound"
    # Its id went back to the range: the next allocation on the physical network reuses it.
    again = made(http, network_id=net["id"], network_type="vlan", physical_network=physnet)
    assert again["segmentation_id"] == second["segmentation_id"]


def test_network_delete_takes_its_segments_and_releases_their_ids(http):
    physnet = vlan_physnet(http, 200, 201)
    net = vlan_network(http, physnet)
    extra = made(http, network_id=net["id"], network_type="vlan", physical_network=physnet)
    explicit = made(http, network_id=net["id"], network_type="vlan", physical_network=physnet, segmentation_id=3000)
    assert error_of(create(http, network_id=net["id"], network_type="vlan", physical_network=physnet), 503) == (
        "NoNetworkAvailable"
    )  # the range is full
    assert subnet(http, net["id"], "10.62.1.0/24", segment_id=extra["id"]).status_code == 201
    assert http.put(f"/v2.0/segments/{extra['id']}/tags/t").status_code == 201
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert segments_of(http, net["id"]) == []
    assert error_of(http.get(f"/v2.0/segments/{extra['id']}"), 404) == "SegmentNotFound"
    # Every id is free again: the range's two, and the explicit one.
    ids = {vlan_network(http, physnet)["provider:segmentation_id"] for _ in range(2)}
    assert ids == {200, 201}
    reused = network(
        http,
        **{"provider:network_type": "vlan", "provider:physical_network": physnet, "provider:segmentation_id": 3000},
    )
    assert reused["provider:segmentation_id"] == explicit["segmentation_id"]


def test_admin_only_policy_and_extensions(http):
    net = http.post("/v2.0/networks", json={"network": {"name": "m"}}, headers=MEMBER).json()["network"]
    refused = http.post(
        "/v2.0/segments", json={"segment": {"network_id": net["id"], "network_type": "vxlan"}}, headers=MEMBER
    )
    assert error_of(refused, 403) == "PolicyNotAuthorized"
    assert http.get("/v2.0/segments", params={"network_id": net["id"]}, headers=MEMBER).json() == {"segments": []}
    [first] = segments_of(http, net["id"])
    assert error_of(http.get(f"/v2.0/segments/{first['id']}", headers=MEMBER), 404) == "SegmentNotFound"
    assert error_of(http.delete(f"/v2.0/segments/{first['id']}", headers=MEMBER), 404) == "SegmentNotFound"
    on_segment = http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.63.0.0/24", "segment_id": first["id"]}},
        headers=MEMBER,
    )
    assert error_of(on_segment, 403) == "PolicyNotAuthorized"
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert {"segment", "standard-attr-segment", "multi-provider"} <= aliases


def test_openstacksdk(api_server):
    conn = connect(api_server.url)
    net = conn.network.create_network(name="sdk-seg")
    try:
        [first] = list(conn.network.segments(network_id=net.id))
        assert (first.network_type, first.segmentation_id) == (net.provider_network_type, net.provider_segmentation_id)
        seg = conn.network.create_segment(network_id=net.id, network_type="vxlan", name="sdk", description="d")
        assert (seg.name, seg.description, seg.network_id) == ("sdk", "d", net.id)
        assert seg.segmentation_id is not None
        assert conn.network.update_segment(seg, name="sdk2").name == "sdk2"
        assert conn.network.get_segment(seg.id).name == "sdk2"
        assert {s.id for s in conn.network.segments(network_id=net.id)} == {first.id, seg.id}
        conn.network.delete_segment(seg, ignore_missing=False)
        assert [s.id for s in conn.network.segments(network_id=net.id)] == [first.id]
    finally:
        conn.network.delete_network(net)


def test_openstack_cli(api_server):
    net = osc_json(api_server, "network", "create", f"cli-seg-{uuid.uuid4().hex[:6]}")
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = osc_json(
        api_server, "network", "segment", "create", "--network", net["id"], "--network-type", "vxlan", name
    )
    assert (created["name"], created["network_id"], created["network_type"]) == (name, net["id"], "vxlan")
    listed = osc_json(api_server, "network", "segment", "list", "--network", net["id"])
    assert {row["ID"] for row in listed} == {
        created["id"],
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"quark:segment:{net['id']}")),
    }
    osc(api_server, "network", "segment", "set", "--name", name + "x", "--description", "d", created["id"])
    shown = osc_json(api_server, "network", "segment", "show", created["id"])
    assert (shown["name"], shown["description"]) == (name + "x", "d")
    osc(api_server, "network", "segment", "delete", created["id"])
    assert osc(api_server, "network", "segment", "show", created["id"], check=False).returncode != 0
    osc(api_server, "network", "delete", net["id"])


def test_multi_provider_create(http):
    physnet = vlan_physnet(http, 300, 309)
    body = {
        "name": "mp",
        "segments": [
            {"provider:network_type": "vlan", "provider:physical_network": physnet},
            {"provider:network_type": "vlan", "provider:physical_network": physnet, "provider:segmentation_id": 3500},
            {"provider:network_type": "vxlan"},
        ],
    }
    answer = http.post("/v2.0/networks", json={"network": body})
    assert answer.status_code == 201, answer.text
    net = answer.json()["network"]
    assert [(s["provider:network_type"], s["provider:segmentation_id"]) for s in net["segments"]][:2] == [
        ("vlan", 300),
        ("vlan", 3500),
    ]
    assert net["segments"][2]["provider:segmentation_id"] is not None
    assert (net["provider:network_type"], net["provider:segmentation_id"]) == ("vlan", 300)
    listed = segments_of(http, net["id"], sort_key="segmentation_id", sort_dir="asc", network_type="vlan")
    assert [s["segmentation_id"] for s in listed] == [300, 3500]
    # Every id is held: a clash anywhere in the list makes nothing.
    clash = dict(body, segments=[body["segments"][0], {**body["segments"][1], "provider:physical_network": physnet}])
    before = len(http.get("/v2.0/networks", params={"name": "mp"}).json()["networks"])
    assert error_of(http.post("/v2.0/networks", json={"network": clash}), 409) == "SegmentationIdInUse"
    assert len(http.get("/v2.0/networks", params={"name": "mp"}).json()["networks"]) == before
    both = {"provider:network_type": "vxlan", "segments": [{"provider:network_type": "vxlan"}]}
    assert error_of(http.post("/v2.0/networks", json={"network": both}), 400) == "SegmentsSetInConjunctionWithProviders"
    dup = {"segments": [{"provider:network_type": "vxlan"}, {"provider:network_type": "vxlan"}]}
    assert error_of(http.post("/v2.0/networks", json={"network": dup}), 400) == "SegmentsContainDuplicateEntry"
    untyped = {"segments": [{"provider:physical_network": physnet}]}
    assert error_of(http.post("/v2.0/networks", json={"network": untyped}), 400) == "HTTPBadRequest"
    member = http.post(
        "/v2.0/networks", json={"network": {"segments": [{"provider:network_type": "vxlan"}]}}, headers=MEMBER
    )
    assert error_of(member, 403) == "PolicyNotAuthorized"
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert segments_of(http, net["id"]) == []
    again = http.post("/v2.0/networks", json={"network": body})  # every id was released
    assert again.status_code == 201, again.text
