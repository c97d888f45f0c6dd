"""Service subnets (alias ``subnet-service-types``, docs/subnet_service_types.md)
against a real server on every database, with httpx and openstacksdk.

- ``service_types`` is a list of device-owner prefixes, validated as Neutron
  does (400 ``InvalidSubnetServiceType`` / ``InvalidInputSubnetServiceType``,
  a non-list 400), on create and update, nothing changed by a refusal;
- a port gets addresses only from subnets that serve its ``device_owner``
  (subnets without service types serve everyone; DHCP ports every subnet with
  DHCP enabled), the reserved ones first; explicit ``fixed_ips`` obey the same
  rule (400), and a network whose subnets all serve other owners is 409
  ``IpAddressGenerationFailureNoMatchingSubnet``.
"""

from __future__ import annotations

import ipaddress
import uuid

import httpx
import pytest
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from openstack.connection import Connection

from tests.api.rowcounts import row_counts
from tests.api.test_wire import error_of, make_network, make_subnet


def port_of(client: httpx.Client, network_id: str, **extra) -> httpx.Response:
    return client.post("/v2.0/ports", json={"port": {"network_id": network_id, **extra}})


def subnet_request(client: httpx.Client, network_id: str, cidr: str, service_types) -> httpx.Response:
    body = {"network_id": network_id, "ip_version": 4, "cidr": cidr, "service_types": service_types}
    return client.post("/v2.0/subnets", json={"subnet": body})


def test_extension_is_advertised(admin):
    aliases = {e["alias"] for e in admin.get("/v2.0/extensions").json()["extensions"]}
    assert "subnet-service-types" in aliases
    got = admin.get("/v2.0/extensions/subnet-service-types")
    assert got.status_code == 200 and got.json()["extension"]["name"] == "Subnet service types"


@pytest.mark.parametrize(
    ("service_types", "status", "wire_type"),
    [
        (["foo:bar"], 400, "InvalidSubnetServiceType"),
        (["network:dhcp", "bad"], 400, "InvalidSubnetServiceType"),
        (["network:dhcp", 5], 400, "InvalidInputSubnetServiceType"),
        ("network:dhcp", 400, "HTTPBadRequest"),
        ({"a": 1}, 400, "HTTPBadRequest"),
    ],
)
def test_invalid_service_types_are_refused(admin, api_server, service_types, status, wire_type):
    net = make_network(admin)
    before = admin.get("/v2.0/subnets", params={"network_id": net["id"]}).json()["subnets"]
    assert error_of(subnet_request(admin, net["id"], "10.61.0.0/24", service_types), status) == wire_type
    assert admin.get("/v2.0/subnets", params={"network_id": net["id"]}).json()["subnets"] == before == []
    # The same on update, and the subnet is unchanged.
    sub = make_subnet(admin, net["id"], "10.61.1.0/24", service_types=["compute:nova"])
    refused = admin.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"service_types": service_types}})
    assert error_of(refused, status) == wire_type
    after = admin.get(f"/v2.0/subnets/{sub['id']}").json()["subnet"]
    assert after["service_types"] == ["compute:nova"] and after["revision_number"] == sub["revision_number"]


def test_valid_service_types_round_trip_and_update_bumps_revision(admin):
    net = make_network(admin)
    # Neutron's prefixes, and what its validator lets through (Tempest's "test:type_1").
    wanted = ["network:floatingip", "compute:nova", "neutron:custom", "test:type_1"]
    sub = make_subnet(admin, net["id"], "10.62.0.0/24", service_types=wanted)
    assert sub["service_types"] == wanted
    assert admin.get(f"/v2.0/subnets/{sub['id']}").json()["subnet"]["service_types"] == wanted
    updated = admin.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"service_types": ["network:router_gateway"]}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["subnet"]["service_types"] == ["network:router_gateway"]
    assert updated.json()["subnet"]["revision_number"] > sub["revision_number"]
    cleared = admin.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"service_types": []}})
    assert cleared.json()["subnet"]["service_types"] == []
    fields = admin.get("/v2.0/subnets", params={"id": sub["id"], "fields": "service_types"}).json()["subnets"]
    assert fields == [{"service_types": []}]
    # A plain subnet has none.
    assert make_subnet(admin, net["id"], "10.62.1.0/24")["service_types"] == []


