"""Permanent links (``quark-resource-links``, docs/links.md) on a real server, on
every database: every collection's views carry ``self`` and ``bookmark``, both
answer with the same resource, ``fields`` narrows them as an extension
attribute, and a proxy's X-Forwarded-* headers shape them."""

from __future__ import annotations

import uuid

import httpx
import pytest

from quark.api.definitions.catalog import RESOURCES
from tests.api.test_openstack_cli import osc_json
from tests.api.test_sdk_workflows import connect
from tests.api.test_wire import error_of

ALIAS = "quark-resource-links"


def _post(admin: httpx.Client, collection: str, name: str, body: dict) -> dict:
    response = admin.post(f"/v2.0/{collection}", json={name: body})
    assert response.status_code == 201, response.text
    return response.json()[name]


@pytest.fixture(scope="module")
def made(api_server) -> dict[str, str]:
    """One resource of every collection of the catalog, by collection: its URL key."""
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=api_server.url, timeout=30) as admin:
        net = _post(admin, "networks", "network", {"name": f"ln-{tag}", "router:external": True})
        subnet = _post(admin, "subnets", "subnet", {"network_id": net["id"], "ip_version": 4, "cidr": "10.78.0.0/24"})
        port = _post(admin, "ports", "port", {"network_id": net["id"], "name": f"ln-{tag}"})
        group = _post(admin, "security-groups", "security_group", {"name": f"ln-{tag}"})
        rule = {"security_group_id": group["id"], "direction": "ingress", "protocol": "tcp", "ethertype": "IPv4"}
        route = {"subnet_id": subnet["id"], "cidr": "192.168.78.0/24", "gateway": "10.78.0.254"}
        segments = {"network_type": "vlan", "physical_network": f"ln-{tag}", "minimum": 100, "maximum": 199}
        agent = admin.post(
            "/v2.0/agents/report",
            json={"agent": {"host": f"ln-{tag}", "agent_type": "Quark L2 agent", "binary": "quark-agent"}},
        )
        assert agent.status_code == 200, agent.text
        out = {
            "networks": net["id"],
            "subnets": subnet["id"],
            "ports": port["id"],
            "security-groups": group["id"],
            "security-group-rules": _post(admin, "security-group-rules", "security_group_rule", rule)["id"],
            "floatingips": _post(admin, "floatingips", "floatingip", {"floating_network_id": net["id"]})["id"],
            "ip_addresses": _post(admin, "ip_addresses", "ip_address", {"network_id": net["id"]})["id"],
            "routes": _post(admin, "routes", "route", route)["id"],
            "ip_policies": _post(
                admin, "ip_policies", "ip_policy", {"network_ids": [net["id"]], "exclude": ["10.78.0.0/30"]}
            )["id"],
            "segment_allocation_ranges": _post(
                admin, "segment_allocation_ranges", "segment_allocation_range", segments
            )["id"],
            "mac_address_ranges": _post(
                admin, "mac_address_ranges", "mac_address_range", {"cidr": "AA:BB:78:00:00:00/40"}
            )["id"],
            "agents": agent.json()["agent"]["id"],
            "network-ip-availabilities": net["id"],
            "routers": _post(admin, "routers", "router", {"name": f"ln-{tag}"})["id"],
            "subnetpools": _post(
                admin, "subnetpools", "subnetpool", {"name": f"ln-{tag}", "prefixes": ["10.79.0.0/16"]}
            )["id"],
            "address-scopes": _post(admin, "address-scopes", "address_scope", {"name": f"ln-{tag}", "ip_version": 4})[
                "id"
            ],
            "address-groups": _post(admin, "address-groups", "address_group", {"name": f"ln-{tag}"})["id"],
        }
        backend = admin.post("/v2.0/networks", json={"network": {"name": f"ln-{tag}-b", "network_plugin": "fault"}})
        assert backend.status_code == 201, backend.text
        out["jobs"] = backend.headers["X-Quark-Job-Id"]
        policy = {"object_type": "network", "object_id": net["id"], "action": "access_as_shared", "target_tenant": "*"}
        out["rbac-policies"] = _post(admin, "rbac-policies", "rbac_policy", policy)["id"]
        service = _post(admin, "network-services", "network_service", {"kind": "vxlan", "driver": "agent"})
        out["network-services"] = service["id"]
        association = {"project_id": f"ln-{tag}", "network_service_id": service["id"]}
        out["network-service-associations"] = _post(
            admin, "network-service-associations", "network_service_association", association
        )["id"]
        out["segments"] = _post(admin, "segments", "segment", {"network_id": net["id"], "network_type": "vxlan"})["id"]
        out["flavors"] = _post(admin, "flavors", "flavor", {"name": f"ln-{tag}", "service_type": "FLAVORS"})["id"]
        out["service_profiles"] = _post(admin, "service_profiles", "service_profile", {"metainfo": "{}"})["id"]
        # A zone: an L3 agent's, set admin-down at once so that it is given no routers.
        zone = {"host": f"ln-{tag}-l3", "agent_type": "L3 agent", "binary": "quark", "availability_zone": f"ln-{tag}"}
        l3 = admin.post("/v2.0/agents/report", json={"agent": zone})
        assert l3.status_code == 200, l3.text
        down = admin.put(f"/v2.0/agents/{l3.json()['agent']['id']}", json={"agent": {"admin_state_up": False}})
        assert down.status_code == 200, down.text
        out["availability_zones"] = f"ln-{tag}"
        out["floatingip_pools"] = subnet["id"]  # an IPv4 subnet of an external network
        neutron_range = {"network_type": "vlan", "physical_network": f"ln-{tag}-n", "minimum": 100, "maximum": 199}
        out["network_segment_ranges"] = _post(
            admin, "network_segment_ranges", "network_segment_range", {"name": f"ln-{tag}", **neutron_range}
        )["id"]
        # a template no group is made from (both flags false), so other tests' groups stay as they were
        port_number = int(tag[:4], 16) % 60000 + 1
        template = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": port_number}
        template.update(port_range_max=port_number, used_in_default_sg=False, used_in_non_default_sg=False)
        out["default-security-group-rules"] = _post(
            admin, "default-security-group-rules", "default_security_group_rule", template
        )["id"]
    return out


