"""Project isolation, walked over every collection (issue 15, "isolation without holes").

Project B makes one of everything (isolation_world.py). Project A then
lists every collection, with and without filters naming B's ids; reads,
updates, deletes and tags B's resources by id; names B's ids in every
reference attribute of every create and update body (taken from the
attribute maps); and pages with B's ids as markers. Each answer must be
exactly the answer for a random id (same status, same body but for the id),
nothing of B's may show, and B's resources must be as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from quark.api.definitions.base import Resource
from quark.api.definitions.core import PORT
from quark.api.definitions.port_forwardings import PORT_FORWARDING
from tests.api.isolation_world import (
    COLLECTIONS,
    World,
    admin_only,
    body_references,
    build_world,
    filter_references,
    masked,
    random_like,
    reference_value,
    shape_of,
)


@pytest.fixture(scope="module")
def world(api_server) -> Iterator[World]:
    yield from build_world(api_server.url)


@pytest.fixture
def unchanged(world: World) -> Iterator[None]:
    """B's resources, as B and an admin see them, are the same after the test."""
    before = world.b_snapshot()
    yield
    assert world.b_snapshot() == before


def same_as_missing(world: World, method: str, path: str, json: Any = None, **params: Any) -> list[str]:
    """The B values for which ``method path`` (``{}`` in path or params: the value)
    answers otherwise than for a random id; B's values never show in an answer."""
    a = world.a.client

    def ask(value: str):
        fill = {k: v.replace("{}", value) if isinstance(v, str) else v for k, v in params.items()}
        body = None if json is None else _fill(json, value)
        return a.request(method, path.replace("{}", value), params=fill or None, json=body)

    differing = []
    expected_by_shape: dict[str, tuple[int, str]] = {}  # one random value of each shape of B's values
    for kind, value in world.b_values().items():
        baseline, shape = random_like(value), shape_of(value)
        if shape not in expected_by_shape:
            expected_by_shape[shape] = _asked(world, path, method, ask(baseline), baseline)
        expected = expected_by_shape[shape]
        response = ask(value)
        got = _asked(world, path, method, response, value)
        if got != expected or _shows_b(world, got[1]):
            differing.append(f"{method} {path} {params or ''} {kind}: {response.status_code} {response.text[:300]}")
    return differing


def _fill(template: Any, value: str) -> Any:
    if isinstance(template, str):
        return template.replace("{}", value)
    if isinstance(template, list):
        return [_fill(item, value) for item in template]
    if isinstance(template, dict):
        return {k: _fill(v, value) for k, v in template.items()}
    return template


def _shows_b(world: World, text: str) -> bool:
    return any(value in text for value in world.b_values().values())


def _asked(world: World, path: str, method: str, response, value: str) -> tuple[int, str]:
    """The answer to compare; a create that succeeded is compared by its status
    (the new resource's id and times differ) and removed again."""
    _cleanup(world, path, method, response)
    if method == "POST" and response.status_code == 201:
        return 201, "created" if not _shows_b(world, response.text.replace(value, "")) else response.text
    return masked(response, value)


def _cleanup(world: World, path: str, method: str, response) -> None:
    """A create that succeeded is removed, so the next one is not a duplicate."""
    if method != "POST" or response.status_code != 201:
        return
    (obj,) = response.json().values()
    if path == "/v2.0/instances":
        world.admin.delete(f"/v2.0/instances/{obj['device_id']}")
    elif isinstance(obj, dict) and "id" in obj:
        world.admin.delete(f"{path}/{obj['id']}")


# --- (1) lists, with and without filters naming B's ids ---------------------------------------


def test_lists_show_nothing_of_the_other_project(world: World, unchanged) -> None:
    leaks = []
    for resource in COLLECTIONS:
        path = f"/v2.0/{resource.collection}"
        listed = world.a.client.get(path)
        if _shows_b(world, listed.text):
            leaks.append(f"GET {path}: {listed.text[:300]}")
        for name in filter_references(resource):
            leaks += same_as_missing(world, "GET", path, **{name: "{}"})
        if "fixed_ips" in resource.extra_filters:
            leaks += same_as_missing(world, "GET", path, fixed_ips="subnet_id={}")
    leaks += same_as_missing(world, "GET", "/v2.0/instances/{}")
    # A floating IP's port forwardings: B's floating IP as the parent, B's ids as filters.
    leaks += same_as_missing(world, "GET", "/v2.0/floatingips/{}/port_forwardings")
    own_forwardings = f"/v2.0/floatingips/{world.a.ids['floatingip']}/port_forwardings"
    leaks += same_as_missing(world, "GET", own_forwardings, internal_port_id="{}")
    leaks += same_as_missing(world, "GET", own_forwardings, id="{}")
    assert not leaks, "\n".join(leaks)


