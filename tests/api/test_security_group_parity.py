"""Security groups and rules answer as Neutron where Tempest and
neutron-tempest-plugin look: stateful and stateless groups never mix on a
port, a group in use keeps its statefulness, and rule errors carry Neutron's
types, messages and statuses."""

from __future__ import annotations

import pytest

from tests.api.test_security_groups import create_group, create_rule
from tests.api.test_wire import error_of, make_network


def make_port(client, network_id, groups) -> dict:
    r = client.post("/v2.0/ports", json={"port": {"network_id": network_id, "security_groups": groups}})
    assert r.status_code == 201, r.text
    return r.json()["port"]


def test_a_port_may_not_mix_stateful_and_stateless_groups(tenant):
    net = make_network(tenant)
    stateful, stateless = create_group(tenant, "full"), create_group(tenant, "less", stateful=False)
    assert (stateful["stateful"], stateless["stateful"]) == (True, False)
    before = len(tenant.get("/v2.0/ports", params={"network_id": net["id"]}).json()["ports"])
    r = tenant.post(
        "/v2.0/ports", json={"port": {"network_id": net["id"], "security_groups": [stateful["id"], stateless["id"]]}}
    )
    assert error_of(r, 409) == "SecurityGroupConflict"
    assert "stateful and stateless" in r.json()["NeutronError"]["message"]
    assert len(tenant.get("/v2.0/ports", params={"network_id": net["id"]}).json()["ports"]) == before

    for first, second in ((stateful, stateless), (stateless, stateful)):
        port = make_port(tenant, net["id"], [first["id"]])
        r = tenant.put(f"/v2.0/ports/{port['id']}", json={"port": {"security_groups": [first["id"], second["id"]]}})
        assert error_of(r, 409) == "SecurityGroupConflict"
        assert tenant.get(f"/v2.0/ports/{port['id']}").json()["port"]["security_groups"] == [first["id"]]
        # Replacing the group by one of the other kind is no mix.
        r = tenant.put(f"/v2.0/ports/{port['id']}", json={"port": {"security_groups": [second["id"]]}})
        assert r.status_code == 200, r.text


def test_two_groups_of_one_kind_are_fine(tenant):
    net = make_network(tenant)
    groups = [create_group(tenant, f"less-{i}", stateful=False)["id"] for i in range(2)]
    assert sorted(make_port(tenant, net["id"], groups)["security_groups"]) == sorted(groups)


