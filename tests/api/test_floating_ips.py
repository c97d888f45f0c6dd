"""Floating IPs on the wire: allocation from external networks, association
with a port's fixed IP, the filters Nova uses, and the contract's errors."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_wire import error_of, make_network, make_subnet


@pytest.fixture
def external(admin):
    net = make_network(admin, **{"router:external": True})
    subnet = make_subnet(admin, net["id"], "203.0.113.0/28")
    make_subnet(admin, net["id"], "2001:db8:feed::/64", version=6)
    return net, subnet


def routed(client, external_id: str, subnet_id: str) -> dict:
    """A router of the client's joining the subnet to the external network
    (what associating a floating IP with an address of the subnet needs)."""
    router = client.post("/v2.0/routers", json={"router": {"external_gateway_info": {"network_id": external_id}}})
    assert router.status_code == 201, router.text
    router_id = router.json()["router"]["id"]
    r = client.put(f"/v2.0/routers/{router_id}/add_router_interface", json={"subnet_id": subnet_id})
    assert r.status_code == 200, r.text
    return router.json()["router"]


def tenant_port(tenant, external_id: str | None = None):
    net = make_network(tenant)
    subnet = make_subnet(tenant, net["id"], "10.20.0.0/24")
    if external_id is not None:
        routed(tenant, external_id, subnet["id"])
    r = tenant.post("/v2.0/ports", json={"port": {"network_id": net["id"], "device_id": "vm-1"}})
    assert r.status_code == 201, r.text
    return r.json()["port"]


def create_fip(client, network_id, **extra) -> httpx.Response:
    return client.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": network_id, **extra}})


def test_create_associate_list_disassociate_delete(tenant, admin, external):
    net, subnet = external
    port = tenant_port(tenant, net["id"])
    fixed = port["fixed_ips"][0]["ip_address"]
    r = create_fip(tenant, net["id"], port_id=port["id"])
    assert r.status_code == 201, r.text
    fip = r.json()["floatingip"]
    assert fip["floating_ip_address"].startswith("203.0.113.")
    assert (fip["port_id"], fip["fixed_ip_address"], fip["status"]) == (port["id"], fixed, "DOWN")
    assert fip["project_id"] == tenant.project_id
    assert fip["port_details"]["device_id"] == "vm-1"
    # Nova's refresh: floating IPs by fixed address and port
    found = tenant.get("/v2.0/floatingips", params={"fixed_ip_address": fixed, "port_id": port["id"]}).json()
    assert [f["id"] for f in found["floatingips"]] == [fip["id"]]
    # the holder port is internal: not the tenant's, not deletable directly
    holders = admin.get("/v2.0/ports", params={"device_id": fip["id"]}).json()["ports"]
    assert [h["device_owner"] for h in holders] == ["network:floatingip"]
    assert [ip["ip_address"] for ip in holders[0]["fixed_ips"]] == [fip["floating_ip_address"]]
    assert error_of(admin.delete(f"/v2.0/ports/{holders[0]['id']}"), 409) == "ServicePortInUse"
    assert error_of(admin.delete(f"/v2.0/networks/{net['id']}"), 409) == "NetworkInUse"
    # a second floating IP on the same fixed IP
    other = create_fip(tenant, net["id"]).json()["floatingip"]
    r = tenant.put(f"/v2.0/floatingips/{other['id']}", json={"floatingip": {"port_id": port["id"]}})
    assert error_of(r, 409) == "FloatingIPPortAlreadyAssociated"
    r = tenant.put(f"/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
    assert r.json()["floatingip"]["port_id"] is None and r.json()["floatingip"]["fixed_ip_address"] is None
    r = tenant.put(f"/v2.0/floatingips/{other['id']}", json={"floatingip": {"port_id": port["id"]}})
    assert r.status_code == 200, r.text
    # deleting the port drops the association, not the floating IP
    assert tenant.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert tenant.get(f"/v2.0/floatingips/{other['id']}").json()["floatingip"]["port_id"] is None
    for f in (fip, other):
        assert tenant.delete(f"/v2.0/floatingips/{f['id']}").status_code == 204
    assert error_of(tenant.get(f"/v2.0/floatingips/{fip['id']}"), 404) == "FloatingIPNotFound"
    (router,) = tenant.get("/v2.0/routers").json()["routers"]
    body = {"subnet_id": port["fixed_ips"][0]["subnet_id"]}
    assert tenant.put(f"/v2.0/routers/{router['id']}/remove_router_interface", json=body).status_code == 200
    assert tenant.delete(f"/v2.0/routers/{router['id']}").status_code == 204  # its gateway port goes too
    assert admin.get("/v2.0/ports", params={"network_id": net["id"]}).json()["ports"] == []
    used = admin.get(f"/v2.0/network-ip-availabilities/{net['id']}").json()["network_ip_availability"]
    assert used["used_ips"] == 0


def test_errors(tenant, admin, external):
    net, subnet = external
    internal = make_network(tenant)
    assert error_of(create_fip(tenant, internal["id"]), 400) == "BadRequest"
    assert error_of(create_fip(tenant, str(uuid.uuid4())), 404) == "NetworkNotFound"
    assert error_of(create_fip(tenant, net["id"], floating_ip_address="203.0.113.9"), 403) == "PolicyNotAuthorized"
    port = tenant_port(tenant)
    assert (
        error_of(create_fip(tenant, net["id"], port_id=port["id"], fixed_ip_address="10.99.0.1"), 400) == "BadRequest"
    )
    assert error_of(create_fip(tenant, net["id"], port_id=str(uuid.uuid4())), 404) == "PortNotFound"
    with httpx.Client(base_url=tenant.base_url, headers={"X-Project-Id": "stranger", "X-Roles": "member"}) as stranger:
        assert error_of(create_fip(stranger, net["id"], port_id=port["id"]), 404) == "PortNotFound"
    # nothing was left behind by the failed creates
    assert tenant.get("/v2.0/floatingips").json()["floatingips"] == []
    assert admin.get("/v2.0/ports", params={"network_id": net["id"]}).json()["ports"] == []


def test_admin_picks_the_address_and_exhaustion_is_a_409(admin, external):
    net, subnet = external
    r = create_fip(admin, net["id"], floating_ip_address="203.0.113.9")
    assert r.json()["floatingip"]["floating_ip_address"] == "203.0.113.9"
    assert error_of(create_fip(admin, net["id"], floating_ip_address="203.0.113.9"), 409) == "IpAddressAlreadyAllocated"
    created = [create_fip(admin, net["id"]) for _ in range(12)]
    assert all(c.status_code == 201 for c in created[:12]), [c.text for c in created]
    assert error_of(create_fip(admin, net["id"]), 409) == "IpAddressGenerationFailure"
    addresses = {c.json()["floatingip"]["floating_ip_address"] for c in created} | {"203.0.113.9"}
    assert len(addresses) == 13 and all(":" not in x for x in addresses)


def test_floating_ip_on_addresses_from_ip_addresses(admin, external):
    """A floating IP can point at any IPv4 address a port holds, its own or
    one from /v2.0/ip_addresses (shared by an active/passive pair, or added
    to the port), and loses the association when the port stops holding it."""
    net, _ = external
    internal = make_network(admin)
    routed(admin, net["id"], make_subnet(admin, internal["id"], "10.77.0.0/24")["id"])
    active, passive = (
        admin.post("/v2.0/ports", json={"port": {"network_id": internal["id"], "device_id": d}}).json()["port"]
        for d in ("lb-a", "lb-b")
    )
    r = admin.post(
        "/v2.0/ip_addresses",
        json={"ip_address": {"network_id": internal["id"], "port_ids": [active["id"], passive["id"]]}},
    )
    assert r.status_code == 201, r.text
    vip = r.json()["ip_address"]
    fip = create_fip(admin, net["id"], port_id=active["id"], fixed_ip_address=vip["ip_address"])
    assert fip.status_code == 201, fip.text
    fip = fip.json()["floatingip"]
    assert (fip["port_id"], fip["fixed_ip_address"]) == (active["id"], vip["ip_address"])
    # the port now has two IPv4 addresses: which one must be said
    other = create_fip(admin, net["id"]).json()["floatingip"]
    r = admin.put(f"/v2.0/floatingips/{other['id']}", json={"floatingip": {"port_id": active["id"]}})
    assert error_of(r, 400) == "BadRequest" and "multiple fixed IPv4" in r.json()["NeutronError"]["message"]
    # failover: the same address on the passive port
    r = admin.put(
        f"/v2.0/floatingips/{fip['id']}",
        json={"floatingip": {"port_id": passive["id"], "fixed_ip_address": vip["ip_address"]}},
    )
    assert r.status_code == 200 and r.json()["floatingip"]["port_id"] == passive["id"], r.text
    # failover back without fixed_ip_address (openstacksdk sends only what changed):
    # the address the floating IP points at now, which the port also holds
    r = admin.put(f"/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": active["id"]}})
    assert (r.json()["floatingip"]["port_id"], r.json()["floatingip"]["fixed_ip_address"]) == (
        active["id"],
        vip["ip_address"],
    ), r.text
    r = admin.put(f"/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": passive["id"]}})
    assert r.status_code == 200 and r.json()["floatingip"]["fixed_ip_address"] == vip["ip_address"], r.text
    # the passive port leaves the pair: its association goes, the other port keeps its own
    r = admin.put(
        f"/v2.0/floatingips/{other['id']}",
        json={"floatingip": {"port_id": active["id"], "fixed_ip_address": active["fixed_ips"][0]["ip_address"]}},
    )
    assert r.status_code == 200, r.text
    r = admin.put(f"/v2.0/ip_addresses/{vip['id']}", json={"ip_address": {"port_ids": [active["id"]]}})
    assert r.status_code == 200, r.text
    shown = admin.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]
    assert (shown["port_id"], shown["fixed_ip_address"]) == (None, None)
    assert admin.get(f"/v2.0/floatingips/{other['id']}").json()["floatingip"]["port_id"] == active["id"]
    # an address added to one port: associated, then deleted -> disassociated
    extra = admin.post(
        "/v2.0/ip_addresses", json={"ip_address": {"network_id": internal["id"], "port_ids": [passive["id"]]}}
    ).json()["ip_address"]
    assert extra["type"] == "fixed"
    r = admin.put(
        f"/v2.0/floatingips/{fip['id']}",
        json={"floatingip": {"port_id": passive["id"], "fixed_ip_address": extra["ip_address"]}},
    )
    assert r.status_code == 200, r.text
    assert admin.delete(f"/v2.0/ip_addresses/{extra['id']}").status_code == 204
    shown = admin.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]
    assert (shown["port_id"], shown["fixed_ip_address"]) == (None, None)
    for f in (fip, other):
        assert admin.delete(f"/v2.0/floatingips/{f['id']}").status_code == 204
