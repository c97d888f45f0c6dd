"""Routers on the wire (Neutron's router, ext-gw-mode, extraroute,
extraroute-atomic): CRUD, the gateway port, interfaces by subnet and by port,
extra routes, floating IPs through routers, and Neutron's errors; on every
database."""

from __future__ import annotations

import concurrent.futures
import uuid

import httpx
import pytest

from tests.api.test_wire import error_of, make_network, make_subnet


@pytest.fixture
def external(admin):
    net = make_network(admin, **{"router:external": True})
    subnet = make_subnet(admin, net["id"], "198.51.100.0/24", enable_dhcp=False)
    return net, subnet


def make_router(client, **attrs) -> dict:
    r = client.post("/v2.0/routers", json={"router": {"name": f"r-{uuid.uuid4().hex[:6]}", **attrs}})
    assert r.status_code == 201, r.text
    return r.json()["router"]


def interface(client, router_id: str, action: str = "add", **body) -> httpx.Response:
    return client.put(f"/v2.0/routers/{router_id}/{action}_router_interface", json=body)


def private(client, cidr: str = "10.30.0.0/24", **extra) -> tuple[dict, dict]:
    net = make_network(client)
    return net, make_subnet(client, net["id"], cidr, enable_dhcp=False, **extra)


def test_router_crud_and_gateway(tenant, admin, external):
    ext, ext_subnet = external
    router = make_router(tenant)
    assert router["status"] == "ACTIVE" and router["admin_state_up"] is True
    assert router["external_gateway_info"] is None and router["routes"] == []
    assert router["project_id"] == router["tenant_id"] == tenant.project_id
    assert "distributed" not in router and "ha" not in router  # admin-only to read, as Neutron
    r = tenant.put(
        f"/v2.0/routers/{router['id']}", json={"router": {"external_gateway_info": {"network_id": ext["id"]}}}
    )
    assert r.status_code == 200, r.text
    gateway = r.json()["router"]["external_gateway_info"]
    assert gateway["network_id"] == ext["id"] and gateway["enable_snat"] is True
    (fixed,) = gateway["external_fixed_ips"]
    assert fixed["subnet_id"] == ext_subnet["id"] and fixed["ip_address"].startswith("198.51.100.")
    assert r.json()["router"]["revision_number"] == router["revision_number"] + 1
    (port,) = admin.get("/v2.0/ports", params={"device_id": router["id"]}).json()["ports"]
    assert (port["device_owner"], port["project_id"], port["network_id"]) == ("network:router_gateway", "", ext["id"])
    assert error_of(admin.delete(f"/v2.0/ports/{port['id']}"), 409) == "L3PortInUse"
    assert error_of(admin.delete(f"/v2.0/networks/{ext['id']}"), 409) == "NetworkInUse"
    # enable_snat is admin-only to set (Neutron's policy); the admin may
    body = {"router": {"external_gateway_info": {"network_id": ext["id"], "enable_snat": False}}}
    assert error_of(tenant.put(f"/v2.0/routers/{router['id']}", json=body), 403) == "PolicyNotAuthorized"
    r = admin.put(f"/v2.0/routers/{router['id']}", json=body)
    assert r.json()["router"]["external_gateway_info"]["enable_snat"] is False
    assert r.json()["router"]["external_gateway_info"]["external_fixed_ips"] == [fixed]  # same port kept
    # listing, filters, tags
    listed = tenant.get("/v2.0/routers", params={"name": router["name"]}).json()["routers"]
    assert [x["id"] for x in listed] == [router["id"]]
    assert tenant.put(f"/v2.0/routers/{router['id']}/tags/blue").status_code == 201
    assert [x["id"] for x in tenant.get("/v2.0/routers", params={"tags": "blue"}).json()["routers"]] == [router["id"]]
    # clearing the gateway ({} as the CLI's unset) deletes its port
    r = tenant.put(f"/v2.0/routers/{router['id']}", json={"router": {"external_gateway_info": {}}})
    assert r.status_code == 200 and r.json()["router"]["external_gateway_info"] is None
    assert admin.get("/v2.0/ports", params={"device_id": router["id"]}).json()["ports"] == []
    assert tenant.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    assert error_of(tenant.get(f"/v2.0/routers/{router['id']}"), 404) == "RouterNotFound"


