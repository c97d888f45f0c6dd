"""Floating IPs (Neutron's defaults)."""

from __future__ import annotations

from quark.policy.defaults._build import documented
from quark.policy.personas import ADMIN_OR_PROJECT_MANAGER, ADMIN_OR_PROJECT_MEMBER, ADMIN_OR_PROJECT_READER

RULES = documented(
    "floatingip",
    "/floatingips",
    "floating IP",
    [
        ("create_floatingip", ADMIN_OR_PROJECT_MEMBER),
        ("create_floatingip:floating_ip_address", ADMIN_OR_PROJECT_MANAGER),
        ("create_floatingip:tags", ADMIN_OR_PROJECT_MEMBER),
        ("get_floatingip", ADMIN_OR_PROJECT_READER),
        ("get_floatingip:tags", ADMIN_OR_PROJECT_READER),
        ("update_floatingip", ADMIN_OR_PROJECT_MEMBER),
        ("update_floatingip:tags", ADMIN_OR_PROJECT_MEMBER),
        ("delete_floatingip", ADMIN_OR_PROJECT_MEMBER),
        ("delete_floatingip:tags", ADMIN_OR_PROJECT_MEMBER),
    ],
)
