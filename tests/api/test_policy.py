"""Neutron's policy over HTTP, with the noauth header identities of the personas:
admin, project manager, member and reader, the service (Nova), another project's
member. The same engine decides with Keystone (quark.context)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx
import pytest

from quark.api.definitions.catalog import SERVED
from tests.api.test_wire import error_of
from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server


def persona(project: str, role: str) -> dict[str, str]:
    return {"X-Project-Id": project, "X-Roles": role}


@pytest.fixture
def project(admin):
    """A fresh project with a network (and a subnet), a security group and an
    external network, created by the admin for it; and its personas' headers."""
    pid = f"pol-{uuid.uuid4().hex[:8]}"
    net = admin.post("/v2.0/networks", json={"network": {"name": "p", "project_id": pid}}).json()["network"]
    third = uuid.uuid4().int % 200 + 20
    sub = admin.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": f"10.{third}.7.0/24", "project_id": pid}},
    ).json()["subnet"]
    group = admin.post("/v2.0/security-groups", json={"security_group": {"name": "g", "project_id": pid}})
    external = admin.post("/v2.0/networks", json={"network": {"name": "ext", "router:external": True}}).json()
    return {
        "id": pid,
        "network": net,
        "subnet": sub,
        "group": group.json()["security_group"],
        "external": external["network"],
        "member": persona(pid, "member"),
        "reader": persona(pid, "reader"),
        "manager": persona(pid, "manager"),
        "other": persona(f"other-{uuid.uuid4().hex[:8]}", "member"),
        "service": persona("service-project", "service"),
    }


def create_bodies(project: dict) -> dict[str, dict]:
    """A valid POST body of every creatable collection (so a refusal is the policy's)."""
    net, sub = project["network"]["id"], project["subnet"]["id"]
    return {
        "networks": {"network": {"name": "x"}},
        "subnets": {"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.250.1.0/24"}},
        "ports": {"port": {"network_id": net}},
        "mac_address_ranges": {"mac_address_range": {"cidr": "aa:bb:cc:00:00:00/24"}},
        "ip_policies": {"ip_policy": {"network_ids": [net], "exclude": ["10.0.0.0/30"]}},
        "security-groups": {"security_group": {"name": "x"}},
        "security-group-rules": {
            "security_group_rule": {"security_group_id": project["group"]["id"], "direction": "ingress"}
        },
        "floatingips": {"floatingip": {"floating_network_id": project["external"]["id"]}},
        "routers": {"router": {"name": "x"}},
        "ip_addresses": {"ip_address": {"network_id": net}},
        "routes": {"route": {"subnet_id": sub, "cidr": "192.168.0.0/16", "gateway": "10.250.1.9"}},
        "segment_allocation_ranges": {
            "segment_allocation_range": {"network_type": "vxlan", "minimum": 70000, "maximum": 70001}
        },
        "network_segment_ranges": {
            "network_segment_range": {"network_type": "vxlan", "minimum": 70010, "maximum": 70011}
        },
        "segments": {"segment": {"network_id": net, "network_type": "vxlan"}},
        "default-security-group-rules": {"default_security_group_rule": {"direction": "ingress", "protocol": "tcp"}},
        "subnetpools": {"subnetpool": {"name": "x", "prefixes": ["10.251.0.0/16"]}},
        "address-scopes": {"address_scope": {"name": "x", "ip_version": 4}},
        "address-groups": {"address_group": {"name": "x", "addresses": ["10.252.0.0/24"]}},
        "rbac-policies": {
            "rbac_policy": {
                "object_type": "network",
                "object_id": net,
                "action": "access_as_shared",
                "target_tenant": "0123456789abcdef0123456789abcdef",
            }
        },
        "network-services": {"network_service": {"kind": "vxlan", "driver": "agent"}},
        "network-service-associations": {"network_service_association": {"network_service_id": str(uuid.uuid4())}},
        "flavors": {"flavor": {"name": "x", "service_type": "L3_ROUTER_NAT"}},
        "service_profiles": {"service_profile": {"metainfo": "{}"}},
    }