def test_bad_gateways_and_unsupported_attributes(tenant, admin, external):
    ext, ext_subnet = external
    own, _ = private(tenant)
    body = {"external_gateway_info": {"network_id": own["id"]}}
    r = tenant.post("/v2.0/routers", json={"router": body})
    assert error_of(r, 400) == "BadRequest"
    assert "is not an external network" in r.json()["NeutronError"]["message"]
    gone = {"external_gateway_info": {"network_id": str(uuid.uuid4())}}
    assert error_of(tenant.post("/v2.0/routers", json={"router": gone}), 404) == "NetworkNotFound"
    fixed = {"network_id": ext["id"], "external_fixed_ips": [{"ip_address": "198.51.100.77"}]}
    r = tenant.post("/v2.0/routers", json={"router": {"external_gateway_info": fixed}})
    assert error_of(r, 403) == "PolicyNotAuthorized"  # external_fixed_ips: admin only
    router = make_router(admin, external_gateway_info=fixed)
    assert router["external_gateway_info"]["external_fixed_ips"] == [
        {"subnet_id": ext_subnet["id"], "ip_address": "198.51.100.77"}
    ]
    assert error_of(tenant.post("/v2.0/routers", json={"router": {"distributed": True}}), 403) == "PolicyNotAuthorized"
    assert make_router(admin, distributed=False, ha=False)["distributed"] is False  # l3-ha, dvr: test_router_ha.py
    assert tenant.get("/v2.0/routers", params={"name": router["name"]}).json()["routers"] == []  # admin's router
    assert admin.delete(f"/v2.0/routers/{router['id']}").status_code == 204


def test_interfaces_by_subnet_and_port(tenant, admin):
    router = make_router(tenant)
    net, subnet = private(tenant, "10.31.0.0/24")
    r = interface(tenant, router["id"], subnet_id=subnet["id"])
    assert r.status_code == 200, r.text
    info = r.json()
    assert set(info) == {"id", "tenant_id", "project_id", "port_id", "subnet_id", "subnet_ids", "network_id"}
    assert (info["id"], info["subnet_id"], info["subnet_ids"], info["network_id"]) == (
        router["id"],
        subnet["id"],
        [subnet["id"]],
        net["id"],
    )
    port = tenant.get(f"/v2.0/ports/{info['port_id']}").json()["port"]
    assert (port["device_owner"], port["device_id"]) == ("network:router_interface", router["id"])
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.31.0.1"}]
    assert error_of(tenant.delete(f"/v2.0/ports/{port['id']}"), 409) == "L3PortInUse"
    assert error_of(tenant.delete(f"/v2.0/subnets/{subnet['id']}"), 409) == "SubnetInUse"
    assert error_of(tenant.delete(f"/v2.0/networks/{net['id']}"), 409) == "NetworkInUse"
    assert error_of(tenant.delete(f"/v2.0/routers/{router['id']}"), 409) == "RouterInUse"
    # the same subnet again, an overlapping one, one without gateway, both or neither key
    assert error_of(interface(tenant, router["id"], subnet_id=subnet["id"]), 400) == "BadRequest"
    _, overlapping = private(tenant, "10.31.0.0/16")
    r = interface(tenant, router["id"], subnet_id=overlapping["id"])
    assert error_of(r, 400) == "BadRequest" and "overlaps" in r.json()["NeutronError"]["message"]
    _, no_gateway = private(tenant, "10.32.0.0/24", gateway_ip=None)
    assert error_of(interface(tenant, router["id"], subnet_id=no_gateway["id"]), 400) == "BadRequest"
    assert error_of(interface(tenant, router["id"]), 400) == "BadRequest"
    assert error_of(interface(tenant, router["id"], port_id="port-1"), 400) == "InvalidInput"
    assert error_of(interface(tenant, router["id"], subnet_id=str(uuid.uuid4())), 404) == "SubnetNotFound"
    # another router cannot take the subnet's gateway address
    other = make_router(tenant)
    assert error_of(interface(tenant, other["id"], subnet_id=subnet["id"]), 409) == "IpAddressAlreadyAllocated"
    # by port: a free port of the project; a port with a device is in use
    net2, subnet2 = private(tenant, "10.33.0.0/24")
    free = tenant.post("/v2.0/ports", json={"port": {"network_id": net2["id"]}}).json()["port"]
    used = tenant.post("/v2.0/ports", json={"port": {"network_id": net2["id"], "device_id": "vm"}}).json()["port"]
    assert error_of(interface(tenant, router["id"], port_id=used["id"]), 409) == "PortInUse"
    info2 = interface(tenant, router["id"], port_id=free["id"]).json()
    assert (info2["port_id"], info2["subnet_ids"]) == (free["id"], [subnet2["id"]])
    shown = tenant.get(f"/v2.0/ports/{free['id']}").json()["port"]
    assert (shown["device_owner"], shown["device_id"]) == ("network:router_interface", router["id"])
    # removal: by subnet, by port; unknown ones are 404
    r = interface(tenant, router["id"], "remove", subnet_id=subnet["id"])
    assert r.status_code == 200 and r.json()["port_id"] == info["port_id"]
    assert error_of(tenant.get(f"/v2.0/ports/{info['port_id']}"), 404) == "PortNotFound"
    r = interface(tenant, router["id"], "remove", subnet_id=subnet["id"])
    assert error_of(r, 404) == "RouterInterfaceNotFoundForSubnet"
    assert error_of(interface(tenant, router["id"], "remove", port_id=used["id"]), 404) == "RouterInterfaceNotFound"
    assert interface(tenant, router["id"], "remove", port_id=free["id"]).status_code == 200
    assert tenant.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    assert tenant.delete(f"/v2.0/subnets/{subnet['id']}").status_code == 204


