"""Quotas (Neutron's defaults): a project manager reads quotas, admins change them.

Neutron checks ``get_quota`` against the caller's own project (a manager may
read any project's limits, as in Neutron); a project reads its own without a
check, and its details only (``quota_details``: admins for another project).
"""

from __future__ import annotations

from quark.policy.defaults._build import custom
from quark.policy.personas import ADMIN, ADMIN_OR_PROJECT_MANAGER

RULES = [
    custom(
        "get_quota",
        ADMIN_OR_PROJECT_MANAGER,
        "Get a resource quota",
        [("GET", "/quota"), ("GET", "/quota/{id}")],
    ),
    custom("update_quota", ADMIN, "Update a resource quota", [("PUT", "/quota/{id}")]),
    custom("delete_quota", ADMIN, "Delete a resource quota", [("DELETE", "/quota/{id}")]),
]