def test_project_members_set_service_types_as_neutron(tenant, api_server):
    """Neutron never applies create_subnet:service_types / update_subnet:service_types
    (no enforce_policy on the attribute): a member sets them on its own subnet."""
    net = make_network(tenant)
    sub = make_subnet(tenant, net["id"], "10.63.0.0/24", service_types=["compute:nova"])
    assert sub["service_types"] == ["compute:nova"]
    updated = tenant.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"service_types": ["compute:"]}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["subnet"]["service_types"] == ["compute:"]
    assert updated.json()["subnet"]["revision_number"] > sub["revision_number"]
    # Still no more than the subnet's own rules: another project's member may not.
    other = {"X-Project-Id": f"o-{uuid.uuid4().hex[:8]}", "X-Roles": "member"}
    with httpx.Client(base_url=api_server.url, timeout=30, headers=other) as stranger:
        refused = stranger.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"service_types": []}})
        assert error_of(refused, 404) == "SubnetNotFound"


def test_ports_take_addresses_from_the_subnet_of_their_owner(admin):
    """Tempest's SubnetServiceTypeTestJSON.test_allocate_ips_are_from_correct_subnet."""
    net = make_network(admin)
    first = make_subnet(admin, net["id"], "192.168.1.0/24", service_types=["test:type_1", "network:distributed"])
    second = make_subnet(admin, net["id"], "192.168.2.0/24", service_types=["test:type_2", "network:distributed"])
    for owner, subnet in (("test:type_1", first), ("test:type_2", second), ("test:type_1", first)):
        got = port_of(admin, net["id"], device_owner=owner)
        assert got.status_code == 201, got.text
        fixed = got.json()["port"]["fixed_ips"]
        assert [ip["subnet_id"] for ip in fixed] == [subnet["id"]]
        assert ipaddress.ip_address(fixed[0]["ip_address"]) in ipaddress.ip_network(subnet["cidr"])


def test_service_subnets_come_before_general_ones(admin):
    net = make_network(admin)
    # The general subnet is the fuller one (fullest-first would pick it), yet a
    # compute:nova port gets its address from the subnet reserved for it.
    general = make_subnet(
        admin,
        net["id"],
        "10.63.0.0/24",
        enable_dhcp=False,
        allocation_pools=[{"start": "10.63.0.2", "end": "10.63.0.4"}],
    )
    port_of(admin, net["id"], fixed_ips=[{"subnet_id": general["id"]}]).raise_for_status()
    reserved = make_subnet(
        admin,
        net["id"],
        "10.63.1.0/24",
        enable_dhcp=False,
        service_types=["compute:nova"],
        allocation_pools=[{"start": "10.63.1.2", "end": "10.63.1.2"}],
    )
    vm = port_of(admin, net["id"], device_owner="compute:nova").json()["port"]
    assert [ip["subnet_id"] for ip in vm["fixed_ips"]] == [reserved["id"]]
    plain = port_of(admin, net["id"]).json()["port"]
    assert [ip["subnet_id"] for ip in plain["fixed_ips"]] == [general["id"]]
    # When the reserved subnet is full, the owner falls through to the general one.
    vm2 = port_of(admin, net["id"], device_owner="compute:nova")
    assert vm2.status_code == 201, vm2.text
    assert [ip["subnet_id"] for ip in vm2.json()["port"]["fixed_ips"]] == [general["id"]]