def test_extra_routes(tenant):
    router = make_router(tenant)
    _, subnet = private(tenant, "10.34.0.0/24")
    assert interface(tenant, router["id"], subnet_id=subnet["id"]).status_code == 200
    url = f"/v2.0/routers/{router['id']}"
    route = {"destination": "192.0.2.0/24", "nexthop": "10.34.0.10"}
    r = tenant.put(url, json={"router": {"routes": [route]}})
    assert r.status_code == 200 and r.json()["router"]["routes"] == [route]
    off_link = {"destination": "192.0.3.0/24", "nexthop": "10.99.0.1"}
    assert error_of(tenant.put(url, json={"router": {"routes": [off_link]}}), 400) == "InvalidRoutes"
    own = {"destination": "192.0.3.0/24", "nexthop": "10.34.0.1"}
    assert error_of(tenant.put(url, json={"router": {"routes": [own]}}), 400) == "InvalidRoutes"
    assert tenant.get(url).json()["router"]["routes"] == [route]  # refused: nothing changed
    # extraroute-atomic
    more = {"destination": "203.0.113.0/24", "nexthop": "10.34.0.11"}
    r = tenant.put(f"{url}/add_extraroutes", json={"router": {"routes": [more, route]}})
    assert r.status_code == 200, r.text
    assert sorted(x["destination"] for x in r.json()["router"]["routes"]) == ["192.0.2.0/24", "203.0.113.0/24"]
    assert (
        error_of(tenant.put(f"{url}/add_extraroutes", json={"router": {"routes": [off_link]}}), 400) == "InvalidRoutes"
    )
    assert error_of(tenant.put(f"{url}/add_extraroutes", json={"routes": [more]}), 400) == "HTTPBadRequest"
    # an interface a route needs stays
    r = interface(tenant, router["id"], "remove", subnet_id=subnet["id"])
    assert error_of(r, 409) == "RouterInterfaceInUseByRoute"
    r = tenant.put(f"{url}/remove_extraroutes", json={"router": {"routes": [route, more]}})
    assert r.json()["router"]["routes"] == []
    assert tenant.put(url, json={"router": {"routes": [route]}}).status_code == 200
    r = tenant.put(url, json={"router": {"routes": None}})  # Tempest clears them so
    assert r.status_code == 200 and r.json()["router"]["routes"] == []


def test_concurrent_extraroutes_all_land(tenant):
    router = make_router(tenant)
    _, subnet = private(tenant, "10.35.0.0/24")
    assert interface(tenant, router["id"], subnet_id=subnet["id"]).status_code == 200
    url = f"/v2.0/routers/{router['id']}/add_extraroutes"
    routes = [{"destination": f"192.0.{i}.0/24", "nexthop": f"10.35.0.{10 + i}"} for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda rt: tenant.put(url, json={"router": {"routes": [rt]}}), routes))
    assert [a.status_code for a in answers] == [200] * 8
    stored = tenant.get(f"/v2.0/routers/{router['id']}").json()["router"]["routes"]
    assert sorted(map(str, stored)) == sorted(map(str, routes))


