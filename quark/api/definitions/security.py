"""Attribute maps of security groups and their rules (contract §3.4)."""

from __future__ import annotations

from typing import Any

from quark import errors
from quark.api import validators as v
from quark.api.definitions.base import BOOL_FILTER, INT_FILTER, STR_FILTER, Attr, Resource, name_attr, standard_attrs


def protocol(value: Any) -> str | None:
    """Neutron takes a name or a number (as int or text); kept as text."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"'{value}' is not a valid protocol")
    return str(value)


# Neutron's convert_validate_port_value: a bad port is its own 400 type.
port_value = v.refusing_with(
    v.integer(0, 65535, allow_none=True), lambda value: errors.SecurityGroupInvalidPortValue(port=value)
)

SECURITY_GROUP = Resource(
    name="security_group",
    collection="security-groups",
    body_collection="security_groups",
    attributes=(
        *standard_attrs(),
        name_attr(),
        Attr("stateful", "boolean", post=True, put=True, default=True, convert=v.boolean, filter=BOOL_FILTER),
        Attr("shared", "boolean", filter=BOOL_FILTER),
        Attr("security_group_rules", "array", items="object"),
    ),
)

SECURITY_GROUP_RULE = Resource(
    name="security_group_rule",
    collection="security-group-rules",
    body_collection="security_group_rules",
    has_tags=False,
    attributes=(
        *(a for a in standard_attrs() if a.name != "tags"),
        Attr("security_group_id", post=True, required=True, convert=v.uuid_str, filter=STR_FILTER, sortable=True),
        Attr(
            "direction",
            post=True,
            required=True,
            convert=v.one_of("ingress", "egress"),
            filter=STR_FILTER,
            sortable=True,
        ),
        Attr(
            "ethertype",
            post=True,
            default="IPv4",
            convert=v.one_of("IPv4", "IPv6", "ipv4", "ipv6"),
            filter=STR_FILTER,
            sortable=True,
        ),
        Attr("protocol", post=True, convert=protocol, filter=STR_FILTER, sortable=True, nullable=True),
        Attr(
            "port_range_min",
            "integer",
            post=True,
            convert=port_value,
            filter=INT_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr(
            "port_range_max",
            "integer",
            post=True,
            convert=port_value,
            filter=INT_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr(
            "remote_ip_prefix",
            post=True,
            convert=v.string(64, allow_none=True),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr(
            "remote_group_id",
            post=True,
            # Not checked as a UUID: Neutron looks any value up (404 SecurityGroupNotFound).
            convert=v.string(255, allow_none=True),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr(
            "remote_address_group_id",
            post=True,
            convert=v.nullable(v.uuid_str),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr("normalized_cidr", nullable=True),
        Attr("belongs_to_default_sg", "boolean"),
    ),
)

# The attributes a template shares with a rule (Neutron's security-groups-default-rules).
_TEMPLATE_FIELDS = (
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "remote_address_group_id",
)

DEFAULT_SECURITY_GROUP_RULE = Resource(
    name="default_security_group_rule",
    collection="default-security-group-rules",
    body_collection="default_security_group_rules",
    has_tags=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True, description="UUID, generated"),
        Attr("description", post=True, default="", convert=v.string(255), filter=STR_FILTER, sortable=True),
        *(SECURITY_GROUP_RULE.by_name[name] for name in _TEMPLATE_FIELDS),
        Attr(
            "used_in_default_sg",
            "boolean",
            post=True,
            default=False,
            convert=v.boolean,
            filter=BOOL_FILTER,
            sortable=True,
            description="whether each project's default group gets the rule",
        ),
        Attr(
            "used_in_non_default_sg",
            "boolean",
            post=True,
            default=True,
            convert=v.boolean,
            filter=BOOL_FILTER,
            sortable=True,
            description="whether every other new group gets the rule",
        ),
    ),
)
# neutron-lib's ``type:subnet_list``: CIDRs (host bits allowed; stored as their network); null is none.
ADDRESSES = v.list_of(v.pool_prefix, allow_none=True)
# What remove_addresses names: CIDRs or bare addresses (each its /32 or /128).
REMOVED_ADDRESSES = v.list_of(v.ip_or_cidr, allow_none=True)

ADDRESS_GROUP = Resource(
    name="address_group",
    collection="address-groups",
    unseen_by_update=frozenset({"shared"}),
    attributes=(
        *standard_attrs(),
        name_attr(),
        Attr(
            "addresses",
            "array",
            post=True,
            default=[],
            convert=ADDRESSES,
            items="string",
            description="CIDRs, each shown as its network; changed by add_addresses / remove_addresses",
        ),
        Attr(
            "shared",
            "boolean",
            filter=BOOL_FILTER,
            description="Quark shows it: shared with the caller's project by an RBAC policy (docs/rbac.md)",
        ),
    ),
)

# The body of PUT /v2.0/address-groups/{id}/add_addresses and remove_addresses (and their answer).
ADDRESS_OPS = v.dict_of({"addresses": ADDRESSES}, required=("addresses",))
