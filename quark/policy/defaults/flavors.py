"""Service flavors and profiles (Neutron's defaults: neutron/conf/policies/flavor.py)."""

from __future__ import annotations

from quark.policy.defaults._build import custom, documented
from quark.policy.personas import ADMIN, ADMIN_OR_PROJECT_READER

_BINDING = "/flavors/{flavor_id}/service_profiles"

RULES = [
    *documented(
        "flavor",
        "/flavors",
        "flavor",
        [
            ("create_flavor", ADMIN),
            # A flavor belongs to no project: any reader (Neutron's 'role:reader').
            ("get_flavor", "role:reader"),
            ("update_flavor", ADMIN),
            ("delete_flavor", ADMIN),
        ],
    ),
    *documented(
        "service_profile",
        "/service_profiles",
        "service profile",
        [
            ("create_service_profile", ADMIN),
            ("get_service_profile", ADMIN),
            ("update_service_profile", ADMIN),
            ("delete_service_profile", ADMIN),
        ],
    ),
    custom(
        "get_flavor_service_profile",
        ADMIN_OR_PROJECT_READER,
        "Get a flavor's service profile binding",
        [("GET", f"{_BINDING}/{{profile_id}}")],
    ),
    custom(
        "get_flavor_next_providers",
        ADMIN,
        "Get the provider a flavor's first service profile resolves to (Quark; its profiles are admin-only)",
        [("GET", "/flavors/{flavor_id}/next_providers")],
    ),
    custom(
        "create_flavor_service_profile",
        ADMIN,
        "Associate a service profile with a flavor",
        [("POST", _BINDING)],
    ),
    custom(
        "delete_flavor_service_profile",
        ADMIN,
        "Disassociate a service profile from a flavor",
        [("DELETE", f"{_BINDING}/{{profile_id}}")],
    ),
]