def test_two_routers_adding_one_subnet_at_once_one_wins(tenant):
    _, subnet = private(tenant, "10.36.0.0/24")
    routers = [make_router(tenant) for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda rt: interface(tenant, rt["id"], subnet_id=subnet["id"]), routers))
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]
    ports = tenant.get("/v2.0/ports", params={"device_owner": "network:router_interface"}).json()["ports"]
    assert len([p for p in ports if p["fixed_ips"][0]["subnet_id"] == subnet["id"]]) == 1


def test_floating_ips_go_through_a_router(tenant, admin, external):
    ext, _ = external
    net, subnet = private(tenant, "10.37.0.0/24")
    port = tenant.post("/v2.0/ports", json={"port": {"network_id": net["id"], "device_id": "vm-1"}}).json()["port"]
    fip = tenant.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext["id"]}}).json()["floatingip"]
    fip_url = f"/v2.0/floatingips/{fip['id']}"
    associate = {"floatingip": {"port_id": port["id"]}}
    assert error_of(tenant.put(fip_url, json=associate), 404) == "ExternalGatewayForFloatingIPNotFound"
    router = make_router(tenant, external_gateway_info={"network_id": ext["id"]})
    assert error_of(tenant.put(fip_url, json=associate), 404) == "ExternalGatewayForFloatingIPNotFound"
    assert interface(tenant, router["id"], subnet_id=subnet["id"]).status_code == 200
    r = tenant.put(fip_url, json=associate)
    assert r.status_code == 200, r.text
    assert (r.json()["floatingip"]["router_id"], r.json()["floatingip"]["status"]) == (router["id"], "DOWN")
    assert [
        f["id"] for f in tenant.get("/v2.0/floatingips", params={"router_id": router["id"]}).json()["floatingips"]
    ] == [fip["id"]]
    # another project's port on the tenant's network: seen by the tenant, not its own (Neutron's 400)
    body = {"port": {"network_id": net["id"], "project_id": "another"}}
    foreign = admin.post("/v2.0/ports", json=body).json()["port"]
    r = tenant.put(fip_url, json={"floatingip": {"port_id": foreign["id"]}})
    assert error_of(r, 400) == "BadRequest" and "different tenant" in r.json()["NeutronError"]["message"]
    # an admin's floating IP of another project: Neutron's 400
    body = {"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"], "project_id": "another"}}
    assert error_of(admin.post("/v2.0/floatingips", json=body), 400) == "BadRequest"
    # what the association needs stays
    r = interface(tenant, router["id"], "remove", subnet_id=subnet["id"])
    assert error_of(r, 409) == "RouterInterfaceInUseByFloatingIP"
    r = tenant.put(f"/v2.0/routers/{router['id']}", json={"router": {"external_gateway_info": None}})
    assert error_of(r, 409) == "RouterExternalGatewayInUseByFloatingIp"
    r = tenant.put(fip_url, json={"floatingip": {"description": "kept"}})  # other attributes keep it
    assert (r.json()["floatingip"]["port_id"], r.json()["floatingip"]["router_id"]) == (port["id"], router["id"])
    # disassociation clears router_id (a blank update disassociates, as Neutron); then both may go
    r = tenant.put(fip_url, json={"floatingip": {}})
    assert r.json()["floatingip"]["router_id"] is None
    assert interface(tenant, router["id"], "remove", subnet_id=subnet["id"]).status_code == 200
    r = tenant.put(f"/v2.0/routers/{router['id']}", json={"router": {"external_gateway_info": None}})
    assert r.status_code == 200
    assert tenant.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    # created associated: the router is found at once
    router = make_router(tenant, external_gateway_info={"network_id": ext["id"]})
    assert interface(tenant, router["id"], subnet_id=subnet["id"]).status_code == 200
    body = {"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"]}}
    r = tenant.post("/v2.0/floatingips", json=body)
    assert r.status_code == 201 and r.json()["floatingip"]["router_id"] == router["id"]
    # the port going away drops the association and its router_id
    assert tenant.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    shown = tenant.get(f"/v2.0/floatingips/{r.json()['floatingip']['id']}").json()["floatingip"]
    assert (shown["port_id"], shown["router_id"]) == (None, None)


