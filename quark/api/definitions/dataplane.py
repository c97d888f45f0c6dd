"""Attribute maps of the dataplane resources: Quark's segment allocation
ranges, Neutron's network segment ranges, segments and agents. Data only;
see ``base.Attr`` for flags and docs/segments.md, docs/agents.md.
"""

from __future__ import annotations

from dataclasses import replace

from quark.api import validators as v
from quark.api.definitions.base import BOOL_FILTER, INT_FILTER, STR_FILTER, Attr, Resource, name_attr, standard_attrs
from quark.api.definitions.core import NETWORK_TYPES

# A 64-bit integer (JSON numbers beyond are read as floats, not ids); each network
# type's own bounds are the service's check (quark/ipam/segments.py, InvalidInput).
_SEGMENT_ID = v.integer(-(2**63), 2**63 - 1)

SEGMENT_RANGE_TYPES = ("vlan", "vxlan")


def _physical_network(description: str) -> Attr:
    return Attr(
        "physical_network",
        post=True,
        convert=v.string(64, allow_none=True),
        filter=STR_FILTER,
        sortable=True,
        nullable=True,
        description=description,
    )


SEGMENT_ALLOCATION_RANGE = Resource(
    name="segment_allocation_range",
    collection="segment_allocation_ranges",
    has_tags=False,
    bulk=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True),
        name_attr(),
        Attr(
            "network_type",
            post=True,
            required=True,
            convert=v.one_of(*SEGMENT_RANGE_TYPES),
            filter=STR_FILTER,
            sortable=True,
            description="vlan or vxlan",
        ),
        _physical_network("required for vlan, not allowed for vxlan"),
        Attr(
            "minimum",
            "integer",
            post=True,
            required=True,
            convert=_SEGMENT_ID,
            filter=INT_FILTER,
            sortable=True,
            description="first id of the range (VLAN 1-4094, VNI 1-16777215)",
        ),
        Attr(
            "maximum",
            "integer",
            post=True,
            required=True,
            convert=_SEGMENT_ID,
            filter=INT_FILTER,
            sortable=True,
            description="last id of the range (inclusive)",
        ),
        Attr("size", "integer"),
        Attr("allocated", "integer", description="ids of the range held by networks"),
        Attr("created_at", sortable=True),
    ),
)

AGENT = Resource(
    name="agent",
    collection="agents",
    has_tags=False,
    bulk=False,
    creatable=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True),
        Attr("agent_type", filter=STR_FILTER, sortable=True),
        Attr("binary", filter=STR_FILTER, sortable=True),
        Attr("topic", filter=STR_FILTER, sortable=True),
        Attr("host", filter=STR_FILTER, sortable=True),
        Attr("admin_state_up", "boolean", put=True, convert=v.boolean, filter=BOOL_FILTER, sortable=True),
        Attr("alive", "boolean", filter=BOOL_FILTER, description="reported within the server's agent_down_time"),
        Attr("description", put=True, convert=v.string(255), filter=STR_FILTER),
        Attr("configurations", "object"),
        Attr("availability_zone", filter=STR_FILTER, nullable=True),
        Attr("resources_synced", "boolean", nullable=True),
        Attr("created_at", sortable=True),
        Attr("started_at", sortable=True),
        Attr("heartbeat_timestamp", sortable=True),
    ),
)

# Neutron's NETWORK_SEGMENT_RANGE_TYPES; only vlan and vxlan have ranges in Quark
# (the others: NetworkSegmentRangeNetTypeNotSupported, as a Neutron without their drivers).
NETWORK_SEGMENT_RANGE_TYPES = ("vlan", "vxlan", "gre", "geneve")

# Neutron's network segment ranges: the same rows as SEGMENT_ALLOCATION_RANGE
# (docs/network_segment_ranges.md).
NETWORK_SEGMENT_RANGE = Resource(
    name="network_segment_range",
    collection="network_segment_ranges",
    # Neutron's own URL (and Tempest's): /v2.0/network-segment-ranges
    aliases=("network-segment-ranges",),
    attributes=(
        # A shared range has no project: project_id (tenant_id) null.
        *(replace(a, nullable=True) if a.name in ("project_id", "tenant_id") else a for a in standard_attrs()),
        name_attr(),
        Attr(
            "default",
            "boolean",
            filter=BOOL_FILTER,
            sortable=True,
            description="made from the segment_ranges setting; read-only",
        ),
        Attr(
            "shared",
            "boolean",
            post=True,
            default=True,
            convert=v.boolean,
            filter=BOOL_FILTER,
            sortable=True,
            description="false: the range serves project_id's networks only, before the shared ranges",
        ),
        Attr(
            "network_type",
            post=True,
            required=True,
            convert=v.one_of(*NETWORK_SEGMENT_RANGE_TYPES),
            filter=STR_FILTER,
            sortable=True,
        ),
        _physical_network("required for vlan, ignored otherwise"),
        Attr(
            "minimum",
            "integer",
            post=True,
            put=True,
            required=True,
            convert=_SEGMENT_ID,
            filter=INT_FILTER,
            sortable=True,
        ),
        Attr(
            "maximum",
            "integer",
            post=True,
            put=True,
            required=True,
            convert=_SEGMENT_ID,
            filter=INT_FILTER,
            sortable=True,
        ),
        Attr("used", "object", description="held id -> project of its network"),
        Attr("available", "array", items="integer", description="the ids no network holds"),
    ),
)

# availability_zone: the zones agents report (GET only; Neutron's attribute map).
AVAILABILITY_ZONE = Resource(
    name="availability_zone",
    collection="availability_zones",
    has_tags=False,
    bulk=False,
    read_only=True,
    key="name",
    attributes=(
        Attr("name", filter=STR_FILTER, sortable=True),
        Attr("resource", filter=STR_FILTER, sortable=True, description="network (DHCP agents) or router (L3 agents)"),
        Attr("state", filter=STR_FILTER, sortable=True, description="available or unavailable"),
    ),
)

# Neutron's segments (neutron_lib.api.definitions.segment, standard-attr-segment):
# every segment of every network, the first one included (docs/segments.md).
SEGMENT = Resource(
    name="segment",
    collection="segments",
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True, description="UUID, generated"),
        # Neutron's tenant_id: accepted on create, never shown (a segment is its network's).
        Attr("project_id", post=True, convert=v.string(255), returned=False),
        Attr("tenant_id", post=True, convert=v.string(255), returned=False),
        Attr("network_id", post=True, required=True, convert=v.uuid_str, filter=STR_FILTER, sortable=True),
        Attr(
            "name",
            post=True,
            put=True,
            convert=v.string(255, allow_none=True),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr("description", post=True, put=True, default="", convert=v.string(255), filter=STR_FILTER, sortable=True),
        Attr(
            "network_type",
            post=True,
            required=True,
            convert=v.one_of(*NETWORK_TYPES),
            filter=STR_FILTER,
            sortable=True,
        ),
        _physical_network("required for flat and vlan"),
        Attr(
            "segmentation_id",
            "integer",
            post=True,
            convert=v.integer(1, 16777215, allow_none=True),
            filter=INT_FILTER,
            sortable=True,
            nullable=True,
            description="VLAN id or VNI; from the segment allocation ranges when not given",
        ),
        Attr("tags", schema="array", items="string"),
        Attr("created_at", sortable=True),
        Attr("updated_at", sortable=True),
        Attr("revision_number", schema="integer", filter=INT_FILTER, sortable=True),
    ),
)
