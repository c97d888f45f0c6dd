"""Routers on L3 hosts against a real server, on every database (docs/l3.md):
scheduling to a live L3 host, the routers of its desired state, the
l3_status report, rescheduling when the host is set down (its death by
liveness is tests/services/dataplane/test_l3_scheduling.py's, with a clock)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_dataplane import desired, l2_report, network, new_host, status, subnet


@pytest.fixture
def http(dataplane_server):
    with httpx.Client(base_url=dataplane_server.url, timeout=90) as client:
        yield client


def l3_report(http, host: str) -> None:
    agent = {"host": host, "agent_type": "L3 agent", "binary": "quark-l3-agent", "configurations": {}}
    r = http.post("/v2.0/agents/report", json={"agent": agent})
    assert r.status_code == 200, r.text


def only_live_l3(http, physnet: str, *hosts: str) -> None:
    """Make ``hosts`` the only L3 agents routers can go to: they report, every
    other alive L3 agent is set admin-down (an admin change reschedules at once)."""
    for host in hosts:
        l2_report(http, host, bridge_mappings={physnet: "eth1"})
        l3_report(http, host)
    for agent in http.get("/v2.0/agents", params={"agent_type": "L3 agent"}).json()["agents"]:
        if agent["host"] not in hosts and agent["admin_state_up"]:
            r = http.put(f"/v2.0/agents/{agent['id']}", json={"agent": {"admin_state_up": False}})
            assert r.status_code == 200, r.text


def topology(http, physnet: str) -> tuple[dict, dict, dict]:
    """An external flat network, a private VXLAN network, a router joining them."""
    ext = network(
        http, **{"router:external": True, "provider:network_type": "flat", "provider:physical_network": physnet}
    )
    ext_sub = subnet(http, ext["id"], "203.0.113.0/24", gateway_ip="203.0.113.1", enable_dhcp=False)
    priv = network(http, **{"provider:network_type": "vxlan"})
    priv_sub = subnet(http, priv["id"], "10.50.0.0/24", enable_dhcp=False)
    r = http.post("/v2.0/routers", json={"router": {"name": "l3", "external_gateway_info": {"network_id": ext["id"]}}})
    assert r.status_code == 201, r.text
    router = r.json()["router"]
    r = http.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": priv_sub["id"]})
    assert r.status_code == 200, r.text
    return router, ext_sub, priv


def test_router_scheduled_with_its_document_and_statuses(http):
    host = new_host()
    physnet = "pn-" + host
    only_live_l3(http, physnet, host)
    gen = desired(http, host)["generation"]
    router, ext_sub, priv = topology(http, physnet)
    doc = desired(http, host)
    assert doc["generation"] > gen
    [mine] = [r for r in doc["routers"] if r["id"] == router["id"]]
    assert mine["enable_snat"] is True and mine["admin_state_up"] is True and mine["routes"] == []
    kinds = {p["kind"]: p for p in mine["ports"]}
    assert set(kinds) == {"gateway", "interface"}
    assert kinds["interface"]["fixed_ips"][0]["ip_address"] == "10.50.0.1"
    assert kinds["interface"]["fixed_ips"][0]["prefixlen"] == 24
    assert kinds["interface"]["bridge_name"].startswith("brq") and kinds["interface"]["mtu"] == priv["mtu"]
    assert mine["gateway"]["next_hop"] == "203.0.113.1"
    assert mine["gateway"]["addresses"] == [kinds["gateway"]["fixed_ips"][0]["ip_address"]]
    # the router ports are bound there, so the L2 part plugs them (and VXLAN peers include the host)
    assert {p["id"] for p in doc["ports"]} >= {p["id"] for p in mine["ports"]}
    assert http.get(f"/v2.0/routers/{router['id']}").json()["router"]["status"] == "BUILD"

    # a floating IP through the router: in the document, DOWN until the host reports it
    vm = http.post("/v2.0/ports", json={"port": {"network_id": priv["id"]}}).json()["port"]
    r = http.post(
        "/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext_sub["network_id"], "port_id": vm["id"]}}
    )
    assert r.status_code == 201, r.text
    fip = r.json()["floatingip"]
    assert fip["status"] == "DOWN"
    [mine] = [r for r in desired(http, host)["routers"] if r["id"] == router["id"]]
    assert mine["floating_ips"][0]["floating_ip_address"] == fip["floating_ip_address"]
    assert mine["floating_ips"][0]["fixed_ip_address"] == vm["fixed_ips"][0]["ip_address"]

    # statuses: only the host's own routers and floating IPs are taken
    other = new_host()
    r = http.put(f"/v2.0/hosts/{other}/l3_status", json={"routers": {router["id"]: "ACTIVE"}})
    assert r.status_code == 200 and r.json()["updated"] == {"routers": [], "floatingips": []}
    assert http.put(f"/v2.0/hosts/{host}/l3_status", json={"routers": {router["id"]: "UP"}}).status_code == 400
    assert http.put(f"/v2.0/hosts/{host}/l3_status", json={"ports": {}}).status_code == 400
    gen = desired(http, host)["generation"]
    body = {"routers": {router["id"]: "ACTIVE"}, "floatingips": {fip["id"]: "ACTIVE"}}
    r = http.put(f"/v2.0/hosts/{host}/l3_status", json=body)
    assert r.status_code == 200 and r.json()["updated"] == {"routers": [router["id"]], "floatingips": [fip["id"]]}
    assert http.get(f"/v2.0/routers/{router['id']}").json()["router"]["status"] == "ACTIVE"
    assert http.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]["status"] == "ACTIVE"
    assert desired(http, host)["generation"] > gen
    port_ids = {p["id"]: "ACTIVE" for p in mine["ports"]}
    assert set(status(http, host, port_ids).json()["updated"]) == set(port_ids)

    # disassociating makes it DOWN, and the host's document loses it
    gen = desired(http, host)["generation"]
    r = http.put(f"/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
    assert r.status_code == 200 and r.json()["floatingip"]["status"] == "DOWN"
    doc = desired(http, host)
    assert doc["generation"] > gen
    assert all(not r["floating_ips"] for r in doc["routers"] if r["id"] == router["id"])

    # so does deleting the port it points at (the L3 host hears of it in that transaction)
    r = http.put(f"/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": vm["id"]}})
    assert r.status_code == 200, r.text
    gen = desired(http, host)["generation"]
    assert http.delete(f"/v2.0/ports/{vm['id']}").status_code == 204
    doc = desired(http, host)
    assert doc["generation"] > gen
    assert all(not r["floating_ips"] for r in doc["routers"] if r["id"] == router["id"])
    assert http.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]["status"] == "DOWN"


def test_routers_move_off_an_l3_host_set_down(http):
    first, second = new_host(), new_host()
    physnet = "pn-" + first
    only_live_l3(http, physnet, first)
    router, _, _ = topology(http, physnet)
    assert any(r["id"] == router["id"] for r in desired(http, first)["routers"])
    # second reports, first is set down by an admin: the router moves at once
    gen = desired(http, first)["generation"]
    only_live_l3(http, physnet, second)
    assert any(r["id"] == router["id"] for r in desired(http, second)["routers"])
    assert desired(http, first)["generation"] > gen
    assert not any(r["id"] == router["id"] for r in desired(http, first)["routers"])
    ports = http.get("/v2.0/ports", params={"device_id": router["id"]}).json()["ports"]
    assert ports and all(p["binding:host_id"] == second and p["binding:vif_type"] == "bridge" for p in ports), ports


def test_port_forwardings_in_the_document_and_statuses(http):
    """A floating IP's port forwardings reach its router's L3 host (a new generation
    per change), it turns ACTIVE when the host reports it, DOWN without forwardings."""
    host = new_host()
    physnet = "pn-" + host
    only_live_l3(http, physnet, host)
    router, ext_sub, priv = topology(http, physnet)
    vm = http.post("/v2.0/ports", json={"port": {"network_id": priv["id"]}}).json()["port"]
    fip = http.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext_sub["network_id"]}}).json()[
        "floatingip"
    ]
    gen = desired(http, host)["generation"]
    body = {
        "protocol": "tcp",
        "external_port_range": "2000:2001",
        "internal_port_range": "3000:3001",
        "internal_port_id": vm["id"],
        "internal_ip_address": vm["fixed_ips"][0]["ip_address"],
    }
    r = http.post(f"/v2.0/floatingips/{fip['id']}/port_forwardings", json={"port_forwarding": body})
    assert r.status_code == 201, r.text
    pf = r.json()["port_forwarding"]
    doc = desired(http, host)
    assert doc["generation"] > gen
    [mine] = [r for r in doc["routers"] if r["id"] == router["id"]]
    assert mine["floating_ips"] == []  # not associated: only its forwardings
    assert mine["port_forwardings"] == [
        {
            "id": pf["id"],
            "floatingip_id": fip["id"],
            "floating_ip_address": fip["floating_ip_address"],
            "floatingip_status": "DOWN",
            "protocol": "tcp",
            "external_port_start": 2000,
            "external_port_end": 2001,
            "internal_ip_address": vm["fixed_ips"][0]["ip_address"],
            "internal_port_start": 3000,
            "internal_port_end": 3001,
        }
    ]
    # the host reports it realised: ACTIVE
    r = http.put(f"/v2.0/hosts/{host}/l3_status", json={"floatingips": {fip["id"]: "ACTIVE"}})
    assert r.status_code == 200 and r.json()["updated"]["floatingips"] == [fip["id"]]
    assert http.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]["status"] == "ACTIVE"
    # an update reaches the host too
    gen = desired(http, host)["generation"]
    url = f"/v2.0/floatingips/{fip['id']}/port_forwardings/{pf['id']}"
    r = http.put(url, json={"port_forwarding": {"external_port_range": "2222:2222", "internal_port_range": "22:22"}})
    assert r.status_code == 200, r.text
    doc = desired(http, host)
    assert doc["generation"] > gen
    [mine] = [r for r in doc["routers"] if r["id"] == router["id"]]
    assert [(f["external_port_start"], f["internal_port_end"]) for f in mine["port_forwardings"]] == [(2222, 22)]
    # the last one deleted: gone from the document, the floating IP DOWN (no router)
    gen = desired(http, host)["generation"]
    assert http.delete(url).status_code == 204
    doc = desired(http, host)
    assert doc["generation"] > gen
    assert all(not r["port_forwardings"] for r in doc["routers"] if r["id"] == router["id"])
    shown = http.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]
    assert shown["status"] == "DOWN" and shown["router_id"] is None