def test_router_quota_and_extensions(tenant, admin):
    aliases = {e["alias"] for e in tenant.get("/v2.0/extensions").json()["extensions"]}
    assert {"router", "ext-gw-mode", "extraroute", "extraroute-atomic"} <= aliases
    assert admin.put(f"/v2.0/quotas/{tenant.project_id}", json={"quota": {"router": 1}}).status_code == 200
    make_router(tenant)
    assert error_of(tenant.post("/v2.0/routers", json={"router": {}}), 409) == "OverQuota"
    quota = tenant.get(f"/v2.0/quotas/{tenant.project_id}/details").json()["quota"]
    assert quota["router"] == {"limit": 1, "used": 1, "reserved": 0}
    assert admin.get(f"/v2.0/quotas/{uuid.uuid4().hex}").json()["quota"]["router"] == 10


def test_another_projects_router_is_not_found(tenant, admin, api_server):
    router = make_router(tenant)
    with httpx.Client(
        base_url=api_server.url, timeout=30, headers={"X-Project-Id": "someone-else", "X-Roles": "member"}
    ) as other:
        assert error_of(other.get(f"/v2.0/routers/{router['id']}"), 404) == "RouterNotFound"
        assert error_of(interface(other, router["id"], subnet_id=str(uuid.uuid4())), 404) == "RouterNotFound"
        assert error_of(other.delete(f"/v2.0/routers/{router['id']}"), 404) == "RouterNotFound"


def test_openstacksdk_router_workflow(api_server, admin, external):
    """What Nova-less tooling does with openstacksdk: router, gateway, interface,
    floating IP, extra routes, and the teardown in reverse."""
    from tests.api.test_sdk_workflows import connect

    ext, _ = external
    conn = connect(api_server.url, f"sdk-{uuid.uuid4().hex[:8]}")
    net = conn.network.create_network(name="sdk-net")
    subnet = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.40.0.0/24")
    router = conn.network.create_router(name="sdk-router")
    router = conn.network.update_router(router, external_gateway_info={"network_id": ext["id"]})
    assert router.external_gateway_info["network_id"] == ext["id"]
    info = conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    assert info["subnet_id"] == subnet.id and info["id"] == router.id
    port = conn.network.create_port(network_id=net.id)
    fip = conn.network.create_ip(floating_network_id=ext["id"], port_id=port.id)
    assert fip.router_id == router.id
    router = conn.network.add_extra_routes_to_router(
        router, body={"router": {"routes": [{"destination": "192.0.2.0/24", "nexthop": "10.40.0.9"}]}}
    )
    assert router.routes == [{"destination": "192.0.2.0/24", "nexthop": "10.40.0.9"}]
    conn.network.remove_extra_routes_from_router(router, body={"router": {"routes": router.routes}})
    conn.network.delete_ip(fip)
    conn.network.remove_interface_from_router(router, subnet_id=subnet.id)
    conn.network.delete_router(router)
    assert conn.network.find_router(router.id) is None


def test_the_gateway_address_a_router_port_holds_cannot_move(tenant):
    """As Neutron: 409 GatewayIpInUse while a router interface holds the
    subnet's gateway address (moving it or removing it), and nothing changes."""
    _, sub = private(tenant, "10.31.0.0/24", allocation_pools=[{"start": "10.31.0.100", "end": "10.31.0.200"}])
    moved = tenant.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"gateway_ip": "10.31.0.2"}})
    assert moved.status_code == 200  # no router port yet: free to move
    router = make_router(tenant)
    port_id = interface(tenant, router["id"], subnet_id=sub["id"]).json()["port_id"]
    for gateway in ("10.31.0.3", None):
        refused = tenant.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"gateway_ip": gateway}})
        assert refused.status_code == 409, refused.text
        assert refused.json()["NeutronError"]["type"] == "GatewayIpInUse"
        assert port_id in refused.json()["NeutronError"]["message"]
    after = tenant.get(f"/v2.0/subnets/{sub['id']}").json()["subnet"]
    assert after["gateway_ip"] == "10.31.0.2" and after["revision_number"] == moved.json()["subnet"]["revision_number"]
    # the same gateway again is no move
    assert tenant.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"gateway_ip": "10.31.0.2"}}).status_code == 200
    assert interface(tenant, router["id"], "remove", subnet_id=sub["id"]).status_code == 200
    assert tenant.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"gateway_ip": "10.31.0.3"}}).status_code == 200
