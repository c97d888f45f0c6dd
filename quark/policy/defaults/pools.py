"""Subnet pools and address scopes (Neutron's defaults:
neutron/conf/policies/subnetpool.py, address_scope.py)."""

from __future__ import annotations

from quark.policy.defaults._build import custom, documented, plain
from quark.policy.personas import ADMIN, ADMIN_OR_PROJECT_MEMBER, ADMIN_OR_PROJECT_READER, PROJECT_READER, any_of

_POOL_READ = any_of(ADMIN_OR_PROJECT_READER, "rule:shared_subnetpools")
_SCOPE_READ = any_of(ADMIN, PROJECT_READER, "rule:shared_address_scopes")

_SUBNETPOOL = documented(
    "subnetpool",
    "/subnetpools",
    "subnet pool",
    [
        ("create_subnetpool", ADMIN_OR_PROJECT_MEMBER),
        ("create_subnetpool:shared", ADMIN),
        ("create_subnetpool:is_default", ADMIN),
        ("create_subnetpool:tags", ADMIN_OR_PROJECT_MEMBER),
        ("get_subnetpool", _POOL_READ),
        ("get_subnetpool:tags", _POOL_READ),
        ("update_subnetpool", ADMIN_OR_PROJECT_MEMBER),
        ("update_subnetpool:is_default", ADMIN),
        ("update_subnetpool:tags", ADMIN_OR_PROJECT_MEMBER),
        ("delete_subnetpool", ADMIN_OR_PROJECT_MEMBER),
        ("delete_subnetpool:tags", ADMIN_OR_PROJECT_MEMBER),
    ],
)

_PREFIX_OPS = [
    custom(name, ADMIN_OR_PROJECT_MEMBER, description, [("PUT", f"/subnetpools/{{id}}/{name}")])
    for name, description in (
        ("add_prefixes", "Add prefixes to a subnetpool"),
        ("remove_prefixes", "Remove unallocated prefixes from a subnetpool"),
    )
]

_ADDRESS_SCOPE = documented(
    "address_scope",
    "/address-scopes",
    "address scope",
    [
        ("create_address_scope", ADMIN_OR_PROJECT_MEMBER),
        ("create_address_scope:shared", ADMIN),
        ("create_address_scope:tags", ADMIN_OR_PROJECT_MEMBER),
        ("get_address_scope", _SCOPE_READ),
        ("get_address_scope:tags", _SCOPE_READ),
        ("update_address_scope", ADMIN_OR_PROJECT_MEMBER),
        ("update_address_scope:shared", ADMIN),
        ("update_address_scope:tags", ADMIN_OR_PROJECT_MEMBER),
        ("delete_address_scope", ADMIN_OR_PROJECT_MEMBER),
        ("delete_address_scope:tags", ADMIN_OR_PROJECT_MEMBER),
    ],
)

RULES = [
    plain("shared_subnetpools", "field:subnetpools:shared=True", "Definition of a shared subnetpool"),
    plain("shared_address_scopes", "field:address_scopes:shared=True", "Definition of a shared address scope"),
    *_SUBNETPOOL,
    *_PREFIX_OPS,
    *_ADDRESS_SCOPE,
]