@pytest.mark.parametrize("stateful", [True, False])
def test_a_group_in_use_keeps_its_statefulness(tenant, stateful):
    net = make_network(tenant)
    group = create_group(tenant, "used", stateful=stateful)
    unused = create_group(tenant, "unused", stateful=stateful)
    port = make_port(tenant, net["id"], [group["id"]])
    r = tenant.put(f"/v2.0/security-groups/{group['id']}", json={"security_group": {"stateful": not stateful}})
    assert error_of(r, 409) == "SecurityGroupInUse"
    assert tenant.get(f"/v2.0/security-groups/{group['id']}").json()["security_group"]["stateful"] is stateful
    # The same value, or another attribute, is no change of statefulness.
    same = {"stateful": stateful, "description": "still in use"}
    assert tenant.put(f"/v2.0/security-groups/{group['id']}", json={"security_group": same}).status_code == 200
    r = tenant.put(f"/v2.0/security-groups/{unused['id']}", json={"security_group": {"stateful": not stateful}})
    assert r.status_code == 200 and r.json()["security_group"]["stateful"] is (not stateful)
    tenant.delete(f"/v2.0/ports/{port['id']}")
    r = tenant.put(f"/v2.0/security-groups/{group['id']}", json={"security_group": {"stateful": not stateful}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "low, high, port",
    [(0, 10, 0), (10, 0, 0), (10, 70000, 70000), (-1, 10, -1), ("abc", 10, "abc")],
)
def test_an_invalid_port_is_neutrons_invalid_port_value(tenant, low, high, port):
    group = create_group(tenant)
    r = create_rule(tenant, group["id"], protocol="tcp", port_range_min=low, port_range_max=high)
    assert error_of(r, 400) == "SecurityGroupInvalidPortValue"
    assert r.json()["NeutronError"]["message"] == f"Invalid value for port {port}"


def test_ports_only_for_port_protocols(tenant):
    group = create_group(tenant)
    r = create_rule(tenant, group["id"], protocol="gre", port_range_min=10, port_range_max=20)
    assert error_of(r, 400) == "SecurityGroupInvalidProtocolForPort"
    assert r.json()["NeutronError"]["message"] == (
        "Ports cannot be specified for protocol 47. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE."
    )
    r = create_rule(tenant, group["id"], protocol="tcp", port_range_min=20, port_range_max=10)
    assert error_of(r, 400) == "SecurityGroupInvalidPortRange"


@pytest.mark.parametrize("remote", ["not-a-uuid", "6e9b0f27-7a42-4f59-9f0b-000000000000"])
def test_a_remote_group_that_is_no_group_is_404(tenant, remote):
    group = create_group(tenant)
    r = create_rule(tenant, group["id"], remote_group_id=remote)
    assert error_of(r, 404) == "SecurityGroupNotFound"


def test_another_projects_group_is_no_remote_group(tenant, admin):
    group = create_group(tenant)
    foreign = create_group(admin, "foreign")
    assert error_of(create_rule(tenant, group["id"], remote_group_id=foreign["id"]), 404) == "SecurityGroupNotFound"


@pytest.mark.parametrize("protocol", ["ipv6-icmp", "icmpv6", "58", "ipv6-frag", "44", "ipv6-route", "ipv6-encap"])
def test_ipv6_only_protocols_are_refused_in_ipv4_rules(tenant, protocol):
    group = create_group(tenant)
    r = create_rule(tenant, group["id"], ethertype="IPv4", protocol=protocol)
    assert error_of(r, 400) == "SecurityGroupEthertypeConflictWithProtocol"
    assert r.json()["NeutronError"]["message"] == f"Invalid ethertype IPv4 for protocol {protocol}."
    r = create_rule(tenant, group["id"], ethertype="IPv6", protocol=protocol)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("protocol, stored", [("icmp", "ipv6-icmp"), ("icmpv6", "ipv6-icmp"), ("1", "58")])
def test_legacy_icmp_in_ipv6_rules_is_stored_as_ipv6_icmp(tenant, protocol, stored):
    group = create_group(tenant)
    r = create_rule(tenant, group["id"], ethertype="IPv6", protocol=protocol)
    assert r.status_code == 201, r.text
    assert r.json()["security_group_rule"]["protocol"] == stored


def test_remote_ip_prefix_is_kept_and_normalized_cidr_is_its_network(tenant, admin):
    aliases = {e["alias"] for e in admin.get("/v2.0/extensions").json()["extensions"]}
    assert "security-groups-normalized-cidr" in aliases
    group = create_group(tenant)
    rule = create_rule(tenant, group["id"], remote_ip_prefix="10.0.0.34/24").json()["security_group_rule"]
    assert (rule["remote_ip_prefix"], rule["normalized_cidr"]) == ("10.0.0.34/24", "10.0.0.0/24")
    shown = tenant.get(f"/v2.0/security-group-rules/{rule['id']}").json()["security_group_rule"]
    assert (shown["remote_ip_prefix"], shown["normalized_cidr"]) == ("10.0.0.34/24", "10.0.0.0/24")
    host = create_rule(tenant, group["id"], remote_ip_prefix="10.0.0.35", protocol="tcp").json()["security_group_rule"]
    assert (host["remote_ip_prefix"], host["normalized_cidr"]) == ("10.0.0.35/32", "10.0.0.35/32")
    remote = create_rule(tenant, group["id"], remote_group_id=group["id"]).json()["security_group_rule"]
    assert (remote["remote_ip_prefix"], remote["normalized_cidr"]) == (None, None)
