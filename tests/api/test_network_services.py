"""Network services per project against a real server, on every database:
several kinds side by side (flat, flat with DHCP, VLAN, VXLAN; drivers
``agent``, ``unmanaged`` and ``fault``, the installed driver that needs a
backend), each project's networks getting its service's type, segment and
driver; the deployment default for projects without one; the outbox writing
jobs only for drivers that need a backend; validation (400), in use (409) and
the policy (admins manage, a project reads its own association).

Services and ranges are global: every test uses its own physical networks
and projects.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_wire import error_of

SERVICES = "/v2.0/network-services"
ASSOCIATIONS = "/v2.0/network-service-associations"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def member(project_id: str, role: str = "member") -> dict[str, str]:
    return {"X-Project-Id": project_id, "X-Roles": role}


def create_service(admin: httpx.Client, **body) -> httpx.Response:
    return admin.post(SERVICES, json={"network_service": body})


def service(admin: httpx.Client, **body) -> dict:
    r = create_service(admin, **body)
    assert r.status_code == 201, r.text
    return r.json()["network_service"]


def associate(admin: httpx.Client, project_id: str, service_id: str) -> httpx.Response:
    body = {"network_service_association": {"project_id": project_id, "network_service_id": service_id}}
    return admin.post(ASSOCIATIONS, json=body)


def project_network(admin: httpx.Client, project_id: str) -> tuple[dict, httpx.Response]:
    """A network the project creates without provider attributes, as an admin sees it."""
    r = admin.post("/v2.0/networks", json={"network": {"name": "ns"}}, headers=member(project_id))
    assert r.status_code == 201, r.text
    net = admin.get(f"/v2.0/networks/{r.json()['network']['id']}").json()["network"]
    return net, r


def segment(net: dict) -> tuple:
    return (
        net["provider:network_type"],
        net["provider:physical_network"],
        net["provider:segmentation_id"],
        net["network_plugin"],
    )


def jobs_of(admin: httpx.Client, resource_id: str) -> list[dict]:
    return admin.get("/v2.0/jobs", params={"resource_id": resource_id}).json()["jobs"]


def test_kinds_side_by_side(admin):
    vlan_phys, flat_phys, dhcp_phys = unique("vl"), unique("fl"), unique("fd")
    r = admin.post(
        "/v2.0/segment_allocation_ranges",
        json={
            "segment_allocation_range": {
                "network_type": "vlan",
                "physical_network": vlan_phys,
                "minimum": 300,
                "maximum": 301,
            }
        },
    )
    assert r.status_code == 201, r.text
    kinds = {
        "vlan": service(admin, name="vlan", kind="vlan", physical_network=vlan_phys, driver="unmanaged"),
        "vxlan": service(admin, name="vxlan", kind="vxlan", driver="fault"),
        "flat": service(admin, name="flat", kind="flat", physical_network=flat_phys, driver="agent"),
        "flat_dhcp": service(admin, name="fd", kind="flat_dhcp", physical_network=dhcp_phys, driver="agent"),
    }
    assert {k: (s["network_type"], s["enable_dhcp"]) for k, s in kinds.items()} == {
        "vlan": ("vlan", True),
        "vxlan": ("vxlan", True),
        "flat": ("flat", False),
        "flat_dhcp": ("flat", True),
    }
    projects = {kind: unique(f"p{kind}") for kind in kinds}
    for kind, project in projects.items():
        assert associate(admin, project, kinds[kind]["id"]).status_code == 201

    made = {kind: project_network(admin, project) for kind, project in projects.items()}
    nets = {kind: net for kind, (net, _) in made.items()}
    assert segment(nets["vlan"]) == ("vlan", vlan_phys, 300, "unmanaged")
    vxlan = segment(nets["vxlan"])
    assert vxlan[:2] == ("vxlan", None) and isinstance(vxlan[2], int) and vxlan[3] == "fault"
    assert segment(nets["flat"]) == ("flat", flat_phys, None, "agent")
    assert segment(nets["flat_dhcp"]) == ("flat", dhcp_phys, None, "agent")
    # A flat network holds its physical network (Neutron's rule): a second one is a 409.
    second_flat = admin.post("/v2.0/networks", json={"network": {"name": "f2"}}, headers=member(projects["flat"]))
    assert error_of(second_flat, 409) == "SegmentationIdInUse"
    # A second VLAN network of the project takes the next id of the same range.
    assert segment(project_network(admin, projects["vlan"])[0]) == ("vlan", vlan_phys, 301, "unmanaged")

    # No association: the deployment default (tenant_network_type vxlan, backend_driver agent).
    default, _ = project_network(admin, unique("pdefault"))
    assert (default["provider:network_type"], default["network_plugin"]) == ("vxlan", "agent")
    assert isinstance(default["provider:segmentation_id"], int)

    # The outbox: a job for the network whose driver needs a backend, none for the others.
    assert made["vxlan"][1].headers.get("X-Quark-Job-Id")
    assert [j["driver"] for j in jobs_of(admin, nets["vxlan"]["id"])] == ["fault"]
    for kind in ("vlan", "flat", "flat_dhcp"):
        assert "X-Quark-Job-Id" not in made[kind][1].headers
        assert jobs_of(admin, nets[kind]["id"]) == []

    # Subnets: DHCP off by default on a flat service's networks, on elsewhere; explicit wins.
    def subnet(kind: str, cidr: str, **extra) -> dict:
        body = {"network_id": nets[kind]["id"], "ip_version": 4, "cidr": cidr, **extra}
        r = admin.post("/v2.0/subnets", json={"subnet": body}, headers=member(projects[kind]))
        assert r.status_code == 201, r.text
        return r.json()["subnet"]

    assert subnet("flat", "10.81.0.0/24")["enable_dhcp"] is False
    assert subnet("flat", "10.81.1.0/24", enable_dhcp=True)["enable_dhcp"] is True
    assert subnet("flat_dhcp", "10.82.0.0/24")["enable_dhcp"] is True
    assert subnet("vlan", "10.83.0.0/24")["enable_dhcp"] is True


def test_provider_attributes_win_over_the_service(admin):
    project = unique("pprov")
    vx = service(admin, kind="vxlan", driver="unmanaged")
    assert associate(admin, project, vx["id"]).status_code == 201
    phys = unique("fp")
    r = admin.post(
        "/v2.0/networks",
        json={
            "network": {
                "project_id": project,
                "provider:network_type": "flat",
                "provider:physical_network": phys,
            }
        },
    )
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    assert segment(net) == ("flat", phys, None, "agent")


def test_validation(admin):
    phys = unique("vp")
    cases = [
        ({"kind": "vlan", "driver": "no-such-driver"}, "InvalidInput"),
        ({"kind": "geneve", "driver": "agent"}, "HTTPBadRequest"),
        ({"kind": "flat", "driver": "agent"}, "InvalidInput"),  # flat needs a physical network
        ({"kind": "flat_dhcp", "driver": "agent"}, "InvalidInput"),
        ({"kind": "vxlan", "physical_network": phys, "driver": "agent"}, "InvalidInput"),
        ({"kind": "vxlan"}, "HTTPBadRequest"),  # driver required
    ]
    before = len(admin.get(SERVICES).json()["network_services"])
    for body, expected in cases:
        assert error_of(create_service(admin, **body), 400) == expected, body
    assert len(admin.get(SERVICES).json()["network_services"]) == before
    s = service(admin, kind="vlan", driver="agent")
    assert s["physical_network"] is None
    assert error_of(admin.put(f"{SERVICES}/{s['id']}", json={"network_service": {"driver": "nope"}}), 400)
    assert error_of(admin.put(f"{SERVICES}/{s['id']}", json={"network_service": {"kind": "vxlan"}}), 400)
    renamed = admin.put(f"{SERVICES}/{s['id']}", json={"network_service": {"name": "n2", "driver": "unmanaged"}})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["network_service"]["name"], renamed.json()["network_service"]["driver"]) == (
        "n2",
        "unmanaged",
    )
    # The driver/network-type combination, declared by each driver, is checked on networks
    # too: agent realises flat, vlan and vxlan only.
    r = admin.post(
        "/v2.0/networks",
        json={"network": {"provider:network_type": "gre", "network_plugin": "agent"}},
    )
    assert error_of(r, 400) == "InvalidInput"
    assert "gre" in r.json()["NeutronError"]["message"]


def test_associations_and_in_use(admin):
    project, other = unique("pa"), unique("pb")
    first = service(admin, kind="vxlan", driver="unmanaged")
    second = service(admin, kind="vxlan", driver="fault")
    assert error_of(associate(admin, project, str(uuid.uuid4())), 404) == "NetworkServiceNotFound"
    r = associate(admin, project, first["id"])
    assert r.status_code == 201, r.text
    assoc = r.json()["network_service_association"]
    assert (assoc["id"], assoc["project_id"], assoc["network_service_id"]) == (project, project, first["id"])
    assert error_of(associate(admin, project, second["id"]), 409) == "NetworkServiceAssociationExists"

    # Members read their own association, by their project id; nobody else's; never write.
    mine = admin.get(f"{ASSOCIATIONS}/{project}", headers=member(project, "reader"))
    assert mine.status_code == 200 and mine.json()["network_service_association"] == assoc
    assert admin.get(f"{ASSOCIATIONS}/{project}", headers=member(project)).status_code == 200  # member implies reader
    listed = admin.get(ASSOCIATIONS, headers=member(project, "reader")).json()["network_service_associations"]
    assert [a["id"] for a in listed] == [project]
    assert admin.get(f"{ASSOCIATIONS}/{project}", headers=member(other)).status_code == 404
    assert admin.get(ASSOCIATIONS, headers=member(other)).json()["network_service_associations"] == []
    forbidden = admin.post(
        ASSOCIATIONS,
        json={"network_service_association": {"network_service_id": first["id"]}},
        headers=member(other),
    )
    assert forbidden.status_code == 403
    put = admin.put(
        f"{ASSOCIATIONS}/{project}",
        json={"network_service_association": {"network_service_id": second["id"]}},
        headers=member(project),
    )
    assert put.status_code == 403
    assert admin.get(f"{SERVICES}/{first['id']}", headers=member(project)).status_code in (403, 404)
    assert admin.get(SERVICES, headers=member(project)).json()["network_services"] == []

    # In use: by an association (409), then by a network made from it (409), then free.
    assert error_of(admin.delete(f"{SERVICES}/{first['id']}"), 409) == "NetworkServiceInUse"
    net, _ = project_network(admin, project)
    assert net["network_plugin"] == "unmanaged"
    switched = admin.put(
        f"{ASSOCIATIONS}/{project}", json={"network_service_association": {"network_service_id": second["id"]}}
    )
    assert switched.status_code == 200 and switched.json()["network_service_association"]["revision_number"] == 1
    assert project_network(admin, project)[0]["network_plugin"] == "fault"
    assert error_of(admin.delete(f"{SERVICES}/{first['id']}"), 409) == "NetworkServiceInUse"
    assert admin.delete(f"/v2.0/networks/{net['id']}", headers=member(project)).status_code == 204
    assert admin.delete(f"{SERVICES}/{first['id']}").status_code == 204
    assert admin.get(f"{SERVICES}/{first['id']}").status_code == 404

    # Deleting the association: the project is back on the deployment default.
    assert admin.delete(f"{ASSOCIATIONS}/{project}", headers=member(project)).status_code == 403
    assert admin.delete(f"{ASSOCIATIONS}/{project}").status_code == 204
    assert admin.get(f"{ASSOCIATIONS}/{project}").status_code == 404
    assert project_network(admin, project)[0]["network_plugin"] == "agent"


@pytest.mark.parametrize("path", [SERVICES, ASSOCIATIONS])
def test_member_cannot_create(admin, path):
    project = unique("pm")
    key = path.rsplit("/", 1)[1].replace("-", "_")[:-1]
    body = {"kind": "vxlan", "driver": "agent"} if path == SERVICES else {"network_service_id": str(uuid.uuid4())}
    r = admin.post(path, json={key: body}, headers=member(project))
    assert error_of(r, 403) == "PolicyNotAuthorized"


def test_openstacksdk_usage_as_documented(api_server):
    """The example of docs/network_services.md: openstacksdk's raw calls for the
    extension, its Network resource for what follows."""
    from keystoneauth1 import noauth
    from keystoneauth1 import session as ks_session
    from openstack.connection import Connection

    def connect(headers: dict[str, str]) -> Connection:
        session = ks_session.Session(auth=noauth.NoAuth(endpoint=api_server.url), additional_headers=headers)
        return Connection(session=session)

    project, phys = unique("psdk"), unique("sdk")
    conn = connect({})  # an admin
    made = conn.network.post(
        "/network-services",
        json={"network_service": {"name": "rack-vlan", "kind": "vlan", "physical_network": phys, "driver": "agent"}},
    )
    assert made.status_code == 201, made.text
    service_id = made.json()["network_service"]["id"]
    ranges = {"network_type": "vlan", "physical_network": phys, "minimum": 700, "maximum": 709}
    assert conn.network.post("/segment_allocation_ranges", json={"segment_allocation_range": ranges}).ok
    body = {"network_service_association": {"project_id": project, "network_service_id": service_id}}
    assert conn.network.post("/network-service-associations", json=body).status_code == 201

    tenant = connect(member(project))
    shown = tenant.network.get(f"/network-service-associations/{project}").json()
    assert shown["network_service_association"]["network_service_id"] == service_id
    net = tenant.network.create_network(name="web")
    seen = conn.network.get_network(net.id)
    assert (seen.provider_network_type, seen.provider_physical_network, seen.provider_segmentation_id) == (
        "vlan",
        phys,
        700,
    )
    assert conn.network.get(f"/networks/{net.id}").json()["network"]["network_plugin"] == "agent"
