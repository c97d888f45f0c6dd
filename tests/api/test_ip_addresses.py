"""Quark's /v2.0/ip_addresses against a real server, on every database:
addresses for devices without ports, addresses added to ports, shared
addresses (holders, per-holder service, port delete and update), limits,
project isolation, and all-or-nothing proven with database row counts.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.rowcounts import row_counts
from tests.api.test_wire import error_of, make_network, make_subnet
from tests.servers import quark_server


@pytest.fixture
def http(api_server):
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


def project_headers(name: str) -> dict[str, str]:
    return {"X-Project-Id": f"{name}-{uuid.uuid4().hex[:6]}", "X-Roles": "member"}


def make_port(http, network_id: str, headers=None, **extra) -> dict:
    r = http.post("/v2.0/ports", json={"port": {"network_id": network_id, **extra}}, headers=headers or {})
    assert r.status_code == 201, r.text
    return r.json()["port"]


def create_ip(http, headers=None, **body) -> httpx.Response:
    return http.post("/v2.0/ip_addresses", json={"ip_address": body}, headers=headers or {})


def addresses_of(http, port_id: str, headers=None) -> list[str]:
    r = http.get(f"/v2.0/ports/{port_id}", headers=headers or {})
    assert r.status_code == 200, r.text
    return [ip["ip_address"] for ip in r.json()["port"]["fixed_ips"]]


def test_extensions_and_discovery(http):
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert {"ip_addresses", "routes"} <= aliases
    collections = {r["collection"] for r in http.get("/v2.0/").json()["resources"]}
    assert {"ip_addresses", "routes"} <= collections
    paths = http.get("/openapi.json").json()["paths"]
    assert "/v2.0/ip_addresses" in paths and "/v2.0/routes/{id}" in paths
    assert set(paths["/v2.0/ip_addresses/{id}/ports/{port_id}"]) == {"get", "put"}


def test_address_for_a_device_without_port(http, api_server):
    net = make_network(http)
    sub4 = make_subnet(http, net["id"], "10.60.0.0/29")  # pool .2-.6
    sub6 = make_subnet(http, net["id"], "2001:db8:60::/64", version=6)

    any_v4 = create_ip(http, network_id=net["id"])
    assert any_v4.status_code == 201, any_v4.text
    ip = any_v4.json()["ip_address"]
    assert ip["type"] == "fixed" and ip["port_ids"] == [] and ip["version"] == 4
    assert ip["subnet_id"] == sub4["id"] and ip["ip_address"] == "10.60.0.2"
    assert ip["project_id"] == ip["tenant_id"]

    v6 = create_ip(http, network_id=net["id"], version=6).json()["ip_address"]
    assert v6["subnet_id"] == sub6["id"] and ":" in v6["ip_address"]
    exact = create_ip(http, network_id=net["id"], ip_address="10.60.0.5").json()["ip_address"]
    assert exact["ip_address"] == "10.60.0.5"
    on_subnet = create_ip(http, network_id=net["id"], subnet_id=sub6["id"]).json()["ip_address"]
    assert on_subnet["version"] == 6

    # The address is taken for ports too.
    taken = http.post(
        "/v2.0/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.60.0.5"}]}}
    )
    assert error_of(taken, 409) == "IpAddressAlreadyAllocated"
    assert error_of(create_ip(http, network_id=net["id"], ip_address="10.60.0.5"), 409) == "IpAddressAlreadyAllocated"
    assert error_of(create_ip(http, network_id=net["id"], ip_address="10.60.0.1"), 409) == "IpAddressAlreadyAllocated"
    assert error_of(create_ip(http, network_id=net["id"], ip_address="10.60.0.7"), 400) == "InvalidIpForSubnet"
    assert error_of(create_ip(http, network_id=net["id"], ip_address="192.0.2.9"), 400) == "InvalidIpForNetwork"
    assert error_of(create_ip(http, network_id=net["id"], ip_address="10.60.0.3", version=6), 400) == "InvalidInput"
    assert error_of(create_ip(http, network_id=net["id"], subnet_id=sub4["id"], version=6), 400) == "InvalidInput"
    assert error_of(create_ip(http, network_id=str(uuid.uuid4())), 404) == "NetworkNotFound"
    assert error_of(create_ip(http, network_id=net["id"], version=5), 400) == "HTTPBadRequest"
    assert error_of(create_ip(http, network_id=net["id"], bogus=1), 400) == "HTTPBadRequest"
    assert error_of(create_ip(http, network_id=net["id"], type="shared"), 400) == "SharedIpAddressNeedsPorts"
    bare = make_network(http)
    assert error_of(create_ip(http, network_id=bare["id"]), 400) == "InvalidInput"

    # Filters, fields, sorting, pagination.
    listed = http.get("/v2.0/ip_addresses", params={"network_id": net["id"], "version": 4}).json()["ip_addresses"]
    assert sorted(i["ip_address"] for i in listed) == ["10.60.0.2", "10.60.0.5"]
    # (Every address filter names the network too: other tests' networks on this shared
    # server may use the same CIDRs, test_nested_create's 10.61.0.0/24 for one.)
    one = http.get(
        "/v2.0/ip_addresses", params={"ip_address": "10.60.0.5", "network_id": net["id"], "fields": ["id", "type"]}
    ).json()
    assert one["ip_addresses"] == [{"id": exact["id"], "type": "fixed"}]
    page = http.get("/v2.0/ip_addresses", params={"network_id": net["id"], "limit": 2, "sort_key": "version"}).json()
    assert len(page["ip_addresses"]) == 2 and page["ip_addresses_links"][0]["rel"] == "next"

    # The v4 pool has .3, .4, .6 left: take them, then it is exhausted (IPv6 not used when v4 asked).
    for _ in range(3):
        assert create_ip(http, network_id=net["id"], version=4).status_code == 201
    assert error_of(create_ip(http, network_id=net["id"], version=4), 409) == "IpAddressGenerationFailure"

    # Reserved addresses keep the network in use; deleting releases them (quarantine = 0 here).
    assert error_of(http.delete(f"/v2.0/networks/{net['id']}"), 409) == "NetworkInUse"
    assert error_of(http.delete(f"/v2.0/subnets/{sub4['id']}"), 409) == "SubnetInUse"
    assert http.delete(f"/v2.0/ip_addresses/{exact['id']}").status_code == 204
    assert error_of(http.get(f"/v2.0/ip_addresses/{exact['id']}"), 404) == "IpAddressNotFound"
    assert error_of(http.delete(f"/v2.0/ip_addresses/{exact['id']}"), 404) == "IpAddressNotFound"
    again = create_ip(http, network_id=net["id"], version=4).json()["ip_address"]
    assert again["ip_address"] == "10.60.0.5"  # released to the allocator, reused after its quarantine
    for item in http.get("/v2.0/ip_addresses", params={"network_id": net["id"]}).json()["ip_addresses"]:
        assert http.delete(f"/v2.0/ip_addresses/{item['id']}").status_code == 204
    assert row_counts(api_server.database_url, net["id"])["live_allocations"] == 0
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204


def test_extra_address_on_a_port(http):
    net = make_network(http)
    sub = make_subnet(http, net["id"], "10.61.0.0/24")
    port = make_port(http, net["id"], device_id="lb-1")
    other = make_port(http, net["id"])
    extra = create_ip(http, network_id=net["id"], port_ids=[port["id"]], ip_address="10.61.0.50")
    assert extra.status_code == 201, extra.text
    ip = extra.json()["ip_address"]
    assert ip["type"] == "fixed" and ip["port_ids"] == [port["id"]] and ip["device_ids"] == ["lb-1"]
    assert addresses_of(http, port["id"]) == ["10.61.0.2", "10.61.0.50"]
    assert http.get(f"/v2.0/ports/{port['id']}").json()["port"]["revision_number"] > port["revision_number"]
    assert {i["id"] for i in http.get("/v2.0/ip_addresses", params={"port_id": port["id"]}).json()["ip_addresses"]} == {
        ip["id"],
        http.get("/v2.0/ip_addresses", params={"ip_address": "10.61.0.2", "network_id": net["id"]}).json()[
            "ip_addresses"
        ][0]["id"],
    }
    by_device = http.get("/v2.0/ip_addresses", params={"device_id": "lb-1", "network_id": net["id"]}).json()
    assert len(by_device["ip_addresses"]) == 2

    # Move it to another port, detach it, attach it again through the device.
    moved = http.put(f"/v2.0/ip_addresses/{ip['id']}", json={"ip_address": {"port_ids": [other["id"]]}})
    assert moved.status_code == 200 and moved.json()["ip_address"]["port_ids"] == [other["id"]]
    assert addresses_of(http, port["id"]) == ["10.61.0.2"]
    assert "10.61.0.50" in addresses_of(http, other["id"])
    detached = http.put(f"/v2.0/ip_addresses/{ip['id']}", json={"ip_address": {"port_ids": []}}).json()["ip_address"]
    assert detached["port_ids"] == [] and "10.61.0.50" not in addresses_of(http, other["id"])
    back = http.put(f"/v2.0/ip_addresses/{ip['id']}", json={"ip_address": {"device_ids": ["lb-1"]}}).json()
    assert back["ip_address"]["port_ids"] == [port["id"]]
    two = http.put(f"/v2.0/ip_addresses/{ip['id']}", json={"ip_address": {"port_ids": [port["id"], other["id"]]}})
    assert error_of(two, 400) == "FixedIpAddressHasOnePort"
    assert (
        error_of(http.put(f"/v2.0/ip_addresses/{ip['id']}", json={"ip_address": {"version": 6}}), 400)
        == "HTTPBadRequest"
    )
    assert error_of(http.get(f"/v2.0/ip_addresses/{ip['id']}/ports/{other['id']}"), 404) == "PortNotHoldingAddress"
    holders = http.get(f"/v2.0/ip_addresses/{ip['id']}/ports").json()["ports"]
    assert [(p["id"], p["service"]) for p in holders] == [(port["id"], "none")]
    service = http.put(f"/v2.0/ip_addresses/{ip['id']}/ports/{port['id']}", json={"port": {"service": "compute"}})
    assert error_of(service, 400) == "IpAddressServiceNotShared"

    # A port's ordinary fixed IP is an ip_address too; deleting the port releases both.
    assert http.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert error_of(http.get(f"/v2.0/ip_addresses/{ip['id']}"), 404) == "IpAddressNotFound"
    assert sub["id"]


def test_shared_address_between_ports(http, api_server):
    net = make_network(http)
    sub = make_subnet(http, net["id"], "10.62.0.0/24")
    active = make_port(http, net["id"], device_id="fw-a")
    passive = make_port(http, net["id"], device_id="fw-b")
    third = make_port(http, net["id"])
    r = create_ip(http, network_id=net["id"], device_ids=["fw-a", "fw-b"])
    assert r.status_code == 201, r.text
    vip = r.json()["ip_address"]
    assert vip["type"] == "shared" and vip["subnet_id"] == sub["id"]
    assert sorted(vip["port_ids"]) == sorted([active["id"], passive["id"]])
    assert sorted(vip["device_ids"]) == ["fw-a", "fw-b"]
    for port in (active, passive):
        assert vip["ip_address"] in addresses_of(http, port["id"])
    assert vip["ip_address"] not in addresses_of(http, third["id"])
    holders = http.get(
        "/v2.0/ports", params={"fixed_ips": f"ip_address={vip['ip_address']}", "network_id": net["id"]}
    ).json()["ports"]
    assert sorted(p["id"] for p in holders) == sorted([active["id"], passive["id"]])
    by_subnet = http.get("/v2.0/ports", params={"fixed_ips": f"subnet_id={sub['id']}"}).json()["ports"]
    assert len(by_subnet) == 3
    listed = http.get("/v2.0/ip_addresses", params={"network_id": net["id"], "type": "shared"}).json()
    assert [i["id"] for i in listed["ip_addresses"]] == [vip["id"]]
    fixed = http.get("/v2.0/ip_addresses", params={"network_id": net["id"], "type": "fixed"}).json()["ip_addresses"]
    assert len(fixed) == 3

    # Per-holder service: an owned holder cannot be dropped, nor the address deleted.
    url = f"/v2.0/ip_addresses/{vip['id']}"
    owned = http.put(f"{url}/ports/{active['id']}", json={"port": {"service": "compute"}})
    assert owned.status_code == 200 and owned.json()["port"]["service"] == "compute"
    assert http.get(f"{url}/ports/{active['id']}").json()["port"]["device_id"] == "fw-a"
    drop = http.put(url, json={"ip_address": {"port_ids": [passive["id"]]}})
    assert error_of(drop, 400) == "PortRequiresDisassociation"
    assert error_of(http.delete(url), 400) == "PortRequiresDisassociation"
    assert error_of(http.put(f"{url}/ports/{active['id']}", json={"port": {"id": "x"}}), 400) == "HTTPBadRequest"
    assert http.post(f"{url}/ports", json={"port": {}}).status_code == 405
    assert http.put(f"{url}/ports/{active['id']}", json={"port": {"service": "none"}}).status_code == 200

    # Change the holder set; [] is refused for a shared address.
    swapped = http.put(url, json={"ip_address": {"port_ids": [passive["id"], third["id"]]}}).json()["ip_address"]
    assert sorted(swapped["port_ids"]) == sorted([passive["id"], third["id"]])
    assert vip["ip_address"] not in addresses_of(http, active["id"])
    assert vip["ip_address"] in addresses_of(http, third["id"])
    assert error_of(http.put(url, json={"ip_address": {"port_ids": []}}), 400) == "SharedIpAddressNeedsPorts"

    # A port update that echoes its fixed_ips keeps the shared address; leaving it out detaches.
    current = http.get(f"/v2.0/ports/{third['id']}").json()["port"]["fixed_ips"]
    echoed = http.put(f"/v2.0/ports/{third['id']}", json={"port": {"fixed_ips": current}})
    assert echoed.status_code == 200 and echoed.json()["port"]["fixed_ips"] == current
    own = [ip for ip in current if ip["ip_address"] != vip["ip_address"]]
    left = http.put(f"/v2.0/ports/{third['id']}", json={"port": {"fixed_ips": own}})
    assert left.status_code == 200 and left.json()["port"]["fixed_ips"] == own
    assert http.get(url).json()["ip_address"]["port_ids"] == [passive["id"]]

    # Port delete: the address lives while another port holds it, and goes with the last one.
    assert http.put(url, json={"ip_address": {"port_ids": [active["id"], passive["id"]]}}).status_code == 200
    assert http.delete(f"/v2.0/ports/{active['id']}").status_code == 204
    assert http.get(url).json()["ip_address"]["port_ids"] == [passive["id"]]
    before = row_counts(api_server.database_url, net["id"])
    assert http.delete(f"/v2.0/ports/{passive['id']}").status_code == 204
    after = row_counts(api_server.database_url, net["id"])
    assert error_of(http.get(url), 404) == "IpAddressNotFound"
    assert after["holders"] == before["holders"] - 1 == 0
    assert after["live_allocations"] == before["live_allocations"] - 2  # passive's own IP and the shared one
    assert after["allocations"] == before["allocations"]  # released rows stay, quarantined


def test_holder_errors(http):
    net = make_network(http)
    make_subnet(http, net["id"], "10.63.0.0/24")
    elsewhere = make_network(http)
    make_subnet(http, elsewhere["id"], "10.64.0.0/24")
    p1 = make_port(http, net["id"])
    p2 = make_port(http, net["id"])
    foreign = make_port(http, elsewhere["id"])
    cases = [
        ({"port_ids": [p1["id"], foreign["id"]]}, 400, "PortNotOnAddressNetwork"),
        ({"port_ids": [p1["id"], str(uuid.uuid4())]}, 404, "PortNotFound"),
        ({"device_ids": ["no-such-device"]}, 404, "NotAllPortOrDeviceFound"),
        ({"device_ids": [""]}, 400, "InvalidInput"),
        ({"port_ids": [p1["id"], p2["id"]], "type": "fixed"}, 400, "FixedIpAddressHasOnePort"),
        ({"port_ids": [p1["id"], p1["id"]]}, 400, "HTTPBadRequest"),
    ]
    for body, status, kind in cases:
        assert error_of(create_ip(http, network_id=net["id"], **body), status) == kind, body
    one_shared = create_ip(http, network_id=net["id"], port_ids=[p1["id"]], type="shared").json()["ip_address"]
    assert one_shared["type"] == "shared" and one_shared["port_ids"] == [p1["id"]]

    # Ports of network services (DHCP, routers, floating IPs) are theirs to manage.
    dhcp = make_port(http, net["id"], device_owner="network:dhcp")
    assert error_of(create_ip(http, network_id=net["id"], port_ids=[dhcp["id"]]), 409) == "AddressOfServicePort"
    dhcp_ip = http.get("/v2.0/ip_addresses", params={"port_id": dhcp["id"]}).json()["ip_addresses"][0]
    assert error_of(http.delete(f"/v2.0/ip_addresses/{dhcp_ip['id']}"), 409) == "AddressOfServicePort"
    move = http.put(f"/v2.0/ip_addresses/{dhcp_ip['id']}", json={"ip_address": {"port_ids": [p2["id"]]}})
    assert error_of(move, 409) == "AddressOfServicePort"


def test_project_isolation(http):
    alice, bob = project_headers("alice"), project_headers("bob")
    net = make_network(http, **{"project_id": alice["X-Project-Id"]})
    make_subnet(http, net["id"], "10.65.0.0/24", project_id=alice["X-Project-Id"])
    a1 = make_port(http, net["id"], headers=alice)
    a2 = make_port(http, net["id"], headers=alice)
    shared = create_ip(http, alice, network_id=net["id"], port_ids=[a1["id"], a2["id"]])
    assert shared.status_code == 201, shared.text
    vip = shared.json()["ip_address"]
    assert vip["project_id"] == alice["X-Project-Id"]

    # Bob sees none of Alice's addresses, holders or network.
    assert http.get("/v2.0/ip_addresses", headers=bob).json()["ip_addresses"] == []
    for call in (
        lambda: http.get(f"/v2.0/ip_addresses/{vip['id']}", headers=bob),
        lambda: http.put(f"/v2.0/ip_addresses/{vip['id']}", json={"ip_address": {"port_ids": []}}, headers=bob),
        lambda: http.delete(f"/v2.0/ip_addresses/{vip['id']}", headers=bob),
    ):
        assert error_of(call(), 404) == "IpAddressNotFound"
    assert error_of(http.get(f"/v2.0/ip_addresses/{vip['id']}/ports", headers=bob), 404) == "IpAddressNotFound"
    assert (
        error_of(
            http.put(f"/v2.0/ip_addresses/{vip['id']}/ports/{a1['id']}", json={"port": {"service": "x"}}, headers=bob),
            404,
        )
        == "IpAddressNotFound"
    )
    assert error_of(create_ip(http, bob, network_id=net["id"]), 404) == "NetworkNotFound"

    # On a network shared with him, Bob has his own addresses but cannot take Alice's ports.
    assert http.put(f"/v2.0/networks/{net['id']}", json={"network": {"shared": True}}).status_code == 200
    mine = create_ip(http, bob, network_id=net["id"])
    assert mine.status_code == 201, mine.text
    bobs = mine.json()["ip_address"]
    assert bobs["project_id"] == bob["X-Project-Id"]
    assert error_of(create_ip(http, bob, network_id=net["id"], port_ids=[a1["id"]]), 404) == "PortNotFound"
    b1 = make_port(http, net["id"], headers=bob)
    assert error_of(create_ip(http, bob, network_id=net["id"], port_ids=[a1["id"], b1["id"]]), 404) == "PortNotFound"
    grab = http.put(f"/v2.0/ip_addresses/{bobs['id']}", json={"ip_address": {"port_ids": [a1["id"]]}}, headers=bob)
    assert error_of(grab, 404) == "PortNotFound"
    assert [i["id"] for i in http.get("/v2.0/ip_addresses", headers=bob).json()["ip_addresses"]] == sorted(
        [bobs["id"]]
        + [
            i["id"]
            for i in http.get("/v2.0/ip_addresses", headers=bob, params={"port_id": b1["id"]}).json()["ip_addresses"]
        ]
    )
    alices = {i["id"] for i in http.get("/v2.0/ip_addresses", headers=alice).json()["ip_addresses"]}
    assert vip["id"] in alices and bobs["id"] not in alices
    # Alice's port still shows the shared address to Alice; admins see everything.
    assert vip["ip_address"] in addresses_of(http, a1["id"], alice)
    everyone = {
        i["id"] for i in http.get("/v2.0/ip_addresses", params={"network_id": net["id"]}).json()["ip_addresses"]
    }
    assert {vip["id"], bobs["id"]} <= everyone
    # An admin acting on Alice's ports makes the address Alice's.
    by_admin = create_ip(http, network_id=net["id"], port_ids=[a1["id"], a2["id"]]).json()["ip_address"]
    assert by_admin["project_id"] == alice["X-Project-Id"]
    assert by_admin["id"] in {i["id"] for i in http.get("/v2.0/ip_addresses", headers=alice).json()["ip_addresses"]}


@pytest.fixture(scope="module")
def limited(api_server):
    """A second server on the same database, with small limits."""
    env = {
        "QUARK_IPAM_REUSE_AFTER": "0",
        "QUARK_IPADDR_MAX_PER_PORT": "3",
        "QUARK_IPADDR_MAX_SHARED_PER_NETWORK": "2",
        "QUARK_IPADDR_MAX_PORTS_PER_SHARED": "3",
    }
    with quark_server(api_server.database_url, env=env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client


def test_limits_leave_nothing_behind(limited, api_server):
    http = limited
    user = project_headers("limits")
    net = make_network(http, **{"project_id": user["X-Project-Id"]})
    make_subnet(http, net["id"], "10.66.0.0/24", project_id=user["X-Project-Id"])
    ports = [make_port(http, net["id"], headers=user) for _ in range(5)]
    ids = [p["id"] for p in ports]

    def counts():
        return row_counts(api_server.database_url, net["id"])

    # Ports per shared address.
    before = counts()
    too_many = create_ip(http, user, network_id=net["id"], port_ids=ids[:4])
    assert error_of(too_many, 409) == "SharedIpAddressPortLimitExceeded"
    assert counts() == before

    # Addresses per port: port 0 has 1 + 2 extra = 3, the limit.
    for _ in range(2):
        assert create_ip(http, user, network_id=net["id"], port_ids=[ids[0]]).status_code == 201
    before = counts()
    over = create_ip(http, user, network_id=net["id"], port_ids=[ids[1], ids[0]])  # port 0 is second
    assert error_of(over, 409) == "PortIpAddressLimitExceeded"
    assert ids[0] in over.json()["NeutronError"]["message"]
    assert counts() == before

    # Shared addresses per network and project (2).
    first = create_ip(http, user, network_id=net["id"], port_ids=[ids[1], ids[2]]).json()["ip_address"]
    create_ip(http, user, network_id=net["id"], port_ids=[ids[3], ids[4]])
    before = counts()
    assert (
        error_of(create_ip(http, user, network_id=net["id"], port_ids=[ids[1], ids[3]]), 409)
        == "SharedIpAddressLimitExceeded"
    )
    assert counts() == before
    # Updates are checked too: adding port 0 (full) to a shared address.
    grow = http.put(
        f"/v2.0/ip_addresses/{first['id']}", json={"ip_address": {"port_ids": [ids[1], ids[2], ids[0]]}}, headers=user
    )
    assert error_of(grow, 409) == "PortIpAddressLimitExceeded"
    assert counts() == before
    held = http.get(f"/v2.0/ip_addresses/{first['id']}", headers=user).json()["ip_address"]["port_ids"]
    assert sorted(held) == sorted([ids[1], ids[2]])
    # Deleting one shared address makes room for another.
    assert http.delete(f"/v2.0/ip_addresses/{first['id']}", headers=user).status_code == 204
    assert create_ip(http, user, network_id=net["id"], port_ids=[ids[1], ids[3]]).status_code == 201


def test_failed_port_update_keeps_shared_address(http, api_server):
    """A port update that drops a shared address (its last holder: released) and
    then fails on a taken address rolls back the release too."""
    net = make_network(http)
    make_subnet(http, net["id"], "10.67.0.0/24")
    port = make_port(http, net["id"])
    blocker = make_port(http, net["id"], fixed_ips=[{"ip_address": "10.67.0.99"}])
    vip = create_ip(http, network_id=net["id"], port_ids=[port["id"]], type="shared").json()["ip_address"]
    before = row_counts(api_server.database_url, net["id"])
    own = [ip for ip in port["fixed_ips"]]
    failing = http.put(f"/v2.0/ports/{port['id']}", json={"port": {"fixed_ips": own + [{"ip_address": "10.67.0.99"}]}})
    assert error_of(failing, 409) == "IpAddressAlreadyAllocated"
    assert row_counts(api_server.database_url, net["id"]) == before
    assert http.get(f"/v2.0/ip_addresses/{vip['id']}").json()["ip_address"]["port_ids"] == [port["id"]]
    assert vip["ip_address"] in addresses_of(http, port["id"])
    assert blocker["fixed_ips"][0]["ip_address"] == "10.67.0.99"


def test_openstacksdk_sees_shared_addresses(api_server):
    """Unmodified openstacksdk: the shared address is in each holder's fixed_ips,
    and a read-modify-write of fixed_ips keeps it."""
    from tests.api.test_sdk_workflows import connect

    conn = connect(api_server.url)
    net = conn.network.create_network(name=f"sdk-shared-{uuid.uuid4().hex[:6]}")
    conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.68.0.0/24")
    a = conn.network.create_port(network_id=net.id)
    b = conn.network.create_port(network_id=net.id)
    response = conn.network.post("/ip_addresses", json={"ip_address": {"network_id": net.id, "port_ids": [a.id, b.id]}})
    assert response.status_code == 201, response.text
    vip = response.json()["ip_address"]["ip_address"]
    for port_id in (a.id, b.id):
        assert vip in [ip["ip_address"] for ip in conn.network.get_port(port_id).fixed_ips]
    port = conn.network.get_port(a.id)
    updated = conn.network.update_port(port, fixed_ips=port.fixed_ips, name="renamed")
    assert vip in [ip["ip_address"] for ip in updated.fixed_ips]
    found = list(conn.network.ports(fixed_ips=[f"ip_address={vip}"]))
    assert sorted(p.id for p in found) == sorted([a.id, b.id])