# --- (2) B's resources by id: read, change, delete, tags ---------------------------------------


def _update_body(resource: Resource) -> dict:
    for name in ("description", "name"):
        attr = resource.by_name.get(name)
        if attr is not None and attr.put:
            return {resource.name: {name: "probe"}}
    return {resource.name: {}}


def test_the_other_projects_resources_answer_as_missing(world: World, unchanged) -> None:
    leaks = []
    for resource in COLLECTIONS:
        item = f"/v2.0/{resource.collection}/{{}}"
        leaks += same_as_missing(world, "GET", item)
        leaks += same_as_missing(world, "GET", item, fields="id")
        if resource.read_only:
            continue
        leaks += same_as_missing(world, "PUT", item, json=_update_body(resource))
        leaks += same_as_missing(world, "DELETE", item)
        if resource.has_tags:
            leaks += same_as_missing(world, "GET", item + "/tags")
            leaks += same_as_missing(world, "GET", item + "/tags/iso-201")
            leaks += same_as_missing(world, "PUT", item + "/tags/probe")
            leaks += same_as_missing(world, "PUT", item + "/tags", json={"tags": ["probe"]})
            leaks += same_as_missing(world, "DELETE", item + "/tags/iso-201")
            leaks += same_as_missing(world, "DELETE", item + "/tags")
        if resource.delete_by_filter:
            leaks += same_as_missing(world, "DELETE", f"/v2.0/{resource.collection}", device_id="{}")
            leaks += same_as_missing(world, "DELETE", f"/v2.0/{resource.collection}", network_id="{}")
    own_port = world.a.ids["port"]
    leaks += same_as_missing(world, "GET", "/v2.0/ip_addresses/{}/ports")
    leaks += same_as_missing(world, "GET", f"/v2.0/ip_addresses/{{}}/ports/{own_port}")
    leaks += same_as_missing(world, "PUT", f"/v2.0/ip_addresses/{{}}/ports/{own_port}", json={"port": {"service": "x"}})
    own_address = world.a.ids["ip_address"]
    leaks += same_as_missing(world, "GET", f"/v2.0/ip_addresses/{own_address}/ports/{{}}")
    leaks += same_as_missing(world, "DELETE", "/v2.0/instances/{}")
    # B's port forwardings under A's floating IP, and A's under B's floating IP.
    own_fip, own_forwarding = world.a.ids["floatingip"], world.a.ids["port_forwarding"]
    probe = {"port_forwarding": {"description": "probe"}}
    for item in (
        f"/v2.0/floatingips/{own_fip}/port_forwardings/{{}}",
        f"/v2.0/floatingips/{{}}/port_forwardings/{own_forwarding}",
    ):
        leaks += same_as_missing(world, "GET", item)
        leaks += same_as_missing(world, "PUT", item, json=probe)
        leaks += same_as_missing(world, "DELETE", item)
    assert not leaks, "\n".join(leaks)


# --- (3) B's ids as references in create and update bodies -------------------------------------


def create_templates(world: World) -> dict[str, dict]:
    """A valid create body of A's for each collection a member creates."""
    own = world.a.ids
    return {
        "networks": {"name": "probe"},
        "subnets": {"network_id": own["network"], "ip_version": 4, "cidr": "10.203.0.0/24"},
        "ports": {"network_id": own["network"]},
        "security-groups": {"name": "probe"},
        "security-group-rules": {
            "security_group_id": own["security_group"],
            "direction": "ingress",
            "protocol": "udp",
            "port_range_min": 53,
            "port_range_max": 53,
        },
        "floatingips": {"floating_network_id": world.external_network},
        "ip_addresses": {"network_id": own["network"]},
        "routes": {"subnet_id": own["subnet"], "cidr": "192.168.3.0/24", "gateway": "10.202.0.7"},
        "subnetpools": {"name": "probe", "prefixes": ["100.203.0.0/16"]},
        "address-scopes": {"name": "probe", "ip_version": 4},
        "routers": {"name": "probe"},
        # Readable by members, writable by admins only: A's POST is refused either way.
        "default-security-group-rules": {"direction": "ingress", "protocol": "udp"},
        "rbac-policies": {
            "object_type": "network",
            "action": "access_as_shared",
            "target_tenant": "0123456789abcdef0123456789abcdef",
        },
    }


