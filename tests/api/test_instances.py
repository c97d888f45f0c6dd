"""Quark instances extension and port delete by filter: one request each for
provisioning, network info and teardown; all-or-nothing by row counts."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_floating_ips import routed
from tests.api.test_wire import error_of, make_network, make_subnet
from tests.dbs import row_counts

TABLES = ("ports", "ip_allocations", "port_security_groups", "mac_allocations")


@pytest.fixture
def dual_stack(tenant):
    net = make_network(tenant)
    v4 = make_subnet(
        tenant,
        net["id"],
        "10.70.0.0/24",
        dns_nameservers=["10.70.0.53"],
        host_routes=[{"destination": "10.80.0.0/16", "nexthop": "10.70.0.254"}],
    )
    v6 = make_subnet(tenant, net["id"], "2001:db8:70::/64", version=6)
    dhcp = tenant.post(
        "/v2.0/ports",
        json={
            "port": {
                "network_id": net["id"],
                "device_owner": "network:dhcp",
                "fixed_ips": [{"subnet_id": v4["id"], "ip_address": "10.70.0.2"}],
            }
        },
    )
    assert dhcp.status_code == 201, dhcp.text
    return net, v4, v6


def provision(client, device_id, ports, **extra) -> httpx.Response:
    return client.post("/v2.0/instances", json={"instance": {"device_id": device_id, "ports": ports, **extra}})


def test_provision_then_network_info_then_teardown(tenant, admin, dual_stack):
    net, v4, v6 = dual_stack
    other = make_network(tenant)
    make_subnet(tenant, other["id"], "10.71.0.0/24")
    device = str(uuid.uuid4())
    r = provision(
        tenant,
        device,
        [
            {"network_id": net["id"]},
            {
                "network_id": other["id"],
                "fixed_ips": [{"ip_address": "10.71.0.50"}],
                "mac_address": "fa:16:3e:71:00:50",
            },
        ],
    )
    assert r.status_code == 201, r.text
    info = r.json()["instance"]
    assert info["device_id"] == device and len(info["ports"]) == 2
    first, second = info["ports"]
    assert first["device_owner"] == "compute:nova" and first["device_id"] == device
    assert {ip["subnet_id"] for ip in first["fixed_ips"]} == {v4["id"], v6["id"]}
    assert second["mac_address"] == "fa:16:3e:71:00:50"
    assert [ip["ip_address"] for ip in second["fixed_ips"]] == ["10.71.0.50"]
    subnets = {s["id"]: s for s in first["subnets"]}
    assert subnets[v4["id"]]["dhcp_server"] == "10.70.0.2"
    assert subnets[v4["id"]]["gateway_ip"] == "10.70.0.1"
    assert subnets[v4["id"]]["dns_nameservers"] == ["10.70.0.53"]
    assert subnets[v4["id"]]["host_routes"] == [{"destination": "10.80.0.0/16", "nexthop": "10.70.0.254"}]
    assert first["network"]["mtu"] == net["mtu"] and "provider:network_type" not in first["network"]
    default_group = info["security_groups"][0]
    assert first["security_groups"] == [default_group["id"]] and default_group["security_group_rules"]
    # the same through GET, plus a floating IP association
    external = make_network(admin, **{"router:external": True})
    make_subnet(admin, external["id"], "198.51.100.0/24")
    routed(tenant, external["id"], second["fixed_ips"][0]["subnet_id"])
    fip = tenant.post(
        "/v2.0/floatingips", json={"floatingip": {"floating_network_id": external["id"], "port_id": second["id"]}}
    ).json()["floatingip"]
    shown = tenant.get(f"/v2.0/instances/{device}").json()["instance"]
    assert {p["id"] for p in shown["ports"]} == {first["id"], second["id"]}
    shown_second = [p for p in shown["ports"] if p["id"] == second["id"]][0]
    assert shown_second["floating_ips"][0]["floating_ip_address"] == fip["floating_ip_address"]
    assert shown_second["floating_ips"][0]["fixed_ip_address"] == "10.71.0.50"
    as_admin = admin.get(f"/v2.0/instances/{device}").json()["instance"]
    assert all(p["network"]["provider:network_type"] for p in as_admin["ports"])
    # another project sees nothing
    with httpx.Client(base_url=tenant.base_url, headers={"X-Project-Id": "stranger", "X-Roles": "member"}) as stranger:
        assert error_of(stranger.get(f"/v2.0/instances/{device}"), 404) == "HTTPNotFound"
        assert error_of(stranger.delete(f"/v2.0/instances/{device}"), 404) == "HTTPNotFound"
    gone = tenant.delete(f"/v2.0/instances/{device}")
    assert gone.status_code == 200 and sorted(gone.json()["deleted_ports"]) == sorted([first["id"], second["id"]])
    assert error_of(tenant.get(f"/v2.0/instances/{device}"), 404) == "HTTPNotFound"
    assert tenant.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]["port_id"] is None


def test_provision_is_all_or_nothing(api_server, tenant, dual_stack):
    net, v4, _ = dual_stack
    taken = tenant.post(
        "/v2.0/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.70.0.77"}]}}
    )
    assert taken.status_code == 201
    before = row_counts(api_server.database_url, *TABLES)
    r = provision(
        tenant,
        str(uuid.uuid4()),
        [
            {"network_id": net["id"]},
            {"network_id": net["id"]},
            {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.70.0.77"}]},
        ],
    )
    assert error_of(r, 409) == "IpAddressAlreadyAllocated"
    assert row_counts(api_server.database_url, *TABLES) == before


def test_provision_checks_its_body(tenant, dual_stack):
    net = dual_stack[0]
    cases = [
        {"instance": {"ports": [{"network_id": net["id"]}]}},
        {"instance": {"device_id": "x", "ports": []}},
        {"instance": {"device_id": "x", "ports": [{"network_id": net["id"], "device_id": "y"}]}},
        {"instance": {"device_id": "x", "ports": [{"network_id": net["id"], "bogus": 1}]}},
        {"instance": {"device_id": "x", "ports": [{"network_id": net["id"]}], "color": "red"}},
        {"port": {}},
    ]
    for body in cases:
        assert error_of(tenant.post("/v2.0/instances", json=body), 400) == "HTTPBadRequest", body
    r = provision(tenant, "x", [{"network_id": net["id"]}], **{"binding:host_id": "compute-1"})
    assert error_of(r, 403) == "PolicyNotAuthorized"
    r = provision(tenant, "x", [{"network_id": str(uuid.uuid4())}])
    assert error_of(r, 404) == "NetworkNotFound"


def test_delete_ports_by_filter(api_server, tenant, dual_stack):
    net = dual_stack[0]
    device = f"lb-{uuid.uuid4().hex[:6]}"
    created = tenant.post(
        "/v2.0/ports", json={"ports": [{"network_id": net["id"], "device_id": device} for _ in range(3)]}
    ).json()["ports"]
    keep = tenant.post("/v2.0/ports", json={"port": {"network_id": net["id"], "device_id": "keep"}}).json()["port"]
    assert error_of(tenant.delete("/v2.0/ports"), 400) == "HTTPBadRequest"
    r = tenant.delete("/v2.0/ports", params={"device_id": device})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["deleted_ports"]) == sorted(p["id"] for p in created)
    assert tenant.get("/v2.0/ports", params={"device_id": device}).json()["ports"] == []
    assert tenant.get(f"/v2.0/ports/{keep['id']}").status_code == 200
    # one port that may not go (a floating IP holder) fails the whole request
    before = row_counts(api_server.database_url, *TABLES)
    with httpx.Client(base_url=api_server.url) as admin:
        external = make_network(admin, **{"router:external": True})
        make_subnet(admin, external["id"], "198.51.101.0/24")
        fip = admin.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": external["id"]}})
        plain = admin.post("/v2.0/ports", json={"port": {"network_id": external["id"]}}).json()["port"]
        after_setup = row_counts(api_server.database_url, *TABLES)
        assert error_of(admin.delete("/v2.0/ports", params={"network_id": external["id"]}), 409) == "ServicePortInUse"
        assert row_counts(api_server.database_url, *TABLES) == after_setup != before
        assert admin.get(f"/v2.0/ports/{plain['id']}").status_code == 200
        assert admin.delete(f"/v2.0/floatingips/{fip.json()['floatingip']['id']}").status_code == 204


def test_extensions_are_advertised(admin):
    aliases = {e["alias"] for e in admin.get("/v2.0/extensions").json()["extensions"]}
    assert {
        "instances",
        "network-nested-create",
        "ports-delete-by-filter",
        "security-group",
        "fip-port-details",
    } <= aliases
    paths = admin.get("/openapi.json").json()["paths"]
    assert "/v2.0/instances/{device_id}" in paths and "delete" in paths["/v2.0/ports"]
