"""Attribute maps of subnet pools and address scopes (neutron-lib's
``subnetpool``, ``address_scope``, ``subnetpool-prefix-ops``), with the
standard attributes Quark gives every resource."""

from __future__ import annotations

from quark.api import validators as v
from quark.api.definitions.base import BOOL_FILTER, INT_FILTER, STR_FILTER, Attr, Resource, name_attr, standard_attrs

_INT = v.integer(0, 2**31 - 1)
PREFIXES = v.list_of(v.pool_prefix)


def _prefixlen(name: str) -> Attr:
    """Neutron takes a prefix length as an integer and shows it as a string (``"24"``)."""
    return Attr(
        name,
        "integer",
        post=True,
        put=True,
        convert=_INT,
        filter=INT_FILTER,
        sortable=True,
        view_schema="string",
        description="An integer; shown as a string, as Neutron shows it",
    )


SUBNETPOOL = Resource(
    name="subnetpool",
    collection="subnetpools",
    attributes=(
        *standard_attrs(),
        Attr("name", post=True, put=True, required=True, convert=v.not_empty_name, filter=STR_FILTER, sortable=True),
        Attr("prefixes", "array", post=True, put=True, required=True, convert=PREFIXES, items="string"),
        Attr(
            "default_quota",
            "integer",
            post=True,
            put=True,
            convert=v.nullable(_INT),
            filter=INT_FILTER,
            sortable=True,
            nullable=True,
            description="Per project: addresses (IPv4) or /64s (IPv6) it may hold in the pool; null: no limit",
        ),
        Attr("ip_version", "integer", filter=INT_FILTER, sortable=True, description="From the prefixes"),
        _prefixlen("default_prefixlen"),
        _prefixlen("min_prefixlen"),
        _prefixlen("max_prefixlen"),
        Attr(
            "is_default",
            "boolean",
            post=True,
            put=True,
            default=False,
            convert=v.boolean,
            filter=BOOL_FILTER,
            sortable=True,
            description="The pool of use_default_subnetpool (one per IP version)",
        ),
        Attr("shared", "boolean", post=True, default=False, convert=v.boolean, filter=BOOL_FILTER, sortable=True),
        Attr(
            "address_scope_id",
            post=True,
            put=True,
            convert=v.nullable(v.uuid_str),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
    ),
)

ADDRESS_SCOPE = Resource(
    name="address_scope",
    collection="address-scopes",
    attributes=(
        *standard_attrs(),
        name_attr(),
        Attr(
            "shared",
            "boolean",
            post=True,
            put=True,
            default=False,
            convert=v.boolean,
            filter=BOOL_FILTER,
            sortable=True,
        ),
        Attr(
            "ip_version",
            "integer",
            post=True,
            required=True,
            convert=v.integer_one_of(4, 6),
            filter=INT_FILTER,
            sortable=True,
        ),
    ),
)

# The body of PUT /v2.0/subnetpools/{id}/add_prefixes and remove_prefixes (and their answer).
PREFIX_OPS = v.dict_of({"prefixes": PREFIXES}, required=("prefixes",))
