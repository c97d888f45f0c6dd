"""Attribute maps of the core resources (network, subnet, port) and of the
Quark MAC address range extension. Data only; see ``base.Attr`` for flags.
"""

from __future__ import annotations

from quark.api import validators as v
from quark.api.definitions.base import (
    BOOL_FILTER,
    INT_FILTER,
    STR_FILTER,
    UNSET,
    Attr,
    Resource,
    admin_state_up,
    name_attr,
    standard_attrs,
)

IPAM_STRATEGIES = ("NEUTRON", "ANY", "BOTH", "BOTH_REQUIRED")
NETWORK_TYPES = ("flat", "vlan", "vxlan", "geneve", "gre", "local")
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
VNIC_TYPES = (
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "accelerator-direct",
    "accelerator-direct-physical",
    "remote-managed",
)

NETWORK = Resource(
    name="network",
    collection="networks",
    attributes=(
        *standard_attrs(),
        name_attr(),
        admin_state_up(),
        Attr("status", filter=STR_FILTER, sortable=True),
        Attr(
            "subnets",
            "array",
            post=True,
            items="object",
            view_items="string",
            description="Ids of the network's subnets; on create (Quark nested create) subnet bodies, "
            "made in the same transaction",
        ),
        Attr(
            "shared",
            "boolean",
            post=True,
            put=True,
            default=False,
            convert=v.boolean,
            filter=BOOL_FILTER,
        ),
        Attr(
            "router:external",
            "boolean",
            post=True,
            put=True,
            default=False,
            convert=v.boolean,
            filter=BOOL_FILTER,
        ),
        Attr("mtu", "integer", post=True, put=True, convert=v.integer(0, 2**31 - 1), filter=INT_FILTER, sortable=True),
        Attr("port_security_enabled", "boolean", post=True, put=True, default=True, convert=v.boolean),
        Attr(
            "provider:network_type",
            post=True,
            convert=v.one_of(*NETWORK_TYPES),
            filter=STR_FILTER,
            nullable=True,
        ),
        Attr(
            "provider:physical_network",
            post=True,
            convert=v.string(64, allow_none=True),
            filter=STR_FILTER,
            nullable=True,
        ),
        Attr(
            "provider:segmentation_id",
            "integer",
            post=True,
            convert=v.integer(1, 16777215, allow_none=True),
            filter=INT_FILTER,
            nullable=True,
        ),
        Attr(
            "segments",
            "array",
            post=True,
            convert=v.list_of(
                v.dict_of(
                    {
                        "provider:network_type": v.one_of(*NETWORK_TYPES),
                        "provider:physical_network": v.string(64, allow_none=True),
                        "provider:segmentation_id": v.integer(1, 16777215, allow_none=True),
                    },
                    required=("provider:network_type",),
                ),
                max_items=64,
            ),
            items="object",
            description="multi-provider: the segments of a network that has several, first first (docs/segments.md)",
        ),
        Attr(
            "availability_zone_hints",
            "array",
            post=True,
            default=[],
            convert=v.az_hints,
            items="string",
            description="zones of DHCP agents the network's DHCP should go to (docs/availability_zones.md)",
        ),
        Attr("availability_zones", "array", items="string", description="zones of the DHCP agents serving it"),
        Attr("dns_domain", post=True, put=True, default="", convert=v.dns_domain),
        Attr("qos_policy_id", nullable=True),
        Attr("ipv4_address_scope", nullable=True),
        Attr("ipv6_address_scope", nullable=True),
        Attr("l2_adjacency", "boolean"),
        Attr(
            "is_default",
            "boolean",
            post=True,
            put=True,
            default=False,
            convert=v.boolean,
            description="the default external network of auto-allocated topologies (external networks only)",
        ),
        Attr(
            "ipam_strategy",
            post=True,
            put=True,
            convert=v.one_of(*IPAM_STRATEGIES),
            filter=STR_FILTER,
            description="Quark: what a port created without fixed_ips gets (NEUTRON, ANY, BOTH, BOTH_REQUIRED)",
        ),
        Attr(
            "network_plugin",
            post=True,
            convert=v.string(64),
            filter=STR_FILTER,
            description="Quark: the backend driver that realises the network (docs/drivers.md); "
            "default: the deployment's backend_driver",
        ),
    ),
)

_POOL = v.dict_of({"start": v.ip_address, "end": v.ip_address}, required=("start", "end"))
_ROUTE = v.dict_of({"destination": v.string(64), "nexthop": v.ip_address}, required=("destination", "nexthop"))

