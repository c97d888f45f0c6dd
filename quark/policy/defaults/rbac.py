"""RBAC policies (Neutron's defaults, neutron/conf/policies/rbac.py): members
manage their own; only admins target every project (``*``)."""

from __future__ import annotations

from quark.policy.defaults._build import documented, plain
from quark.policy.personas import ADMIN, ADMIN_OR_PROJECT_MEMBER, ADMIN_OR_PROJECT_READER, any_of

_NOT_WILDCARD = "(not field:rbac_policy:target_tenant=* and not field:rbac_policy:target_project=*)"
_TARGET = any_of(ADMIN, _NOT_WILDCARD)
_TARGET_PROJECT = any_of(ADMIN, "not field:rbac_policy:target_project=*")

RULES = [
    plain("restrict_wildcard", any_of(_NOT_WILDCARD, "rule:admin_only"), "Definition of a wildcard target_project"),
    *documented(
        "rbac_policy",
        "/rbac-policies",
        "RBAC policy",
        [
            ("create_rbac_policy", ADMIN_OR_PROJECT_MEMBER),
            ("create_rbac_policy:target_tenant", _TARGET),
            ("create_rbac_policy:target_project", _TARGET_PROJECT),
            ("get_rbac_policy", ADMIN_OR_PROJECT_READER),
            ("update_rbac_policy", ADMIN_OR_PROJECT_MEMBER),
            ("update_rbac_policy:target_tenant", _TARGET),
            ("update_rbac_policy:target_project", _TARGET_PROJECT),
            ("delete_rbac_policy", ADMIN_OR_PROJECT_MEMBER),
        ],
    ),
]
