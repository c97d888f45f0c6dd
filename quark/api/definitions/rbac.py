"""Attribute map of RBAC policies (Neutron's ``rbac-policies`` extension).

``object_type`` and ``action`` are checked by the service against the
registered object types (``quark.services.common.rbac``): the set grows as
resources become shareable. ``target_tenant`` (a project id or ``*``) is the
only attribute that may change. Neutron's API shows no ``target_project``
(its policy rules name it; its attribute map does not).
"""

from __future__ import annotations

from quark.api import validators as v
from quark.api.definitions.base import STR_FILTER, Attr, Resource

TARGET = "a project id (UUID-like) or '*' for every project"

RBAC_POLICY = Resource(
    name="rbac_policy",
    collection="rbac-policies",
    body_collection="rbac_policies",
    has_tags=False,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True, description="UUID, generated"),
        Attr("project_id", post=True, convert=v.string(255), filter=STR_FILTER, sortable=True),
        Attr("tenant_id", post=True, convert=v.string(255), filter=STR_FILTER, sortable=True),
        Attr(
            "object_type",
            post=True,
            required=True,
            convert=v.string(255),
            filter=STR_FILTER,
            sortable=True,
            description="network, security_group, subnetpool or address_scope",
        ),
        Attr("object_id", post=True, required=True, convert=v.uuid_str, filter=STR_FILTER, sortable=True),
        Attr(
            "action",
            post=True,
            required=True,
            convert=v.string(255),
            filter=STR_FILTER,
            sortable=True,
            description="access_as_shared (every type) or access_as_external (networks)",
        ),
        Attr(
            "target_tenant",
            post=True,
            put=True,
            convert=v.string(255),
            filter=STR_FILTER,
            sortable=True,
            description=TARGET,
        ),
    ),
)
