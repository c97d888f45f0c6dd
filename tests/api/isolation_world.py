"""Two projects with one of everything, for the isolation walk (test_isolation.py).

Project B makes one resource of every kind a project can make (network,
subnet, port, security group and rules, floating IP, ip_address, route,
instance, tags); project A makes its own, so that its requests are valid
but for the one reference under test. What is walked comes from the
attribute maps (``quark.api.definitions``): a new collection or a new
reference attribute is walked without touching this file, or the walk
fails, naming what it cannot build a request for.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from quark.api.definitions.base import Attr, Resource
from quark.api.definitions.catalog import SERVED
from quark.context import Context
from quark.policy import Policy

COLLECTIONS: tuple[Resource, ...] = tuple(resource for resource, _ in SERVED)

_DEFAULT_POLICY = Policy("")
_A_MEMBER = Context(project_id="p", roles=frozenset({"member", "reader"})).policy_credentials()


def admin_only(resource: Resource) -> bool:
    """Whether, by the default policy, a project's member reads none of the collection
    (its lists are empty, its writes refused: nothing of a project to leak)."""
    return not _DEFAULT_POLICY.check(f"get_{resource.name}", {"project_id": "p", "tenant_id": "p"}, _A_MEMBER)


def projectless(resource: Resource) -> bool:
    """Whether the collection's objects belong to no project (availability zones,
    flavors, service profiles): nothing of B's is among them to leak."""
    attr = resource.by_name.get("project_id")
    return attr is None or not attr.returned


# Body attributes that name no resource of a project: the owner (any project but
# the caller's is a 400 for a non-admin, whatever it names) and a port's
# device_id (free text in Neutron: a port may name any device); a network
# service (the deployment's, no project's: docs/network_services.md).
NOT_REFERENCES = frozenset({"project_id", "tenant_id", "device_id", "network_service_id"})
# Arrays of objects that carry a reference, and its key in each object.
NESTED_REFERENCES = {"fixed_ips": "subnet_id"}


def is_reference(attr: Attr) -> bool:
    if attr.name in NOT_REFERENCES or attr.schema not in ("string", "array"):
        return False
    return attr.name.endswith(("_id", "_ids")) or attr.name == "security_groups" or attr.name in NESTED_REFERENCES


def reference_value(attr: Attr, value: str) -> Any:
    """``value`` in the shape the attribute takes (an id, a list of ids, fixed_ips)."""
    if attr.name in NESTED_REFERENCES:
        return [{NESTED_REFERENCES[attr.name]: value}]
    return [value] if attr.schema == "array" else value


def body_references(resource: Resource, verb: str) -> list[Attr]:
    """The reference attributes a ``verb`` ("post" or "put") body of ``resource`` may carry."""
    return [a for a in resource.attributes if getattr(a, verb) and is_reference(a)]


# Filters that name a resource or owner though they are no body reference.
FILTERS_BY_OWNER = ("id", "device_id", "project_id", "tenant_id")


def filter_references(resource: Resource) -> list[str]:
    """The list filters that name another resource (or a device, or a project)."""
    return [
        a.name
        for a in resource.attributes
        if a.filter is not None and (a.name in FILTERS_BY_OWNER or is_reference(a) or a.name == "security_groups")
    ]


def shape_of(value: str) -> str:
    """The shape of a value: "uuid", or the prefix of a made-up name ("dev-201" of "dev-201-3fa2c1")."""
    try:
        uuid.UUID(value)
        return "uuid"
    except ValueError:
        return value.rpartition("-")[0]


def random_like(value: str) -> str:
    """A value of the same shape that names nothing (a uuid for a uuid, a device id for a device id)."""
    shape = shape_of(value)
    if shape == "uuid":
        return str(uuid.uuid4())
    return f"{shape}-{uuid.uuid4().hex[: len(value) - len(shape) - 1]}"


def masked(response: httpx.Response, *ids: str) -> tuple[int, str]:
    """Status and body with the ids asked about replaced: two answers that differ
    only by the id they name compare equal."""
    text = response.text
    for value in ids:
        text = text.replace(value, "<ID>")
    return response.status_code, text


def created(response: httpx.Response, resource: Resource) -> dict:
    assert response.status_code == 201, response.text
    return response.json()[resource.name]


@dataclass
class Project:
    client: httpx.Client
    project_id: str
    ids: dict[str, str] = field(default_factory=dict)  # what it made, by kind
    devices: dict[str, str] = field(default_factory=dict)  # device ids of its ports

    def post(self, path: str, key: str, body: dict) -> dict:
        response = self.client.post(path, json={key: body})
        assert response.status_code == 201, response.text
        return response.json()[key]