def expected(url: str, collection: str, key: str) -> list[dict]:
    return [
        {"rel": "self", "href": f"{url}/v2.0/{collection}/{key}"},
        {"rel": "bookmark", "href": f"{url}/{collection}/{key}"},
    ]


def test_every_collection_is_walked(made):
    assert set(made) == set(RESOURCES)


@pytest.mark.parametrize("collection", sorted(RESOURCES))
def test_lists_and_shows_carry_links_that_answer(api_server, admin, made, collection):
    resource, key = RESOURCES[collection], made[collection]
    links = expected(api_server.url, collection, key)
    listed = admin.get(f"/v2.0/{collection}", params={resource.key: key})
    assert listed.status_code == 200, listed.text
    [item] = listed.json()[resource.body_collection]
    assert item["links"] == links
    shown = admin.get(f"/v2.0/{collection}/{key}")
    assert shown.status_code == 200, shown.text
    assert shown.json()[resource.name]["links"] == links
    for link in links:
        followed = admin.get(link["href"])
        assert followed.status_code == 200, (link, followed.text)
        assert followed.json() == shown.json()


def test_create_bulk_and_update_answers_carry_links(api_server, admin):
    tag = uuid.uuid4().hex[:8]
    one = _post(admin, "networks", "network", {"name": f"ln1-{tag}"})
    assert one["links"] == expected(api_server.url, "networks", one["id"])
    bulk = admin.post("/v2.0/networks", json={"networks": [{"name": f"ln2-{tag}"}, {"name": f"ln3-{tag}"}]})
    assert bulk.status_code == 201, bulk.text
    for net in bulk.json()["networks"]:
        assert net["links"] == expected(api_server.url, "networks", net["id"])
    updated = admin.put(f"/v2.0/networks/{one['id']}", json={"network": {"name": f"ln4-{tag}"}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["network"]["links"] == one["links"]


def test_fields_narrow_links_like_an_extension_attribute(api_server, admin, made):
    port_id = made["ports"]
    links = expected(api_server.url, "ports", port_id)
    only_name = admin.get(f"/v2.0/ports/{port_id}", params={"fields": "name"}).json()["port"]
    assert set(only_name) == {"name"}
    only_links = admin.get(f"/v2.0/ports/{port_id}", params={"fields": "links"}).json()["port"]
    assert only_links == {"links": links}
    both = admin.get("/v2.0/ports", params={"id": port_id, "fields": ["links", "name"]}).json()["ports"]
    assert [set(p) for p in both] == [{"links", "name"}] and both[0]["links"] == links
    listed = admin.get("/v2.0/ports", params={"id": port_id, "fields": "id"}).json()["ports"]
    assert listed == [{"id": port_id}]
    narrowed = admin.get("/v2.0/network-ip-availabilities", params={"fields": "links"}).json()
    assert all(set(item) == {"links"} for item in narrowed["network_ip_availabilities"])


def test_links_follow_the_proxy_headers(admin, made):
    network_id = made["networks"]
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "net.example.org", "X-Forwarded-Prefix": "/network/"}
    shown = admin.get(f"/v2.0/networks/{network_id}", headers=proxied).json()["network"]
    assert shown["links"] == expected("https://net.example.org/network", "networks", network_id)
    versions = admin.get("/", headers=proxied).json()["versions"]
    assert versions[0]["links"][0]["href"] == "https://net.example.org/network/v2.0/"


def test_links_are_read_only_and_bookmarks_only_read(admin, made):
    network_id = made["networks"]
    before = admin.get(f"/v2.0/networks/{network_id}").json()
    refused = admin.put(f"/v2.0/networks/{network_id}", json={"network": {"links": []}})
    assert error_of(refused, 400) == "HTTPBadRequest"
    created = admin.post("/v2.0/networks", json={"network": {"name": "ln-x", "links": []}})
    assert error_of(created, 400) == "HTTPBadRequest"
    assert admin.get(f"/v2.0/networks/{network_id}").json() == before
    assert error_of(admin.get(f"/networks/{uuid.uuid4()}"), 404) == "NetworkNotFound"
    assert admin.put(f"/networks/{network_id}", json={"network": {"name": "x"}}).status_code == 405
    assert admin.delete(f"/networks/{network_id}").status_code == 405
    assert admin.get(f"/v2.0/networks/{network_id}").status_code == 200


def test_bookmarks_keep_visibility(tenant, made):
    """Another project's resource answers 404 by its bookmark, as by its versioned URL."""
    assert error_of(tenant.get(f"/ports/{made['ports']}"), 404) == "PortNotFound"


def test_instances_and_their_views_carry_links(api_server, tenant):
    url = api_server.url
    net = _post(tenant, "networks", "network", {"name": "ln-inst"})
    _post(tenant, "subnets", "subnet", {"network_id": net["id"], "ip_version": 4, "cidr": "10.79.0.0/24"})
    device = f"vm-{uuid.uuid4().hex[:8]}"
    made = tenant.post(
        "/v2.0/instances", json={"instance": {"device_id": device, "ports": [{"network_id": net["id"]}]}}
    )
    assert made.status_code == 201, made.text
    info = tenant.get(f"/v2.0/instances/{device}").json()["instance"]
    assert info["links"] == expected(url, "instances", device)
    assert made.json()["instance"]["links"] == info["links"]
    [port] = info["ports"]
    assert port["links"] == expected(url, "ports", port["id"])
    assert port["network"]["links"] == expected(url, "networks", net["id"])
    assert [s["links"] for s in port["subnets"]] == [expected(url, "subnets", s["id"]) for s in port["subnets"]]
    assert all(g["links"] == expected(url, "security-groups", g["id"]) for g in info["security_groups"])
    assert tenant.get(f"/instances/{device}").json()["instance"] == info


def test_address_holders_carry_links(api_server, tenant):
    net = _post(tenant, "networks", "network", {"name": "ln-hold"})
    _post(tenant, "subnets", "subnet", {"network_id": net["id"], "ip_version": 4, "cidr": "10.80.0.0/24"})
    port = _post(tenant, "ports", "port", {"network_id": net["id"]})
    address = _post(tenant, "ip_addresses", "ip_address", {"network_id": net["id"], "port_ids": [port["id"]]})
    path = f"ip_addresses/{address['id']}/ports"
    [holder] = tenant.get(f"/v2.0/{path}").json()["ports"]
    assert holder["links"] == expected(api_server.url, path, port["id"])
    shown = tenant.get(f"/v2.0/{path}/{port['id']}").json()
    assert shown["port"]["links"] == holder["links"]
    assert tenant.get(f"/{path}/{port['id']}").json() == shown
    assert tenant.get(f"/v2.0/{path}", params={"fields": "id"}).json()["ports"] == [{"id": port["id"]}]


def test_extension_is_advertised(admin):
    aliases = {e["alias"] for e in admin.get("/v2.0/extensions").json()["extensions"]}
    assert ALIAS in aliases
    assert admin.get(f"/v2.0/extensions/{ALIAS}").json()["extension"]["alias"] == ALIAS


def test_openstacksdk_reads_and_pages_resources_with_links(api_server, admin, made):
    """openstacksdk takes the resources whole and still pages by
    ``{collection}_links`` (never by the items' ``links``)."""
    conn = connect(api_server.url)
    network = conn.network.get_network(made["networks"])
    assert network.id == made["networks"] and network.is_router_external
    port = conn.network.get_port(made["ports"])
    assert port.network_id == made["networks"]
    name = f"ln-page-{uuid.uuid4().hex[:8]}"
    ids = {conn.network.create_network(name=name).id for _ in range(3)}
    paged = list(conn.network.networks(name=name, limit=1, paginated=True))
    assert sorted(n.id for n in paged) == sorted(ids)


@pytest.mark.slow
def test_openstack_cli_shows_and_lists(api_server, made):
    """`openstack network show` prints links as it prints every extension
    attribute; lists and the resource itself are unaffected."""
    shown = osc_json(api_server, "network", "show", made["networks"])
    assert shown["id"] == made["networks"]
    assert shown["links"] == expected(api_server.url, "networks", made["networks"])
    ports = osc_json(api_server, "port", "list", "--network", made["networks"])
    assert made["ports"] in [p["ID"] for p in ports]
