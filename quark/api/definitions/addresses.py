"""Attribute maps of Quark's address extensions: ``ip_addresses`` (addresses
for any device, shared addresses) and ``routes`` (subnet host routes).
Data only; see ``base.Attr`` for flags and docs/ip_addresses.md, docs/routes.md.
"""

from __future__ import annotations

from quark.api import validators as v
from quark.api.definitions.base import INT_FILTER, STR_FILTER, TENANT_ID, Attr, Resource
from quark.ipam import addressing


def _ip_filter(raw: str) -> str:
    return str(addressing.parse_ip(raw))


IP_ADDRESS_TYPES = ("fixed", "shared")

IP_ADDRESS = Resource(
    name="ip_address",
    collection="ip_addresses",
    has_tags=False,
    bulk=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True),
        Attr("project_id", post=True, convert=v.string(255), filter=STR_FILTER, sortable=True),
        Attr("tenant_id", post=True, convert=v.string(255), filter=STR_FILTER, sortable=True, description=TENANT_ID),
        Attr("network_id", post=True, required=True, convert=v.string(36), filter=STR_FILTER, sortable=True),
        Attr(
            "subnet_id",
            post=True,
            convert=v.string(36),
            filter=STR_FILTER,
            sortable=True,
            description="allocate on this subnet (default: any subnet of the network)",
        ),
        Attr(
            "ip_address",
            post=True,
            convert=v.ip_address,
            filter=_ip_filter,
            description="this exact address (default: any free one)",
        ),
        Attr(
            "version",
            "integer",
            post=True,
            convert=v.one_of(4, 6),
            filter=INT_FILTER,
            sortable=True,
            description="IP version (default: IPv4 if the network has room, else IPv6)",
        ),
        Attr(
            "type",
            post=True,
            convert=v.one_of(*IP_ADDRESS_TYPES),
            filter=STR_FILTER,
            description="fixed: at most one holder port; shared: one or more (default: shared with 2+ ports)",
        ),
        Attr(
            "port_ids",
            "array",
            post=True,
            put=True,
            convert=v.list_of(v.string(36), unique=True),
            items="string",
            description="the ports holding the address (replaced on update)",
        ),
        Attr(
            "device_ids",
            "array",
            post=True,
            put=True,
            convert=v.list_of(v.string(255), unique=True),
            items="string",
            description="holders given as devices: their ports on the network",
        ),
        Attr("created_at", sortable=True),
        # Filters only: the holder port / device (either shape of holding).
        Attr("port_id", filter=STR_FILTER, returned=False, description="list filter: addresses held by this port"),
        Attr(
            "device_id",
            filter=STR_FILTER,
            returned=False,
            description="list filter: addresses held by this device's ports",
        ),
    ),
)

# Body of PUT /v2.0/ip_addresses/{id}/ports/{port_id}: {"port": {"service": ...}}
IP_ADDRESS_PORT = Resource(
    name="port",
    collection="ip_address_ports",
    has_tags=False,
    bulk=False,
    attributes=(
        Attr("id"),
        Attr("name"),
        Attr("network_id"),
        Attr("device_id"),
        Attr("device_owner"),
        Attr("mac_address"),
        Attr(
            "service",
            put=True,
            convert=v.string(255),
            description="who owns this holder of a shared address ('none' = nobody)",
        ),
    ),
)

ROUTE = Resource(
    name="route",
    collection="routes",
    has_tags=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True),
        Attr("project_id", filter=STR_FILTER, sortable=True),
        Attr("tenant_id", filter=STR_FILTER, sortable=True),
        Attr("description", post=True, put=True, default="", convert=v.string(255), filter=STR_FILTER),
        Attr("subnet_id", post=True, required=True, convert=v.string(36), filter=STR_FILTER, sortable=True),
        Attr(
            "cidr",
            post=True,
            put=True,
            required=True,
            convert=v.string(64),
            filter=STR_FILTER,
            sortable=True,
            description="destination CIDR",
        ),
        Attr(
            "gateway",
            post=True,
            put=True,
            required=True,
            convert=v.ip_address,
            filter=_ip_filter,
            sortable=True,
            description="next hop, inside the subnet",
        ),
        Attr("created_at", sortable=True),
        Attr("updated_at", sortable=True),
        Attr("revision_number", "integer", filter=INT_FILTER, sortable=True),
    ),
)