def client(url: str, project_id: str | None) -> httpx.Client:
    headers = {"X-Project-Id": project_id, "X-Roles": "member"} if project_id else {}
    return httpx.Client(base_url=url, timeout=30, headers=headers)


def populate(project: Project, external_network: str, shared_network: str, octet: int) -> None:
    """One of everything a project can make, named in ``project.ids``; some on
    a network shared with every project (``shared_network``, an admin's)."""
    p, ids = project, project.ids
    p.client.get("/v2.0/security-groups")  # the default group is made on the first look
    ids["network"] = p.post("/v2.0/networks", "network", {"name": f"iso-{octet}"})["id"]
    ids["subnet"] = p.post(
        "/v2.0/subnets",
        "subnet",
        {
            "network_id": ids["network"],
            "ip_version": 4,
            "cidr": f"10.{octet}.0.0/24",
            "host_routes": [{"destination": "192.168.1.0/24", "nexthop": f"10.{octet}.0.9"}],
        },
    )["id"]
    ids["security_group"] = p.post("/v2.0/security-groups", "security_group", {"name": f"iso-{octet}"})["id"]
    ids["default_group"] = next(
        g["id"] for g in p.client.get("/v2.0/security-groups").json()["security_groups"] if g["name"] == "default"
    )
    ids["rule"] = p.post(
        "/v2.0/security-group-rules",
        "security_group_rule",
        {
            "security_group_id": ids["security_group"],
            "direction": "ingress",
            "protocol": "tcp",
            "port_range_min": 22,
            "port_range_max": 22,
            "remote_group_id": ids["security_group"],
        },
    )["id"]
    p.devices["port"] = f"dev-{octet}-{uuid.uuid4().hex[:6]}"
    ids["port"] = p.post(
        "/v2.0/ports",
        "port",
        {
            "network_id": ids["network"],
            "device_id": p.devices["port"],
            "device_owner": "compute:nova",
            "security_groups": [ids["security_group"]],
        },
    )["id"]
    p.client.put(f"/v2.0/networks/{ids['network']}/tags/iso-{octet}")
    p.devices["instance"] = f"vm-{octet}-{uuid.uuid4().hex[:6]}"
    info = p.post(
        "/v2.0/instances", "instance", {"device_id": p.devices["instance"], "ports": [{"network_id": ids["network"]}]}
    )
    ids["instance_port"] = info["ports"][0]["id"]
    ids["ip_address"] = p.post(
        "/v2.0/ip_addresses", "ip_address", {"network_id": ids["network"], "port_ids": [ids["port"]]}
    )["id"]
    ids["reserved_ip_address"] = p.post("/v2.0/ip_addresses", "ip_address", {"network_id": ids["network"]})["id"]
    ids["route"] = p.post(
        "/v2.0/routes", "route", {"subnet_id": ids["subnet"], "cidr": "192.168.2.0/24", "gateway": f"10.{octet}.0.8"}
    )["id"]
    ids["floatingip"] = p.post("/v2.0/floatingips", "floatingip", {"floating_network_id": external_network})["id"]
    # A floating IP is associated through a router joining the subnet to the external network.
    gateway = {"network_id": external_network}
    ids["router"] = p.post("/v2.0/routers", "router", {"name": f"iso-{octet}", "external_gateway_info": gateway})["id"]
    response = p.client.put(f"/v2.0/routers/{ids['router']}/add_router_interface", json={"subnet_id": ids["subnet"]})
    assert response.status_code == 200, response.text
    ids["associated_floatingip"] = p.post(
        "/v2.0/floatingips", "floatingip", {"floating_network_id": external_network, "port_id": ids["instance_port"]}
    )["id"]
    # A port forwarding of the unassociated floating IP to the port (a sub-resource of the floating IP).
    address = p.client.get(f"/v2.0/ports/{ids['port']}").json()["port"]["fixed_ips"][0]["ip_address"]
    ids["port_forwarding"] = p.post(
        f"/v2.0/floatingips/{ids['floatingip']}/port_forwardings",
        "port_forwarding",
        {
            "protocol": "tcp",
            "external_port": 2022,
            "internal_port": 22,
            "internal_ip_address": address,
            "internal_port_id": ids["port"],
        },
    )["id"]
    ids["address_scope"] = p.post("/v2.0/address-scopes", "address_scope", {"name": f"iso-{octet}", "ip_version": 4})[
        "id"
    ]
    pool = {"name": f"iso-{octet}", "prefixes": [f"100.{octet}.0.0/16"], "address_scope_id": ids["address_scope"]}
    ids["subnetpool"] = p.post("/v2.0/subnetpools", "subnetpool", pool)["id"]
    group = {"name": f"iso-{octet}", "addresses": [f"100.{octet}.9.0/24"]}
    ids["address_group"] = p.post("/v2.0/address-groups", "address_group", group)["id"]
    ids["address_group_rule"] = p.post(
        "/v2.0/security-group-rules",
        "security_group_rule",
        {
            "security_group_id": ids["security_group"],
            "direction": "egress",
            "remote_address_group_id": ids["address_group"],
        },
    )["id"]
    p.devices["shared"] = f"shared-{octet}-{uuid.uuid4().hex[:6]}"
    ids["shared_port"] = p.post(
        "/v2.0/ports", "port", {"network_id": shared_network, "device_id": p.devices["shared"], "name": "on-shared"}
    )["id"]
    ids["shared_ip_address"] = p.post(
        "/v2.0/ip_addresses", "ip_address", {"network_id": shared_network, "port_ids": [ids["shared_port"]]}
    )["id"]
    # An RBAC policy sharing the network with a third project (never the other one of the pair).
    ids["rbac_policy"] = p.post(
        "/v2.0/rbac-policies",
        "rbac_policy",
        {
            "object_type": "network",
            "object_id": ids["network"],
            "action": "access_as_shared",
            "target_tenant": f"{octet:032x}",
        },
    )["id"]


