"""Floating IP port forwardings on the wire (Neutron's floating-ip-port-forwarding,
its description and port-ranges extensions, expose-port-forwarding-in-fip):
CRUD under a floating IP, list filters, sorting, pages and fields, Neutron's
refusals, what goes with the internal port, who may see and change them; on
every database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import jsonschema
import pytest

from tests.api.test_routers import interface, make_router
from tests.api.test_wire import error_of, make_network, make_subnet


@dataclass
class World:
    """A tenant's private subnet behind a router whose gateway is on an external network,
    a VM port there and a floating IP of the external network."""

    external: dict
    router: dict
    network: dict
    subnet: dict
    port: dict
    fip: dict

    @property
    def address(self) -> str:
        return self.port["fixed_ips"][0]["ip_address"]

    @property
    def url(self) -> str:
        return f"/v2.0/floatingips/{self.fip['id']}/port_forwardings"


def make_port(client, network_id: str, **extra) -> dict:
    r = client.post("/v2.0/ports", json={"port": {"network_id": network_id, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["port"]


def make_fip(client, network_id: str, **extra) -> dict:
    r = client.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": network_id, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["floatingip"]


def build_world(admin, tenant, octet: int) -> World:
    external = make_network(admin, **{"router:external": True})
    make_subnet(admin, external["id"], f"203.0.{octet}.0/24", enable_dhcp=False)
    network = make_network(tenant)
    subnet = make_subnet(tenant, network["id"], f"10.{octet}.0.0/24", enable_dhcp=False)
    router = make_router(tenant, external_gateway_info={"network_id": external["id"]})
    assert interface(tenant, router["id"], subnet_id=subnet["id"]).status_code == 200
    port = make_port(tenant, network["id"])
    return World(external, router, network, subnet, port, make_fip(tenant, external["id"]))


@pytest.fixture
def world(admin, tenant) -> World:
    return build_world(admin, tenant, 60 + uuid.uuid4().int % 60)


def forwarding(w: World, port: dict | None = None, **attrs) -> dict:
    port = port or w.port
    body = {
        "protocol": "tcp",
        "internal_port_id": port["id"],
        "internal_ip_address": port["fixed_ips"][0]["ip_address"],
        **attrs,
    }
    if "external_port_range" not in attrs:
        body.setdefault("external_port", 2222)
        body.setdefault("internal_port", 22)
    return {"port_forwarding": body}


def create(client: httpx.Client, w: World, **attrs) -> httpx.Response:
    return client.post(w.url, json=forwarding(w, **attrs))


def test_crud_and_the_floating_ip_view(tenant, world):
    w = world
    r = create(tenant, w, description="ssh")
    assert r.status_code == 201, r.text
    pf = r.json()["port_forwarding"]
    assert {k: pf[k] for k in pf if k != "links"} == {
        "id": pf["id"],
        "protocol": "tcp",
        "external_port": 2222,
        "internal_port": 22,
        "internal_ip_address": w.address,
        "internal_port_id": w.port["id"],
        "description": "ssh",
        "external_port_range": "2222:2222",
        "internal_port_range": "22:22",
    }
    assert pf["links"][0]["href"].endswith(f"/v2.0/floatingips/{w.fip['id']}/port_forwardings/{pf['id']}")
    assert tenant.get(pf["links"][1]["href"]).json()["port_forwarding"]["id"] == pf["id"]  # the bookmark
    fip = tenant.get(f"/v2.0/floatingips/{w.fip['id']}").json()["floatingip"]
    assert fip["router_id"] == w.router["id"] and fip["port_id"] is None
    assert fip["revision_number"] > w.fip["revision_number"]
    assert fip["port_forwardings"] == [
        {
            "id": pf["id"],
            "protocol": "tcp",
            "external_port": 2222,
            "internal_port": 22,
            "internal_ip_address": w.address,
            "internal_port_id": w.port["id"],
        }
    ]
    assert tenant.get(f"{w.url}/{pf['id']}", params={"fields": "external_port"}).json() == {
        "port_forwarding": {"external_port": 2222}
    }
    r = tenant.put(f"{w.url}/{pf['id']}", json={"port_forwarding": {"external_port": 2223, "description": "x"}})
    assert r.status_code == 200, r.text
    assert (r.json()["port_forwarding"]["external_port"], r.json()["port_forwarding"]["description"]) == (2223, "x")
    assert r.json()["port_forwarding"]["internal_port"] == 22
    assert tenant.delete(f"{w.url}/{pf['id']}").status_code == 204
    assert error_of(tenant.get(f"{w.url}/{pf['id']}"), 404) == "PortForwardingNotFound"
    fip = tenant.get(f"/v2.0/floatingips/{w.fip['id']}").json()["floatingip"]
    assert fip["router_id"] is None and fip["port_forwardings"] == []
    aliases = {e["alias"] for e in tenant.get("/v2.0/extensions").json()["extensions"]}
    assert {
        "floating-ip-port-forwarding",
        "floating-ip-port-forwarding-description",
        "floating-ip-port-forwarding-port-ranges",
        "floating-ip-port-forwarding-detail",  # id and internal_port_id in the floating IP's list
        "expose-port-forwarding-in-fip",
    } <= aliases


def test_list_filters_sorting_pages_and_fields(tenant, world):
    w = world
    made = []
    for ext, proto in ((3001, "tcp"), (3002, "udp"), (3003, "tcp")):
        r = create(tenant, w, external_port=ext, internal_port=ext - 3000 + 80, protocol=proto)
        assert r.status_code == 201, r.text
        made.append(r.json()["port_forwarding"])
    listed = tenant.get(w.url).json()["port_forwardings"]
    assert sorted(p["id"] for p in listed) == sorted(p["id"] for p in made)
    by = lambda **params: [p["external_port"] for p in tenant.get(w.url, params=params).json()["port_forwardings"]]  # noqa: E731
    assert sorted(by(protocol="tcp")) == [3001, 3003]
    assert by(external_port=3002) == [3002]
    assert by(external_port_range="3003:3003") == [3003]
    assert by(sort_key="external_port", sort_dir="desc") == [3003, 3002, 3001]
    assert sorted(by(internal_port_id=w.port["id"])) == [3001, 3002, 3003]
    assert by(internal_port_id=str(uuid.uuid4())) == []
    page = tenant.get(w.url, params={"limit": 2, "sort_key": "external_port"}).json()
    assert [p["external_port"] for p in page["port_forwardings"]] == [3001, 3002]
    (following,) = [link["href"] for link in page["port_forwardings_links"] if link["rel"] == "next"]
    assert [p["external_port"] for p in tenant.get(following).json()["port_forwardings"]] == [3003]
    assert tenant.get(w.url, params={"fields": ["id", "protocol"]}).json()["port_forwardings"][0].keys() == {
        "id",
        "protocol",
    }
    # Neutron refuses filters on these (PortForwardingNotSupportFilterField) and unknown ones.
    assert error_of(tenant.get(w.url, params={"internal_ip_address": w.address}), 400)
    assert error_of(tenant.get(w.url, params={"internal_port": 81}), 400)
    assert error_of(tenant.get(w.url, params={"bogus": 1}), 400)
    # Another floating IP's forwardings are not this one's.
    other = make_fip(tenant, w.external["id"])
    assert tenant.get(f"/v2.0/floatingips/{other['id']}/port_forwardings").json()["port_forwardings"] == []
    assert error_of(tenant.get(f"/v2.0/floatingips/{other['id']}/port_forwardings/{made[0]['id']}"), 404)
    assert (
        tenant.get(f"/v2.0/floatingips/{other['id']}/port_forwardings", params={"marker": made[0]["id"]}).json()[
            "port_forwardings"
        ]
        == []
    )


def test_port_ranges(tenant, world):
    w = world
    r = create(tenant, w, external_port_range="8000:8010", internal_port_range="9000:9010")
    assert r.status_code == 201, r.text
    pf = r.json()["port_forwarding"]
    assert (pf["external_port"], pf["internal_port"]) == (None, None)
    assert (pf["external_port_range"], pf["internal_port_range"]) == ("8000:8010", "9000:9010")
    # N external ports to one internal port is allowed; N to M (M != N) is not.
    r = create(tenant, w, external_port_range="8100:8105", internal_port_range="443")
    assert r.status_code == 201, r.text
    assert r.json()["port_forwarding"]["internal_port"] == 443
    assert (
        "N-N or 1-N"
        in tenant.post(
            w.url, json=forwarding(w, external_port_range="8200:8205", internal_port_range="9200:9201")
        ).json()["NeutronError"]["message"]
    )
    # A range that meets another's external ports (same protocol) collides.
    r = create(tenant, w, external_port=8005, internal_port=22)
    assert error_of(r, 400) == "BadRequest" and "collision" in r.json()["NeutronError"]["message"]
    assert create(tenant, w, external_port=8005, internal_port=22, protocol="udp").status_code == 201
    # Single ports and ranges in one request: refused.
    body = forwarding(w, external_port_range="8300:8301", internal_port_range="8300:8301")
    body["port_forwarding"]["external_port"] = 8300
    assert error_of(tenant.post(w.url, json=body), 400)
    for bad in ("0:10", "10:5", "70000", "a:b"):
        assert error_of(create(tenant, w, external_port_range=bad, internal_port_range="22"), 400)


def test_refusals(admin, tenant, world):
    w = world
    assert create(tenant, w).status_code == 201
    # The same external port and protocol on the floating IP, or the same internal socket: 400.
    assert error_of(create(tenant, w, internal_port=23), 400) == "BadRequest"
    assert error_of(create(tenant, w, external_port=2224), 400) == "BadRequest"
    assert create(tenant, w, protocol="udp").status_code == 201
    # The address must be one of the port's fixed IPv4 addresses.
    assert error_of(create(tenant, w, external_port=2300, internal_ip_address="10.255.0.9"), 400) == "BadRequest"
    # The port's subnet must reach the floating IP's network through a router.
    lone_net = make_network(tenant)
    make_subnet(tenant, lone_net["id"], "10.254.0.0/24", enable_dhcp=False)
    lone = make_port(tenant, lone_net["id"])
    r = tenant.post(w.url, json=forwarding(w, port=lone, external_port=2400))
    assert error_of(r, 400) == "BadRequest" and "not reachable" in r.json()["NeutronError"]["message"]
    # Values: protocol, ports, required attributes, bulk.
    assert error_of(create(tenant, w, protocol="gre", external_port=2500), 400)
    assert error_of(create(tenant, w, external_port=0), 400)
    assert error_of(create(tenant, w, internal_port=65536, external_port=2501), 400)
    assert error_of(tenant.post(w.url, json={"port_forwarding": {"protocol": "tcp"}}), 400)
    assert error_of(tenant.post(w.url, json={"port_forwardings": [forwarding(w)["port_forwarding"]]}), 400)
    # A floating IP with forwardings is neither associated with a port nor deleted (409).
    r = tenant.put(f"/v2.0/floatingips/{w.fip['id']}", json={"floatingip": {"port_id": w.port["id"]}})
    assert error_of(r, 409) == "FipInUseByPortForwarding"
    assert error_of(tenant.delete(f"/v2.0/floatingips/{w.fip['id']}"), 409) == "FipInUseByPortForwarding"
    # Disassociating it (port_id null, or a blank update) changes nothing of its forwardings' router.
    for blank in ({"port_id": None}, {}):
        r = tenant.put(f"/v2.0/floatingips/{w.fip['id']}", json={"floatingip": blank})
        assert r.status_code == 200, r.text
        assert r.json()["floatingip"]["router_id"] == w.router["id"]
    # A floating IP associated with a port has no forwardings.
    vm2 = make_port(tenant, w.network["id"])
    bound = make_fip(tenant, w.external["id"], port_id=vm2["id"])
    r = tenant.post(f"/v2.0/floatingips/{bound['id']}/port_forwardings", json=forwarding(w, external_port=2600))
    assert error_of(r, 409) == "FloatingIPPortAlreadyAssociated"
    # A port with a floating IP of its own gets no forwarding.
    r = tenant.post(w.url, json=forwarding(w, port=vm2, external_port=2700))
    assert error_of(r, 409) == "PortHasBindingFloatingIP"
    # Unknown floating IP, unknown forwarding.
    missing = str(uuid.uuid4())
    assert error_of(tenant.get(f"/v2.0/floatingips/{missing}/port_forwardings"), 404) == "FloatingIPNotFound"
    assert error_of(tenant.post(f"/v2.0/floatingips/{missing}/port_forwardings", json=forwarding(w)), 404)
    assert error_of(tenant.put(f"{w.url}/{missing}", json={"port_forwarding": {"description": ""}}), 404)
    assert error_of(tenant.delete(f"{w.url}/{missing}"), 404) == "PortForwardingNotFound"
    # Nothing of the refused requests was written.
    assert len(tenant.get(w.url).json()["port_forwardings"]) == 2


def test_forwardings_follow_the_internal_port(tenant, world):
    w = world
    pf = create(tenant, w).json()["port_forwarding"]
    vm2 = make_port(tenant, w.network["id"])
    other = create(tenant, w, port=vm2, external_port=2230).json()["port_forwarding"]
    # The address forwarded to leaves the port: its forwarding goes.
    moved = w.subnet["cidr"].replace("0/24", "200")
    r = tenant.put(f"/v2.0/ports/{vm2['id']}", json={"port": {"fixed_ips": [{"ip_address": moved}]}})
    assert r.status_code == 200, r.text
    assert r.json()["port"]["fixed_ips"][0]["ip_address"] == moved
    assert error_of(tenant.get(f"{w.url}/{other['id']}"), 404)
    # The internal port goes: its forwardings go, and the floating IP's router with the last one.
    assert tenant.delete(f"/v2.0/ports/{w.port['id']}").status_code == 204
    assert tenant.get(w.url).json()["port_forwardings"] == []
    assert error_of(tenant.get(f"{w.url}/{pf['id']}"), 404)
    fip = tenant.get(f"/v2.0/floatingips/{w.fip['id']}").json()["floatingip"]
    assert fip["router_id"] is None and fip["port_forwardings"] == []
    assert tenant.delete(f"/v2.0/floatingips/{w.fip['id']}").status_code == 204


def test_update_moves_and_checks(tenant, world):
    w = world
    pf = create(tenant, w).json()["port_forwarding"]
    vm2 = make_port(tenant, w.network["id"])
    second = create(tenant, w, port=vm2, external_port=2300).json()["port_forwarding"]
    url = f"{w.url}/{pf['id']}"
    # Onto another port (its address given), onto a taken external port, an address not on the port.
    body = {
        "internal_port_id": vm2["id"],
        "internal_ip_address": vm2["fixed_ips"][0]["ip_address"],
        "internal_port": 23,
    }
    r = tenant.put(url, json={"port_forwarding": body})
    assert r.status_code == 200, r.text
    assert r.json()["port_forwarding"]["internal_port_id"] == vm2["id"]
    assert error_of(tenant.put(url, json={"port_forwarding": {"external_port": 2300}}), 400) == "BadRequest"
    r = tenant.put(url, json={"port_forwarding": {"internal_ip_address": w.address}})
    assert error_of(r, 400) == "BadRequest"
    assert error_of(tenant.put(url, json={"port_forwarding": {"id": second["id"]}}), 400)
    r = tenant.put(url, json={"port_forwarding": {"external_port_range": "2400:2401", "internal_port_range": "30:31"}})
    assert r.status_code == 200, r.text
    assert (r.json()["port_forwarding"]["external_port"], r.json()["port_forwarding"]["internal_port_range"]) == (
        None,
        "30:31",
    )
    # ... which may not meet the other forwarding's internal socket (vm2:22, tcp).
    r = tenant.put(url, json={"port_forwarding": {"external_port_range": "2400:2401", "internal_port_range": "21:22"}})
    assert "collision" in r.json()["NeutronError"]["message"]


def test_projects_and_roles(admin, tenant, world, api_server):
    w = world
    pf = create(tenant, w).json()["port_forwarding"]
    headers = {"X-Project-Id": f"t-{uuid.uuid4().hex[:10]}", "X-Roles": "member"}
    with httpx.Client(base_url=api_server.url, timeout=30, headers=headers) as other:
        # Another project sees neither the floating IP nor its forwardings.
        assert error_of(other.get(w.url), 404) == "FloatingIPNotFound"
        assert error_of(other.get(f"{w.url}/{pf['id']}"), 404) == "FloatingIPNotFound"
        assert error_of(other.post(w.url, json=forwarding(w, external_port=2900)), 404) == "FloatingIPNotFound"
        assert error_of(other.delete(f"{w.url}/{pf['id']}"), 404) == "FloatingIPNotFound"
        # Nor may it point a forwarding of its own floating IP at the tenant's port.
        mine = build_world(admin, other, 121)
        r = other.post(mine.url, json=forwarding(w, external_port=2901))
        assert error_of(r, 404) == "PortNotFound"
    reader = {"X-Project-Id": tenant.project_id, "X-Roles": "reader"}
    with httpx.Client(base_url=api_server.url, timeout=30, headers=reader) as ro:
        assert ro.get(f"{w.url}/{pf['id']}").status_code == 200
        assert [p["id"] for p in ro.get(w.url).json()["port_forwardings"]] == [pf["id"]]
        assert error_of(ro.post(w.url, json=forwarding(w, external_port=2902)), 403) == "PolicyNotAuthorized"
        r = ro.put(f"{w.url}/{pf['id']}", json={"port_forwarding": {"description": "no"}})
        assert error_of(r, 403) == "PolicyNotAuthorized"
        assert error_of(ro.delete(f"{w.url}/{pf['id']}"), 403) == "PolicyNotAuthorized"
    # An admin sees and changes every project's.
    assert admin.get(f"{w.url}/{pf['id']}").status_code == 200
    assert admin.delete(f"{w.url}/{pf['id']}").status_code == 204


def test_answers_match_the_openapi_document(tenant, world):
    """Every answer of the sub-resource validates against /openapi.json (the document cannot drift)."""
    from tests.openapi_check import request_schema, validate

    doc, w = tenant.get("/openapi.json").json(), world
    collection = "/v2.0/floatingips/{floatingip_id}/port_forwardings"
    body = forwarding(w)
    jsonschema.validate(body, request_schema(doc, collection, "post"))
    made = tenant.post(w.url, json=body)
    assert made.status_code == 201, made.text
    validate(doc, collection, "post", 201, made.json())
    item = f"{w.url}/{made.json()['port_forwarding']['id']}"
    for method, url, template, status, sent in (
        ("get", w.url, collection, 200, None),
        ("get", f"{w.url}?fields=id&limit=1", collection, 200, None),
        ("get", item, collection + "/{id}", 200, None),
        ("put", item, collection + "/{id}", 200, {"port_forwarding": {"external_port_range": "2300:2300"}}),
        ("get", f"/v2.0/floatingips/{uuid.uuid4()}/port_forwardings", collection, 404, None),
        ("post", w.url, collection, 400, {"port_forwarding": {"protocol": "gre"}}),
    ):
        response = tenant.request(method.upper(), url, json=sent)
        assert response.status_code == status, response.text
        validate(doc, template, method, status, response.json())
    validate(doc, "/v2.0/floatingips/{id}", "get", 200, tenant.get(f"/v2.0/floatingips/{w.fip['id']}").json())
