"""Network MTU as Neutron: any value from 0 (0: the largest the segment
carries), not above the physical MTU less the overlay (400), and subnets only
on networks whose MTU carries their IP version (409)."""

from __future__ import annotations

import pytest

from tests.api.test_wire import error_of, make_network


def subnet(client, network_id, version):
    cidr = "10.66.0.0/24" if version == 4 else "2001:db8:66::/64"
    return client.post(
        "/v2.0/subnets", json={"subnet": {"network_id": network_id, "ip_version": version, "cidr": cidr}}
    )


@pytest.mark.parametrize("value", [1, 67, 68, 576, 1279])
def test_any_small_mtu_is_a_network_mtu(admin, value):
    assert make_network(admin, mtu=value)["mtu"] == value


def test_mtu_0_is_the_largest_the_segment_carries(admin):
    assert make_network(admin, mtu=0)["mtu"] == 1450  # VXLAN on the default 1500-byte physical network
    net = make_network(admin, mtu=1000)
    r = admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"mtu": 0}})
    assert r.status_code == 200 and r.json()["network"]["mtu"] == 1450


@pytest.mark.parametrize("value", [-1, "abc"])
def test_a_negative_or_non_integer_mtu_is_400(admin, value):
    assert error_of(admin.post("/v2.0/networks", json={"network": {"mtu": value}}), 400) == "HTTPBadRequest"


def test_an_mtu_above_the_segment_is_400_and_changes_nothing(admin):
    r = admin.post("/v2.0/networks", json={"network": {"name": "jumbo", "mtu": 1451}})
    assert error_of(r, 400) == "InvalidInput"
    assert r.json()["NeutronError"]["message"].endswith("Requested MTU is too big, maximum is 1450.")
    flat = make_network(admin, **{"provider:network_type": "flat", "provider:physical_network": "mtu-phys"})
    assert flat["mtu"] == 1500
    r = admin.put(f"/v2.0/networks/{flat['id']}", json={"network": {"mtu": 1501}})
    assert error_of(r, 400) == "InvalidInput"
    assert admin.get(f"/v2.0/networks/{flat['id']}").json()["network"]["mtu"] == 1500


@pytest.mark.parametrize("version, small, enough", [(4, 67, 68), (6, 1279, 1280)])
def test_a_subnet_needs_the_minimum_mtu_of_its_version(admin, version, small, enough):
    net = make_network(admin, mtu=small)
    r = subnet(admin, net["id"], version)
    assert error_of(r, 409) == "NetworkMTUSubnetConflict"
    assert r.json()["NeutronError"]["message"].endswith(f"subnet requires a minimum of {enough}")
    assert admin.get("/v2.0/subnets", params={"network_id": net["id"]}).json()["subnets"] == []
    assert admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"mtu": enough}}).status_code == 200
    assert subnet(admin, net["id"], version).status_code == 201


@pytest.mark.parametrize("version, small", [(4, 67), (6, 1279)])
def test_a_network_with_subnets_keeps_their_minimum(admin, version, small):
    net = make_network(admin)
    assert subnet(admin, net["id"], version).status_code == 201
    r = admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"mtu": small}})
    assert error_of(r, 409) == "NetworkMTUSubnetConflict"
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["mtu"] == 1450
