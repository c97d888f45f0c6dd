"""Live responses of a real server against /openapi.json: each body validates
against the schema the document declares for its operation and status, so
the document cannot drift from the server."""

from __future__ import annotations

import uuid

import jsonschema
import pytest

from quark.api.definitions.catalog import RESOURCES
from tests.openapi_check import request_schema, validate


@pytest.fixture
def doc(admin):
    return admin.get("/openapi.json").json()


def _check(doc, client, method, url, template, status, body=None):
    if body is not None and status < 400:  # what the server accepts, the document accepts too
        jsonschema.validate(body, request_schema(doc, template, method))
    response = client.request(method.upper(), url, json=body)
    assert response.status_code == status, response.text
    validate(doc, template, method, status, response.json())
    return response.json()


def _create(doc, admin, collection, name, body):
    out = _check(doc, admin, "post", f"/v2.0/{collection}", f"/v2.0/{collection}", 201, {name: body})[name]
    shown = _check(doc, admin, "get", f"/v2.0/{collection}/{out['id']}", f"/v2.0/{collection}/{{id}}", 200)
    assert shown[name]["id"] == out["id"]
    # The bookmark link (no version) answers as the document says, with the same resource.
    bookmark = _check(doc, admin, "get", f"/{collection}/{out['id']}", f"/{collection}/{{id}}", 200)
    assert bookmark == shown
    return out


def test_created_and_shown_resources_match_the_document(doc, admin):
    tag = uuid.uuid4().hex[:8]
    net = _create(doc, admin, "networks", "network", {"name": f"oa-{tag}", "router:external": True})
    subnet = _create(
        doc, admin, "subnets", "subnet", {"network_id": net["id"], "ip_version": 4, "cidr": "10.77.0.0/24"}
    )
    _create(doc, admin, "ports", "port", {"network_id": net["id"], "name": f"oa-{tag}"})
    group = _create(doc, admin, "security-groups", "security_group", {"name": f"oa-{tag}"})
    rule = {"security_group_id": group["id"], "direction": "ingress", "protocol": "tcp", "ethertype": "IPv4"}
    _create(doc, admin, "security-group-rules", "security_group_rule", rule)
    _create(doc, admin, "floatingips", "floatingip", {"floating_network_id": net["id"]})
    _create(doc, admin, "ip_addresses", "ip_address", {"network_id": net["id"]})
    route = {"subnet_id": subnet["id"], "cidr": "192.168.77.0/24", "gateway": "10.77.0.254"}
    _create(doc, admin, "routes", "route", route)
    _create(doc, admin, "ip_policies", "ip_policy", {"network_ids": [net["id"]], "exclude": ["10.77.0.0/30"]})
    segments = {"network_type": "vlan", "physical_network": f"oa-{tag}", "minimum": 100, "maximum": 199}
    _create(doc, admin, "segment_allocation_ranges", "segment_allocation_range", segments)
    _create(doc, admin, "mac_address_ranges", "mac_address_range", {"cidr": "AA:BB:77:00:00:00/40"})
    bulk = {"networks": [{"name": f"oa-{tag}-1"}, {"name": f"oa-{tag}-2"}]}
    _check(doc, admin, "post", "/v2.0/networks", "/v2.0/networks", 201, bulk)
    _check(doc, admin, "put", f"/v2.0/networks/{net['id']}", "/v2.0/networks/{id}", 200, {"network": {"mtu": 1400}})
    _check(doc, admin, "get", f"/v2.0/networks/{net['id']}/tags", "/v2.0/networks/{id}/tags", 200)


@pytest.mark.parametrize("collection", sorted(RESOURCES))
def test_lists_match_the_document(doc, admin, collection):
    _check(doc, admin, "get", f"/v2.0/{collection}", f"/v2.0/{collection}", 200)


def test_discovery_health_and_errors_match_the_document(doc, admin):
    for path in ("/", "/v2.0/", "/v2.0/extensions", "/healthz", "/readyz"):
        _check(doc, admin, "get", path, path, 200)
    _check(doc, admin, "get", "/v2.0/extensions/binding", "/v2.0/extensions/{alias}", 200)
    _check(doc, admin, "get", "/v2.0/extensions/nope", "/v2.0/extensions/{alias}", 404)
    _check(doc, admin, "get", f"/v2.0/networks/{uuid.uuid4()}", "/v2.0/networks/{id}", 404)
    _check(doc, admin, "post", "/v2.0/networks", "/v2.0/networks", 400, {"network": {"bogus": 1}})


def test_idempotency_answers_match_the_document(doc, admin):
    net = _create(doc, admin, "networks", "network", {"name": f"oa-{uuid.uuid4().hex[:8]}"})
    key = {"Idempotency-Key": f'"{uuid.uuid4()}"'}
    body = {"port": {"network_id": net["id"]}}
    for _ in range(2):  # the first answer, then its replay
        response = admin.post("/v2.0/ports", json=body, headers=key)
        assert response.status_code == 201, response.text
        validate(doc, "/v2.0/ports", "post", 201, response.json())
    assert (
        response.headers["idempotent-replayed"]
        in doc["paths"]["/v2.0/ports"]["post"]["responses"]["201"]["headers"]["Idempotent-Replayed"]["schema"]["enum"]
    )
    for status, headers, sent in (
        (422, key, {"port": {"network_id": net["id"], "name": "x"}}),
        (400, {"Idempotency-Key": '"'}, body),
    ):
        response = admin.post("/v2.0/ports", json=sent, headers=headers)
        assert response.status_code == status, response.text
        validate(doc, "/v2.0/ports", "post", status, response.json())