@dataclass
class World:
    url: str
    admin: httpx.Client
    a: Project
    b: Project
    external_network: str
    shared_network: str

    def b_values(self) -> dict[str, str]:
        """Every id (and device, and the project) of B's that A might name."""
        return {
            **self.b.ids,
            **{f"device:{k}": v for k, v in self.b.devices.items()},
            "project": self.b.project_id,
        }

    def b_snapshot(self) -> dict[str, Any]:
        """Everything of B's as B and an admin see it, to compare before and after A's probing."""
        out: dict[str, Any] = {}
        for resource in COLLECTIONS:
            if admin_only(resource) or projectless(resource):
                continue
            response = self.b.client.get(f"/v2.0/{resource.collection}")
            out[resource.collection] = sorted(response.json()[resource.body_collection], key=by_key(resource))
            if "project_id" not in resource.by_name:  # no project's (default security-group rules)
                continue
            response = self.admin.get(f"/v2.0/{resource.collection}", params={"project_id": self.b.project_id})
            out[f"admin:{resource.collection}"] = sorted(
                response.json()[resource.body_collection], key=by_key(resource)
            )
        for device in self.b.devices.values():
            out[f"device:{device}"] = self.b.client.get(f"/v2.0/instances/{device}").text
        return json.loads(json.dumps(out))


def by_key(resource: Resource):
    """Sorts a collection's items by the attribute that names one (``id`` mostly;
    ``subnet_id`` for floating IP pools)."""
    return lambda item: item[resource.key]


def build_world(url: str) -> Iterator[World]:
    admin = client(url, None)
    a_project, b_project = f"iso-a-{uuid.uuid4().hex[:8]}", f"iso-b-{uuid.uuid4().hex[:8]}"
    a, b = Project(client(url, a_project), a_project), Project(client(url, b_project), b_project)
    try:
        external = created(
            admin.post("/v2.0/networks", json={"network": {"name": "iso-ext", "router:external": True}}),
            COLLECTIONS[0],
        )["id"]
        shared = created(
            admin.post("/v2.0/networks", json={"network": {"name": "iso-shared", "shared": True}}), COLLECTIONS[0]
        )["id"]
        for network, cidr in ((external, "172.31.0.0/24"), (shared, "10.200.0.0/24")):
            subnet = admin.post(
                "/v2.0/subnets", json={"subnet": {"network_id": network, "ip_version": 4, "cidr": cidr}}
            )
            assert subnet.status_code == 201, subnet.text
        populate(b, external, shared, 201)
        # A backend job of B's (a network of a driver that needs backend work; no worker runs here).
        response = admin.post(
            "/v2.0/networks",
            json={"network": {"name": "iso-backend", "project_id": b.project_id, "network_plugin": "fault"}},
        )
        b.ids["backend_network"] = created(response, COLLECTIONS[0])["id"]
        b.ids["job"] = response.headers["X-Quark-Job-Id"]
        populate(a, external, shared, 202)
        yield World(url, admin, a, b, external, shared)
    finally:
        for c in (admin, a.client, b.client):
            c.close()