def test_readers_read_and_never_write(admin, project):
    reader = project["reader"]
    bodies = create_bodies(project)
    creatable = {r.collection for r, _ in SERVED if not r.read_only and r.creatable}
    assert creatable == set(bodies), "every creatable collection is walked"
    for collection, body in bodies.items():
        refused = admin.post(f"/v2.0/{collection}", json=body, headers=reader)
        assert error_of(refused, 403) == "PolicyNotAuthorized", collection
    net = project["network"]
    assert admin.get(f"/v2.0/networks/{net['id']}", headers=reader).json()["network"]["id"] == net["id"]
    listed = admin.get("/v2.0/networks", headers=reader).json()["networks"]
    assert net["id"] in {n["id"] for n in listed}
    assert all(n["project_id"] == project["id"] or n["shared"] or n["router:external"] for n in listed)
    renamed = admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"name": "r"}}, headers=reader)
    assert error_of(renamed, 403) == "PolicyNotAuthorized"
    assert error_of(admin.delete(f"/v2.0/networks/{net['id']}", headers=reader), 403) == "PolicyNotAuthorized"
    tagged = admin.put(f"/v2.0/networks/{net['id']}/tags/t1", headers=reader)
    assert error_of(tagged, 403) == "PolicyNotAuthorized"
    instance = {"instance": {"device_id": str(uuid.uuid4()), "ports": [{"network_id": net["id"]}]}}
    assert error_of(admin.post("/v2.0/instances", json=instance, headers=reader), 403) == "PolicyNotAuthorized"
    # Nothing was written on the way.
    assert admin.get("/v2.0/ports", params={"network_id": net["id"]}).json()["ports"] == []
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["name"] == "p"


@pytest.mark.parametrize(
    ("collection", "body", "rule"),
    [
        ("networks", {"network": {"shared": True}}, "create_network:shared"),
        ("networks", {"network": {"router:external": True}}, "create_network:router:external"),
        ("networks", {"network": {"provider:network_type": "vxlan"}}, "create_network:provider:network_type"),
        ("networks", {"network": {"ipam_strategy": "ANY"}}, "create_network:ipam_strategy"),
        ("routers", {"router": {"distributed": True}}, "create_router:distributed"),
        ("routers", {"router": {"ha": True}}, "create_router:ha"),
        (
            "subnetpools",
            {"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8"], "shared": True}},
            "create_subnetpool:shared",
        ),
        (
            "subnetpools",
            {"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8"], "is_default": True}},
            "create_subnetpool:is_default",
        ),
        ("address-scopes", {"address_scope": {"ip_version": 4, "shared": True}}, "create_address_scope:shared"),
        ("networks", {"network": {"is_default": True}}, "create_network:is_default"),
    ],
)
def test_members_cannot_set_admin_attributes(admin, project, collection, body, rule):
    refused = admin.post(f"/v2.0/{collection}", json=body, headers=project["member"])
    assert error_of(refused, 403) == "PolicyNotAuthorized"
    assert refused.json()["NeutronError"]["message"] == f"(rule:{rule}) is disallowed by policy."


def test_port_binding_is_the_service_s_and_hidden_from_members(admin, project):
    member, service = project["member"], project["service"]
    net = project["network"]["id"]
    for attrs in ({"binding:host_id": "compute-1"}, {"binding:profile": {"a": "b"}}):
        refused = admin.post("/v2.0/ports", json={"port": {"network_id": net, **attrs}}, headers=member)
        assert error_of(refused, 403) == "PolicyNotAuthorized"
    port = admin.post("/v2.0/ports", json={"port": {"network_id": net}}, headers=member).json()["port"]
    assert not any(k.startswith("binding:") and k != "binding:vnic_type" for k in port)
    bound = admin.put(
        f"/v2.0/ports/{port['id']}",
        json={"port": {"binding:host_id": "compute-1", "binding:profile": {"pci_slot": "0000:01:00.1"}}},
        headers=service,
    )
    assert bound.status_code == 200, bound.text
    assert bound.json()["port"]["binding:host_id"] == "compute-1"
    assert bound.json()["port"]["binding:profile"] == {"pci_slot": "0000:01:00.1"}
    seen = admin.get(f"/v2.0/ports/{port['id']}", headers=member).json()["port"]
    assert "binding:host_id" not in seen and "binding:profile" not in seen and "binding:vif_type" not in seen
    # An admin reads bindings but, as in Neutron, only the service sets a profile.
    assert admin.get(f"/v2.0/ports/{port['id']}").json()["port"]["binding:host_id"] == "compute-1"
    profile = admin.put(f"/v2.0/ports/{port['id']}", json={"port": {"binding:profile": {}}})
    assert error_of(profile, 403) == "PolicyNotAuthorized"


def test_members_do_not_see_provider_attributes(admin, project):
    net = project["network"]["id"]
    mine = admin.get(f"/v2.0/networks/{net}", headers=project["member"]).json()["network"]
    assert not any(k.startswith("provider:") for k in mine) and "ipam_strategy" not in mine
    assert admin.get(f"/v2.0/networks/{net}").json()["network"]["provider:network_type"]
    only = admin.get(f"/v2.0/networks/{net}", params={"fields": "provider:network_type"}, headers=project["member"])
    assert only.json() == {"network": {}}


