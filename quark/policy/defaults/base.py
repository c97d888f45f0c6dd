"""The rules every other rule builds on (Neutron's names and check strings)."""

from __future__ import annotations

from quark.policy.defaults._build import plain

RULES = [
    plain("context_is_admin", "role:admin", "Who is an admin (the context's ``is_admin``)"),
    plain("context_with_global_access", "!", "Contexts that see every project's resources"),
    plain("service_api", "role:service", "Service-to-service calls (Nova binding ports)"),
    plain("owner", "project_id:%(project_id)s", "The project that owns the resource"),
    plain("admin_or_owner", "rule:context_is_admin or rule:owner", "An admin or the owning project"),
    plain("context_is_advsvc", "role:advsvc", "The advanced-services role (deprecated for ``service``)"),
    plain(
        "admin_or_network_owner",
        "rule:context_is_admin or project_id:%(network:project_id)s",
        "An admin or the project owning the resource's network",
    ),
    plain(
        "admin_owner_or_network_owner",
        "rule:owner or rule:admin_or_network_owner",
        "The owner, an admin or the network's owner",
    ),
    plain("network_owner", "project_id:%(network:project_id)s", "The project owning the resource's network"),
    plain("admin_only", "rule:context_is_admin", "Admins only"),
    plain("regular_user", "", "Anyone authenticated"),
    plain("shared", "field:networks:shared=True", "The resource's network is shared"),
    plain("default", "rule:admin_or_owner", "What a rule that is not defined falls back to"),
    plain(
        "admin_or_ext_parent_owner",
        "rule:context_is_admin or project_id:%(ext_parent:project_id)s",
        "An admin or the owner of the parent resource",
    ),
    plain("ext_parent_owner", "project_id:%(ext_parent:project_id)s", "The owner of the parent resource"),
    plain("sg_owner", "project_id:%(security_group:project_id)s", "The project owning the security group"),
]
