"""Security groups and their rules, address groups (Neutron's defaults;
neutron/conf/policies/address_group.py names only ``get_address_group``, the
other verbs fall to Neutron's default rule, the owner or an admin: here the
project's members or an admin, as every other resource)."""

from __future__ import annotations

from quark.policy.defaults._build import custom, documented, plain
from quark.policy.personas import (
    ADMIN,
    ADMIN_OR_PROJECT_MEMBER,
    ADMIN_OR_PROJECT_READER,
    ADMIN_OR_SG_OWNER_MEMBER,
    ADMIN_OR_SG_OWNER_READER,
    any_of,
    either,
)

_READ = any_of(ADMIN_OR_PROJECT_READER, "rule:shared_security_group")
_AG_READ = any_of(ADMIN_OR_PROJECT_READER, "rule:shared_address_groups")

_ADDRESS_GROUP = [
    plain("shared_address_groups", "field:address_groups:shared=True", "Definition of a shared address group"),
    *documented(
        "address_group",
        "/address-groups",
        "address group",
        [
            ("create_address_group", ADMIN_OR_PROJECT_MEMBER),
            ("create_address_group:tags", ADMIN_OR_PROJECT_MEMBER),
            ("get_address_group", _AG_READ),
            ("get_address_group:tags", _AG_READ),
            ("update_address_group", ADMIN_OR_PROJECT_MEMBER),
            ("update_address_group:tags", ADMIN_OR_PROJECT_MEMBER),
            ("delete_address_group", ADMIN_OR_PROJECT_MEMBER),
            ("delete_address_group:tags", ADMIN_OR_PROJECT_MEMBER),
        ],
    ),
    *(
        custom(name, ADMIN_OR_PROJECT_MEMBER, description, [("PUT", f"/address-groups/{{id}}/{name}")])
        for name, description in (
            ("add_addresses", "Add addresses to an address group"),
            ("remove_addresses", "Remove addresses from an address group"),
        )
    ),
]

RULES = [
    plain(
        "admin_or_sg_owner",
        "rule:context_is_admin or project_id:%(security_group:project_id)s",
        "An admin or the security group's owner",
    ),
    plain(
        "admin_owner_or_sg_owner", "rule:owner or rule:admin_or_sg_owner", "The owner, an admin or the group's owner"
    ),
    plain("shared_security_group", "field:security_groups:shared=True", "The security group is shared"),
    plain(
        "rule_default_sg",
        "field:security_group_rules:belongs_to_default_sg=True",
        "The rule belongs to a default security group",
    ),
    *documented(
        "security_group",
        "/security-groups",
        "security group",
        [
            ("create_security_group", ADMIN_OR_PROJECT_MEMBER),
            ("create_security_group:tags", ADMIN_OR_PROJECT_MEMBER),
            ("get_security_group", _READ),
            ("get_security_group:tags", _READ),
            ("update_security_group", ADMIN_OR_PROJECT_MEMBER),
            ("update_security_group:tags", ADMIN_OR_PROJECT_MEMBER),
            ("delete_security_group", ADMIN_OR_PROJECT_MEMBER),
            ("delete_security_group:tags", ADMIN_OR_PROJECT_MEMBER),
        ],
    ),
    *documented(
        "security_group_rule",
        "/security-group-rules",
        "security group rule",
        [
            ("create_security_group_rule", ADMIN_OR_SG_OWNER_MEMBER),
            ("get_security_group_rule", ADMIN_OR_SG_OWNER_READER),
            ("delete_security_group_rule", ADMIN_OR_SG_OWNER_MEMBER),
        ],
    ),
    # Neutron's templates of new groups' rules: not a project's, so any reader sees
    # them (Neutron's check string is "role:reader"; admins hold it by implication).
    *documented(
        "default_security_group_rule",
        "/default-security-group-rules",
        "default security group rule",
        [
            ("create_default_security_group_rule", ADMIN),
            ("get_default_security_group_rule", either(ADMIN, "role:reader")),
            ("delete_default_security_group_rule", ADMIN),
        ],
    ),
    *_ADDRESS_GROUP,
]
