"""Attribute map of floating IPs (contract §3.5)."""

from __future__ import annotations

from quark.api import validators as v
from quark.api.definitions.base import STR_FILTER, Attr, Resource, standard_attrs

FLOATINGIP = Resource(
    name="floatingip",
    collection="floatingips",
    attributes=(
        *standard_attrs(),
        Attr("floating_network_id", post=True, required=True, convert=v.uuid_str, filter=STR_FILTER, sortable=True),
        Attr(
            "floating_ip_address",
            post=True,
            convert=v.ip_address,
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr(
            "subnet_id",
            post=True,
            convert=v.nullable(v.uuid_str),
            nullable=True,
            returned=False,
            description="Create only: the external subnet to take the address from",
        ),
        Attr(
            "port_id",
            post=True,
            put=True,
            convert=v.nullable(v.uuid_str),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr(
            "fixed_ip_address",
            post=True,
            put=True,
            convert=v.nullable(v.ip_address),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr("router_id", filter=STR_FILTER, sortable=True, nullable=True),
        Attr("status", filter=STR_FILTER, sortable=True),
        Attr("port_details", "object", nullable=True),
        Attr("port_forwardings", "array", items="object"),
        Attr("dns_name"),
        Attr("dns_domain"),
        Attr("qos_policy_id", nullable=True),
    ),
)
