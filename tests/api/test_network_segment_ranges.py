"""Neutron's network segment ranges against a real server, on every database:
the same rows as Quark's segment allocation ranges; Neutron's attributes,
errors and policy; a project's own range used before the shared ones (and
never by another project), across a default range it overlaps; bounds changed
by PUT; the unmodified `openstack network segment range` commands and
openstacksdk.

The server of this file has its own default range on its own physical
network (``segment_ranges`` setting), so the tests know where its cursor is.
"""

from __future__ import annotations

import random
import uuid

import httpx
import pytest

from tests.api.test_openstack_cli import osc, osc_json
from tests.api.test_sdk_workflows import connect
from tests.api.test_wire import error_of
from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server

DEFAULT_PHYS = f"dphys{uuid.uuid4().hex[:6]}"
MEMBER = {"X-Project-Id": "nsr-member", "X-Roles": "member"}
URL = "/v2.0/network_segment_ranges"


@pytest.fixture(scope="module", params=selected_backends())
def server(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        env = {"QUARK_SEGMENT_RANGES": f"vxlan:1:65535,vlan:{DEFAULT_PHYS}:1:20"}
        with quark_server(url, env=env) as running:
            yield running


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def physnet() -> str:
    return f"phys-{uuid.uuid4().hex[:8]}"


def vni_span(size: int) -> tuple[int, int]:
    """A VNI span of no other test (above the default vxlan range)."""
    low = random.randrange(100_000, 16_000_000)
    return low, low + size - 1


def create(http, **body) -> httpx.Response:
    return http.post(URL, json={"network_segment_range": body})


def made(http, **body) -> dict:
    answer = create(http, **body)
    assert answer.status_code == 201, answer.text
    return answer.json()["network_segment_range"]


def vlan_network(http, project: str, phys: str) -> httpx.Response:
    body = {"name": "n", "project_id": project, "provider:network_type": "vlan", "provider:physical_network": phys}
    return http.post("/v2.0/networks", json={"network": body})


def segment_of(http, project: str, phys: str) -> int:
    answer = vlan_network(http, project, phys)
    assert answer.status_code == 201, answer.text
    return answer.json()["network"]["provider:segmentation_id"]


def test_crud_attributes_and_one_model(http):
    low, high = vni_span(6)
    rng = made(
        http, name="r1", description="d", shared=False, project_id="p-one", network_type="vxlan",
        physical_network="", minimum=low, maximum=high,
    )  # fmt: skip
    assert {k: rng[k] for k in rng if k not in ("id", "created_at", "updated_at", "links")} == {
        "name": "r1",
        "description": "d",
        "default": False,
        "shared": False,
        "project_id": "p-one",
        "tenant_id": "p-one",
        "network_type": "vxlan",
        "physical_network": None,
        "minimum": low,
        "maximum": high,
        "used": {},
        "available": list(range(low, high + 1)),
        "tags": [],
        "revision_number": 0,
    }
    tagged = http.put(f"{URL}/{rng['id']}/tags", json={"tags": ["b", "a"]})
    assert tagged.status_code == 200, tagged.text
    rng = http.get(f"{URL}/{rng['id']}").json()["network_segment_range"]
    assert (rng["tags"], rng["revision_number"]) == (["a", "b"], 1)
    assert [x["id"] for x in http.get(URL, params={"tags": "a"}).json()["network_segment_ranges"]] == [rng["id"]]
    assert http.get(f"{URL}/{rng['id']}").json()["network_segment_range"] == rng
    # One model: Quark's own API shows the same range.
    quark_view = http.get(f"/v2.0/segment_allocation_ranges/{rng['id']}").json()["segment_allocation_range"]
    assert (quark_view["minimum"], quark_view["maximum"], quark_view["size"]) == (low, high, 6)

    listed = http.get(URL, params={"id": rng["id"], "fields": ["id", "minimum", "shared"]}).json()
    assert listed == {"network_segment_ranges": [{"id": rng["id"], "minimum": low, "shared": False}]}
    assert http.get(URL, params={"id": "33"}).json() == {"network_segment_ranges": []}
    by_project = http.get(URL, params={"project_id": "p-one"}).json()["network_segment_ranges"]
    assert [x["id"] for x in by_project] == [rng["id"]]
    defaults = http.get(URL, params={"default": "true", "sort_key": "minimum", "fields": "network_type"}).json()
    assert sorted(x["network_type"] for x in defaults["network_segment_ranges"]) == ["vlan", "vxlan"]

    updated = http.put(
        f"{URL}/{rng['id']}",
        json={"network_segment_range": {"name": "r2", "minimum": low - 50, "maximum": high + 50}},
    )
    assert updated.status_code == 200, updated.text
    view = updated.json()["network_segment_range"]
    assert (view["name"], view["minimum"], view["maximum"], view["revision_number"]) == (
        "r2", low - 50, high + 50, 2,
    )  # fmt: skip
    assert len(view["available"]) == high - low + 101
    assert http.delete(f"{URL}/{rng['id']}").status_code == 204
    assert error_of(http.get(f"{URL}/{rng['id']}"), 404) == "NetworkSegmentRangeNotFound"
    assert error_of(http.get(f"/v2.0/segment_allocation_ranges/{rng['id']}"), 404) == "SegmentAllocationRangeNotFound"


def test_project_range_first_never_another_projects(http):
    phys = physnet()
    shared = made(http, network_type="vlan", physical_network=phys, minimum=10, maximum=11)
    own = made(http, network_type="vlan", physical_network=phys, minimum=20, maximum=21, shared=False, project_id="p-a")
    assert own["shared"] is False and shared["shared"] is True and shared["project_id"] is None

    first = segment_of(http, "p-a", phys)
    assert first == 20  # its own range before the shared one
    assert segment_of(http, "p-b", phys) == 10
    # p-a's released id is not reused by p-b; p-b exhausts the shared range, then 503.
    net = http.get("/v2.0/networks", params={"provider:segmentation_id": first}).json()["networks"]
    assert http.delete(f"/v2.0/networks/{net[0]['id']}").status_code == 204
    assert segment_of(http, "p-b", phys) == 11
    assert error_of(vlan_network(http, "p-b", phys), 503) == "NoNetworkAvailable"
    assert segment_of(http, "p-a", phys) == 20  # its released id, back
    assert segment_of(http, "p-a", phys) == 21
    assert error_of(vlan_network(http, "p-a", phys), 503) == "NoNetworkAvailable"  # own and shared all held

    view = http.get(f"{URL}/{own['id']}").json()["network_segment_range"]
    assert view["used"] == {"20": "p-a", "21": "p-a"} and view["available"] == []
    # In use: no delete, no shrinking past a held id (409); growing is fine.
    assert error_of(http.delete(f"{URL}/{own['id']}"), 409) == "NetworkSegmentRangeReferencedByProject"
    shrink = http.put(f"{URL}/{own['id']}", json={"network_segment_range": {"minimum": 21}})
    assert error_of(shrink, 409) == "NetworkSegmentRangeReferencedByProject"
    grown = http.put(f"{URL}/{own['id']}", json={"network_segment_range": {"maximum": 22}})
    assert grown.status_code == 200, grown.text
    assert segment_of(http, "p-a", phys) == 22  # the walked range resumes after its old maximum


def test_project_range_inside_a_default_range(http):
    """A default range may be overlapped; its cursor jumps over a project's range."""
    own = made(
        http, network_type="vlan", physical_network=DEFAULT_PHYS, minimum=3, maximum=4, shared=False, project_id="p-c"
    )
    others = [segment_of(http, "p-d", DEFAULT_PHYS) for _ in range(4)]
    assert others == [1, 2, 5, 6]
    assert [segment_of(http, "p-c", DEFAULT_PHYS) for _ in range(3)] == [3, 4, 7]
    default = http.get(URL, params={"default": True, "physical_network": DEFAULT_PHYS}).json()
    (default_range,) = default["network_segment_ranges"]
    assert default_range["default"] is True and default_range["shared"] is True
    assert default_range["used"]["3"] == "p-c" and default_range["used"]["1"] == "p-d"
    assert default_range["available"] == list(range(8, 21))
    # A default range is read-only through Neutron's API (Neutron's 400).
    rid = default_range["id"]
    assert error_of(http.delete(f"{URL}/{rid}"), 400) == "NetworkSegmentRangeDefaultReadOnly"
    rename = http.put(f"{URL}/{rid}", json={"network_segment_range": {"name": "x"}})
    assert error_of(rename, 400) == "NetworkSegmentRangeDefaultReadOnly"
    assert own["id"] in [x["id"] for x in http.get(URL, params={"shared": False}).json()["network_segment_ranges"]]


def test_errors_and_policy(http):
    phys = physnet()
    first = made(http, network_type="vlan", physical_network=phys, minimum=100, maximum=199)
    overlap = create(http, network_type="vlan", physical_network=phys, minimum=199, maximum=250)
    assert error_of(overlap, 409) == "NetworkSegmentRangeOverlaps"
    assert first["id"] in overlap.json()["NeutronError"]["message"]
    second = made(http, network_type="vlan", physical_network=phys, minimum=300, maximum=310)
    moved = http.put(f"{URL}/{second['id']}", json={"network_segment_range": {"minimum": 150}})
    assert error_of(moved, 409) == "NetworkSegmentRangeOverlaps"
    cases = [
        ({"network_type": "foo", "minimum": 1, "maximum": 2}, "HTTPBadRequest"),
        ({"network_type": "gre", "minimum": 1, "maximum": 2}, "NetworkSegmentRangeNetTypeNotSupported"),
        ({"network_type": "vlan", "minimum": 1, "maximum": 2}, "InvalidInput"),  # no physical network
        ({"network_type": "vlan", "physical_network": phys, "minimum": 0, "maximum": 2}, "InvalidInput"),
        ({"network_type": "vlan", "physical_network": physnet(), "minimum": 9, "maximum": 4095}, "InvalidInput"),
        ({"network_type": "vxlan", "minimum": 7, "maximum": 3}, "InvalidInput"),
        ({"network_type": "vxlan", "minimum": "x", "maximum": 3}, "HTTPBadRequest"),
        ({"network_type": "vxlan", "maximum": 3}, "HTTPBadRequest"),
        ({"network_type": "vxlan", "minimum": 1, "maximum": 3, "default": True}, "HTTPBadRequest"),
    ]
    for body, kind in cases:
        assert error_of(create(http, **body), 400) == kind, body
    bad_put = http.put(f"{URL}/{second['id']}", json={"network_segment_range": {"network_type": "vxlan"}})
    assert error_of(bad_put, 400) == "HTTPBadRequest"
    after = http.get(f"{URL}/{second['id']}").json()["network_segment_range"]
    assert (after["minimum"], after["revision_number"]) == (300, 0)  # nothing changed
    assert http.get(URL, headers=MEMBER).json() == {"network_segment_ranges": []}
    as_member = http.post(
        URL, headers=MEMBER, json={"network_segment_range": {"network_type": "vxlan", "minimum": 1, "maximum": 2}}
    )
    assert error_of(as_member, 403) == "PolicyNotAuthorized"
    for verb in ("get", "delete"):
        answer = getattr(http, verb)(f"{URL}/{first['id']}", headers=MEMBER)
        assert answer.status_code in (403, 404), answer.text
    assert http.get(f"{URL}/{first['id']}").status_code == 200  # still there
    for rid in (first["id"], second["id"]):
        assert http.delete(f"{URL}/{rid}").status_code == 204


def test_openstack_cli_and_sdk(server):
    low, high = vni_span(4)
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = osc_json(
        server, "network", "segment", "range", "create", "--shared", "--network-type", "vxlan",
        "--minimum", str(low), "--maximum", str(high), name,
    )  # fmt: skip
    assert created["name"] == name and created["minimum"] == low and created["shared"] is True
    listed = osc_json(server, "network", "segment", "range", "list", "--long")
    assert name in [row["Name"] for row in listed]
    osc(
        server,
        "network",
        "segment",
        "range",
        "set",
        "--minimum",
        str(low),
        "--maximum",
        str(high + 2),
        "--name",
        name + "x",
        created["id"],
    )
    shown = osc_json(server, "network", "segment", "range", "show", created["id"])
    assert (shown["name"], shown["maximum"]) == (name + "x", high + 2)
    osc(server, "network", "segment", "range", "delete", created["id"])
    assert osc(server, "network", "segment", "range", "show", created["id"], check=False).returncode != 0

    conn = connect(server.url)
    low, high = vni_span(3)
    own = conn.network.create_network_segment_range(
        network_type="vxlan", minimum=low, maximum=high, shared=False, project_id="sdk-p"
    )
    assert (own.shared, own.project_id, own.available) == (False, "sdk-p", list(range(low, high + 1)))
    assert own.id in [x.id for x in conn.network.network_segment_ranges(project_id="sdk-p")]
    conn.network.update_network_segment_range(own, maximum=high + 1)
    assert conn.network.get_network_segment_range(own.id).maximum == high + 1
    conn.network.delete_network_segment_range(own)


def test_hyphenated_path_is_the_same_collection(http):
    """Neutron's (and Tempest's) URL is /v2.0/network-segment-ranges: every
    operation there acts on the same rows as /v2.0/network_segment_ranges,
    and /openapi.json declares both."""
    alias = "/v2.0/network-segment-ranges"
    low, high = vni_span(4)
    body = {"name": "hy", "network_type": "vxlan", "minimum": low, "maximum": high}
    answer = http.post(alias, json={"network_segment_range": body})
    assert answer.status_code == 201, answer.text
    rng = answer.json()["network_segment_range"]
    assert http.get(f"{URL}/{rng['id']}").json()["network_segment_range"]["name"] == "hy"
    listed = http.get(alias, params={"name": "hy"}).json()["network_segment_ranges"]
    assert rng["id"] in [r["id"] for r in listed]
    updated = http.put(f"{alias}/{rng['id']}", json={"network_segment_range": {"name": "hy2"}})
    assert updated.status_code == 200, updated.text
    assert http.get(f"{alias}/{rng['id']}").json()["network_segment_range"]["name"] == "hy2"
    assert http.delete(f"{alias}/{rng['id']}").status_code == 204
    assert http.get(f"{URL}/{rng['id']}").status_code == 404
    paths = http.get("/openapi.json").json()["paths"]
    assert set(paths[alias]) == set(paths[URL])
    assert set(paths[f"{alias}/{{id}}"]) == set(paths[f"{URL}/{{id}}"])
