"""Service flavors and service profiles (neutron-lib's ``flavors`` definition;
docs/flavors.md). Owned by no project: no tags, no standard attributes."""

from __future__ import annotations

from typing import Any

from quark import extension_errors
from quark.api import validators as v
from quark.api.definitions.base import BOOL_FILTER, STR_FILTER, Attr, Resource, name_attr
from quark.services.l3.flavors import SERVICE_TYPES


def _service_type(value: Any) -> str:
    """Neutron's ``type:service_plugin_type``: a service plugin the server runs."""
    if value not in SERVICE_TYPES:
        raise extension_errors.InvalidServiceType(service_type=value)
    return str(value)


flavor_service_type = v.described(_service_type, {"type": "string", "enum": list(SERVICE_TYPES)})


def _common() -> tuple[Attr, ...]:
    """What both have: ``id``, ``description``, ``enabled``, and the owner Neutron's
    clients may send (accepted, never shown)."""
    return (
        Attr("id", filter=STR_FILTER, sortable=True),
        Attr(
            "description",
            post=True,
            put=True,
            default="",
            convert=v.string(1024, allow_none=True),
            filter=STR_FILTER,
            sortable=True,
        ),
        Attr(
            "enabled",
            "boolean",
            post=True,
            put=True,
            default=True,
            convert=v.boolean,
            filter=BOOL_FILTER,
            sortable=True,
        ),
        Attr("project_id", returned=False),
        Attr("tenant_id", returned=False),
    )


FLAVOR = Resource(
    name="flavor",
    collection="flavors",
    has_tags=False,
    bulk=False,
    attributes=(
        *_common(),
        name_attr(),
        Attr(
            "service_type",
            post=True,
            required=True,
            convert=flavor_service_type,
            filter=STR_FILTER,
            sortable=True,
            description="a service Quark implements: L3_ROUTER_NAT or FLAVORS",
        ),
        Attr(
            "service_profiles",
            "array",
            post=True,
            put=True,
            default=[],
            convert=v.list_of(v.uuid_str),
            items="string",
            description="accepted and ignored, as Neutron: bind profiles through /flavors/{id}/service_profiles",
        ),
    ),
)

SERVICE_PROFILE = Resource(
    name="service_profile",
    collection="service_profiles",
    has_tags=False,
    bulk=False,
    attributes=(
        *_common(),
        Attr("driver", post=True, put=True, default="", convert=v.string(1024), filter=STR_FILTER, sortable=True),
        Attr("metainfo", post=True, put=True, default="", convert=v.string(4096), sortable=True),
        Attr("flavors", "array", items="string", description="the flavors the profile is bound to"),
    ),
)
