"""Routed networks against a real server, on every database: segment-host
mappings derived from the agents' reports, ``ip_allocation: deferred`` for a
port made without a host, its addresses allocated from the host's segment
when it is bound, Neutron's 409s for hosts that reach no segment or whose
segment does not fit the port's addresses, and openstacksdk doing the same
(as neutron-tempest-plugin's routed-network tests: a deferred port, then a
bound one with an address of the host's segment).

Each test uses physical networks and hosts of its own.
"""

from __future__ import annotations

import ipaddress
import uuid

import httpx
import pytest

from tests.api.test_network_segments import made, subnet, vlan_network, vlan_physnet
from tests.api.test_sdk_workflows import connect
from tests.api.test_wire import error_of


@pytest.fixture
def http(dataplane_server):
    with httpx.Client(base_url=dataplane_server.url, timeout=30) as client:
        yield client


def report(http, host: str, *physnets: str) -> None:
    configurations = {
        "bridge_mappings": {physnet: f"eth{i}" for i, physnet in enumerate(physnets)},
        "vlan_supported": True,
        "tunnel_types": [],
    }
    body = {"host": host, "agent_type": "Quark L2 agent", "binary": "quark-agent", "configurations": configurations}
    answer = http.post("/v2.0/agents/report", json={"agent": body})
    assert answer.status_code == 200, answer.text


def host_name() -> str:
    return f"rack-host-{uuid.uuid4().hex[:8]}"


def routed(http) -> dict:
    """A network of two VLAN segments on two physical networks, a subnet on each."""
    p1, p2 = vlan_physnet(http), vlan_physnet(http)
    net = vlan_network(http, p1)
    [first] = http.get("/v2.0/segments", params={"network_id": net["id"]}).json()["segments"]
    second = made(http, network_id=net["id"], network_type="vlan", physical_network=p2)
    octet = uuid.uuid4().int % 200
    subnets = []
    for i, segment in enumerate((first, second)):
        answer = subnet(http, net["id"], f"10.{octet}.{i}.0/24", segment_id=segment["id"])
        assert answer.status_code == 201, answer.text
        subnets.append(answer.json()["subnet"])
    return {"net": net, "physnets": (p1, p2), "segments": (first, second), "subnets": subnets}


def port(http, network_id: str, **body) -> httpx.Response:
    return http.post("/v2.0/ports", json={"port": {"network_id": network_id, **body}})


def update(http, port_id: str, **body) -> httpx.Response:
    return http.put(f"/v2.0/ports/{port_id}", json={"port": body})


def in_subnet(view: dict, sub: dict) -> bool:
    return [ip["subnet_id"] for ip in view["fixed_ips"]] == [sub["id"]] and all(
        ipaddress.ip_address(ip["ip_address"]) in ipaddress.ip_network(sub["cidr"]) for ip in view["fixed_ips"]
    )


def test_deferred_then_allocated_from_the_hosts_segment(http):
    world = routed(http)
    net, (s1, s2) = world["net"], world["subnets"]
    h1, h2 = host_name(), host_name()
    report(http, h1, world["physnets"][0])
    report(http, h2, world["physnets"][1])

    created = port(http, net["id"])
    assert created.status_code == 201, created.text
    deferred = created.json()["port"]
    assert (deferred["ip_allocation"], deferred["fixed_ips"]) == ("deferred", [])
    listed = http.get("/v2.0/ports", params={"network_id": net["id"], "ip_allocation": "deferred"}).json()["ports"]
    assert [p["id"] for p in listed] == [deferred["id"]]

    bound = update(http, deferred["id"], **{"binding:host_id": h1})
    assert bound.status_code == 200, bound.text
    view = bound.json()["port"]
    assert view["ip_allocation"] == "immediate" and in_subnet(view, s1)
    assert view["binding:vif_type"] == "bridge"  # h1 reaches the network's first segment
    assert http.get(f"/v2.0/ports/{deferred['id']}").json()["port"]["fixed_ips"] == view["fixed_ips"]

    # Bound at create on the host of the second segment: an address of its subnet at once.
    on_h2 = port(http, net["id"], **{"binding:host_id": h2})
    assert on_h2.status_code == 201, on_h2.text
    assert on_h2.json()["port"]["ip_allocation"] == "immediate" and in_subnet(on_h2.json()["port"], s2)

    # Moving a port to a host of another segment: its address would not work there.
    moved = update(http, deferred["id"], **{"binding:host_id": h2})
    assert error_of(moved, 409) == "HostNotCompatibleWithFixedIps"
    assert http.get(f"/v2.0/ports/{deferred['id']}").json()["port"]["binding:host_id"] == h1


