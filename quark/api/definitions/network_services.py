"""Attribute maps of Quark's network services (``/v2.0/network-services``) and
each project's association with one (``/v2.0/network-service-associations``,
keyed by the project's id). Data only; see ``base.Attr`` and
docs/network_services.md. Which driver may realise which kind is the
service's check (installed drivers and what they declare), not a list here.
"""

from __future__ import annotations

from quark.api import validators as v
from quark.api.definitions.base import INT_FILTER, STR_FILTER, TENANT_ID, Attr, Resource, name_attr
from quark.services.core.network_services import KINDS


def _times() -> tuple[Attr, ...]:
    return (
        Attr("created_at", sortable=True),
        Attr("updated_at", sortable=True),
        Attr("revision_number", schema="integer", filter=INT_FILTER, sortable=True),
    )


def _description() -> Attr:
    return Attr("description", post=True, put=True, default="", convert=v.string(255), filter=STR_FILTER)


NETWORK_SERVICE = Resource(
    name="network_service",
    collection="network-services",
    has_tags=False,
    bulk=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True, description="UUID, generated"),
        name_attr(),
        _description(),
        Attr(
            "kind",
            post=True,
            required=True,
            convert=v.one_of(*sorted(KINDS)),
            filter=STR_FILTER,
            sortable=True,
            description="flat (no DHCP by default), flat_dhcp, vlan or vxlan",
        ),
        Attr("network_type", description="the provider:network_type of its networks (flat, vlan, vxlan)"),
        Attr("enable_dhcp", "boolean", description="the default enable_dhcp of its networks' subnets"),
        Attr(
            "physical_network",
            post=True,
            convert=v.string(64, allow_none=True),
            filter=STR_FILTER,
            sortable=True,
            nullable=True,
            description="required for flat kinds, optional for vlan (any vlan range otherwise), not allowed for vxlan",
        ),
        Attr(
            "driver",
            post=True,
            put=True,
            required=True,
            convert=v.string(64),
            filter=STR_FILTER,
            sortable=True,
            description="the backend driver of its networks (network_plugin): an installed driver that declares the kind's network type",
        ),
        *_times(),
    ),
)

NETWORK_SERVICE_ASSOCIATION = Resource(
    name="network_service_association",
    collection="network-service-associations",
    has_tags=False,
    bulk=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True, description="the project's id"),
        Attr("project_id", post=True, convert=v.string(255), filter=STR_FILTER, sortable=True),
        Attr("tenant_id", post=True, convert=v.string(255), filter=STR_FILTER, sortable=True, description=TENANT_ID),
        Attr(
            "network_service_id",
            post=True,
            put=True,
            required=True,
            convert=v.uuid_str,
            filter=STR_FILTER,
            sortable=True,
            description="the service that the project's networks created without provider attributes get",
        ),
        _description(),
        *_times(),
    ),
)