SUBNET = Resource(
    name="subnet",
    collection="subnets",
    attributes=(
        *standard_attrs(),
        name_attr(),
        Attr("network_id", post=True, required=True, convert=v.string(36), filter=STR_FILTER, sortable=True),
        Attr(
            "ip_version",
            "integer",
            post=True,
            required=True,
            convert=v.integer_one_of(4, 6),
            filter=INT_FILTER,
            sortable=True,
        ),
        Attr("cidr", post=True, convert=v.string(64), filter=STR_FILTER, sortable=True),
        Attr(
            "gateway_ip",
            post=True,
            put=True,
            default=UNSET,
            convert=v.nullable(v.ip_address),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr("allocation_pools", "array", post=True, put=True, convert=v.list_of(_POOL), items="object"),
        Attr(
            "dns_nameservers",
            "array",
            post=True,
            put=True,
            default=[],
            convert=v.list_of(v.ip_address, unique=True, allow_none=True),
            items="string",
        ),
        Attr(
            "host_routes",
            "array",
            post=True,
            put=True,
            default=[],
            convert=v.list_of(_ROUTE, allow_none=True),
            items="object",
        ),
        Attr(
            "enable_dhcp",
            "boolean",
            post=True,
            put=True,
            convert=v.boolean,
            filter=BOOL_FILTER,
            sortable=True,
            # The default is the service's: true, but false on a network of a flat
            # network service (docs/network_services.md).
            description="default: true (false on a network of a flat network service)",
        ),
        Attr(
            "ipv6_ra_mode",
            post=True,
            convert=v.one_of(*IPV6_MODES, allow_none=True),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr(
            "ipv6_address_mode",
            post=True,
            convert=v.one_of(*IPV6_MODES, allow_none=True),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
        ),
        Attr(
            "subnetpool_id",
            post=True,
            convert=v.nullable(v.uuid_str),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
            description="The subnet pool the cidr comes from (docs/subnet_pools.md)",
        ),
        Attr(
            "prefixlen",
            "integer",
            post=True,
            convert=v.integer(0, 128),
            returned=False,
            description="Create only, from a subnet pool: the size asked (else the pool's default_prefixlen)",
        ),
        Attr(
            "use_default_subnetpool",
            "boolean",
            post=True,
            default=False,
            convert=v.boolean,
            returned=False,
            description="Create only: the cidr from the default subnet pool of the ip_version",
        ),
        Attr(
            "segment_id",
            post=True,
            put=True,
            convert=v.nullable(v.uuid_str),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
            description=(
                "a segment of the subnet's network (docs/segments.md); a network's subnets all have one or none; "
                "PUT: from none to one, for a network's only subnet on a network of one segment"
            ),
        ),
        # Neutron's hidden subnet attribute: a filter on the network's ``shared``.
        Attr("shared", "boolean", filter=BOOL_FILTER, returned=False),
        # subnet-service-types: the device owners the subnet serves (none: every one)
        Attr("service_types", "array", post=True, put=True, default=[], convert=v.service_types, items="string"),
        Attr("dns_publish_fixed_ip", "boolean"),
        # subnet-external-network: the network's router:external, a filter too.
        Attr("router:external", "boolean", filter=BOOL_FILTER),
    ),
)

_FIXED_IP = v.dict_of({"subnet_id": v.string(36), "ip_address": v.ip_address})
_ADDRESS_PAIR = v.dict_of({"ip_address": v.ip_or_cidr, "mac_address": v.mac_address}, required=("ip_address",))
_DHCP_OPT = v.dict_of(
    {"opt_name": v.string(64), "opt_value": v.string(255, allow_none=True), "ip_version": v.one_of(4, 6)},
    required=("opt_name",),
)

PORT = Resource(
    delete_by_filter=True,
    name="port",
    collection="ports",
    extra_filters=("fixed_ips",),
    attributes=(
        *standard_attrs(),
        name_attr(),
        Attr("network_id", post=True, required=True, convert=v.string(36), filter=STR_FILTER, sortable=True),
        admin_state_up(),
        # null: a MAC generated anew (port-mac-address-regenerate).
        Attr("mac_address", post=True, put=True, convert=v.nullable(v.mac_address), filter=STR_FILTER, sortable=True),
        Attr("fixed_ips", "array", post=True, put=True, convert=v.list_of(_FIXED_IP), items="object"),
        Attr("device_id", post=True, put=True, default="", convert=v.string(255), filter=STR_FILTER, sortable=True),
        Attr("device_owner", post=True, put=True, default="", convert=v.string(255), filter=STR_FILTER, sortable=True),
        Attr("status", filter=STR_FILTER, sortable=True),
        Attr(
            "security_groups",
            "array",
            post=True,
            put=True,
            convert=v.list_of(v.uuid_str, unique=True, allow_none=True),
            filter=STR_FILTER,
            items="string",
        ),
        Attr("port_security_enabled", "boolean", post=True, put=True, convert=v.boolean),
        Attr(
            "allowed_address_pairs",
            "array",
            post=True,
            put=True,
            convert=v.list_of(_ADDRESS_PAIR, allow_none=True),
            items="object",
        ),
        Attr(
            "extra_dhcp_opts",
            "array",
            post=True,
            put=True,
            convert=v.list_of(_DHCP_OPT, allow_none=True),
            items="object",
        ),
        Attr(
            "binding:host_id",
            post=True,
            put=True,
            convert=v.string(255, allow_none=True),
            filter=STR_FILTER,
            nullable=True,
        ),
        Attr(
            "binding:vnic_type", post=True, put=True, default="normal", convert=v.one_of(*VNIC_TYPES), filter=STR_FILTER
        ),
        Attr(
            "binding:profile",
            "object",
            post=True,
            put=True,
            convert=v.any_dict,
            nullable=True,
        ),
        Attr("binding:vif_type", filter=STR_FILTER),
        Attr("binding:vif_details", "object"),
        Attr("dns_name", post=True, put=True, default="", convert=v.dns_name),
        Attr("dns_assignment", "array", items="object"),
        Attr("ip_allocation", filter=STR_FILTER, sortable=True),
        Attr("qos_policy_id", nullable=True),
        Attr("qos_network_policy_id", nullable=True),
        Attr("resource_request", "object", nullable=True),
        Attr("data_plane_status", nullable=True),
    ),
)

MAC_ADDRESS_RANGE = Resource(
    name="mac_address_range",
    collection="mac_address_ranges",
    has_tags=False,
    bulk=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True),
        Attr("cidr", post=True, convert=v.string(32), filter=STR_FILTER, sortable=True, nullable=True),
        Attr("first_address", post=True, convert=v.mac_address, sortable=True),
        Attr("last_address", post=True, convert=v.mac_address, sortable=True),
        Attr("do_not_use", "boolean", post=True, put=True, default=False, convert=v.boolean, filter=BOOL_FILTER),
        Attr("size", "integer"),
        Attr("allocated", "integer"),
        Attr("project_id", returned=False),
        Attr("tenant_id", returned=False),
        Attr("created_at", sortable=True),
    ),
)