# The resource of A's each collection's update bodies are tried on.
UPDATE_TARGETS = {
    "ports": "port",
    "floatingips": "floatingip",
    "ip_addresses": "reserved_ip_address",
    "subnetpools": "subnetpool",
    "subnets": "subnet",
}


def test_the_other_projects_ids_are_unusable_as_references(world: World, unchanged) -> None:
    templates = create_templates(world)
    leaks, untried = [], []
    for resource in COLLECTIONS:
        path = f"/v2.0/{resource.collection}"
        for attr in body_references(resource, "post"):
            if resource.collection not in templates and not admin_only(resource):
                untried.append(f"POST {path} {attr.name}")
                continue
            body = {**templates.get(resource.collection, {}), attr.name: reference_value(attr, "{}")}
            leaks += same_as_missing(world, "POST", path, json={resource.name: body})
        for attr in body_references(resource, "put"):
            target = UPDATE_TARGETS.get(resource.collection)
            if target is None and not admin_only(resource):
                untried.append(f"PUT {path} {attr.name}")
                continue
            item = f"{path}/{world.a.ids[target] if target else world.a.ids['network']}"
            leaks += same_as_missing(world, "PUT", item, json={resource.name: {attr.name: reference_value(attr, "{}")}})
    for attr in body_references(PORT, "post"):  # an instance's ports are port bodies
        port = {**templates["ports"], attr.name: reference_value(attr, "{}")}
        instance = {"device_id": "probe-device", "ports": [port]}
        leaks += same_as_missing(world, "POST", "/v2.0/instances", json={"instance": instance})
    # A port forwarding of A's floating IP to B's port (internal_port_id, its only reference).
    own_fip, own_forwarding = world.a.ids["floatingip"], world.a.ids["port_forwarding"]
    forwardings = f"/v2.0/floatingips/{own_fip}/port_forwardings"
    address = world.a.client.get(f"/v2.0/ports/{world.a.ids['port']}").json()["port"]["fixed_ips"][0]["ip_address"]
    forwarding = {"protocol": "udp", "external_port": 5353, "internal_port": 53, "internal_ip_address": address}
    for attr in body_references(PORT_FORWARDING, "post"):
        body = {**forwarding, attr.name: reference_value(attr, "{}")}
        leaks += same_as_missing(world, "POST", forwardings, json={"port_forwarding": body})
    for attr in body_references(PORT_FORWARDING, "put"):
        body = {attr.name: reference_value(attr, "{}")}
        leaks += same_as_missing(world, "PUT", f"{forwardings}/{own_forwarding}", json={"port_forwarding": body})
    assert not untried, f"no valid body of A's to try these references in: {untried}"
    assert not leaks, "\n".join(leaks)


# --- (4) B's ids as list markers ---------------------------------------------------------------


def test_the_other_projects_ids_are_unknown_markers(world: World, unchanged) -> None:
    # The marker is looked up before any sort key is read: a few keys of each collection suffice.
    leaks = []
    for resource in COLLECTIONS:
        path = f"/v2.0/{resource.collection}"
        others = sorted(resource.sortable - {"id", "name"})[:2]
        keys = ["name", *others] if "name" in resource.sortable else others
        pages: list[dict[str, str]] = [{"limit": "1"}, {"limit": "1", "page_reverse": "true"}]
        pages += [{"sort_key": key, "sort_dir": "desc"} for key in keys]
        for page in pages:
            leaks += same_as_missing(world, "GET", path, marker="{}", **page)
    assert not leaks, "\n".join(leaks)
    own_forwardings = f"/v2.0/floatingips/{world.a.ids['floatingip']}/port_forwardings"
    for page in ({"limit": "1"}, {"limit": "1", "page_reverse": "true"}, {"sort_key": "external_port"}):
        assert not same_as_missing(world, "GET", own_forwardings, marker="{}", **page)