def test_shared_network_port_security_and_address_pairs_are_the_owner_s(admin, project):
    shared = admin.post("/v2.0/networks", json={"network": {"name": "sh", "shared": True}}).json()["network"]
    other = project["other"]
    for attrs in (
        {"port_security_enabled": False},
        {"allowed_address_pairs": [{"ip_address": "10.9.9.9"}]},
        {"mac_address": "fa:16:3e:12:34:56"},
    ):
        refused = admin.post("/v2.0/ports", json={"port": {"network_id": shared["id"], **attrs}}, headers=other)
        assert error_of(refused, 403) == "PolicyNotAuthorized", attrs
    port = admin.post("/v2.0/ports", json={"port": {"network_id": shared["id"]}}, headers=other)
    assert port.status_code == 201, port.text
    pid = port.json()["port"]["id"]
    refused = admin.put(f"/v2.0/ports/{pid}", json={"port": {"port_security_enabled": False}}, headers=other)
    assert error_of(refused, 403) == "PolicyNotAuthorized"
    refused = admin.put(
        f"/v2.0/ports/{pid}", json={"port": {"allowed_address_pairs": [{"ip_address": "10.9.9.9"}]}}, headers=other
    )
    assert error_of(refused, 403) == "PolicyNotAuthorized"
    # On its own network the member may.
    own = admin.post(
        "/v2.0/ports",
        json={"port": {"network_id": project["network"]["id"], "port_security_enabled": False}},
        headers=project["member"],
    )
    assert own.status_code == 201 and own.json()["port"]["port_security_enabled"] is False


def test_visible_but_refused_is_403_invisible_is_404(admin, project):
    other = project["other"]
    shared = admin.post("/v2.0/networks", json={"network": {"name": "sh2", "shared": True}}).json()["network"]
    assert error_of(admin.delete(f"/v2.0/networks/{shared['id']}", headers=other), 403) == "PolicyNotAuthorized"
    renamed = admin.put(f"/v2.0/networks/{shared['id']}", json={"network": {"name": "x"}}, headers=other)
    assert error_of(renamed, 403) == "PolicyNotAuthorized"
    private = project["network"]["id"]
    assert error_of(admin.delete(f"/v2.0/networks/{private}", headers=other), 404) == "NetworkNotFound"
    assert error_of(admin.get(f"/v2.0/networks/{private}", headers=other), 404) == "NetworkNotFound"
    port = admin.post("/v2.0/ports", json={"port": {"network_id": private}}, headers=other)
    assert error_of(port, 404) == "NetworkNotFound"


def test_rules_of_a_missing_or_invisible_group_are_404_not_403(admin, project):
    """Tempest's negative test: a rule for a group that does not exist is not found; a
    group of another project answers the same (its existence is not revealed)."""
    rule = {"direction": "ingress", "ethertype": "IPv4"}
    for group_id in (str(uuid.uuid4()), project["group"]["id"]):
        body = {"security_group_rule": {**rule, "security_group_id": group_id}}
        refused = admin.post("/v2.0/security-group-rules", json=body, headers=project["other"])
        assert error_of(refused, 404) == "SecurityGroupNotFound"
    reader = admin.post(
        "/v2.0/security-group-rules",
        json={"security_group_rule": {**rule, "security_group_id": project["group"]["id"]}},
        headers=project["reader"],
    )
    assert error_of(reader, 403) == "PolicyNotAuthorized"


def test_member_lists_of_admin_collections_are_empty(admin, project):
    member = project["member"]
    for collection, key in (
        ("agents", "agents"),
        ("mac_address_ranges", "mac_address_ranges"),
        ("network-ip-availabilities", "network_ip_availabilities"),
        ("segment_allocation_ranges", "segment_allocation_ranges"),
        ("segments", "segments"),
        ("network-services", "network_services"),
        ("service_profiles", "service_profiles"),
    ):
        listed = admin.get(f"/v2.0/{collection}", headers=member)
        assert listed.status_code == 200 and listed.json() == {key: []}, collection
    assert admin.get("/v2.0/mac_address_ranges").json()["mac_address_ranges"]  # the admin sees the default range


def test_hosts_api_is_for_the_service_and_admins(admin, project):
    assert admin.get("/v2.0/hosts/h-pol/desired_state", headers=project["service"]).status_code == 200
    refused = admin.get("/v2.0/hosts/h-pol/desired_state", headers=project["member"])
    assert error_of(refused, 403) == "PolicyNotAuthorized"