IP_POLICY = Resource(
    name="ip_policy",
    collection="ip_policies",
    has_tags=False,
    bulk=False,
    attributes=(
        *standard_attrs(),
        name_attr(),
        Attr(
            "exclude",
            "array",
            post=True,
            put=True,
            required=True,
            convert=v.list_of(v.string(64)),
            items="string",
            description="CIDRs never handed out automatically",
        ),
        Attr("subnet_ids", "array", post=True, put=True, convert=v.list_of(v.string(36)), items="string"),
        Attr("network_ids", "array", post=True, put=True, convert=v.list_of(v.string(36)), items="string"),
    ),
)

NETWORK_IP_AVAILABILITY = Resource(
    name="network_ip_availability",
    collection="network-ip-availabilities",
    has_tags=False,
    bulk=False,
    read_only=True,
    key="network_id",
    attributes=(
        Attr("network_id", filter=STR_FILTER, sortable=True),
        Attr("network_name", filter=STR_FILTER, sortable=True),
        Attr("project_id", filter=STR_FILTER, sortable=True),
        Attr("tenant_id", filter=STR_FILTER, sortable=True),
        Attr("ip_version", "integer", filter=INT_FILTER, returned=False),
        Attr("total_ips", "integer"),
        Attr("used_ips", "integer"),
        Attr("subnet_ip_availability", "array", items="object"),
    ),
)

# Quark nested create: child collections a POST may carry, with the
# attribute the parent's id fills in (contract-compatible: plain Neutron
# clients never send these).
NESTED_CREATE: dict[str, dict[str, tuple[Resource, str]]] = {
    "network": {"subnets": (SUBNET, "network_id")},
}
