"""Attribute map of floating IPs (contract §3.5)."""

from __future__ import annotations

from quark.api import validators as v
from quark.api.definitions.base import STR_FILTER, Attr, Resource, admin_state_up, name_attr, standard_attrs

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

_EXTERNAL_FIXED_IP = v.dict_of({"subnet_id": v.uuid_str, "ip_address": v.ip_address})
# {} or null clears the gateway (``openstack router unset --external-gateway`` sends {}).
_GATEWAY_INFO = v.empty_or(
    v.dict_of(
        {"network_id": v.uuid_str, "enable_snat": v.boolean, "external_fixed_ips": v.list_of(_EXTERNAL_FIXED_IP)},
        required=("network_id",),
    )
)
_EXTRA_ROUTE = v.dict_of({"destination": v.ip_or_cidr, "nexthop": v.ip_address}, required=("destination", "nexthop"))
EXTRA_ROUTES = v.list_of(_EXTRA_ROUTE)


def _router_flag(name: str, description: str) -> Attr:
    """A Neutron router flag (admin only). No default here: a router created
    without it takes the deployment's setting (``l3_ha``, ``router_distributed``),
    and giving it at all is what Neutron's policy checks."""
    return Attr(name, "boolean", post=True, put=True, convert=v.boolean, description=description)


ROUTER = Resource(
    name="router",
    collection="routers",
    attributes=(
        *standard_attrs(),
        name_attr(),
        admin_state_up(),
        Attr("status", filter=STR_FILTER, sortable=True),
        Attr(
            "external_gateway_info",
            "object",
            post=True,
            put=True,
            convert=v.nullable(_GATEWAY_INFO),
            nullable=True,
            description="The gateway: network_id (an external network), enable_snat, external_fixed_ips",
        ),
        Attr(
            "routes",
            "array",
            put=True,
            convert=v.list_of(_EXTRA_ROUTE, allow_none=True),
            items="object",
            description="Extra routes (null clears them, as Neutron)",
        ),
        Attr(
            "flavor_id",
            post=True,
            convert=v.nullable(v.uuid_str),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
            description="l3-flavors: an enabled flavor of service type L3_ROUTER_NAT (docs/flavors.md); create only",
        ),
        _router_flag("distributed", "dvr: stored and shown; realised centrally (docs/routers.md)"),
        _router_flag("ha", "l3-ha: scheduled on several L3 hosts, one active (docs/l3.md)"),
        Attr(
            "availability_zone_hints",
            "array",
            post=True,
            default=[],
            convert=v.az_hints,
            items="string",
            description="zones of L3 agents the router should go to (docs/availability_zones.md)",
        ),
        Attr("availability_zones", "array", items="string", description="the zone of the L3 agent hosting it"),
    ),
)

# The body of PUT /v2.0/routers/{id}/add_router_interface and remove_router_interface.
ROUTER_INTERFACE_INFO = Resource(
    name="router_interface_info",
    collection="router_interface_info",
    has_tags=False,
    bulk=False,
    attributes=(
        Attr("id"),
        Attr("project_id"),
        Attr("tenant_id"),
        Attr("port_id", post=True, convert=v.uuid_str),
        Attr("subnet_id", post=True, convert=v.uuid_str),
        Attr("subnet_ids", "array", items="string"),
        Attr("network_id"),
    ),
)

# Neutron's floatingip-pools: the IPv4 subnets of the external networks the
# caller sees (quark.services.l3.floatingip_pools); read only, no standard attributes.
FLOATINGIP_POOL = Resource(
    name="floatingip_pool",
    collection="floatingip_pools",
    aliases=("floatingip-pools",),
    has_tags=False,
    bulk=False,
    read_only=True,
    key="subnet_id",
    attributes=(
        Attr("subnet_id", filter=STR_FILTER, sortable=True, description="the pool: a subnet of an external network"),
        Attr("subnet_name", filter=STR_FILTER, sortable=True),
        Attr("network_id", filter=STR_FILTER, sortable=True),
        Attr("cidr", filter=STR_FILTER, sortable=True),
        Attr("project_id", filter=STR_FILTER, description="the caller's project, as Neutron's"),
        Attr("tenant_id", filter=STR_FILTER, description="the caller's project, as Neutron's"),
    ),
)