def test_manager_persona(admin, project):
    """update_port:mac_address is the network owner's manager's (Neutron's default)."""
    port = admin.post("/v2.0/ports", json={"port": {"network_id": project["network"]["id"]}}, headers=project["member"])
    pid = port.json()["port"]["id"]
    body = {"port": {"mac_address": "fa:16:3e:65:43:21"}}
    assert error_of(admin.put(f"/v2.0/ports/{pid}", json=body, headers=project["member"]), 403) == "PolicyNotAuthorized"
    assert admin.put(f"/v2.0/ports/{pid}", json=body, headers=project["manager"]).status_code == 200


# --- an operator's policy file ---------------------------------------------------


@pytest.fixture(scope="module")
def policy_server(tmp_path_factory):
    """A server with a policy file (one database: the file does not depend on it)."""
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text('"create_network": "role:admin"\n')
    backend = selected_backends()[0]
    with migrated_database(backend, tmp_path_factory) as url:
        with quark_server(url, env={"QUARK_POLICY_FILE": str(path)}) as server:
            yield server, path


def rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    later = time.time() + 10  # a new mtime even within the file system's granularity
    os.utime(path, (later, later))


def test_policy_file_overrides_and_reloads_without_restart(policy_server):
    server, path = policy_server
    member = persona(f"pf-{uuid.uuid4().hex[:8]}", "member")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        refused = client.post("/v2.0/networks", json={"network": {"name": "a"}}, headers=member)
        assert error_of(refused, 403) == "PolicyNotAuthorized"
        assert client.post("/v2.0/networks", json={"network": {"name": "a"}}).status_code == 201
        # Neutron's own override syntax and rule names, unchanged.
        rewrite(path, '"create_network": "role:member"\n"get_agent": "role:reader"\n')
        deadline = time.time() + 10
        created = None
        while time.time() < deadline:
            created = client.post("/v2.0/networks", json={"network": {"name": "b"}}, headers=member)
            if created.status_code == 201:
                break
            time.sleep(0.3)
        assert created is not None and created.status_code == 201, created.text if created else None
        rewrite(path, '"create_network": "rule:admin_only"\n')
        deadline = time.time() + 10
        while time.time() < deadline:
            again = client.post("/v2.0/networks", json={"network": {"name": "c"}}, headers=member)
            if again.status_code != 201:
                break
            time.sleep(0.3)
        assert error_of(again, 403) == "PolicyNotAuthorized"


def test_the_network_owner_deletes_ports_on_its_network_but_does_not_update_them(admin, project):
    """Neutron: delete_port allows the network owner's members, update_port only the port's project."""
    net = project["network"]["id"]
    foreign = admin.post("/v2.0/ports", json={"port": {"network_id": net, "project_id": "someone-else"}}).json()["port"]
    member = project["member"]
    assert admin.get(f"/v2.0/ports/{foreign['id']}", headers=member).status_code == 200
    renamed = admin.put(f"/v2.0/ports/{foreign['id']}", json={"port": {"name": "x"}}, headers=member)
    assert error_of(renamed, 403) == "PolicyNotAuthorized"
    assert admin.delete(f"/v2.0/ports/{foreign['id']}", headers=member).status_code == 204
    assert error_of(admin.get(f"/v2.0/ports/{foreign['id']}"), 404) == "PortNotFound"


def test_port_forwardings_are_the_floating_ip_owners(admin, project, api_server):
    """A floating IP's port forwardings (Neutron's ADMIN_OR_PARENT_OWNER_* rules): its
    project's members change them, its readers read them, others do not see them."""
    from tests.api.test_port_forwardings import build_world, forwarding

    with httpx.Client(base_url=api_server.url, timeout=30, headers=project["member"]) as member:
        world = build_world(admin, member, uuid.uuid4().int % 40 + 140)
        made = member.post(world.url, json=forwarding(world))
        assert made.status_code == 201, made.text
    item = f"{world.url}/{made.json()['port_forwarding']['id']}"
    change = {"port_forwarding": {"description": "d"}}
    reader, other, service = project["reader"], project["other"], project["service"]
    assert admin.get(item, headers=reader).status_code == 200
    for refused in (
        admin.post(world.url, json=forwarding(world, external_port=2300), headers=reader),
        admin.put(item, json=change, headers=reader),
        admin.delete(item, headers=reader),
    ):
        assert error_of(refused, 403) == "PolicyNotAuthorized"
    for persona_headers in (other, service):  # another project's floating IP is not found
        assert error_of(admin.get(item, headers=persona_headers), 404) == "FloatingIPNotFound"
        assert error_of(admin.delete(item, headers=persona_headers), 404) == "FloatingIPNotFound"
    assert admin.put(item, json=change, headers=project["member"]).status_code == 200
    assert admin.get(item).json()["port_forwarding"]["description"] == "d"
    assert admin.delete(item).status_code == 204
