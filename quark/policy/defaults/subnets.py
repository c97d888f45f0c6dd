"""Subnets (Neutron's defaults)."""

from __future__ import annotations

from quark.policy.defaults._build import documented, plain
from quark.policy.personas import (
    ADMIN,
    ADMIN_OR_NET_OWNER_MEMBER,
    ADMIN_OR_NET_OWNER_READER,
    PROJECT_MEMBER,
    PROJECT_READER,
    SERVICE,
    any_of,
)

_WRITE = any_of(PROJECT_MEMBER, ADMIN_OR_NET_OWNER_MEMBER)
_READ = any_of(PROJECT_READER, "rule:shared", "rule:external_network", ADMIN_OR_NET_OWNER_READER)

RULES = [
    plain("external_network", "field:subnets:router:external=True", "The subnet's network is external"),
    *documented(
        "subnet",
        "/subnets",
        "subnet",
        [
            ("create_subnet", ADMIN_OR_NET_OWNER_MEMBER),
            ("create_subnet:segment_id", ADMIN),
            # Neutron registers these two as admin-only but never applies them
            # (neutron-lib's service_types has no ``enforce_policy``): in effect
            # whoever may create or update the subnet sets its service types.
            ("create_subnet:service_types", ADMIN_OR_NET_OWNER_MEMBER),
            ("create_subnet:tags", _WRITE),
            ("get_subnet", any_of(_READ, SERVICE)),
            ("get_subnet:segment_id", ADMIN),
            ("get_subnet:tags", _READ),
            ("update_subnet", _WRITE),
            ("update_subnet:segment_id", ADMIN),
            ("update_subnet:service_types", _WRITE),
            ("update_subnet:tags", _WRITE),
            ("delete_subnet", _WRITE),
            ("delete_subnet:tags", _WRITE),
        ],
    ),
]
