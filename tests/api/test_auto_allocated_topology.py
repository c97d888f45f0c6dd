"""Auto-allocated topology (alias ``auto-allocated-topology``,
docs/auto_allocated_topology.md) against a server of its own (the default
external network and the default subnet pools are deployment-wide), on every
database, with httpx and openstacksdk.

- networks' ``is_default`` (admin; external networks only; one at a time, 409
  ``DefaultExternalNetworkExists``);
- ``GET /v2.0/auto-allocated-topology/{project}``: ``fields=dry-run`` checks,
  409 ``AutoAllocationFailure`` without a default external network or default
  pools, and nothing made; then a network (active), a subnet per default pool
  and a router with its gateway on the default external network and an
  interface on each subnet, the same network on every later call;
- another project's topology is 403 for a member; ``DELETE`` removes it all.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import httpx
import pytest
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from openstack.connection import Connection

from tests.api.test_wire import error_of
from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server


@pytest.fixture(scope="module", params=selected_backends())
def server(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(url, env={"QUARK_IPAM_REUSE_AFTER": "0"}) as running:
            yield running


@pytest.fixture(scope="module")
def admin(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def member(server, project: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60, headers={"X-Project-Id": project, "X-Roles": "member"})


def topology(client: httpx.Client, project: str, **params) -> httpx.Response:
    return client.get(f"/v2.0/auto-allocated-topology/{project}", params=params)


def created(response: httpx.Response, key: str) -> dict:
    assert response.status_code == 201, response.text
    return response.json()[key]


@contextlib.contextmanager
def without_defaults(admin: httpx.Client) -> Iterator[None]:
    """No default external network and no default pool while inside (the
    module's ``defaults`` may have been made by a test that ran first);
    restored after."""
    nets = [n["id"] for n in admin.get("/v2.0/networks").json()["networks"] if n["is_default"]]
    pools = [p["id"] for p in admin.get("/v2.0/subnetpools").json()["subnetpools"] if p["is_default"]]
    for kind, key, ids in (("networks", "network", nets), ("subnetpools", "subnetpool", pools)):
        for rid in ids:
            off = admin.put(f"/v2.0/{kind}/{rid}", json={key: {"is_default": False}})
            assert off.status_code == 200, off.text
    try:
        yield
    finally:
        for kind, key, ids in (("networks", "network", nets), ("subnetpools", "subnetpool", pools)):
            for rid in ids:
                on = admin.put(f"/v2.0/{kind}/{rid}", json={key: {"is_default": True}})
                assert on.status_code == 200, on.text


def test_a_deployment_without_defaults_answers_409_and_makes_nothing(admin, server):
    project = f"p-{uuid.uuid4().hex[:8]}"
    with without_defaults(admin), member(server, project) as client:
        dry = topology(client, project, fields="dry-run")
        assert error_of(dry, 409) == "AutoAllocationFailure"
        assert "No default router:external network" in dry.json()["NeutronError"]["message"]
        assert error_of(topology(client, project), 409) == "AutoAllocationFailure"
        assert client.get("/v2.0/networks", params={"project_id": project}).json()["networks"] == []
        assert error_of(topology(client, project, fields="id"), 400) == "BadRequest"


def test_is_default_marks_one_external_network(admin):
    with without_defaults(admin):
        one_default_external_network(admin)


def one_default_external_network(admin: httpx.Client) -> None:
    internal = created(admin.post("/v2.0/networks", json={"network": {"name": "i", "is_default": True}}), "network")
    assert internal["is_default"] is False  # only external networks are default ones
    ext = {"name": "public", "router:external": True, "is_default": True}
    public = created(admin.post("/v2.0/networks", json={"network": ext}), "network")
    assert public["is_default"] is True
    second = admin.post("/v2.0/networks", json={"network": {**ext, "name": "public2"}})
    assert error_of(second, 409) == "DefaultExternalNetworkExists"
    other = created(
        admin.post("/v2.0/networks", json={"network": {"name": "public2", "router:external": True}}), "network"
    )
    refused = admin.put(f"/v2.0/networks/{other['id']}", json={"network": {"is_default": True}})
    assert error_of(refused, 409) == "DefaultExternalNetworkExists"
    # A member may not set it.
    with httpx.Client(base_url=str(admin.base_url), headers={"X-Project-Id": "m", "X-Roles": "member"}) as client:
        assert client.post("/v2.0/networks", json={"network": {"name": "x", "is_default": True}}).status_code == 403
    # Not external any more: not default any more, and the other may be.
    off = admin.put(f"/v2.0/networks/{public['id']}", json={"network": {"router:external": False}})
    assert off.status_code == 200 and off.json()["network"]["is_default"] is False
    assert admin.put(f"/v2.0/networks/{other['id']}", json={"network": {"is_default": True}}).status_code == 200
    assert admin.put(f"/v2.0/networks/{other['id']}", json={"network": {"is_default": False}}).status_code == 200


@pytest.fixture(scope="module")
def defaults(admin):
    """The default external network with a subnet, and a default IPv4 pool."""
    ext = {"name": "auto-public", "router:external": True, "is_default": True}
    public = created(admin.post("/v2.0/networks", json={"network": ext}), "network")
    body = {"network_id": public["id"], "ip_version": 4, "cidr": "203.0.113.0/24"}
    created(admin.post("/v2.0/subnets", json={"subnet": body}), "subnet")
    pool = {"name": "default-v4", "prefixes": ["10.128.0.0/16"], "default_prefixlen": 26, "is_default": True}
    pool["shared"] = True
    created(admin.post("/v2.0/subnetpools", json={"subnetpool": pool}), "subnetpool")
    return public


def test_topology_is_made_once_and_removed(admin, server, defaults):
    project = f"p-{uuid.uuid4().hex[:8]}"
    with member(server, project) as client:
        dry = topology(client, project, fields="dry-run")
        assert dry.status_code == 200, dry.text
        assert dry.json()["auto_allocated_topology"] == {"id": "dry-run=pass", "project_id": project}
        got = topology(client, "None")  # the caller's own project
        assert got.status_code == 200, got.text
        network_id = got.json()["auto_allocated_topology"]["id"]
        assert got.json()["auto_allocated_topology"]["project_id"] == project
        assert topology(client, project).json()["auto_allocated_topology"]["id"] == network_id

        network = client.get(f"/v2.0/networks/{network_id}").json()["network"]
        assert network["name"] == "auto_allocated_network" and network["admin_state_up"] is True
        assert network["project_id"] == project
        subnets = client.get("/v2.0/subnets", params={"network_id": network_id}).json()["subnets"]
        assert [(s["name"], s["ip_version"], s["cidr"].split("/")[1]) for s in subnets] == [
            ("auto_allocated_subnet_v4", 4, "26")
        ]
        routers = client.get("/v2.0/routers").json()["routers"]
        assert [r["name"] for r in routers] == ["auto_allocated_router"]
        assert routers[0]["external_gateway_info"]["network_id"] == defaults["id"]
        interfaces = client.get(
            "/v2.0/ports", params={"device_id": routers[0]["id"], "device_owner": "network:router_interface"}
        ).json()["ports"]
        assert [p["fixed_ips"][0]["subnet_id"] for p in interfaces] == [subnets[0]["id"]]

        # Another project's topology: 403 for a member.
        assert topology(client, "someone-else").status_code == 403
        assert client.delete(f"/v2.0/auto-allocated-topology/{project}").status_code == 204
        assert client.get("/v2.0/networks", params={"project_id": project}).json()["networks"] == []
        assert client.get("/v2.0/routers").json()["routers"] == []
        # Deleting nothing is fine; asking again makes a new one.
        assert client.delete(f"/v2.0/auto-allocated-topology/{project}").status_code == 204
        again = topology(client, project).json()["auto_allocated_topology"]["id"]
        assert again != network_id


def test_openstacksdk_gets_and_deletes_a_topology(server, defaults):
    project = f"sdk-{uuid.uuid4().hex[:8]}"
    conn = Connection(
        session=ks_session.Session(
            auth=noauth.NoAuth(endpoint=server.url),
            additional_headers={"X-Project-Id": project, "X-Roles": "member"},
        )
    )
    made = conn.network.get_auto_allocated_topology(project)
    assert made.project_id == project
    assert conn.network.get_network(made.id).name == "auto_allocated_network"
    conn.network.delete_auto_allocated_topology(project)
    assert list(conn.network.networks(project_id=project)) == []