def test_fields_narrowed_answers_match_the_document(doc, admin):
    """?fields= leaves out attributes a full view always has: the GET schemas allow it."""
    net = admin.post("/v2.0/networks", json={"network": {"name": f"oa-{uuid.uuid4().hex[:8]}"}}).json()["network"]
    shown = _check(doc, admin, "get", f"/v2.0/networks/{net['id']}?fields=name", "/v2.0/networks/{id}", 200)
    assert shown == {"network": {"name": net["name"]}}
    listed = _check(doc, admin, "get", f"/v2.0/networks?id={net['id']}&fields=mtu&fields=nope", "/v2.0/networks", 200)
    assert listed == {"networks": [{"mtu": net["mtu"]}]}  # an unknown field name is ignored, as in Neutron


@pytest.mark.parametrize("flag", [False, 0, "true", "FALSE", "1"])
def test_neutron_booleans_are_in_the_document(doc, admin, flag):
    """convert_to_boolean's spellings are accepted, and the document's request schema says so."""
    body = {"network": {"name": f"oa-{uuid.uuid4().hex[:8]}", "admin_state_up": flag}}
    made = _check(doc, admin, "post", "/v2.0/networks", "/v2.0/networks", 201, body)
    assert made["network"]["admin_state_up"] is (str(flag).lower() in ("true", "1"))


def test_post_on_the_quotas_collection_is_a_405_the_document_leaves_out(doc, admin):
    assert "post" not in doc["paths"]["/v2.0/quotas"]
    assert admin.post("/v2.0/quotas", json={"quota": {}}).status_code == 405


@pytest.mark.parametrize("object_type", ["subnetpool", "address_scope"])
def test_pool_and_scope_policies_match_the_document(doc, admin, object_type):
    """The object types rbac-subnetpool / rbac-address-scope add: accepted, shown, retargeted as documented."""
    tag = uuid.uuid4().hex[:8]
    if object_type == "subnetpool":
        body = {"name": f"oa-{tag}", "prefixes": ["10.78.0.0/16"]}
        target = _create(doc, admin, "subnetpools", "subnetpool", body)
    else:
        target = _create(doc, admin, "address-scopes", "address_scope", {"name": f"oa-{tag}", "ip_version": 4})
    rule = {"object_type": object_type, "object_id": target["id"], "action": "access_as_shared", "target_tenant": "*"}
    made = _create(doc, admin, "rbac-policies", "rbac_policy", rule)
    assert made["object_type"] == object_type
    url = f"/v2.0/rbac-policies/{made['id']}"
    retarget = {"rbac_policy": {"target_tenant": uuid.uuid4().hex}}
    changed = _check(doc, admin, "put", url, "/v2.0/rbac-policies/{id}", 200, retarget)
    assert changed["rbac_policy"]["target_tenant"] == retarget["rbac_policy"]["target_tenant"]
    _check(doc, admin, "get", f"/v2.0/rbac-policies?object_type={object_type}", "/v2.0/rbac-policies", 200)


def test_network_services_match_the_document(doc, admin):
    """A network service, a project's association with it, a change of each, and the 409 of one in use."""
    tag = uuid.uuid4().hex[:8]
    body = {"name": f"oa-{tag}", "kind": "flat_dhcp", "physical_network": f"oa-{tag}", "driver": "agent"}
    made = _create(doc, admin, "network-services", "network_service", body)
    url = f"/v2.0/network-services/{made['id']}"
    _check(doc, admin, "put", url, "/v2.0/network-services/{id}", 200, {"network_service": {"name": "x"}})
    association = {"project_id": f"oa-{tag}", "network_service_id": made["id"]}
    _create(doc, admin, "network-service-associations", "network_service_association", association)
    assoc_url = f"/v2.0/network-service-associations/oa-{tag}"
    changed = {"network_service_association": {"description": "d"}}
    _check(doc, admin, "put", assoc_url, "/v2.0/network-service-associations/{id}", 200, changed)
    _check(doc, admin, "delete", url, "/v2.0/network-services/{id}", 409)
    bad = {"network_service": {"kind": "vxlan", "driver": "nope"}}
    _check(doc, admin, "post", "/v2.0/network-services", "/v2.0/network-services", 400, bad)


def test_external_ipam_answers_match_the_document(doc, admin):
    subnet_id, network_id = str(uuid.uuid4()), str(uuid.uuid4())
    subnet_path, release_path = "/v2.0/ipam/subnets/{id}", "/v2.0/ipam/subnets/{id}/allocations/{ip_address}"
    subnet = {"network_id": network_id, "cidr": "10.77.0.0/24", "ip_version": 4, "project_id": "neutron-project"}
    url = f"/v2.0/ipam/subnets/{subnet_id}"
    _check(doc, admin, "put", url, subnet_path, 201, {"subnet": subnet})
    _check(doc, admin, "put", url, subnet_path, 200, {"subnet": subnet})
    _check(doc, admin, "get", url, subnet_path, 200)
    allocation = {"holder": "port-1", "subnet_ids": [subnet_id], "device_owner": ""}
    held = _check(
        doc, admin, "post", "/v2.0/ipam/allocations", "/v2.0/ipam/allocations", 201, {"allocation": allocation}
    )
    _check(doc, admin, "post", "/v2.0/ipam/allocations", "/v2.0/ipam/allocations", 200, {"allocation": allocation})
    listed = _check(doc, admin, "get", "/v2.0/ipam/allocations?holder=port-1", "/v2.0/ipam/allocations", 200)
    assert [a["ip_address"] for a in listed["allocations"]] == [held["allocation"]["ip_address"]]
    assert admin.delete(f"{url}/allocations/{held['allocation']['ip_address']}").status_code == 204
    assert "delete" in doc["paths"][release_path]
    assert admin.delete(url).status_code == 204
    _check(doc, admin, "get", url, subnet_path, 404)
