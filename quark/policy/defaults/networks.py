"""Networks (Neutron's defaults), with Quark's ``ipam_strategy`` as an admin attribute."""

from __future__ import annotations

from quark.policy.defaults._build import documented, plain
from quark.policy.personas import (
    ADMIN,
    ADMIN_OR_PROJECT_MEMBER,
    ADMIN_OR_PROJECT_READER,
    SERVICE,
    any_of,
)

_GET = any_of(ADMIN_OR_PROJECT_READER, SERVICE, "rule:shared", "rule:external", "rule:context_is_advsvc")
_GET_TAGS = any_of(ADMIN_OR_PROJECT_READER, "rule:shared", "rule:external", "rule:context_is_advsvc")
_ADMIN_ATTRS = (
    "shared",
    "router:external",
    "is_default",
    "segments",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "ipam_strategy",
    "network_plugin",
)
_ADMIN_READ = (
    "segments",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "ipam_strategy",
    "network_plugin",
)

RULES = [
    plain("external", "field:networks:router:external=True", "The network is external"),
    *documented(
        "network",
        "/networks",
        "network",
        [
            ("create_network", ADMIN_OR_PROJECT_MEMBER),
            *[(f"create_network:{a}", ADMIN) for a in _ADMIN_ATTRS],
            ("create_network:port_security_enabled", ADMIN_OR_PROJECT_MEMBER),
            ("create_network:tags", ADMIN_OR_PROJECT_MEMBER),
            ("get_network", _GET),
            *[(f"get_network:{a}", ADMIN) for a in _ADMIN_READ],
            ("get_network:tags", _GET_TAGS),
            ("update_network", ADMIN_OR_PROJECT_MEMBER),
            *[(f"update_network:{a}", ADMIN) for a in _ADMIN_ATTRS],
            ("update_network:port_security_enabled", ADMIN_OR_PROJECT_MEMBER),
            ("update_network:tags", ADMIN_OR_PROJECT_MEMBER),
            ("delete_network", ADMIN_OR_PROJECT_MEMBER),
            ("delete_network:tags", ADMIN_OR_PROJECT_MEMBER),
        ],
    ),
]