def test_host_reaching_no_segment_is_409(http):
    world = routed(http)
    net = world["net"]
    stray = host_name()
    report(http, stray, f"elsewhere-{uuid.uuid4().hex[:6]}")
    assert error_of(port(http, net["id"], **{"binding:host_id": stray}), 409) == "HostNotConnectedToAnySegment"
    unknown = port(http, net["id"], **{"binding:host_id": host_name()})  # no agent at all
    assert error_of(unknown, 409) == "HostNotConnectedToAnySegment"

    deferred = port(http, net["id"]).json()["port"]
    assert error_of(update(http, deferred["id"], **{"binding:host_id": stray}), 409) == "HostNotConnectedToAnySegment"
    after = http.get(f"/v2.0/ports/{deferred['id']}").json()["port"]
    assert (after["ip_allocation"], after["fixed_ips"], after["binding:host_id"]) == ("deferred", [], "")

    # The host's agent now reports the second segment's physical network: the mapping follows.
    report(http, stray, world["physnets"][1])
    view = update(http, deferred["id"], **{"binding:host_id": stray}).json()["port"]
    assert in_subnet(view, world["subnets"][1])
    # And it stops reaching it when the report drops it.
    report(http, stray)
    assert error_of(port(http, net["id"], **{"binding:host_id": stray}), 409) == "HostNotConnectedToAnySegment"


def test_fixed_ips_without_host_and_none(http):
    world = routed(http)
    net, (s1, s2) = world["net"], world["subnets"]
    asked = port(http, net["id"], fixed_ips=[{"subnet_id": s2["id"]}])
    assert asked.status_code == 201, asked.text
    assert asked.json()["port"]["ip_allocation"] == "immediate" and in_subnet(asked.json()["port"], s2)
    both = port(http, net["id"], fixed_ips=[{"subnet_id": s1["id"]}, {"subnet_id": s2["id"]}])
    assert error_of(both, 400) == "FixedIpsSubnetsNotOnSameSegment"
    none = port(http, net["id"], fixed_ips=[]).json()["port"]
    assert (none["ip_allocation"], none["fixed_ips"]) == ("none", [])


def test_segment_made_after_the_reports_is_mapped(http):
    world = routed(http)
    net = world["net"]
    p3 = vlan_physnet(http, 200, 210)
    host = host_name()
    report(http, host, p3)  # the host reports before the segment exists
    third = made(http, network_id=net["id"], network_type="vlan", physical_network=p3)
    s3 = subnet(http, net["id"], f"10.{uuid.uuid4().int % 200}.9.0/24", segment_id=third["id"]).json()["subnet"]
    view = port(http, net["id"], **{"binding:host_id": host}).json()["port"]
    assert in_subnet(view, s3)
    # A deleted segment's mappings go with it (the subnet first, as Neutron requires).
    assert http.delete(f"/v2.0/ports/{view['id']}").status_code == 204
    assert http.delete(f"/v2.0/subnets/{s3['id']}").status_code == 204
    assert http.delete(f"/v2.0/segments/{third['id']}").status_code == 204
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204


def test_networks_without_segment_subnets_allocate_at_once(http):
    answer = http.post("/v2.0/networks", json={"network": {"name": "flatish"}})
    net = answer.json()["network"]
    assert subnet(http, net["id"], f"10.{uuid.uuid4().int % 200}.77.0/24").status_code == 201
    view = port(http, net["id"]).json()["port"]
    assert view["ip_allocation"] == "immediate" and len(view["fixed_ips"]) == 1
    assert "ip_allocation" in {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}


def test_sdk_deferred_port_then_bound(http, dataplane_server):
    world = routed(http)
    host = host_name()
    report(http, host, world["physnets"][1])
    sdk = connect(dataplane_server.url)
    made_port = sdk.network.create_port(network_id=world["net"]["id"])
    assert made_port.ip_allocation == "deferred" and made_port.fixed_ips == []
    bound = sdk.network.update_port(made_port, binding_host_id=host)
    assert bound.ip_allocation == "immediate"
    assert [ip["subnet_id"] for ip in bound.fixed_ips] == [world["subnets"][1]["id"]]
    segments = list(sdk.network.segments(network_id=world["net"]["id"]))
    assert {s.physical_network for s in segments} == set(world["physnets"])