def test_explicit_fixed_ips_obey_service_types(admin, api_server):
    net = make_network(admin)
    open_subnet = make_subnet(admin, net["id"], "10.64.0.0/24", enable_dhcp=False)
    fips = make_subnet(admin, net["id"], "10.64.1.0/24", enable_dhcp=False, service_types=["network:floatingip"])
    before = row_counts(api_server.database_url, net["id"])
    by_subnet = port_of(admin, net["id"], device_owner="compute:nova", fixed_ips=[{"subnet_id": fips["id"]}])
    assert error_of(by_subnet, 400) == "InvalidInput"
    assert fips["id"] in by_subnet.json()["NeutronError"]["message"]
    by_address = port_of(admin, net["id"], fixed_ips=[{"ip_address": "10.64.1.20"}])
    assert error_of(by_address, 400) == "InvalidIpForNetwork"
    assert row_counts(api_server.database_url, net["id"]) == before
    # The owner it serves may name it; everyone may name the open subnet.
    ok = port_of(admin, net["id"], device_owner="network:floatingip", fixed_ips=[{"ip_address": "10.64.1.20"}])
    assert ok.status_code == 201, ok.text
    assert port_of(admin, net["id"], fixed_ips=[{"subnet_id": open_subnet["id"]}]).status_code == 201


def test_no_serving_subnet_is_409_for_explicit_and_automatic_requests(admin, api_server):
    net = make_network(admin)
    sub = make_subnet(admin, net["id"], "10.65.0.0/24", enable_dhcp=False, service_types=["network:router_gateway"])
    before = row_counts(api_server.database_url, net["id"])
    for extra in ({}, {"fixed_ips": [{"subnet_id": sub["id"]}]}):
        refused = port_of(admin, net["id"], device_owner="compute:nova", **extra)
        assert error_of(refused, 409) == "IpAddressGenerationFailureNoMatchingSubnet"
        assert "compute:nova" in refused.json()["NeutronError"]["message"]
    assert row_counts(api_server.database_url, net["id"]) == before
    # A port asking for no address at all is fine.
    assert port_of(admin, net["id"], device_owner="compute:nova", fixed_ips=[]).status_code == 201


def test_dhcp_ports_use_service_subnets_with_dhcp_enabled(admin):
    net = make_network(admin)
    with_dhcp = make_subnet(admin, net["id"], "10.66.0.0/24", enable_dhcp=True, service_types=["compute:nova"])
    dhcp = port_of(admin, net["id"], device_owner="network:dhcp", device_id=f"dhcp-{uuid.uuid4().hex[:6]}")
    assert dhcp.status_code == 201, dhcp.text
    assert [ip["subnet_id"] for ip in dhcp.json()["port"]["fixed_ips"]] == [with_dhcp["id"]]
    # Without DHCP on the subnet, a DHCP port is just another owner.
    other = make_network(admin)
    make_subnet(admin, other["id"], "10.66.1.0/24", enable_dhcp=False, service_types=["compute:nova"])
    refused = port_of(admin, other["id"], device_owner="network:dhcp", device_id="dhcp-x")
    assert error_of(refused, 409) == "IpAddressGenerationFailureNoMatchingSubnet"


def test_openstacksdk_sets_and_reads_service_types(api_server):
    conn = Connection(session=ks_session.Session(auth=noauth.NoAuth(endpoint=api_server.url)))
    net = conn.network.create_network(name=f"sst-{uuid.uuid4().hex[:6]}")
    sub = conn.network.create_subnet(
        network_id=net.id, ip_version=4, cidr="10.67.0.0/24", service_types=["network:floatingip"]
    )
    assert sub.service_types == ["network:floatingip"]
    conn.network.update_subnet(sub, service_types=["network:floatingip", "network:router_gateway"])
    assert conn.network.get_subnet(sub.id).service_types == ["network:floatingip", "network:router_gateway"]
    fip_port = conn.network.create_port(network_id=net.id, device_owner="network:floatingip")
    assert [ip["subnet_id"] for ip in fip_port.fixed_ips] == [sub.id]
