"""The Neutron import's per-kind rules (quark.services.imports.records): what
makes equal content, and what a create is given."""

from __future__ import annotations

from quark.services.imports.records import create_attrs, differences

PORT = {
    "id": "p1",
    "name": "app",
    "project_id": "proj",
    "network_id": "n1",
    "mac_address": "02:42:AC:11:00:07",
    "fixed_ips": [{"subnet_id": "s6", "ip_address": "fd77:0::5"}, {"subnet_id": "s4", "ip_address": "10.0.0.5"}],
    "device_id": "r1",
    "device_owner": "network:router_interface",
    "security_groups": ["g2", "g1"],
    "port_security_enabled": True,
    "allowed_address_pairs": [],
    "binding:profile": {},
}


def test_equal_content_ignores_order_case_and_address_spelling():
    quark = {
        **PORT,
        "mac_address": "02:42:ac:11:00:07",
        "fixed_ips": [{"subnet_id": "s4", "ip_address": "10.0.0.5"}, {"subnet_id": "s6", "ip_address": "fd77::5"}],
        "security_groups": ["g1", "g2"],
    }
    assert differences("ports", PORT, quark) == []


def test_other_content_names_the_attributes():
    quark = {**PORT, "name": "other", "fixed_ips": [{"subnet_id": "s4", "ip_address": "10.0.0.6"}]}
    assert differences("ports", PORT, quark) == ["name", "fixed_ips"]


def test_a_router_interface_port_is_created_free_of_its_router():
    attrs = create_attrs("ports", PORT)
    assert attrs["id"] == "p1"
    assert attrs["device_id"] == "" and attrs["device_owner"] == "network:router_interface"
    assert attrs["fixed_ips"] == [
        {"subnet_id": "s4", "ip_address": "10.0.0.5"},
        {"subnet_id": "s6", "ip_address": "fd77::5"},
    ]
    # Before the interface step its device differs from Neutron's: not a conflict.
    assert differences("ports", PORT, {**PORT, "device_id": ""}) == []


def test_subnet_and_network_attributes_neutron_leaves_empty_are_not_sent():
    subnet = {"id": "s4", "ip_version": 4, "cidr": "10.0.0.0/24", "gateway_ip": None, "ipv6_ra_mode": None}
    assert create_attrs("subnets", subnet) == {"id": "s4", "ip_version": 4, "cidr": "10.0.0.0/24", "gateway_ip": None}
    network = {"id": "n1", "name": "x", "provider:network_type": None, "provider:segmentation_id": None}
    assert create_attrs("networks", network) == {"id": "n1", "name": "x"}
