"""Attribute map of a floating IP's port forwardings (neutron-lib's
floating_ip_port_forwarding, fip_pf_description and fip_pf_port_range
definitions): served under ``/v2.0/floatingips/{floatingip_id}/port_forwardings``
(``quark.api.port_forwardings``), so not a collection of ``catalog.SERVED``."""

from __future__ import annotations

import re
from typing import Any

from quark.api import validators as v
from quark.api.definitions.base import INT_FILTER, STR_FILTER, Attr, Resource
from quark.services.l3.port_forwarding_rules import PORT_MAX, PORT_MIN, PROTOCOLS

# 1-65535, with no leading zero.
_PORT_PATTERN = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_RANGE = re.compile(f"^{_PORT_PATTERN}(?::{_PORT_PATTERN})?$")


def port_range(value: Any) -> str:
    """Neutron's ``type:port_range``: ``"N"`` or ``"N:M"``, ports 1-65535, N <= M; kept as given."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    match = _RANGE.match(text) if isinstance(text, str) else None
    if match is None or (match.group(2) is not None and int(match.group(1)) > int(match.group(2))):
        raise ValueError(f"Invalid port range '{value}': expected N or N:M, 1 <= N <= M <= 65535")
    return text


v._described(port_range, {"type": "string", "pattern": _RANGE.pattern})


def protocol(value: Any) -> str:
    """Neutron's convert_to_protocol, names only: one of the forwardable protocols, any case."""
    if not isinstance(value, str) or value.lower() not in PROTOCOLS:
        raise ValueError(f"'{value}' is not in {list(PROTOCOLS)}")
    return value.lower()


v._described(protocol, {"type": "string", "enum": [*PROTOCOLS, *(p.upper() for p in PROTOCOLS)]})

_PORT = v.integer(PORT_MIN, PORT_MAX, allow_none=True)

PORT_FORWARDING = Resource(
    name="port_forwarding",
    collection="port_forwardings",
    has_tags=False,
    bulk=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True, description="UUID, generated"),
        Attr(
            "project_id",
            post=True,
            convert=v.string(255),
            returned=False,
            description="Accepted as Neutron's (the floating IP's project owns its forwardings); never shown",
        ),
        Attr(
            "external_port",
            "integer",
            post=True,
            put=True,
            convert=_PORT,
            filter=INT_FILTER,
            sortable=True,
            nullable=True,
            description="The floating IP's port (or external_port_range)",
        ),
        Attr(
            "internal_port",
            "integer",
            post=True,
            put=True,
            convert=_PORT,
            nullable=True,
            description="The internal address's port (or internal_port_range)",
        ),
        Attr("internal_ip_address", post=True, put=True, required=True, convert=v.ip_address),
        Attr("protocol", post=True, put=True, required=True, convert=protocol, filter=STR_FILTER, sortable=True),
        Attr(
            "internal_port_id", post=True, put=True, required=True, convert=v.uuid_str, filter=STR_FILTER, sortable=True
        ),
        Attr("description", post=True, put=True, default="", convert=v.string(255), filter=STR_FILTER),
        Attr(
            "external_port_range",
            post=True,
            put=True,
            convert=v.nullable(port_range),
            filter=port_range,
            sortable=True,
            nullable=True,
            description="N:M (or N): the floating IP's ports",
        ),
        Attr(
            "internal_port_range",
            post=True,
            put=True,
            convert=v.nullable(port_range),
            nullable=True,
            description="N:M (or N): the internal ports, one or as many as the external ones",
        ),
    ),
)

# Neutron refuses these as filters (PortForwardingNotSupportFilterField).
UNFILTERABLE = ("internal_ip_address", "internal_port")