def test_subnet_segment_id_writable(http):
    """subnet-segmentid-writable, Neutron's rules: a network's only subnet, on a
    network of one segment, moves from no segment onto it; nothing else."""
    assert "subnet-segmentid-writable" in {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    physnet = vlan_physnet(http)
    net = vlan_network(http, physnet)
    [first] = http.get("/v2.0/segments", params={"network_id": net["id"]}).json()["segments"]
    octet = uuid.uuid4().int % 200
    sub = subnet(http, net["id"], f"10.{octet}.1.0/24").json()["subnet"]
    assert sub["segment_id"] is None

    other = vlan_network(http, vlan_physnet(http))
    [foreign] = http.get("/v2.0/segments", params={"network_id": other["id"]}).json()["segments"]
    put = http.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"segment_id": foreign["id"]}})
    assert error_of(put, 400) == "NetworkIdsDontMatch"
    missing = http.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"segment_id": str(uuid.uuid4())}})
    assert error_of(missing, 404) == "SegmentNotFound"

    moved = http.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"segment_id": first["id"]}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["subnet"]["segment_id"] == first["id"]
    assert moved.json()["subnet"]["revision_number"] == sub["revision_number"] + 1
    back = http.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"segment_id": None}})
    assert error_of(back, 400) == "SubnetSegmentAssociationChangeNotAllowed"
    same = http.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"segment_id": first["id"]}})
    assert same.status_code == 200, same.text

    # A second subnet, or a second segment: no move.
    two = vlan_network(http, vlan_physnet(http))
    a = subnet(http, two["id"], f"10.{octet}.2.0/24").json()["subnet"]
    subnet(http, two["id"], f"10.{octet}.3.0/24")
    [seg_two] = http.get("/v2.0/segments", params={"network_id": two["id"]}).json()["segments"]
    put = http.put(f"/v2.0/subnets/{a['id']}", json={"subnet": {"segment_id": seg_two["id"]}})
    assert error_of(put, 400) == "SubnetsNotAllAssociatedWithSegments"
    multi = vlan_network(http, vlan_physnet(http))
    lone = subnet(http, multi["id"], f"10.{octet}.4.0/24").json()["subnet"]
    [seg_m] = http.get("/v2.0/segments", params={"network_id": multi["id"]}).json()["segments"]
    made(http, network_id=multi["id"], network_type="vlan", physical_network=vlan_physnet(http))
    put = http.put(f"/v2.0/subnets/{lone['id']}", json={"subnet": {"segment_id": seg_m["id"]}})
    assert error_of(put, 400) == "NoUpdateSubnetWhenMultipleSegmentsOnNetwork"
    member = {"X-Project-Id": net["project_id"], "X-Roles": "member"}
    denied = http.put(f"/v2.0/subnets/{lone['id']}", json={"subnet": {"segment_id": seg_m["id"]}}, headers=member)
    assert denied.status_code in (403, 404), denied.text


def test_a_dhcp_host_reaching_no_segment_takes_no_subnet_of_a_routed_network(http):
    """A live DHCP agent on a host that reaches none of the network's segments: the
    subnets are made all the same (no 409 HostNotConnectedToAnySegment from the DHCP
    port), and that host gets no DHCP port on the routed network."""
    body = {"host": host_name(), "agent_type": "DHCP agent", "binary": "quark-dhcp", "configurations": {}}
    dhcp = http.post("/v2.0/agents/report", json={"agent": body})
    assert dhcp.status_code == 200, dhcp.text
    try:
        world = routed(http)  # asserts each subnet's 201
        dhcp_ports = http.get(
            "/v2.0/ports", params={"network_id": world["net"]["id"], "device_owner": "network:dhcp"}
        ).json()["ports"]
        assert dhcp_ports == []
    finally:  # other tests of this server must not get DHCP ports on this host
        disabled = http.put(f"/v2.0/agents/{dhcp.json()['agent']['id']}", json={"agent": {"admin_state_up": False}})
        assert disabled.status_code == 200, disabled.text
