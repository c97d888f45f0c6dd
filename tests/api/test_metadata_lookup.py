"""The metadata agent's port lookup against a real server (every backend):
the filters it sends (``network_id`` + ``fixed_ips=ip_address=``, a router's
interfaces by ``device_id`` + ``device_owner``) find exactly the instance
behind an address on that network or router — the same address on another
network is another instance."""

from __future__ import annotations

import uuid

from quark.agent.client import AgentApiClient
from quark.agent.metadata.lookup import Instance, PortLookup


def _net(admin, cidr: str, project: str) -> tuple[str, str]:
    net = admin.post("/v2.0/networks", json={"network": {"name": f"md-{uuid.uuid4().hex[:6]}", "project_id": project}})
    net_id = net.json()["network"]["id"]
    sub = admin.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net_id, "ip_version": 4, "cidr": cidr, "project_id": project}},
    )
    assert sub.status_code == 201, sub.text
    return net_id, sub.json()["subnet"]["id"]


def _vm_port(admin, net_id: str, subnet_id: str, ip: str, project: str) -> dict:
    body = {
        "network_id": net_id,
        "project_id": project,
        "device_owner": "compute:nova",
        "device_id": str(uuid.uuid4()),
        "fixed_ips": [{"subnet_id": subnet_id, "ip_address": ip}],
    }
    resp = admin.post("/v2.0/ports", json={"port": body})
    assert resp.status_code == 201, resp.text
    port: dict = resp.json()["port"]
    return port


async def test_lookup_by_network_and_by_router(api_server, admin):
    project = f"p-{uuid.uuid4().hex[:8]}"
    net_a, sub_a = _net(admin, "10.61.0.0/24", project)
    net_b, sub_b = _net(admin, "10.61.0.0/24", project)  # overlapping: the same address elsewhere
    vm_a = _vm_port(admin, net_a, sub_a, "10.61.0.10", project)
    vm_b = _vm_port(admin, net_b, sub_b, "10.61.0.10", project)
    router = admin.post("/v2.0/routers", json={"router": {"name": "md", "project_id": project}}).json()["router"]
    resp = admin.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub_a})
    assert resp.status_code == 200, resp.text

    async with AgentApiClient(api_server.url) as client:
        lookup = PortLookup(client.list_ports)
        assert await lookup.instance("10.61.0.10", network_id=net_a) == Instance(vm_a["device_id"], project, vm_a["id"])
        assert (await lookup.instance("10.61.0.10", network_id=net_b)).instance_id == vm_b["device_id"]
        assert await lookup.instance("10.61.0.11", network_id=net_a) is None
        assert await lookup.router_networks(router["id"]) == (net_a,)
        assert (await lookup.instance("10.61.0.10", router_id=router["id"])).instance_id == vm_a["device_id"]
        # the router's own interface address is no instance
        assert await lookup.instance("10.61.0.1", router_id=router["id"]) is None
