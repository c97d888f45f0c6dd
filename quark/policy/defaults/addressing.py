"""IP availability (Neutron's default) and Quark's addressing extensions: MAC
address ranges, IP policies, ``/v2.0/ip_addresses`` and subnet routes."""

from __future__ import annotations

from quark.policy.defaults._build import custom, documented
from quark.policy.personas import (
    ADMIN,
    ADMIN_OR_NET_OWNER_MEMBER,
    ADMIN_OR_PROJECT_MEMBER,
    ADMIN_OR_PROJECT_READER,
    ADMIN_OR_SERVICE,
    SERVICE,
    any_of,
)


def _admin_only(resource: str, path: str, noun: str) -> list:
    return documented(
        resource, path, noun, [(f"{verb}_{resource}", ADMIN) for verb in ("create", "get", "update", "delete")]
    )


RULES = [
    *documented(
        "network_ip_availability",
        "/network-ip-availabilities",
        "network IP availability",
        [("get_network_ip_availability", ADMIN_OR_SERVICE)],
    ),
    *_admin_only("mac_address_range", "/mac_address_ranges", "MAC address range"),
    *_admin_only("ip_policy", "/ip_policies", "IP policy"),
    *_admin_only("segment_allocation_range", "/segment_allocation_ranges", "segment allocation range"),
    # Neutron's network segment ranges: the same ranges, Neutron's rule names (admin only).
    *_admin_only("network_segment_range", "/network_segment_ranges", "network segment range"),
    # Neutron's segments (neutron/conf/policies/segment.py): admin only.
    *_admin_only("segment", "/segments", "segment"),
    *documented(
        "ip_address",
        "/ip_addresses",
        "IP address",
        [
            ("create_ip_address", any_of(ADMIN_OR_PROJECT_MEMBER, SERVICE)),
            ("create_ip_address:ip_address", any_of(ADMIN_OR_NET_OWNER_MEMBER, SERVICE, "rule:shared")),
            ("get_ip_address", any_of(ADMIN_OR_PROJECT_READER, SERVICE)),
            ("update_ip_address", any_of(ADMIN_OR_PROJECT_MEMBER, SERVICE)),
            ("delete_ip_address", any_of(ADMIN_OR_PROJECT_MEMBER, SERVICE)),
        ],
    ),
    custom(
        "get_ip_address_port",
        any_of(ADMIN_OR_PROJECT_READER, SERVICE),
        "List or show the ports holding an IP address",
        [("GET", "/ip_addresses/{id}/ports"), ("GET", "/ip_addresses/{id}/ports/{port_id}")],
    ),
    custom(
        "update_ip_address_port",
        any_of(ADMIN_OR_PROJECT_MEMBER, SERVICE),
        "Update a holder of an IP address (its ``service``)",
        [("PUT", "/ip_addresses/{id}/ports/{port_id}")],
    ),
    *documented(
        "route",
        "/routes",
        "subnet route",
        [
            ("create_route", ADMIN_OR_NET_OWNER_MEMBER),
            ("get_route", any_of(ADMIN_OR_PROJECT_READER, "rule:shared")),
            ("update_route", ADMIN_OR_PROJECT_MEMBER),
            ("delete_route", ADMIN_OR_PROJECT_MEMBER),
        ],
    ),
    # Another system's IPAM (Neutron's ``quark`` driver; docs/neutron_ipam_driver.md): its service user or an admin.
    custom(
        "create_ipam_subnet",
        ADMIN_OR_SERVICE,
        "Register (or update) an external IPAM subnet",
        [("PUT", "/ipam/subnets/{id}")],
    ),
    custom("get_ipam_subnet", ADMIN_OR_SERVICE, "Show an external IPAM subnet", [("GET", "/ipam/subnets/{id}")]),
    custom(
        "delete_ipam_subnet", ADMIN_OR_SERVICE, "Remove an external IPAM subnet", [("DELETE", "/ipam/subnets/{id}")]
    ),
    custom(
        "create_ipam_allocation",
        ADMIN_OR_SERVICE,
        "Allocate an address for an external holder",
        [("POST", "/ipam/allocations")],
    ),
    custom("get_ipam_allocation", ADMIN_OR_SERVICE, "List external allocations", [("GET", "/ipam/allocations")]),
    custom(
        "delete_ipam_allocation",
        ADMIN_OR_SERVICE,
        "Release an external holder's address",
        [("DELETE", "/ipam/subnets/{id}/allocations/{ip_address}")],
    ),
]
